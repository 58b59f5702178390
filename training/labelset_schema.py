"""The label set's files, validated in one place: `classes.json`, `manifest.json`, the masks and the mark an
unfinished import leaves.

Every reader goes through these functions: `segtool labels info` / `export-cvat` and the app's label mode
(via `segtool.core.labelset.LabelSet.open`), and `segtool train` / `train --check` (via `open_dataset`,
which calls `check_label_set_folder`). It lives in `training` because training may not import `segtool`.
Each function raises `UserInputError` naming the file, the bad value and the fix; nothing here raises
anything else on bad file contents.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from segtool.base.errors import UserInputError
from segtool.models.classes import validate_classes

FORMAT = "segtool-labels"
MANIFEST = "manifest.json"
CLASSES = "classes.json"
# Written before an import's first file and removed after its last: a set that still has it is unfinished.
INCOMPLETE = "IMPORT_INCOMPLETE.json"
UNKNOWN = 255
MAX_CLASSES = 255  # ids 0..254; 255 is unknown in an 8-bit mask
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
_ENTRY_KEYS = ("image", "source", "frame", "pts_s")


def read_classes(root: str | Path) -> list[dict[str, Any]]:
    """The validated classes of the label set at `root`: at least 2, at most 255, unique names, RGB colours."""
    path = Path(root) / CLASSES
    try:
        doc = json.loads(path.read_text(encoding="utf-8-sig"))
    except FileNotFoundError as e:
        raise UserInputError(
            f"{root} is not a label set (no {CLASSES}); create one from the app or pick its folder"
        ) from e
    except (OSError, ValueError) as e:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise UserInputError(f"{path} cannot be read ({e}) — fix the JSON or start a new label set") from e
    return check_classes(doc, path)


def check_classes(doc: Any, where: str | Path) -> list[dict[str, Any]]:
    """Validate a label set's class list (as parsed from JSON); `where` names it in messages."""
    try:
        classes = validate_classes(doc)
    except UserInputError as e:
        raise UserInputError(f"{where}: {e} — fix the file or start a new label set") from None
    if len(classes) > MAX_CLASSES:
        raise UserInputError(
            f"{where}: {len(classes)} classes; an 8-bit mask holds at most {MAX_CLASSES} (ids 0-254, 255 = unknown) "
            "— merge classes or split the label set"
        )
    return classes


def _entry_problem(e: Any) -> str | None:
    """What is wrong with one manifest entry, or None."""
    if not isinstance(e, dict):
        return f'is {json.dumps(e)[:60]}, not an object like {{"image": "clip_000042.png", ...}}'
    img = e.get("image")
    if not isinstance(img, str) or not img.strip():
        return f'"image" is {json.dumps(img)[:60]}; it must be the file name of the frame in images/ (e.g. "clip_000042.png")'
    if Path(img).name != img or img.startswith(".") or "\\" in img:
        return f'"image" is {img!r}; it must be a plain file name in images/, without folders'
    if Path(img).suffix.lower() not in IMAGE_SUFFIXES:
        return f'"image" is {img!r}; it must end in .png, .jpg or .jpeg'
    src = e.get("source")
    if src is not None and not isinstance(src, str):
        return f'"source" is {json.dumps(src)[:60]}; it must be the path of the video or photo, or null'
    frame = e.get("frame")
    if frame is not None and (not isinstance(frame, int) or isinstance(frame, bool) or frame < 0):
        return f'"frame" is {json.dumps(frame)[:60]}; it must be a frame index (a whole number >= 0) or null'
    pts = e.get("pts_s")
    if pts is not None and (
        not isinstance(pts, (int, float)) or isinstance(pts, bool) or not math.isfinite(pts)
    ):
        return f'"pts_s" is {json.dumps(pts)[:60]}; it must be a time in seconds or null'
    prop = e.get("propagated_from")
    if prop is not None and (not isinstance(prop, str) or not prop):
        return f'"propagated_from" is {json.dumps(prop)[:60]}; it must be the name of the frame the labels came from, or null'
    if "reviewed" in e and not isinstance(e["reviewed"], bool):
        return f'"reviewed" is {json.dumps(e["reviewed"])[:60]}; it must be true or false'
    return None


