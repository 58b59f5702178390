"""Frame sources: everything a SOURCE argument can name, behind one `Source` interface.

    with open_source("clip.mp4") as src:          # or "photos/", "img.jpg", "cam:0", "rtsp://…"
        print(src.description)
        for frame in src.frames(start=0, end=None, every=1):
            ...                                    # frame.index, frame.pts_s, frame.rgb, frame.name

User documentation: docs/sources.md.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from segtool.core.errors import SourceInterrupted, UserInputError
from segtool.core.sources.base import Source
from segtool.core.sources.images import IMAGE_EXTENSIONS, FolderSource, ImageSource, load_image, natural_key
from segtool.core.sources.live import CameraSource, StreamSource
from segtool.core.sources.video import VideoSource

__all__ = [
    "open_source",
    "Source",
    "ImageSource",
    "FolderSource",
    "VideoSource",
    "CameraSource",
    "StreamSource",
    "IMAGE_EXTENSIONS",
    "STREAM_SCHEMES",
    "load_image",
    "natural_key",
    "SourceInterrupted",
    "UserInputError",
]

STREAM_SCHEMES: tuple[str, ...] = ("rtsp", "rtsps", "rtmp", "http", "https")
SOURCE_FORMS = (
    "an image file, a folder of images, a video file, cam:N (camera index) or an rtsp:// / http(s):// URL"
)

_CAMERA = re.compile(r"cam:(.*)", re.IGNORECASE)
_URL = re.compile(r"([a-zA-Z][a-zA-Z0-9+.-]*)://")


def open_source(
    spec: str | os.PathLike,
    *,
    connect_timeout_s: float = 10.0,
    max_reconnects: int = 3,
    frame_threads: bool = True,
) -> Source:
    """Open whatever a SOURCE argument names.

    Args:
        spec: image file, folder (its top-level images, natural order), video file, `cam:N`, or an
            rtsp://, rtsps://, rtmp://, http:// or https:// URL.
        connect_timeout_s: streams only: seconds to wait for the server on connect and on each read.
        max_reconnects: streams only: reconnections in a row before giving up.
        frame_threads: video files only: let FFmpeg decode several frames at once (fastest for reading
            a video through). Interactive readers that seek and stop mid-stream pass False (see
            `VideoSource`).

    Returns:
        An open `Source`; use it as a context manager to release it.

    Raises:
        UserInputError: the spec is malformed, missing, unreadable or unsupported; the message
            names it and says what to give instead.
    """
    text = os.fspath(spec)
    if not isinstance(text, str):
        text = os.fsdecode(text)
    if not text.strip():
        raise UserInputError(f"SOURCE is empty; give {SOURCE_FORMS}")

    cam = _CAMERA.fullmatch(text.strip())
    if cam and not isinstance(spec, os.PathLike):
        arg = cam.group(1).strip()
        if not arg.isdigit():
            raise UserInputError(
                f"camera {text!r} is not cam:N with a number N; use cam:0 for the first camera"
            )
        return CameraSource(int(arg))

    url = _URL.match(text)
    if url and not isinstance(spec, os.PathLike):
        scheme = url.group(1).lower()
        if scheme == "file":
            return open_source(Path(text[len("file://") :]), frame_threads=frame_threads)
        if scheme not in STREAM_SCHEMES:
            raise UserInputError(
                f"URL scheme {scheme!r} in {text!r} is not supported; use one of "
                f"{', '.join(s + '://' for s in STREAM_SCHEMES)}"
            )
        return StreamSource(text, connect_timeout_s=connect_timeout_s, max_reconnects=max_reconnects)

    path = Path(text).expanduser()
    if not path.exists():
        hint = f" (for camera {text} write cam:{text})" if text.isdigit() else ""
        raise UserInputError(f"SOURCE {text!r} does not exist{hint}; give {SOURCE_FORMS}")
    if path.is_dir():
        return FolderSource(path)
    if path.suffix.lower() in IMAGE_EXTENSIONS:
        return ImageSource(path)
    return VideoSource(path, frame_threads=frame_threads)
