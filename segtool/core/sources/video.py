"""Video files through PyAV: frame-accurate indices, pts in seconds, rotation, random access.

Frame index i is the i-th frame in presentation order, counted by decoding from the start. Random
access (`VideoSource.read`, `frames(start=...)`) needs a map from frame index to timestamp: it is
built once, lazily, by demuxing every packet of the file (no decoding; milliseconds for a short clip,
about a second per GB from a warm disk). Decoding then starts at the keyframe at or before the target
and runs forward; frames before the target are decoded but never converted to RGB.
"""

from __future__ import annotations

import bisect
import os
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from segtool.core.errors import SourceInterrupted, UserInputError
from segtool.core.frame import Frame
from segtool.core.sources.base import Source, check_range, plain_error

__all__ = ["VideoSource", "frame_to_rgb", "open_av"]

VIDEO_HINT = (
    "give an image, a folder of images, or a video file FFmpeg can read (.mp4 .mkv .mov .avi .webm …)"
)


def open_av(target: str, **kwargs) -> av.container.InputContainer:
    """`av.open` for reading, with metadata decoding errors ignored (odd tags must not block a video)."""
    return av.open(target, mode="r", metadata_errors="ignore", **kwargs)


def frame_to_rgb(frame: av.VideoFrame) -> np.ndarray:
    """Convert a decoded frame to an upright C-contiguous H x W x 3 uint8 RGB array.

    The display matrix (`frame.rotation`, degrees counter-clockwise; how phones mark portrait
    video) is applied, so a portrait clip comes out portrait. Flips in the matrix are ignored.
    """
    rgb = frame.to_ndarray(format="rgb24")
    quarter_turns = round((frame.rotation or 0) / 90) % 4
    if quarter_turns:
        rgb = np.rot90(rgb, k=quarter_turns)  # np.rot90 turns counter-clockwise, like the matrix
    return np.ascontiguousarray(rgb)


def stream_rate(stream: av.video.stream.VideoStream) -> float | None:
    """Average frame rate of a stream (the mean for variable frame rate video), or None."""
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate:
            return float(rate)
    return None


@dataclass
class _Index:
    """Presentation-order timestamps of every frame, from one pass over the packets."""

    count: int
    pts: list[int] | None  # sorted; None when packets carry no timestamps (raw .h264 and the like)
    keys: list[int]  # frame indices of keyframes, sorted
    pos: dict[int, int]  # pts -> frame index

    def key_at_or_before(self, index: int, back: int = 0) -> int:
        """Frame index of the keyframe at or before `index`, `back` keyframes further back (>= 0)."""
        k = bisect.bisect_right(self.keys, index) - 1 - back
        return self.keys[k] if k >= 0 else 0


def _scan(path: Path) -> _Index:
    """Demux (not decode) every video packet to count frames and map index -> pts."""
    with open_av(str(path)) as container:
        stream = container.streams.video[0]
        stamps: list[tuple[int | None, bool]] = []
        try:
            for packet in container.demux(stream):
                # size 0: the flush packet at the end; discard: samples an edit list cuts off.
                if packet.size and not packet.is_discard:
                    stamps.append((packet.pts, packet.is_keyframe))
        except av.FFmpegError:
            pass  # truncated file: index what is there; decoding reports the break
    if any(p is None for p, _ in stamps):
        return _Index(len(stamps), None, [], {})
    pts = sorted(p for p, _ in stamps)
    pos = {p: i for i, p in enumerate(pts)}
    keys = sorted(pos[p] for p, key in stamps if key) or [0]
    return _Index(len(stamps), pts, keys, pos)


class _Broken(Exception):
    """Decoding stopped before the wanted frame (EOF too early or an FFmpeg error)."""


class _Overshoot(Exception):
    """After a seek the first decoded frame was already past the target."""


