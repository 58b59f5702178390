"""Live sources: a camera through OpenCV, an RTSP/HTTP stream through PyAV with reconnects.

Frames of a live source arrive in real time; `frames()` blocks until the next one. The pipeline
keeps only the newest frame for live sources (policy "latest"), so this module does not buffer.
"""

from __future__ import annotations

import glob
import sys
import time
from collections.abc import Iterator
from fractions import Fraction

import av
import cv2
import numpy as np

from segtool.core.errors import SourceInterrupted, UserInputError
from segtool.core.frame import Frame
from segtool.core.sources.base import Source, check_range, plain_error
from segtool.core.sources.video import frame_to_rgb, open_av, stream_rate

__all__ = ["CameraSource", "StreamSource", "redact_url"]


def _camera_hint() -> str:
    """Which `cam:N` values exist, as far as the OS tells without opening them."""
    if sys.platform.startswith("linux"):
        found = sorted(int(p[10:]) for p in glob.glob("/dev/video*") if p[10:].isdigit())
        if not found:
            return "no camera found (/dev/video* is empty): connect one; cam:0 is the first camera"
        listed = ", ".join(f"cam:{n}" for n in found)
        return f"cameras present: {listed} (`v4l2-ctl --list-devices` names them)"
    return "cameras count from cam:0 in the order the system lists them (see its camera settings)"


class CameraSource(Source):
    """A camera by index (`cam:N`) read with OpenCV's `VideoCapture`.

    Attributes:
        index: the camera index.
    """

    kind = "camera"
    is_live = True

    def __init__(self, index: int, *, capture: cv2.VideoCapture | None = None, label: str | None = None):
        """Open camera `index` and read one frame to prove it delivers.

        Args:
            index: OpenCV camera index (0 = first camera).
            capture: an already opened `cv2.VideoCapture` to read instead (another backend, or a
                file standing in for a camera in tests); `index` then only names it.
            label: name in messages and `description` (default "camera N").

        Raises:
            UserInputError: the camera does not exist or delivers no frame.
        """
        super().__init__()
        self.index = index
        self.label = label or f"camera {index}"
        self._cap = capture if capture is not None else cv2.VideoCapture(index)
        ok, bgr = self._cap.read() if self._cap.isOpened() else (False, None)
        if not ok or bgr is None:
            self._cap.release()
            raise UserInputError(f"cam:{index} cannot be opened or gives no picture; {_camera_hint()}")
        self._pending: np.ndarray | None = bgr  # the probe frame is the first frame delivered
        fps = float(self._cap.get(cv2.CAP_PROP_FPS) or 0.0)
        self.fps = fps if 0 < fps < 1000 else None  # some drivers report 0 or nonsense
        h, w = bgr.shape[:2]
        self.description = f"{self.label} ({w}x{h}" + (f", {self.fps:.1f} fps)" if self.fps else ")")
        self._started = False

    def frames(self, start: int = 0, end: int | None = None, every: int = 1) -> Iterator[Frame]:
        """Yield camera frames as they arrive; pts_s is seconds since the first frame.

        A camera can be iterated once (frames are not replayable).

        Raises:
            SourceInterrupted: the camera stops delivering (unplugged).
        """
        end = check_range(start, end, every, None, self.label)
        if self._started:
            raise RuntimeError(f"{self.label} is already being read; open the source again")
        self._started = True
        return self._iter(start, end, every)

    def _iter(self, start: int, end: int | None, every: int) -> Iterator[Frame]:
        t0 = time.monotonic()
        delivered = -1
        i = 0
        while end is None or i < end:
            if self._pending is not None:
                bgr, self._pending = self._pending, None
            else:
                ok, bgr = self._cap.read() if not self._closed else (False, None)
                if not ok or bgr is None:
                    raise SourceInterrupted(
                        f"{self.label} stopped delivering frames after frame {i - 1} (unplugged or "
                        "taken by another program?); reconnect it and start again",
                        last_index=delivered,
                    )
            if i >= start and (i - start) % every == 0:
                rgb = _bgr_to_rgb(bgr)
                delivered = i
                yield Frame(i, time.monotonic() - t0, rgb, None)
            i += 1

    def close(self) -> None:
        self._cap.release()
        super().close()


