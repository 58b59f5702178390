"""COCO instance JSON (polygons, uncompressed or compressed RLE) → fragment ids: what CVAT, Roboflow and
most labelling tools export. Split from instances.py (which re-exports these names) to keep it short."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from segtool.base.errors import UserInputError


def rle_decode(rle: dict, height: int, width: int) -> np.ndarray:
    """COCO RLE (uncompressed `counts` list or the compressed string) → HxW bool (column-major runs)."""
    counts = rle.get("counts")
    if isinstance(counts, str):
        counts = _rle_string_counts(counts)
    if not isinstance(counts, list):
        raise UserInputError(f"COCO RLE counts must be a list or a string; got {type(counts).__name__}")
    flat = np.zeros(height * width, bool)
    pos, val = 0, False
    for n in counts:
        n = int(n)
        if val:
            flat[pos : pos + n] = True
        pos += n
        val = not val
    return flat.reshape(width, height).T


def rle_encode(mask: np.ndarray) -> dict:
    """HxW bool → COCO uncompressed RLE (`counts` of column-major runs, starting with a run of 0s)."""
    flat = np.asarray(mask, bool).T.ravel()
    change = np.flatnonzero(np.diff(flat.astype(np.int8))) + 1
    bounds = np.concatenate([[0], change, [flat.size]])
    counts = np.diff(bounds).tolist()
    if flat.size and flat[0]:
        counts = [0, *counts]
    return {"counts": [int(c) for c in counts], "size": [int(mask.shape[0]), int(mask.shape[1])]}


def _rle_string_counts(s: str) -> list[int]:
    """pycocotools' compressed RLE string (LEB128-like, 5 bits a char, deltas from the count two back)."""
    counts: list[int] = []
    p = 0
    while p < len(s):
        x, k, more = 0, 0, True
        while more:
            c = ord(s[p]) - 48
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p += 1
            k += 1
            if not more and (c & 0x10):
                x |= -1 << (5 * k)
        if len(counts) > 2:
            x += counts[-2]
        counts.append(x)
    return counts


def _segmentation_mask(seg, height: int, width: int) -> np.ndarray:
    if isinstance(seg, str):  # some exporters store the polygon list as a JSON string
        try:
            seg = json.loads(seg)
        except ValueError as exc:
            raise UserInputError(f"COCO segmentation {seg[:40]!r}… is neither polygons nor RLE") from exc
    if isinstance(seg, dict):
        return rle_decode(seg, height, width)
    canvas = Image.new("1", (width, height), 0)
    draw = ImageDraw.Draw(canvas)
    for poly in seg or []:
        pts = [(float(poly[i]), float(poly[i + 1])) for i in range(0, len(poly) - 1, 2)]
        if len(pts) >= 3:
            draw.polygon(pts, outline=1, fill=1)
    return np.asarray(canvas, bool)


@lru_cache(maxsize=8)
def _read_coco(path: str, mtime: float) -> dict:
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8-sig"))
    except (OSError, ValueError) as exc:
        raise UserInputError(f"cannot read COCO file {path}: {exc} — fix or re-export it") from exc
    if not is_coco_doc(doc):
        raise UserInputError(f"{path} is not a COCO instance file (needs images, annotations and categories)")
    by_image: dict[int, list[dict]] = {}
    for a in doc["annotations"]:
        by_image.setdefault(a.get("image_id"), []).append(a)
    cats = {c["id"]: str(c.get("name", c["id"])) for c in doc["categories"]}
    images = {Path(str(im["file_name"]).replace("\\", "/")).name: im for im in doc["images"]}
    return {"images": images, "by_image": by_image, "categories": cats}


def read_coco(path: str | Path) -> dict:
    p = Path(path)
    return _read_coco(str(p.resolve()), p.stat().st_mtime)


def is_coco_doc(doc) -> bool:
    return isinstance(doc, dict) and all(
        isinstance(doc.get(k), list) for k in ("images", "annotations", "categories")
    )


def coco_instances(
    coco_path: str | Path, image_name: str, background_categories: tuple[str, ...] = ()
) -> tuple[np.ndarray, np.ndarray]:
    """(instances HxW int32, labelled HxW bool) of one image of a COCO file. Annotations of
    `background_categories` are not fragments but mark their pixels as labelled background;
    fragments are painted in file order (a later one wins an overlap)."""
    doc = read_coco(coco_path)
    im = doc["images"].get(Path(image_name).name)
    if im is None:
        raise UserInputError(f"{coco_path} has no image named {Path(image_name).name}")
    h, w = int(im["height"]), int(im["width"])
    inst = np.zeros((h, w), np.int32)
    known = np.zeros((h, w), bool)
    k = 0
    for a in doc["by_image"].get(im["id"], []):
        m = _segmentation_mask(a.get("segmentation"), h, w)
        known |= m
        if doc["categories"].get(a.get("category_id")) in background_categories:
            continue
        k += 1
        inst[m] = k
    return inst, known