class _Cursor:
    """One demuxer + decoder positioned in a file; yields (frame index, av frame) in order.

    After a fresh open, indices are counted (the definition of frame index); after a seek they
    come from the packet index's pts map.
    """

    def __init__(self, path: Path, index: _Index | None, frame_threads: bool = True):
        self.path = path
        self.index = index
        self.frame_threads = frame_threads
        self.container: av.container.InputContainer | None = None
        self.pos = -1  # index of the last frame returned
        self._by_pts = False

    def _reopen(self) -> None:
        self.close()
        self.container = open_av(str(self.path))
        self.stream = self.container.streams.video[0]
        # Frame + slice threads are several times faster on H.264 when a video is read through; slice
        # threads only (FFmpeg's default) when the reader seeks and stops mid-stream all the time: closing
        # or flushing a frame-threaded decoder early can hang the process (PyAV-Org/PyAV#1849, open).
        self.stream.thread_type = "AUTO" if self.frame_threads else "SLICE"
        self._frames = self.container.decode(self.stream)
        self.pos, self._by_pts = -1, False

    def _seek(self, index: int) -> None:
        assert self.container is not None and self.index is not None and self.index.pts is not None
        self.container.seek(self.index.pts[index], stream=self.stream, backward=True)
        self._frames = self.container.decode(self.stream)
        self.pos, self._by_pts = index - 1, True

    def next(self) -> tuple[int, av.VideoFrame]:
        """Decode the next frame. Raises StopIteration at the end, _Broken on an FFmpeg error."""
        if self.container is None:
            self._reopen()
        try:
            frame = next(self._frames)
        except av.FFmpegError as e:
            raise _Broken(plain_error(e)) from e
        i = self.pos + 1
        if self._by_pts and frame.pts is not None:
            i = self.index.pos.get(frame.pts, i)
        self.pos = i
        return i, frame

    def read_at(self, index: int) -> av.VideoFrame:
        """Return the frame with `index`, decoding forward from a keyframe when needed."""
        idx = self.index
        seekable = idx is not None and idx.pts is not None and index > 0
        if self.container is not None and self.pos < index:
            # Decoding on is cheaper than seeking while no keyframe lies between here and there.
            if not seekable or idx.key_at_or_before(index) <= self.pos + 1:
                return self._forward_to(index)
        if not seekable:
            self._reopen()
            return self._forward_to(index)
        for back in range(3):
            if self.container is None:
                self._reopen()
            self._seek(idx.key_at_or_before(index, back))
            try:
                return self._forward_to(index, after_seek=True)
            except _Overshoot:
                continue  # the demuxer landed after the keyframe we asked for: step further back
        self._reopen()  # last resort, always right: decode from the start
        return self._forward_to(index)

    def _forward_to(self, index: int, after_seek: bool = False) -> av.VideoFrame:
        first = after_seek
        while True:
            try:
                i, frame = self.next()
            except StopIteration:
                raise _Broken(f"the file ends before frame {index}") from None
            if i == index:
                return frame
            if i > index and first:
                raise _Overshoot
            if i > index:
                raise _Broken(f"frame {index} was not found (timestamps out of order)")
            first = False

    def close(self) -> None:
        if self.container is not None:
            self.container.close()
            self.container = None