def _bgr_to_rgb(bgr: np.ndarray) -> np.ndarray:
    if bgr.ndim == 2:
        return np.ascontiguousarray(cv2.cvtColor(bgr, cv2.COLOR_GRAY2RGB))
    if bgr.shape[2] == 4:
        return np.ascontiguousarray(cv2.cvtColor(bgr, cv2.COLOR_BGRA2RGB))
    return np.ascontiguousarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))


def redact_url(url: str) -> str:
    """The URL without a password (it goes into messages and summary files)."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest.split("/", 1)[0]:
        return url
    auth, host = rest.split("@", 1)
    user = auth.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}"


class StreamSource(Source):
    """A network stream (rtsp://, http(s)://, …) decoded with PyAV.

    A dropped connection is reopened up to `max_reconnects` times in a row (the count resets when a
    reconnection delivers a frame). A stream of known length (a video file served over HTTP) resumes
    after the last frame delivered; a live stream simply continues, frame indices counting on.
    """

    kind = "stream"
    is_live = True

    def __init__(self, url: str, *, connect_timeout_s: float = 10.0, max_reconnects: int = 3):
        """Connect (within `connect_timeout_s`) and read the stream header.

        Raises:
            UserInputError: unreachable, refused, not a video stream, or no answer in time.
        """
        super().__init__()
        if connect_timeout_s <= 0:
            raise UserInputError(f"connect_timeout_s={connect_timeout_s} must be positive")
        if max_reconnects < 0:
            raise UserInputError(f"max_reconnects={max_reconnects} must be 0 or more")
        self.url = url
        self.connect_timeout_s = float(connect_timeout_s)
        self.max_reconnects = int(max_reconnects)
        self.reconnects = 0  # total reconnections so far (for a status line)
        self._label = redact_url(url)
        t0 = time.monotonic()
        try:
            self._container: av.container.InputContainer | None = self._connect()
        except (av.FFmpegError, OSError) as e:
            raise UserInputError(
                f"stream {self._label} cannot be opened after {time.monotonic() - t0:.1f}s ({self._clean(e)}); check "
                "the address, that the camera/server is running and reachable, or raise the connect timeout"
            ) from e
        if not self._container.streams.video:
            self._container.close()
            raise UserInputError(f"stream {self._label} has no video track; give a video stream URL")
        stream = self._container.streams.video[0]
        self._tb = Fraction(stream.time_base) if stream.time_base else None
        self._start_pts = stream.start_time or 0
        self.fps = stream_rate(stream)
        self._frames_known = int(stream.frames or 0) or None
        # A finite, seekable stream (a file over HTTP) can resume where it broke off.
        self._resumable = self._frames_known is not None or self._container.duration is not None
        self._duration_s = self._container.duration / av.time_base if self._container.duration else None
        size = f"{stream.width}x{stream.height}, " if stream.width else ""
        fps = f"{self.fps:.1f} fps" if self.fps else "unknown fps"
        self.description = f"stream {self._label} ({size}{fps})"
        self._started = False

    @property
    def frames_expected(self) -> int | None:
        """Frame count when the stream says (a file served over HTTP), else None."""
        return self._frames_known

    def _connect(self) -> av.container.InputContainer:
        options = {"rtsp_transport": "tcp"} if self.url.lower().startswith("rtsp") else {}
        # timeout=(open, read): FFmpeg's interrupt callback aborts a stalled open or read.
        return open_av(self.url, timeout=(self.connect_timeout_s, self.connect_timeout_s), options=options)

    def frames(self, start: int = 0, end: int | None = None, every: int = 1) -> Iterator[Frame]:
        """Yield frames as they arrive; pts_s from the stream (seconds since its start).

        A stream can be iterated once.

        Raises:
            SourceInterrupted: the stream dropped and `max_reconnects` reconnections failed.
        """
        end = check_range(start, end, every, None, f"stream {self._label}")
        if self._started:
            raise RuntimeError(f"stream {self._label} is already being read; open the source again")
        self._started = True
        return self._iter(start, end, every)

    def _iter(self, start: int, end: int | None, every: int) -> Iterator[Frame]:
        i = -1  # index of the last frame taken from the stream
        delivered = -1
        last_pts: int | None = None  # stream timestamp of frame i, to resume after a reconnect
        skip_to: int | None = None
        pts_offset = 0.0  # keeps pts_s increasing when a live stream restarts its clock
        last_pts_s = -1.0  # pts_s of the last frame delivered (after pts_offset)
        last_raw_s = -1.0  # stream time of the last frame taken
        failures = 0
        try:
            while True:
                container = self._container
                assert container is not None
                stream = container.streams.video[0]
                try:
                    for frame in container.decode(stream):
                        if skip_to is not None and frame.pts is not None and frame.pts <= skip_to:
                            continue  # already delivered before the connection dropped
                        skip_to = None
                        failures = 0
                        i += 1
                        last_pts = frame.pts
                        last_raw_s = self._pts_s(frame)
                        if end is not None and i >= end:
                            return
                        if i < start or (i - start) % every:
                            continue
                        pts_s = self._pts_s(frame) + pts_offset
                        if pts_s <= last_pts_s:
                            pts_offset += last_pts_s - pts_s + (1.0 / self.fps if self.fps else 0.04)
                            pts_s = self._pts_s(frame) + pts_offset
                        last_pts_s = pts_s
                        delivered = i
                        yield Frame(i, pts_s, frame_to_rgb(frame), None)
                    if self._reached_end(i, last_raw_s):
                        return  # a finite stream delivered all of its frames
                    reason = "the stream ended"
                except av.FFmpegError as e:
                    reason = self._clean(e)
                # The connection dropped: reconnect, a bounded number of times in a row.
                self._close_container()
                while True:
                    if failures >= self.max_reconnects:
                        raise SourceInterrupted(
                            f"stream {self._label} dropped after frame {i} ({reason}) and "
                            f"{failures} reconnection(s) failed; check the network or the server",
                            last_index=delivered,
                        )
                    failures += 1
                    self.reconnects += 1
                    time.sleep(min(0.2 * 2 ** (failures - 1), 2.0))  # back off a little, not long
                    try:
                        self._container = self._connect()
                        if not self._container.streams.video:
                            raise av.InvalidDataError(0, "no video track after reconnecting")
                        break
                    except (av.FFmpegError, OSError) as e:
                        reason = self._clean(e)
                        self._close_container()
                if self._resumable and last_pts is not None:
                    stream = self._container.streams.video[0]
                    try:
                        self._container.seek(last_pts, stream=stream, backward=True)
                    except av.FFmpegError:
                        pass  # not seekable after all: decode from the start, skipping up to last_pts
                    skip_to = last_pts
        finally:
            self._close_container()

    def _clean(self, error: BaseException) -> str:
        """An FFmpeg error message without the password (PyAV puts the URL in it)."""
        return plain_error(error).replace(self.url, self._label)

    def _reached_end(self, last: int, last_pts_s: float) -> bool:
        """True when a finite stream (known frame count or duration) ended where it should."""
        if self._frames_known is not None:
            return last + 1 >= self._frames_known
        if self._duration_s is not None:
            return last_pts_s + (2.0 / self.fps if self.fps else 0.5) >= self._duration_s
        return False

    def _pts_s(self, frame: av.VideoFrame) -> float:
        if frame.pts is None or self._tb is None:
            return 0.0
        return float((frame.pts - self._start_pts) * self._tb)

    def _close_container(self) -> None:
        if self._container is not None:
            self._container.close()
            self._container = None

    def close(self) -> None:
        self._close_container()
        super().close()
