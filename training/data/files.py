"""File helpers shared by the importers: listing images, matching by name, image sizes, splits."""

from __future__ import annotations

import random
import re
from collections.abc import Iterable
from pathlib import Path

from PIL import Image

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
VAL_NAMES = ("val", "valid", "validation")
TRAIN_NAMES = ("train", "training")
_IGNORED_NAMES = ("__MACOSX", ".DS_Store", "Thumbs.db")


def natural_key(text: str) -> list:
    """Sort key so that "2.png" < "10.png"."""
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", text)]


def is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTS and not path.name.startswith(".")


def list_images(folder: Path, recursive: bool = True) -> list[Path]:
    """Image files under `folder`, natural-sorted by relative path; hidden / macOS debris skipped."""
    if not folder.is_dir():
        return []
    it = folder.rglob("*") if recursive else folder.iterdir()
    found = [
        p
        for p in it
        if p.is_file()
        and is_image(p)
        and not any(part in _IGNORED_NAMES for part in p.relative_to(folder).parts)
    ]
    return sorted(found, key=lambda p: natural_key(p.relative_to(folder).as_posix()))


def rel_stem(path: Path, folder: Path) -> str:
    """`sub/name` for `folder/sub/name.ext`: the key images and masks are matched on."""
    return path.relative_to(folder).with_suffix("").as_posix()


def index_by_stem(paths: Iterable[Path], folder: Path) -> tuple[dict[str, Path], list[Path]]:
    """Map relative stem → path. Returns (index, duplicates) where duplicates share a stem with an earlier file."""
    index: dict[str, Path] = {}
    dups: list[Path] = []
    for p in paths:
        key = rel_stem(p, folder)
        if key in index:
            dups.append(p)
        else:
            index[key] = p
    return index, dups


def image_size(path: Path) -> tuple[int, int]:
    """(width, height) as displayed: reads only the header, and honours the EXIF orientation tag
    (phones store portrait photos rotated; annotation tools such as CVAT show them upright)."""
    with Image.open(path) as im:
        w, h = im.size
        try:
            orientation = im.getexif().get(0x0112, 1)
        except Exception:  # a broken EXIF block must not make the image unreadable
            orientation = 1
    return (h, w) if orientation in (5, 6, 7, 8) else (w, h)


def split_from_parts(rel_parts: Iterable[str]) -> str | None:
    """Return "train" or "val" when a folder name on the path says so, else None."""
    for part in rel_parts:
        low = part.lower()
        if low in VAL_NAMES:
            return "val"
        if low in TRAIN_NAMES:
            return "train"
    return None


def seeded_split(n: int, val_fraction: float, seed: int) -> list[str]:
    """Split names for `n` items: a reproducible random `val_fraction` goes to "val" (at least one when
    there are two or more items and the fraction is positive)."""
    if not 0.0 <= val_fraction < 1.0:
        from segtool.base.errors import UserInputError

        raise UserInputError(f"val_fraction must be in [0, 1), got {val_fraction}")
    n_val = round(n * val_fraction)
    if val_fraction > 0 and n >= 2:
        n_val = min(max(n_val, 1), n - 1)
    order = list(range(n))
    random.Random(seed).shuffle(order)
    splits = ["train"] * n
    for i in order[:n_val]:
        splits[i] = "val"
    return splits