class VideoSource(Source):
    """A video file decoded with PyAV (FFmpeg).

    Attributes:
        path: the file.
        width, height: upright frame size (after rotation).
        rotation: display rotation in degrees counter-clockwise (0, 90, 180, 270).
        duration_s: length of the video stream in seconds, when the container says.
    """

    kind = "video"

    def __init__(self, path: str | os.PathLike, *, frame_threads: bool = True):
        """Open the file and decode its first frame (so a broken file fails here, not later).

        `frame_threads=False` decodes with slice threads only: slower on H.264, but a decoder closed or
        flushed mid-stream (a viewer's seeks, pauses and source switches) cannot hang in FFmpeg's frame
        threads (PyAV-Org/PyAV#1849).

        Raises:
            UserInputError: not a video FFmpeg can open, no video stream, or no decodable frame.
        """
        super().__init__()
        self.path = Path(path)
        self.frame_threads = frame_threads
        try:
            size = self.path.stat().st_size
        except OSError as e:
            raise UserInputError(f"video {self.path} cannot be read ({e.strerror}); check the path") from e
        if size == 0:
            raise UserInputError(f"video {self.path} is empty (0 bytes); {VIDEO_HINT}")
        try:
            container = open_av(str(self.path))
        except (av.FFmpegError, OSError, ValueError) as e:
            raise UserInputError(
                f"{self.path} is not a video or image segtool can read ({plain_error(e)}); {VIDEO_HINT}"
            ) from e
        with container:
            if not container.streams.video:
                raise UserInputError(f"{self.path} has no video stream (audio only?); {VIDEO_HINT}")
            stream = container.streams.video[0]
            self._tb = Fraction(stream.time_base) if stream.time_base else None
            self._start_pts = stream.start_time or 0
            self.fps = stream_rate(stream)
            self._header_frames = int(stream.frames or 0)
            if stream.duration is not None and self._tb is not None:
                self.duration_s: float | None = float(stream.duration * self._tb)
            elif container.duration is not None and len(container.streams) == 1:
                # Container duration covers all streams; trust it only when video is the only one.
                self.duration_s = container.duration / av.time_base
            else:
                self.duration_s = None
            try:
                first = next(container.decode(stream))
            except (av.FFmpegError, StopIteration) as e:
                raise UserInputError(
                    f"video {self.path}: no frame could be decoded ({e}); {VIDEO_HINT}"
                ) from e
            self.rotation = round((first.rotation or 0) / 90) % 4 * 90
            w, h = first.width, first.height
            self.width, self.height = (h, w) if self.rotation in (90, 270) else (w, h)
        self._index: _Index | None = None
        self._reader = _Cursor(self.path, None, frame_threads)  # random access for read()
        self._last: Frame | None = None

    # --- metadata -------------------------------------------------------------------------------

    @property
    def frames_expected(self) -> int:
        """Frame count from the container header, or counted from the packets when it says nothing."""
        if self._header_frames > 0:
            return self._header_frames
        return self._get_index().count

    @property
    def description(self) -> str:  # type: ignore[override]
        fps = f"{self.fps:.1f} fps" if self.fps else "unknown fps"
        turn = f", rotated {self.rotation}°" if self.rotation else ""
        return (
            f"video {self.path.name} ({self.width}x{self.height}, {fps}, {self.frames_expected} frames{turn})"
        )

    def _get_index(self) -> _Index:
        if self._index is None:
            self._index = _scan(self.path)
            self._reader.index = self._index
        return self._index

    def _pts_s(self, frame: av.VideoFrame, index: int) -> float | None:
        if frame.pts is not None and self._tb is not None:
            return float((frame.pts - self._start_pts) * self._tb)
        return index / self.fps if self.fps else None

    def _make(self, index: int, frame: av.VideoFrame) -> Frame:
        return Frame(index, self._pts_s(frame, index), frame_to_rgb(frame), None)

    # --- access ---------------------------------------------------------------------------------

    def read(self, index: int) -> Frame:
        """Return frame `index` (presentation order), frame-accurately, for a GUI slider.

        Seeks to the keyframe at or before it and decodes forward; reading the next index continues
        decoding without a seek. The first call builds the packet index (see module docs).

        Raises:
            IndexError: index out of range.
            SourceInterrupted: the file is truncated or corrupt before that frame.
        """
        self._check_open()
        n = self.frames_expected
        if not 0 <= index < n:
            raise IndexError(f"video {self.path.name} has {n} frames (0..{n - 1}), got index {index}")
        if self._last is not None and self._last.index == index:
            return self._last
        self._get_index()
        try:
            frame = self._reader.read_at(index)
        except _Broken as e:
            self._reader.close()
            raise SourceInterrupted(
                f"video {self.path.name}: frame {index} cannot be decoded ({e}); the file is probably "
                "truncated or corrupt — re-copy or re-encode it",
                last_index=index - 1,
            ) from None
        self._last = self._make(index, frame)
        return self._last

    def frames(self, start: int = 0, end: int | None = None, every: int = 1) -> Iterator[Frame]:
        """Yield frames in presentation order; see `Source.frames`.

        Each call opens its own decoder, so several iterators and `read()` do not disturb each other.
        """
        self._check_open()
        end = check_range(start, end, every, self.frames_expected, f"video {self.path.name}")
        return self._iter(start, end, every)

    def _iter(self, start: int, end: int | None, every: int) -> Iterator[Frame]:
        cursor = _Cursor(self.path, self._get_index() if start > 0 else None, self.frame_threads)
        last = start - 1  # last index decoded (delivered or deliberately skipped)
        delivered = -1  # last index yielded
        last_pts_s: float | None = None
        try:
            try:
                frame = cursor.read_at(start)
                i = start
                while True:
                    if end is not None and i >= end:
                        return
                    last = i
                    if (i - start) % every == 0:
                        out = self._make(i, frame)  # RGB conversion only for frames we yield
                        last_pts_s = out.pts_s
                        delivered = i
                        yield out
                    else:
                        last_pts_s = self._pts_s(frame, i)
                    try:
                        i, frame = cursor.next()
                    except StopIteration:
                        break
            except _Broken as e:
                raise self._interrupted(last, delivered, str(e)) from None
            # Clean end of file: make sure it is the real end, not a file cut off at a packet boundary.
            if self._ended_early(last, last_pts_s):
                raise self._interrupted(
                    last, delivered, f"the file ends at {last_pts_s:.2f}s of {self.duration_s:.2f}s"
                )
        finally:
            cursor.close()

    def _ended_early(self, last: int, last_pts_s: float | None) -> bool:
        if self.duration_s is None or last_pts_s is None:
            # No duration: only a header frame count can tell.
            return self._header_frames > 0 and last + 1 < self._header_frames
        tolerance = 2.0 / self.fps if self.fps else 0.5
        return last_pts_s + tolerance < self.duration_s

    def _interrupted(self, last: int, delivered: int, reason: str) -> SourceInterrupted:
        expected = f" of {self.frames_expected}" if self._header_frames else ""
        return SourceInterrupted(
            f"video {self.path.name} stopped at frame {last + 1}{expected}: {reason}. Frames up to "
            f"{last} were read; the file is probably truncated or corrupt — re-copy or re-encode it",
            last_index=delivered,
        )

    def _check_open(self) -> None:
        if self._closed:
            raise ValueError(f"video {self.path.name} was closed; open it again")

    def close(self) -> None:
        self._reader.close()
        super().close()
