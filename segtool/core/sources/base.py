"""The `Source` base class every frame source implements, and helpers they share."""

from __future__ import annotations

import abc
import re
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

import numpy as np

from segtool.core.errors import UserInputError
from segtool.core.frame import Frame

__all__ = ["Source", "check_range", "as_rgb_frame"]


class Source(abc.ABC):
    """A sequence of frames: an image, a folder of images, a video file, a camera or a stream.

    Use it as a context manager so the file, device or connection is released::

        with open_source("clip.mp4") as src:
            for frame in src.frames(every=5):
                ...

    A source is not thread-safe: create, iterate and close it in one thread (the pipeline's decode
    thread). Separate `frames()` iterators of one source are independent of each other.

    Attributes:
        kind: "image", "folder", "video", "camera" or "stream".
        description: one human-readable line, e.g. "video clip.mp4 (480x360, 15.0 fps, 101 frames)".
        is_live: True for cameras and streams (frames arrive in real time; drop stale ones).
        fps: frames per second when known (average rate for variable frame rate video), else None.
        frames_expected: number of frames when known, None for live sources.
        skipped: files a folder source ignored (not images), for a warning.
        path: the file or folder read; None for cameras and streams.
        names: a folder's file names in frame order (the export's file keys); None for other sources.
        seekable: True when `read(index)` gives any frame (image, folder, video); False for live sources.
    """

    kind: str = ""
    description: str = ""
    is_live: bool = False
    fps: float | None = None
    path: Path | None = None
    names: list[str] | None = None
    skipped: list[str]

    def __init__(self) -> None:
        self.skipped = []
        self._closed = False

    @property
    def frames_expected(self) -> int | None:
        """Number of frames when known, None for live sources."""
        return None

    @abc.abstractmethod
    def frames(self, start: int = 0, end: int | None = None, every: int = 1) -> Iterator[Frame]:
        """Yield frames `start`, `start + every`, ... below `end` (exclusive; None = to the end).

        Args:
            start: index of the first frame to yield (0-based).
            end: index one past the last frame to consider; None for all.
            every: yield every n-th frame (1 = all).

        Raises:
            UserInputError: `start`, `end` or `every` are out of range.
            SourceInterrupted: the source broke after some frames (truncated file, camera unplugged,
                stream gone after its reconnects). Frames yielded before are valid.
        """

    @property
    def seekable(self) -> bool:
        """True when `read(index)` works: stored sources (image, folder, video), not live ones."""
        return not self.is_live

    def read(self, index: int) -> Frame:
        """Frame `index` by random access (stored sources; live ones only iterate `frames()`).

        Raises:
            UserInputError: this source cannot seek (a camera or a stream).
            IndexError: `index` is outside the source.
        """
        raise UserInputError(
            f"{self.description or self.kind}: a {self.kind} cannot jump to frame {index}; "
            "its frames arrive live, in order"
        )

    @property
    def origin(self) -> str:
        """What the source is for a record (summary.json): its path, else its description."""
        return str(self.path) if self.path is not None else self.description

    def close(self) -> None:
        """Release the file, device or connection. Safe to call twice."""
        self._closed = True

    @property
    def closed(self) -> bool:
        """True once `close()` was called."""
        return self._closed

    def __enter__(self) -> Source:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.description}>"


def plain_error(error: BaseException) -> str:
    """An OS/FFmpeg error in words: PyAV's str() reads "[Errno 1094995529] Invalid data found when processing
    input: 'clip.mp4'"; FFmpeg's error numbers mean nothing to a user, so only its sentence is kept."""
    text = getattr(error, "strerror", None)
    if isinstance(text, str) and text:
        return text
    return re.sub(r"^\[Errno -?\d+\]\s*", "", str(error))


def check_range(start: int, end: int | None, every: int, total: int | None, what: str) -> int | None:
    """Validate a frame selection against a source of `total` frames (None = unknown).

    Returns:
        The effective end (clamped to `total` when known).

    Raises:
        UserInputError: naming the bad value and the valid range.
    """
    if int(every) != every or every < 1:
        raise UserInputError(f"every={every!r} is not a positive whole number; use every=1 for all frames")
    if int(start) != start or start < 0:
        raise UserInputError(f"start={start!r} is negative or not a whole number; frames count from 0")
    if end is not None and (int(end) != end or end <= start):
        raise UserInputError(f"end={end!r} must be greater than start={start} (end is exclusive)")
    if total is not None:
        if start >= total:
            raise UserInputError(
                f"start={start} is past the end of {what} ({total} frames); choose a start below {total}"
            )
        end = total if end is None else min(end, total)
    return end


def as_rgb_frame(rgb: np.ndarray) -> np.ndarray:
    """Return `rgb` as a C-contiguous H x W x 3 uint8 array (copying only when needed)."""
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected H x W x 3 uint8, got {rgb.shape} {rgb.dtype}")
    return np.ascontiguousarray(rgb)
