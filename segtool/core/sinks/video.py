"""Video sinks: lossless FFV1 mask video (`OUT/masks.mkv`) and H.264 overlay video (`OUT/overlay.mp4`).

File naming is what tells a user whether a video is complete:
- while writing, and after an interrupted run: `masks.partial.mkv` / `overlay.partial.mp4`, always
  a valid, playable file once closed (Matroska and fragmented MP4 also stay readable up to the last
  flushed frames if the process is killed);
- `close(complete=True)` renames it to `masks.mkv` / `overlay.mp4`.

Resume: the old video (the best of the final, partial and an earlier resume's source file) is moved
to `*.resume.*`; its frames are decoded and encoded again at the start of the new partial file, then
new frames follow. For FFV1 this copy is lossless (bit-exact masks). For H.264 the copied part goes
through one more lossy generation at the same CRF; re-encoding (instead of remuxing packets) is what
keeps the result one valid stream with one set of encoder parameters. Timestamps are kept.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from segtool.base.atomic import remove_temp_files
from segtool.core import overlay
from segtool.core.frame import Frame, Prediction
from segtool.core.sinks._files import (
    disk_full_as_user_error,
    prepare_dir,
    remove_quietly,
)
from segtool.core.sinks.base import Sink

__all__ = ["Ffv1MaskSink", "OverlayVideoSink", "decode_video_frames", "partial_path"]


def partial_path(path: Path, tag: str = "partial") -> Path:
    """`OUT/overlay.mp4` -> `OUT/overlay.partial.mp4` (the name used until the run completes)."""
    path = Path(path)
    return path.with_name(f"{path.stem}.{tag}{path.suffix}")


def decode_video_frames(path: Path) -> Iterator[av.VideoFrame]:
    """Decode every readable frame of the first video stream, stopping quietly at damage.

    A file cut off by a crash yields the frames before the cut (the decoder is flushed so none that
    were decoded but held back for reordering are lost); an unreadable file yields nothing.
    """
    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError):
        return
    try:
        if not container.streams.video:
            return
        stream = container.streams.video[0]
        decoder = stream.codec_context
        if decoder is None:  # header cut off before the codec parameters
            return
        try:
            for packet in container.demux(stream):
                if packet.is_corrupt:
                    break
                yield from decoder.decode(packet)
        except av.FFmpegError:
            pass
        # Flush: frames decoded but held back (reordering, threads) come out now.
        with contextlib.suppress(av.FFmpegError):
            yield from decoder.decode(None)
    finally:
        container.close()


def _as_rate(fps: float | Fraction) -> Fraction:
    if fps is None or not fps > 0:
        raise ValueError(f"fps must be positive, got {fps!r}")
    # limit_denominator(1001) turns 29.97002997 back into 30000/1001, the NTSC rate players expect.
    return Fraction(fps).limit_denominator(1001)


class _VideoFileSink(Sink):
    """Partial naming, resume by re-encoding, timestamps and disk-full handling for one video stream."""

    container_format = ""
    container_options: dict[str, str] = {}
    time_base = Fraction(1, 1000)
    frame_format = ""  # pixel format of the arrays handed to the encoder
    copy_format = ""  # pixel format in which resumed frames are copied (the stream's own)

    def __init__(self, path: str | Path, fps: float | Fraction):
        self.path = Path(path)
        self.partial = partial_path(self.path)
        self.resume_src = partial_path(self.path, "resume")
        self.rate = _as_rate(fps)
        self._container: av.container.OutputContainer | None = None
        self._stream: av.VideoStream | None = None
        self._restored = 0  # frames in resume_src
        self._keep = 0  # of those, how many go into the new file
        self._frames = 0  # frames in the new file so far
        self._last_pts = -1
        self._copied = False  # the kept frames of resume_src are all in the new file

    # -- Sink API ---------------------------------------------------------------------------------
    def open(self, *, resume: bool) -> int:
        prepare_dir(self.path.parent)
        remove_temp_files(self.partial.parent)
        self._frames, self._last_pts, self._copied = 0, -1, False
        if not resume:
            # A finished video from an older run beside this run's partial one would look complete.
            remove_quietly(self.path, self.partial, self.resume_src)
            self._restored = self._keep = 0
            return 0
        best, best_count = None, 0
        for candidate in (self.path, self.partial, self.resume_src):
            if candidate.is_file():
                count = sum(1 for _ in decode_video_frames(candidate))
                if best is None or count > best_count:
                    best, best_count = candidate, count
        for candidate in (self.path, self.partial, self.resume_src):
            if candidate != best:
                remove_quietly(candidate)
        if best is not None and best != self.resume_src:
            os.replace(best, self.resume_src)
        if best is not None and best_count == 0:
            remove_quietly(self.resume_src)
        self._restored = self._keep = best_count
        return best_count

    def keep_first(self, n: int) -> None:
        self._keep = max(0, min(int(n), self._restored))

    def write(self, frame: Frame, pred: Prediction) -> None:
        image = self._image(frame, pred)
        with disk_full_as_user_error(self.partial):
            if self._container is None:
                self._start(image.shape[1], image.shape[0])
            image = self._fit(image)
            if frame.pts_s is not None:
                pts = round(frame.pts_s / self.time_base)
            else:
                pts = round(self._frames / self.rate / self.time_base)
            self._encode(av.VideoFrame.from_ndarray(image, format=self.frame_format), pts)

    def finish(self) -> None:
        """Close the video under its partial name (playable); `promote` then gives it the final name."""
        with disk_full_as_user_error(self.partial):
            if self._container is None:
                if self._restored and self._keep == self._restored:
                    # Nothing new and nothing dropped: the old file is already exactly the result.
                    os.replace(self.resume_src, self.partial)
                    return
                if not self._keep:
                    remove_quietly(self.resume_src)
                    return  # no frame at all: a video needs at least one frame to exist
                self._start(None, None)  # copy the kept frames into a fresh file
            container, stream = self._container, self._stream
            self._container = self._stream = None
            try:
                for packet in stream.encode(None):
                    container.mux(packet)
            except BaseException:
                # Still try to write the trailer so the partial file stays playable, but report
                # the first error, not one caused by it.
                with contextlib.suppress(Exception):
                    container.close()
                raise
            container.close()
        if self._copied:
            # Only now is the old file redundant; after a failed copy both stay for the next resume.
            remove_quietly(self.resume_src)

    def promote(self) -> None:
        if self.partial.exists():
            os.replace(self.partial, self.path)

    # -- subclass hooks ---------------------------------------------------------------------------
    def _image(self, frame: Frame, pred: Prediction) -> np.ndarray:
        """The picture to encode for one frame, as an array in `frame_format`."""
        raise NotImplementedError

    def _configure(self, stream: av.VideoStream) -> None:
        """Codec options (pix_fmt, quality, GOP)."""
        raise NotImplementedError

    def _encoded_size(self, width: int, height: int) -> tuple[int, int]:
        return width, height

    # -- internals --------------------------------------------------------------------------------
    def _start(self, width: int | None, height: int | None) -> None:
        """Create the partial file and copy the kept frames of the old video into it."""
        old = decode_video_frames(self.resume_src) if self._keep else iter(())
        first = next(old, None)
        if first is not None:
            # The old video fixes the size, so a resumed file has one size throughout.
            width, height = first.width, first.height
        else:
            width, height = self._encoded_size(width, height)
        self._container = av.open(
            str(self.partial), "w", format=self.container_format, options=dict(self.container_options)
        )
        stream = self._container.add_stream(self._codec, rate=self.rate)
        stream.width, stream.height = width, height
        stream.codec_context.time_base = self.time_base
        self._configure(stream)
        self._stream = stream
        self._copied = first is None
        if first is None:
            return
        copied = 0
        for decoded in _chain(first, old):
            # Copy in the stored pixel format: no colour conversion round trip for the lossy overlay.
            picture = decoded.to_ndarray(format=self.copy_format)
            pts = round(decoded.time / self.time_base) if decoded.time is not None else self._last_pts + 1
            self._encode(av.VideoFrame.from_ndarray(picture, format=self.copy_format), pts)
            copied += 1
            if copied >= self._keep:
                break
        old.close()
        if copied < self._keep:
            raise RuntimeError(f"{self.resume_src} now decodes {copied} frames, expected {self._keep}")
        self._copied = True

    def _fit(self, image: np.ndarray) -> np.ndarray:
        """Make later frames match the stream size (a source may change resolution mid-stream)."""
        h, w = image.shape[:2]
        if (w, h) == (self._stream.width, self._stream.height):
            return image
        interp = cv2.INTER_NEAREST if self.frame_format == "gray" else cv2.INTER_AREA
        return cv2.resize(image, (self._stream.width, self._stream.height), interpolation=interp)

    def _encode(self, vframe: av.VideoFrame, pts: int) -> None:
        # Muxers reject timestamps that do not increase (duplicate or jittery source pts).
        pts = max(int(pts), self._last_pts + 1)
        vframe.pts, vframe.time_base = pts, self.time_base
        for packet in self._stream.encode(vframe):
            self._container.mux(packet)
        self._last_pts = pts
        self._frames += 1


def _chain(first, rest):
    yield first
    yield from rest


class Ffv1MaskSink(_VideoFileSink):
    """Lossless mask video: FFV1, 8-bit gray, pixel value = class id, one frame per source frame.

    Timestamps are the source's (`frame.pts_s`), so mask frame i lines up with source frame i in any
    player; without them frames are spaced 1/fps apart. Every frame is a key frame (random access,
    and a crash loses at most the frames still in the muxer's buffer).

    Args:
        path: `OUT/masks.mkv`.
        fps: nominal frame rate (the source's, divided by --every).
    """

    container_format = "matroska"
    # One cluster per frame, flushed to the file as soon as it is muxed: a kill (or power cut) then
    # loses at most the frame in flight. With the defaults the muxer kept 5 s / 5 MB of clusters in
    # memory, and a killed 40-frame export left a 0-byte masks.partial.mkv.
    container_options = {"cluster_size_limit": "1", "flush_packets": "1"}
    time_base = Fraction(1, 1000)  # Matroska stores milliseconds
    frame_format = "gray"
    copy_format = "gray"
    _codec = "ffv1"

    def _image(self, frame: Frame, pred: Prediction) -> np.ndarray:
        return np.ascontiguousarray(pred.mask, np.uint8)

    def _configure(self, stream: av.VideoStream) -> None:
        stream.pix_fmt = "gray"
        stream.codec_context.gop_size = 1
        # Version 3 adds per-slice CRCs, so damage is detected instead of decoded as wrong class ids.
        stream.codec_context.options = {"level": "3", "slicecrc": "1", "context": "1"}


class OverlayVideoSink(_VideoFileSink):
    """H.264 video of the frames with class colours blended over them.

    yuv420p (what every player supports) needs even width and height, so odd sizes are padded by one
    replicated row/column at the bottom/right; the picture is never scaled, pixel (x, y) of the video
    is pixel (x, y) of the frame.

    Args:
        path: `OUT/overlay.mp4`.
        fps: nominal frame rate.
        palette: (K, 3) uint8 class colours.
        alpha: colour weight, 0..1.
        crf: x264 constant quality (lower = better and bigger; 18-23 is visually good).
        preset: x264 speed/size trade-off; "veryfast" keeps encoding far cheaper than inference.
    """

    container_format = "mp4"
    # Fragmented MP4: the file is readable after a crash up to the last fragment (one per key frame,
    # every ~2 s), and after close it is an ordinary MP4 for players.
    # flush_packets: each fragment reaches the file when it is complete, not when the I/O buffer fills.
    container_options = {"movflags": "frag_keyframe+empty_moov+default_base_moof", "flush_packets": "1"}
    time_base = Fraction(1, 90000)
    frame_format = "rgb24"
    copy_format = "yuv420p"
    _codec = "libx264"

    def __init__(
        self,
        path: str | Path,
        fps: float | Fraction,
        palette: np.ndarray,
        alpha: float = 0.5,
        crf: int = 20,
        preset: str = "veryfast",
        visible: Sequence[bool] | None = None,
    ):
        super().__init__(path, fps)
        self.palette = np.asarray(palette, np.uint8).reshape(-1, 3)
        self.alpha = alpha
        self.visible = None if visible is None else list(visible)
        self.crf = crf
        self.preset = preset

    def _image(self, frame: Frame, pred: Prediction) -> np.ndarray:
        picture = overlay.blend(frame.rgb, pred.mask, self.palette, self.alpha, self.visible)
        h, w = picture.shape[:2]
        if h % 2 or w % 2:
            picture = cv2.copyMakeBorder(picture, 0, h % 2, 0, w % 2, cv2.BORDER_REPLICATE)
        return picture

    def _encoded_size(self, width: int, height: int) -> tuple[int, int]:
        return width + width % 2, height + height % 2

    def _configure(self, stream: av.VideoStream) -> None:
        stream.pix_fmt = "yuv420p"
        stream.codec_context.gop_size = max(1, round(2 * float(self.rate)))
        # No B-frames: fragmented MP4 has no edit list to hide the reordering delay, so with B-frames
        # every timestamp would start two frames late. Costs a few percent of size, nothing else.
        stream.codec_context.options = {"crf": str(self.crf), "preset": self.preset, "bf": "0"}
