"""Turning a stored label (indexed PNG, colour PNG, labelme JSON) into class ids.

Every decoder returns ``(ids, unknown)``: `ids` is HxW uint8 class ids with void → ignore index, and
`unknown` counts the pixels whose value is not in the class list, keyed by the raw value (an int id,
an RGB tuple, or a labelme label string). Unknown pixels become the ignore index — never class 0 —
so a wrong class list can never silently turn labels into background; callers decide whether unknown
pixels are an error (`LabelledData.load_mask` and `check_dataset` say they are).
"""

from __future__ import annotations

import base64
import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from segtool.base.errors import UserInputError

from .classes import RGB, ClassInfo

Unknown = dict  # raw value (int | RGB | str) -> pixel count


@dataclass(frozen=True)
class MaskCoding:
    """How a dataset stores labels.

    Attributes:
        kind: "index" (pixel value = class id), "color" (RGB colour per class) or "labelme" (JSON polygons).
        void_ids: raw ids that mean "ignore" besides 255 (CamVid: 11).
        void_colors: colours that mean "ignore" (VOC borders: (224, 224, 192)).
        colors_known: for "index" datasets whose class colours are the real ones (VOC, CamVid): an RGB
            mask is then decoded by colour instead of being rejected.
        edge_width, unlabelled, background_categories: for "instances" / "coco" (fragment outlines
            turned into background / rock / rock_edge; see training/data/instances.py).
    """

    kind: str = "index"
    void_ids: tuple[int, ...] = ()
    void_colors: tuple[RGB, ...] = ()
    colors_known: bool = False
    edge_width: int = 3
    unlabelled: str = "auto"
    background_categories: tuple[str, ...] = ()
    centre: float | None = None


def pack_rgb(rgb: np.ndarray) -> np.ndarray:
    """HxWx3 uint8 → HxW uint32 code, so a colour compares as one number."""
    rgb = rgb.astype(np.uint32)
    return (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]


def unpack_rgb(code: int) -> RGB:
    return ((code >> 16) & 255, (code >> 8) & 255, code & 255)


def _decode_codes(code: np.ndarray, classes: list[ClassInfo], coding: MaskCoding, ignore: int):
    """Packed colours → ids. Class-by-class comparison: a handful of passes beats a sort for few classes."""
    ids = np.full(code.shape, ignore, np.uint8)
    matched = np.zeros(code.shape, bool)
    for i, c in enumerate(classes):
        hit = code == ((c.color[0] << 16) | (c.color[1] << 8) | c.color[2])
        ids[hit] = i
        matched |= hit
    for c in coding.void_colors:
        matched |= code == ((c[0] << 16) | (c[1] << 8) | c[2])
    unknown: Unknown = {}
    if not matched.all():
        vals, counts = np.unique(code[~matched], return_counts=True)
        unknown = {unpack_rgb(int(v)): int(n) for v, n in zip(vals, counts, strict=True)}
    return ids, unknown


def decode_colors(rgb: np.ndarray, classes: list[ClassInfo], coding: MaskCoding, ignore: int):
    """HxWx3 colour mask → (ids, unknown colours)."""
    return _decode_codes(pack_rgb(rgb), classes, coding, ignore)


def decode_ids(values: np.ndarray, num_classes: int, coding: MaskCoding, ignore: int):
    """HxW raw ids → (ids, unknown ids). 255 and `coding.void_ids` become `ignore`."""
    values = values.astype(np.int64, copy=False)
    vmax = int(values.max()) if values.size else 0
    if values.size and int(values.min()) < 0:
        values = np.where(values < 0, vmax + 1, values)  # negative ids: treat as unknown (rare, I;16 etc.)
        vmax += 1
    lut = np.full(max(vmax + 1, 256), -1, np.int16)
    lut[:num_classes] = np.arange(num_classes)
    lut[255] = ignore
    for v in coding.void_ids:
        lut[v] = ignore
    mapped = lut[values]
    unknown: Unknown = {}
    bad = mapped < 0
    if bad.any():
        vals, counts = np.unique(values[bad], return_counts=True)
        unknown = {int(v): int(n) for v, n in zip(vals, counts, strict=True)}
        mapped[bad] = ignore
    return mapped.astype(np.uint8), unknown


def _palette(im: Image.Image) -> np.ndarray:
    pal = np.zeros((256, 3), np.uint8)
    raw = im.getpalette() or []
    arr = np.asarray(raw[: 256 * 3], np.uint8).reshape(-1, 3)
    pal[: len(arr)] = arr
    return pal


def decode_raster(im: Image.Image, classes: list[ClassInfo], coding: MaskCoding, ignore: int):
    """A mask image (any PIL mode) → (ids, unknown)."""
    mode = im.mode
    if mode in ("RGBA", "LA", "PA"):
        im = im.convert("RGB" if mode != "LA" else "L")  # alpha carries no class information
        mode = im.mode
    if coding.kind == "color":
        ids, unknown = _decode_color_kind(im, classes, coding, ignore)
        if unknown and im.mode in ("P", "L", "I", "I;16", "1"):
            # A single-channel mask in a colour dataset: usually colours (a grey or palette PNG), but
            # some tools write class ids even when a labelmap exists. Accept the ids only when every
            # pixel is a valid id, so nothing is ever guessed.
            id_ids, id_unknown = decode_ids(np.asarray(im), len(classes), coding, ignore)
            if not id_unknown:
                return id_ids, id_unknown
        return ids, unknown
    return _decode_index_kind(im, classes, coding, ignore)


