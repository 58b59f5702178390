"""One file per frame: indexed PNG masks and JPEG overlays.

Layout (see docs/outputs.md):
- images / folders: `OUT/masks/<relative path>.png`, `OUT/overlays/<relative path>.jpg`
  (the source's suffix is replaced; subfolders are kept).
- videos / live: `OUT/masks/000000.png` (frame index, at least 6 digits).
Every file is encoded in memory, written under a hidden temporary name and renamed into place, so a
file that exists is complete; that is what makes `has(key)` a safe resume test.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

import numpy as np
from PIL import Image

from segtool.base.atomic import remove_temp_files
from segtool.core import overlay
from segtool.core.errors import UserInputError
from segtool.core.frame import Frame, Prediction
from segtool.core.sinks._files import atomic_write_bytes, prepare_dir
from segtool.core.sinks.base import Key, Sink, frame_key

__all__ = ["PngMaskSink", "OverlayJpgSink"]


class _PerFrameFileSink(Sink):
    """Shared logic: where each frame's file goes, resume by existence, name clash detection."""

    keyed = True
    subdir = ""
    suffix = ""
    trailer = b""  # the bytes every complete file ends with

    def __init__(self, out_dir: str | Path):
        self.folder = Path(out_dir) / self.subdir
        # Which key produced each path, to catch `a.jpg` and `a.png` both becoming `a.png`.
        self._owners: dict[Path, Key] = {}

    def path_for(self, key: Key) -> Path:
        """Output path of the frame with this key (`frame_key(frame)`)."""
        if isinstance(key, str):
            rel = PurePosixPath(key.replace("\\", "/"))
            if rel.is_absolute() or ".." in rel.parts or not rel.name:
                raise UserInputError(
                    f"frame name {key!r} is not a relative path inside the source; "
                    f"outputs are named after it, so it must not leave the output folder"
                )
            return self.folder.joinpath(*rel.with_suffix(self.suffix).parts)
        return self.folder / f"{int(key):06d}{self.suffix}"

    def open(self, *, resume: bool) -> int:
        prepare_dir(self.folder)
        self._owners.clear()
        # Temporary files are only ever half-written frames of a killed run: never useful.
        remove_temp_files(self.folder, recursive=True)
        if not resume:
            return 0
        return sum(1 for _ in self.folder.rglob(f"*{self.suffix}"))

    def has(self, key: Key) -> bool:
        # A file that exists was renamed into place whole; after a power cut (no fsync per frame)
        # it may still be empty or cut, so the format's end marker is checked too (12 bytes read).
        path = self.path_for(key)
        try:
            with open(path, "rb") as fh:
                size = fh.seek(0, 2)
                if size < len(self.trailer):
                    return False
                fh.seek(size - len(self.trailer))
                return fh.read() == self.trailer
        except OSError:
            return False

    def write(self, frame: Frame, pred: Prediction) -> None:
        key = frame_key(frame)
        path = self.path_for(key)
        owner = self._owners.setdefault(path, key)
        if owner != key:
            raise UserInputError(
                f"{owner!r} and {key!r} would both be saved as {str(path)!r}; rename one of the source files"
            )
        data = self._encode(frame, pred)
        if path.parent != self.folder:
            prepare_dir(path.parent)
        atomic_write_bytes(path, data)

    def finish(self) -> None:
        self._owners.clear()

    def _encode(self, frame: Frame, pred: Prediction) -> bytes:
        raise NotImplementedError


class PngMaskSink(_PerFrameFileSink):
    """8-bit indexed PNG masks: pixel value = class id, PNG palette = the checkpoint's colours.

    Any image viewer shows the colours, and any reader (PIL, OpenCV with IMREAD_UNCHANGED) gets the
    ids back unchanged. The palette has exactly K entries; a mask that holds ids >= K (e.g. 255,
    "ignore") gets a 256-entry palette, black beyond K, so every pixel stays a valid palette index.

    Args:
        out_dir: OUT; files go to `OUT/masks/`.
        palette: (K, 3) uint8 class colours (a checkpoint's `palette`).
        compress_level: zlib level 0-9. Masks are flat, so level 1 is nearly as small as 9 and
            several times faster to write.
    """

    subdir = "masks"
    suffix = ".png"
    trailer = b"\x00\x00\x00\x00IEND\xaeB`\x82"  # the empty IEND chunk every PNG ends with

    def __init__(self, out_dir: str | Path, palette: np.ndarray, compress_level: int = 1):
        super().__init__(out_dir)
        palette = np.asarray(palette, np.uint8).reshape(-1, 3)
        self._palette = palette.tobytes()
        self._palette_256 = np.vstack([palette, np.zeros((256 - len(palette), 3), np.uint8)]).tobytes()
        self._num_classes = len(palette)
        self._compress_level = compress_level

    def _encode(self, frame: Frame, pred: Prediction) -> bytes:
        mask = np.ascontiguousarray(pred.mask, np.uint8)
        image = Image.fromarray(mask)  # mode "L"; putpalette turns it into mode "P" without copying ids
        fits = int(mask.max(initial=0)) < self._num_classes
        image.putpalette(self._palette if fits else self._palette_256)
        buf = io.BytesIO()
        image.save(buf, format="PNG", compress_level=self._compress_level)
        return buf.getvalue()


class OverlayJpgSink(_PerFrameFileSink):
    """JPEG of the frame with class colours blended over it (`overlay.blend`).

    Args:
        out_dir: OUT; files go to `OUT/overlays/`.
        palette: (K, 3) uint8 class colours.
        alpha: colour weight, 0..1.
        quality: JPEG quality 1..95.
        visible: per-class flags; a hidden class shows the bare frame (as in the viewer). None: all shown.
    """

    subdir = "overlays"
    suffix = ".jpg"
    trailer = b"\xff\xd9"  # JPEG end-of-image marker

    def __init__(
        self,
        out_dir: str | Path,
        palette: np.ndarray,
        alpha: float = 0.5,
        quality: int = 90,
        visible: Sequence[bool] | None = None,
    ):
        super().__init__(out_dir)
        self._palette = np.asarray(palette, np.uint8).reshape(-1, 3)
        self._alpha = alpha
        self._visible = None if visible is None else list(visible)
        self._quality = quality

    def _encode(self, frame: Frame, pred: Prediction) -> bytes:
        picture = overlay.blend(frame.rgb, pred.mask, self._palette, self._alpha, self._visible)
        buf = io.BytesIO()
        Image.fromarray(picture).save(buf, format="JPEG", quality=self._quality)
        return buf.getvalue()
