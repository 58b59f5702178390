"""Still-image sources: one image file, or a folder of images (top level, natural sort)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from segtool.core.errors import UserInputError
from segtool.core.frame import Frame
from segtool.core.sources.base import Source, check_range

__all__ = ["IMAGE_EXTENSIONS", "ImageSource", "FolderSource", "load_image", "natural_key"]

# Formats Pillow reads reliably. GIF is left to the video source (it may be animated).
IMAGE_EXTENSIONS: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")

_DIGITS = re.compile(r"(\d+)")


def natural_key(name: str) -> tuple:
    """Sort key that orders embedded numbers by value: "img2" before "img10", case-insensitively."""
    parts = _DIGITS.split(name.casefold())
    # Tag each part so numbers and text never compare with each other (int vs str TypeError).
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in parts)


def is_image_path(path: str | os.PathLike) -> bool:
    """True when the file extension is one of `IMAGE_EXTENSIONS` (case-insensitive)."""
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS


def load_image(path: str | os.PathLike, name: str | None = None) -> np.ndarray:
    """Read an image as an upright, C-contiguous H x W x 3 uint8 RGB array.

    EXIF orientation is applied; 16-bit images keep their high byte; grayscale is repeated to three
    channels; alpha is dropped (colour values are kept as stored); palettes are expanded.

    Args:
        path: image file.
        name: how to call the file in error messages (defaults to the path).

    Raises:
        UserInputError: the file is missing, empty, or not an image Pillow can decode.
    """
    path = Path(path)
    label = name or str(path)
    try:
        size = path.stat().st_size
    except OSError as e:
        raise UserInputError(f"image {label} cannot be read ({e.strerror}); check the path") from e
    if size == 0:
        raise UserInputError(f"image {label} is empty (0 bytes); remove it or replace it with a valid image")
    try:
        with Image.open(path) as im:
            im = ImageOps.exif_transpose(im)  # phone photos store the sensor orientation in EXIF
            rgb = _to_rgb8(im)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        # SyntaxError/ValueError: Pillow's plugins raise them for malformed headers.
        raise UserInputError(
            f"image {label} cannot be decoded ({e}); re-export it as PNG or JPEG, or remove it"
        ) from e
    return np.ascontiguousarray(rgb)


def _to_rgb8(im: Image.Image) -> np.ndarray:
    """Convert any Pillow image mode to H x W x 3 uint8 RGB."""
    mode = im.mode
    if mode.startswith("I;16") or mode == "I":
        arr = np.asarray(im)
        if mode == "I" and arr.size and int(arr.max()) > 0xFFFF:
            # 32-bit integer data (rare): scale by the actual maximum so the image is not all white.
            arr = arr.astype(np.float64) * (255.0 / float(arr.max()))
            gray = arr.clip(0, 255).astype(np.uint8)
        else:
            # Same rule Pillow uses for 16-bit RGB PNGs: keep the high byte.
            gray = (arr.astype(np.uint32) >> 8).clip(0, 255).astype(np.uint8)
        return np.repeat(gray[:, :, None], 3, axis=2)
    if mode == "F":
        arr = np.nan_to_num(np.asarray(im, dtype=np.float64))
        scale = 255.0 if arr.size and float(arr.max()) <= 1.0 else 1.0  # [0,1] floats vs 0..255 floats
        gray = (arr * scale).round().clip(0, 255).astype(np.uint8)
        return np.repeat(gray[:, :, None], 3, axis=2)
    if mode != "RGB":
        im = im.convert("RGB")  # L, LA, P, PA, RGBA, CMYK, YCbCr, 1, ...
    return np.asarray(im)


class ImageSource(Source):
    """A single image file; yields one frame with index 0 and name = the file name."""

    kind = "image"

    def __init__(self, path: str | os.PathLike):
        """Open (and decode) one image.

        Raises:
            UserInputError: missing, empty or undecodable file.
        """
        super().__init__()
        self.path = Path(path)
        self._rgb = load_image(self.path)
        h, w = self._rgb.shape[:2]
        self.description = f"image {self.path.name} ({w}x{h})"

    @property
    def frames_expected(self) -> int:
        return 1

    def read(self, index: int = 0) -> Frame:
        """Return the image as frame 0.

        Raises:
            IndexError: index is not 0.
        """
        if index != 0:
            raise IndexError(f"image source has one frame, got index {index}")
        return Frame(0, None, self._rgb, self.path.name)

    def frames(self, start: int = 0, end: int | None = None, every: int = 1) -> Iterator[Frame]:
        end = check_range(start, end, every, 1, f"image {self.path.name}")
        return iter([self.read(0)])

    def close(self) -> None:
        super().close()


class FolderSource(Source):
    """The images directly inside a folder, in natural order ("img2" before "img10").

    Subfolders are not entered (a dataset root would otherwise mix train, val and label images);
    other files and subfolders are listed in `skipped`. Hidden files are ignored silently.
    Frame.name is the file name relative to the folder, which sinks use for output names.
    """

    kind = "folder"

    def __init__(self, path: str | os.PathLike):
        """List the folder and check every image's header (cheap; fails before any work starts).

        Raises:
            UserInputError: no images in the folder, or an empty/undecodable image file.
        """
        super().__init__()
        self.path = Path(path)
        names: list[str] = []
        with os.scandir(self.path) as it:
            for entry in it:
                if entry.name.startswith("."):
                    continue  # .DS_Store, ._foo.jpg (macOS resource forks): noise, not user files
                if entry.is_dir():
                    self.skipped.append(entry.name + "/")
                elif is_image_path(entry.name):
                    names.append(entry.name)
                else:
                    self.skipped.append(entry.name)
        self.skipped.sort(key=natural_key)
        if not names:
            found = f" (found only: {', '.join(self.skipped[:5])}{' …' if len(self.skipped) > 5 else ''})"
            raise UserInputError(
                f"folder {self.path} has no images{found if self.skipped else ''}; accepted extensions: "
                f"{' '.join(IMAGE_EXTENSIONS)} (top level only, subfolders are not searched)"
            )
        self.names = sorted(names, key=natural_key)
        self._check_headers()
        self.description = f"folder {self.path.name or self.path} ({len(self.names)} images)"

    def _check_headers(self) -> None:
        """Fail early on empty or non-image files, naming all of them at once."""
        bad: list[str] = []
        for name in self.names:
            p = self.path / name
            try:
                if p.stat().st_size == 0:
                    bad.append(f"{name} (0 bytes)")
                    continue
                with Image.open(p):
                    pass  # reads the header only
            except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
                bad.append(f"{name} ({type(e).__name__})")
        if bad:
            listed = ", ".join(bad[:10]) + (f" and {len(bad) - 10} more" if len(bad) > 10 else "")
            raise UserInputError(
                f"folder {self.path}: {len(bad)} image file(s) cannot be read: {listed}; "
                "remove or replace them and run again"
            )

    @property
    def frames_expected(self) -> int:
        return len(self.names)

    def read(self, index: int) -> Frame:
        """Load image number `index` (in natural order).

        Raises:
            IndexError: index out of range.
            UserInputError: the image cannot be decoded.
        """
        if not 0 <= index < len(self.names):
            raise IndexError(f"folder has {len(self.names)} images, got index {index}")
        name = self.names[index]
        return Frame(index, None, load_image(self.path / name, name=str(self.path / name)), name)

    def frames(self, start: int = 0, end: int | None = None, every: int = 1) -> Iterator[Frame]:
        end = check_range(start, end, every, len(self.names), f"folder {self.path}")
        return (self.read(i) for i in range(start, end, every))
