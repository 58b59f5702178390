"""Fragment outlines (instance labels) → the classes a boundary-aware model learns.

Two forms are read:
  * instance PNG folders: `images/` + `instances/` (optionally under `train/` / `val/`), 8/16-bit PNGs,
    0 = no fragment, k > 0 = fragment k;
  * COCO instance JSON (polygons, uncompressed or compressed RLE) beside or above the images — what
    CVAT, Roboflow and most labelling tools export.

Every fragment becomes *rock*, a band of `edge_width` pixels inside its outline becomes *rock_edge*
(only where the outline is a real outline: a fragment cut by the image border gets no edge there),
and the rest *background*. Pixels nobody labelled can be made unknown (255, ignored by the loss):
  * `unlabelled="background"`: pixels outside every fragment are background (the instance PNG
    default: the sets we know outline every fragment and leave sand / belt as 0);
  * `unlabelled="unknown"`: they are unknown; for COCO, annotations of the `background_categories`
    (e.g. a belt polygon) still paint background;
  * `unlabelled="auto"` (default): "unknown" for COCO data with background categories, else "background".
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage

from segtool.base.errors import UserInputError

from .classes import ClassInfo
from .dataset import LabelledData, Sample
from .files import index_by_stem, list_images, natural_key, split_from_parts
from .masks import MaskCoding

# Chosen by measurement (docs/fragments.md, "Edge width, measured"): labels turned into classes and
# split again keep fragment F1 at 0.92-0.99 on the rocks_dense hold-out with a 3-px band (1.0 at 1 px,
# 0.84-0.99 at 5 px), and 3 px is still a band a network with a stride-4 decoder can draw.
EDGE_WIDTH = 3
FRAGMENT_CLASSES = [
    ClassInfo("background", (0, 0, 0)),
    ClassInfo("rock", (200, 120, 60)),
    ClassInfo("rock_edge", (255, 230, 0)),
]
FRAGMENTS_FIELD = {"interior": "rock", "edge": "rock_edge"}
UNLABELLED = ("auto", "background", "unknown")


@dataclass(frozen=True)
class InstanceOptions:
    """How instance labels become classes (see the module docstring)."""

    edge_width: int = EDGE_WIDTH
    unlabelled: str = "auto"
    background_categories: tuple[str, ...] = ()

    def validate(self) -> InstanceOptions:
        if not isinstance(self.edge_width, int) or self.edge_width < 1 or self.edge_width > 64:
            raise UserInputError(
                f"--edge-width must be a whole number of pixels from 1 to 64; got {self.edge_width!r}"
            )
        if self.unlabelled not in UNLABELLED:
            raise UserInputError(
                f"--unlabelled must be one of {', '.join(UNLABELLED)}; got {self.unlabelled!r}"
            )
        return self


# --- instances → classes ---------------------------------------------------------------------------


def read_instance_png(path: str | Path) -> np.ndarray:
    """An instance PNG as HxW int32 ids (0 = none). RGB(A) files are refused: ids must be one channel."""
    with Image.open(path) as im:
        im.load()
        if im.mode in ("RGB", "RGBA", "P", "LA"):
            arr = np.asarray(im.convert("RGB") if im.mode != "P" else im)
            if arr.ndim == 3:
                if (arr[..., 0] == arr[..., 1]).all() and (arr[..., 1] == arr[..., 2]).all():
                    return arr[..., 0].astype(np.int32)
                raise UserInputError(
                    f"instance mask {path} is a colour image; save fragment ids as a 8/16-bit grey PNG (0 = none, k = fragment k)"
                )
            return arr.astype(np.int32)
        return np.asarray(im).astype(np.int32)


def edge_band(instances: np.ndarray, width: int) -> np.ndarray:
    """Pixels of a fragment closer than `width` px to its outline (where it meets another fragment or the
    unlabelled area; not the image border, which is no outline). HxW bool."""
    inst = np.asarray(instances)
    pad = np.pad(inst, 1, mode="edge")  # the image border is not an outline
    c = pad[1:-1, 1:-1]
    outline = np.zeros(inst.shape, bool)
    for dy, dx in ((0, 1), (2, 1), (1, 0), (1, 2)):
        outline |= pad[dy : dy + inst.shape[0], dx : dx + inst.shape[1]] != c
    outline &= inst > 0
    if width <= 1:
        return outline
    dist = ndimage.distance_transform_edt(~outline)
    return (inst > 0) & (dist < width)


def instances_to_classes(
    instances: np.ndarray, edge_width: int = EDGE_WIDTH, known: np.ndarray | None = None, ignore: int = 255
) -> np.ndarray:
    """HxW uint8: 0 background, 1 rock (fragment interior), 2 rock_edge; `ignore` where `known` is False
    and no fragment lies (unlabelled pixels)."""
    inst = np.asarray(instances)
    ids = np.zeros(inst.shape, np.uint8)
    ids[inst > 0] = 1
    ids[edge_band(inst, edge_width)] = 2
    if known is not None:
        ids[(inst == 0) & ~known] = ignore
    return ids


# --- COCO ------------------------------------------------------------------------------------------


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


# --- importers -------------------------------------------------------------------------------------


def instance_folder_pairs(root: Path) -> list[tuple[str | None, Path, Path]]:
    """(split, images dir, instances dir) for `root/images`+`root/instances` and per-split folders."""
    found: list[tuple[str | None, Path, Path]] = []
    if (root / "images").is_dir() and (root / "instances").is_dir():
        found.append((None, root / "images", root / "instances"))
    for d in sorted(p for p in root.iterdir() if p.is_dir()):
        split = split_from_parts([d.name])
        if split and (d / "images").is_dir() and (d / "instances").is_dir():
            found.append((split, d / "images", d / "instances"))
    return found


def find_coco_files(root: Path, limit: int = 4) -> list[Path]:
    """COCO instance JSON files at the top of `root` or in `root/annotations/`."""
    found = []
    for folder in (root, root / "annotations"):
        if not folder.is_dir():
            continue
        for p in sorted(folder.glob("*.json")):
            if p.stat().st_size > 500_000_000:
                continue
            try:
                head = p.read_text(encoding="utf-8-sig", errors="replace")[:4096]
            except OSError:
                continue
            if '"annotations"' in head or '"images"' in head or '"categories"' in head:
                try:
                    if is_coco_doc(json.loads(p.read_text(encoding="utf-8-sig"))):
                        found.append(p)
                except ValueError:
                    continue
            if len(found) >= limit:
                return found
    return found


def _coding(opts: InstanceOptions, kind: str) -> MaskCoding:
    return MaskCoding(
        kind,
        edge_width=opts.edge_width,
        unlabelled=opts.unlabelled,
        background_categories=tuple(opts.background_categories),
    )


def import_instance_folder(root: Path, opts: InstanceOptions, val_fraction: float, seed: int) -> LabelledData:
    opts.validate()
    data = LabelledData(
        classes=list(FRAGMENT_CLASSES),
        samples=[],
        form="instances",
        root=root,
        coding=_coding(opts, "instances"),
        class_source="fragment outlines",
    )
    pairs = instance_folder_pairs(root)
    for split, images_dir, inst_dir in pairs:
        imgs, _ = index_by_stem(list_images(images_dir), images_dir)
        masks, _ = index_by_stem(list_images(inst_dir), inst_dir)
        for key in sorted(imgs, key=natural_key):
            if key not in masks:
                data.unmatched_images.append(imgs[key])
                continue
            s = split or split_from_parts(Path(key).parts[:-1]) or ""
            data.samples.append(Sample(imgs[key], masks[key], s))
        data.unmatched_masks.extend(masks[k] for k in sorted(masks, key=natural_key) if k not in imgs)
    if not data.samples:
        raise UserInputError(
            f"{root}: no image in images/ has an instance PNG with the same name in instances/"
        )
    data.notes.append(_note(opts, coco=False))
    named = sorted({f"{s}/" for s, _, _ in pairs if s})
    data.assign_splits(
        val_fraction, seed, origin="folders " + " and ".join(named) if named else "folder names"
    )
    return data


def import_coco(
    root: Path, opts: InstanceOptions, val_fraction: float, seed: int, files: list[Path] | None = None
) -> LabelledData:
    opts.validate()
    files = files or find_coco_files(root)
    data = LabelledData(
        classes=list(FRAGMENT_CLASSES),
        samples=[],
        form="coco",
        root=root,
        coding=_coding(opts, "coco"),
        class_source="COCO fragment outlines",
    )
    images = {p.name: p for d in (root, root / "images") for p in list_images(d, recursive=d != root)}
    for f in files:
        doc = read_coco(f)
        split = split_from_parts([f.stem.split("_")[-1], f.stem])
        cats = set(doc["categories"].values())
        missing = [c for c in opts.background_categories if c not in cats]
        if missing:
            raise UserInputError(
                f"{f.name}: no category {', '.join(missing)} (it has {', '.join(sorted(cats))}) — "
                "fix --background-category"
            )
        for name in sorted(doc["images"], key=natural_key):
            img = images.get(name)
            if img is None:
                data.warnings.append(f"{f.name} names image {name}, which is not in {root}/images — skipped")
                continue
            data.samples.append(Sample(img, f, split or ""))
    if not data.samples:
        raise UserInputError(
            f"{root}: no image named in {', '.join(p.name for p in files)} was found beside it or in images/"
        )
    data.notes.append(_note(opts, coco=True))
    data.assign_splits(val_fraction, seed, origin="COCO file names")
    return data


def _note(opts: InstanceOptions, coco: bool) -> str:
    unl = resolve_unlabelled(opts.unlabelled, coco, opts.background_categories)
    bg = (
        f"; {', '.join(opts.background_categories)} annotations are background"
        if opts.background_categories
        else ""
    )
    return (
        f"fragment outlines → background / rock / rock_edge (edge band {opts.edge_width} px); "
        f"pixels outside every fragment are {unl} (255 = ignored)"
        if unl == "unknown"
        else f"fragment outlines → background / rock / rock_edge (edge band {opts.edge_width} px); "
        f"pixels outside every fragment are background{bg}"
    )


def resolve_unlabelled(unlabelled: str, coco: bool, background_categories: tuple[str, ...]) -> str:
    if unlabelled != "auto":
        return unlabelled
    return "unknown" if coco and background_categories else "background"


def decode_instance_sample(sample: Sample, coding: MaskCoding, ignore: int) -> tuple[np.ndarray, dict]:
    """The (ids, unknown) pair `LabelledData.decode_mask` returns, for instance and COCO samples."""
    if coding.kind == "coco":
        inst, known = coco_instances(sample.mask, sample.image.name, tuple(coding.background_categories))
        unl = resolve_unlabelled(coding.unlabelled, True, tuple(coding.background_categories))
    else:
        inst = read_instance_png(sample.mask)
        known = None
        unl = resolve_unlabelled(coding.unlabelled, False, ())
    if unl == "background":
        known = None
    elif known is None:
        known = np.zeros(inst.shape, bool)
    return instances_to_classes(inst, coding.edge_width, known, ignore), {}