def read_manifest(root: str | Path) -> list[dict[str, Any]]:
    """The frames listed in `root/manifest.json` (see `load_manifest`); [] when absent."""
    return load_manifest(root)[0]


def load_manifest(root: str | Path) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """The frames listed in `root/manifest.json`, each {"image", "source", "frame", "pts_s", "propagated_from",
    "reviewed"} (the last two only when present), and the whole document; ([], None) when absent.

    Raises:
        UserInputError: the file is not the label set's manifest, or an entry is malformed (named with
            its index and value); deleting the manifest is always a fix (it is rebuilt from images/).
    """
    path = Path(root) / MANIFEST
    fix = f"fix it, or delete {path} to rebuild it from images/"
    try:
        doc = json.loads(path.read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        return [], None
    except (OSError, ValueError) as e:
        raise UserInputError(f"{path} is damaged ({e}); {fix}") from e
    if not isinstance(doc, dict):
        raise UserInputError(f'{path} is not a label-set manifest (expected {{"frames": [...]}}); {fix}')
    if doc.get("format", FORMAT) != FORMAT or doc.get("version", 1) != 1:
        raise UserInputError(
            f"{path}: format {doc.get('format')!r} version {doc.get('version')!r} is not a segtool label set "
            f'("{FORMAT}" version 1); {fix}'
        )
    frag = doc.get("fragments")
    if frag is not None and not (
        isinstance(frag, dict) and all(isinstance(frag.get(k), str) for k in ("interior", "edge"))
    ):
        raise UserInputError(
            f'{path}: "fragments" is {json.dumps(frag)[:60]}; it must be {{"interior": "rock", "edge": "rock_edge"}} '
            f"(class names) or absent; {fix}"
        )
    frames = doc.get("frames", [])
    if not isinstance(frames, list):
        raise UserInputError(f'{path}: "frames" is {json.dumps(frames)[:60]}, not a list; {fix}')
    out, seen = [], {}
    for i, e in enumerate(frames):
        problem = _entry_problem(e)
        if problem:
            raise UserInputError(f"{path}: frame entry {i}: {problem}; {fix}")
        stem = Path(e["image"]).stem
        if stem in seen:
            raise UserInputError(
                f"{path}: frame entries {seen[stem]} and {i} both name {stem!r} (one mask per name); {fix}"
            )
        seen[stem] = i
        out.append(
            {k: e.get(k) for k in _ENTRY_KEYS} | {k: e[k] for k in ("propagated_from", "reviewed") if k in e}
        )
    return out, doc


def incomplete_import(root: str | Path) -> str | None:
    """Why the set at `root` is unfinished (an import stopped before its end), or None when it is complete."""
    mark = Path(root) / INCOMPLETE
    if not mark.exists():
        return None
    try:
        src = json.loads(mark.read_text(encoding="utf-8")).get("export", "?")
    except (OSError, ValueError, AttributeError):
        src = "?"  # a mark cut short still marks the set unfinished
    return (
        f"{root} is an unfinished import: the import of {src} stopped before it ended ({INCOMPLETE} is still "
        f"there), so frames are missing — delete {root} and run the import again"
    )


def check_label_set_folder(root: str | Path) -> None:
    """What `segtool train` checks before reading a folder as a dataset: when it is a label set (it has a
    manifest or an import mark), it is complete and its manifest and classes are valid."""
    root = Path(root)
    why = incomplete_import(root)
    if why:
        raise UserInputError(why)
    if (root / MANIFEST).is_file() and (root / CLASSES).is_file():
        read_manifest(root)
        read_classes(root)


def image_size(path: Path) -> tuple[int, int]:
    """(width, height) of an image file, from its header."""
    try:
        with Image.open(path) as im:
            return im.size
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
        raise UserInputError(
            f"{path}: cannot read the image ({e}); replace the file or remove the frame"
        ) from e


def read_mask(path: Path, n_classes: int, size: tuple[int, int] | None = None) -> np.ndarray:
    """A label-set mask as class ids (HxW uint8, 255 = unknown), checked against the set.

    Args:
        path: masks/<name>.png.
        n_classes: the set's class count; any other id than 0..n-1 and 255 is refused.
        size: (width, height) of the frame's image; a mask of another size is refused.

    Raises:
        UserInputError: undecodable, not 8-bit single-channel (RGB, 16-bit, ...), wrong size, or ids that
            are no class — naming the file, the value and the fix.
    """
    try:
        with Image.open(path) as im:
            mode = im.mode
            if mode not in ("L", "P"):
                kind = {
                    "RGB": "an RGB colour image",
                    "RGBA": "an RGBA colour image",
                    "I;16": "a 16-bit image",
                    "I;16B": "a 16-bit image",
                    "I": "a 32-bit image",
                    "1": "a 1-bit image",
                }.get(mode, f"a {mode} image")
                raise UserInputError(
                    f"{path} is {kind}, not 8-bit class ids: a label set's mask holds one class id per pixel "
                    f"(0-{n_classes - 1}, 255 = unknown) — paint the frame again in label mode, or import colour "
                    "masks with `segtool labels import-cvat`"
                )
            mask = np.asarray(im).copy()
    except UserInputError:
        raise
    except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError) as e:
        raise UserInputError(
            f"{path}: cannot decode the mask ({e}); the file is damaged — delete it and paint the frame again"
        ) from e
    if mask.ndim != 2 or mask.dtype != np.uint8:
        raise UserInputError(
            f"{path}: a {mask.dtype} array of shape {mask.shape}, not 8-bit class ids — paint the frame again"
        )
    if size is not None and (mask.shape[1], mask.shape[0]) != tuple(size):
        raise UserInputError(
            f"{path} is {mask.shape[1]}x{mask.shape[0]} but its image is {size[0]}x{size[1]} — a mask must be the "
            "size of its image; paint the frame again or put back the image it was painted on"
        )
    bad = np.setdiff1d(np.unique(mask), [*range(n_classes), UNKNOWN])
    if bad.size:
        shown = ", ".join(map(str, bad[:8].tolist()))
        raise UserInputError(
            f"{path} has class id(s) {shown}, but the set has {n_classes} classes (0-{n_classes - 1}, 255 = unknown) "
            "— add the class to classes.json or repaint those pixels"
        )
    return mask


def read_instances(path: Path, shape: tuple[int, int]) -> np.ndarray:
    """A label-set fragment-id PNG (instances/<name>.png: 16-bit, 0 = no fragment) of the mask's `shape` (H, W).

    Raises:
        UserInputError: undecodable, a colour image, or not the size of the frame's mask.
    """
    try:
        with Image.open(path) as im:
            if im.mode not in ("I;16", "I;16B", "I;16L", "I", "L"):
                raise UserInputError(
                    f"{path} is a {im.mode} image, not fragment ids (a 16-bit single-channel PNG) — outline the "
                    "fragments again in label mode, or delete the file"
                )
            inst = np.asarray(im).copy()
    except UserInputError:
        raise
    except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError) as e:
        raise UserInputError(
            f"{path}: cannot decode the fragment ids ({e}); delete the file and outline them again"
        ) from e
    if inst.shape != tuple(shape) or inst.min(initial=0) < 0 or inst.max(initial=0) > 65535:
        raise UserInputError(
            f"{path} is {inst.shape[-1]}x{inst.shape[0]} but its mask is {shape[1]}x{shape[0]} — delete the file "
            "and outline the fragments again"
        )
    return inst.astype(np.uint16)