def _decode_color_kind(im: Image.Image, classes: list[ClassInfo], coding: MaskCoding, ignore: int):
    if im.mode != "P":
        return decode_colors(np.asarray(im.convert("RGB")), classes, coding, ignore)
    # Decode the (≤256) palette entries once, then index: exact, and fast on big masks.
    pal = _palette(im)
    pal_ids, pal_unknown = _decode_codes(pack_rgb(pal), classes, coding, ignore)
    idx = np.asarray(im)
    ids = pal_ids[idx]
    unknown: Unknown = {}
    if pal_unknown:
        counts = np.bincount(idx.ravel(), minlength=256)
        for i in np.nonzero(counts)[0]:
            rgb = tuple(int(v) for v in pal[i])
            if rgb in pal_unknown:
                unknown[rgb] = unknown.get(rgb, 0) + int(counts[i])
    return ids, unknown


def _decode_index_kind(im: Image.Image, classes: list[ClassInfo], coding: MaskCoding, ignore: int):
    mode = im.mode
    if mode in ("RGB", "YCbCr", "CMYK"):
        rgb = np.asarray(im.convert("RGB"))
        if (rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all():
            return decode_ids(rgb[..., 0], len(classes), coding, ignore)  # grey saved as RGB
        if coding.colors_known:
            return decode_colors(rgb, classes, coding, ignore)
        # Colour mask, but no colour → class table: every colour is unknown (reported as colours).
        return decode_colors(rgb, [], coding, ignore)
    return decode_ids(np.asarray(im), len(classes), coding, ignore)


def read_mask_image(path: Path) -> Image.Image:
    """Open and fully decode a mask file (errors surface here, not later)."""
    with Image.open(path) as im:
        im.load()
        return im.copy()


# --- labelme ---------------------------------------------------------------------------------------

LABELME_BACKGROUND = ("_background_", "background")
LABELME_IGNORE = "__ignore__"
AREA_SHAPES = ("polygon", "rectangle", "circle", "mask")


def read_labelme(path: Path) -> dict:
    """Load a labelme JSON file; raises UserInputError when it is not one."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8-sig"))
    except (OSError, ValueError) as exc:
        raise UserInputError(f"cannot read labelme file {path}: {exc} — fix or remove it") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("shapes"), list):
        raise UserInputError(f"{path} is not a labelme file (no 'shapes' list)")
    return doc


def decode_labelme(doc: dict, classes: list[ClassInfo], ignore: int, size: tuple[int, int] | None = None):
    """Rasterise labelme shapes in file order (later shapes paint over earlier ones, as labelme does).

    Args:
        doc: the parsed JSON.
        classes: class list; id 0 is background (unpainted pixels).
        ignore: the ignore index; `__ignore__` shapes paint it.
        size: (width, height) when the JSON lacks imageWidth/imageHeight (taken from the image).

    Returns:
        (ids, unknown) where unknown counts painted pixels per label not in `classes`.
    """
    w = doc.get("imageWidth") or (size[0] if size else None)
    h = doc.get("imageHeight") or (size[1] if size else None)
    if not w or not h:
        raise UserInputError("labelme file has no imageWidth/imageHeight and its image is missing")
    names = {c.name: i for i, c in enumerate(classes)}
    for alias in LABELME_BACKGROUND:
        names.setdefault(alias, 0)
    # Paint into a 32-bit canvas: ids 0..254 as themselves, unknown labels as 1000+k, so one pass
    # gives both the ids and per-label unknown counts.
    canvas = Image.new("I", (int(w), int(h)), 0)
    draw = ImageDraw.Draw(canvas)
    unknown_labels: list[str] = []
    for shape in doc["shapes"]:
        label = str(shape.get("label", ""))
        if label == LABELME_IGNORE:
            value = ignore
        elif label in names:
            value = names[label]
        else:
            if label not in unknown_labels:
                unknown_labels.append(label)
            value = 1000 + unknown_labels.index(label)
        _draw_shape(canvas, draw, shape, value)
    arr = np.asarray(canvas)
    unknown: Unknown = {}
    if unknown_labels:
        for k, label in enumerate(unknown_labels):
            n = int((arr == 1000 + k).sum())
            if n:
                unknown[label] = n
        arr = np.where(arr >= 1000, ignore, arr)
    return arr.astype(np.uint8), unknown


def _draw_shape(canvas: Image.Image, draw: ImageDraw.ImageDraw, shape: dict, value: int) -> None:
    kind = shape.get("shape_type") or "polygon"
    pts = [(float(x), float(y)) for x, y in shape.get("points", [])]
    if kind == "polygon" and len(pts) >= 3:
        draw.polygon(pts, outline=value, fill=value)
    elif kind == "rectangle" and len(pts) == 2:
        (x0, y0), (x1, y1) = pts
        draw.rectangle([min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)], outline=value, fill=value)
    elif kind == "circle" and len(pts) == 2:
        (cx, cy), (px, py) = pts
        r = ((px - cx) ** 2 + (py - cy) ** 2) ** 0.5
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], outline=value, fill=value)
    elif kind == "mask" and shape.get("mask") and len(pts) == 2:
        # labelme ≥5.3: a base64 PNG bitmap for the box given by the two points.
        with Image.open(io.BytesIO(base64.b64decode(shape["mask"]))) as m:
            bitmap = m.convert("1")
            x0, y0 = int(min(pts[0][0], pts[1][0])), int(min(pts[0][1], pts[1][1]))
            canvas.paste(value, (x0, y0, x0 + bitmap.width, y0 + bitmap.height), bitmap)
    # line / linestrip / point enclose no area: nothing to paint (check_dataset warns about them).
