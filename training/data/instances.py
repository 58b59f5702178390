"""Fragment outlines (instance labels) → the classes a boundary-aware model learns.

Two forms are read:
  * instance PNG folders: `images/` + `instances/` (optionally under `train/` / `val/`), 8/16-bit PNGs,
    0 = no fragment, k > 0 = fragment k;
  * COCO instance JSON (polygons, uncompressed or compressed RLE) beside or above the images — what
    CVAT, Roboflow and most labelling tools export.

Every fragment becomes *rock*, a band of `edge_width` pixels inside its outline becomes *rock_edge*
(only where the outline is a real outline: a fragment cut by the image border gets no edge there),
and the rest *background*. With `centre=f` (the learned centre split, `--fragment-classes edge+centre`)
the core of every fragment becomes a 4th class, *rock_centre* (`centre_core`). Pixels nobody labelled
can be made unknown (255, ignored by the loss):
  * `unlabelled="background"`: pixels outside every fragment are background (the instance PNG
    default: the sets we know outline every fragment and leave sand / belt as 0);
  * `unlabelled="unknown"`: they are unknown; for COCO, annotations of the `background_categories`
    (e.g. a belt polygon) still paint background;
  * `unlabelled="auto"` (default): "unknown" for COCO data with background categories, else "background".
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

from segtool.base.errors import UserInputError

from .classes import ClassInfo
from .coco import coco_instances, is_coco_doc, read_coco, rle_decode, rle_encode  # noqa: F401 (re-exported)
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
# The learned centre split: a 4th class, the core of every fragment (docs/fragments.md, "Splitting by
# centres"). CENTRE_FRACTION chosen by the labels-through-the-split oracle (benchmarks/eval_fragments.py
# --oracle-centre): see the table there.
CENTRE_FRACTION = 0.5
CENTRE_CLASS = ClassInfo("rock_centre", (255, 0, 160))
FRAGMENT_CLASSES_CENTRE = [*FRAGMENT_CLASSES, CENTRE_CLASS]
FRAGMENTS_FIELD_CENTRE = {**FRAGMENTS_FIELD, "centre": "rock_centre", "split": "centre"}
UNLABELLED = ("auto", "background", "unknown")


@dataclass(frozen=True)
class InstanceOptions:
    """How instance labels become classes (see the module docstring)."""

    edge_width: int = EDGE_WIDTH
    unlabelled: str = "auto"
    background_categories: tuple[str, ...] = ()
    centre: float | None = None  # None: 3 classes; f: + rock_centre, the cores (`centre_core`)

    @property
    def classes(self) -> list[ClassInfo]:
        return list(FRAGMENT_CLASSES if self.centre is None else FRAGMENT_CLASSES_CENTRE)

    def validate(self) -> InstanceOptions:
        if not isinstance(self.edge_width, int) or self.edge_width < 1 or self.edge_width > 64:
            raise UserInputError(
                f"--edge-width must be a whole number of pixels from 1 to 64; got {self.edge_width!r}"
            )
        if self.unlabelled not in UNLABELLED:
            raise UserInputError(
                f"--unlabelled must be one of {', '.join(UNLABELLED)}; got {self.unlabelled!r}"
            )
        if self.centre is not None and not 0.0 < float(self.centre) < 1.0:
            raise UserInputError(
                f"the centre fraction must lie between 0 and 1 (e.g. 0.5); got {self.centre!r}"
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


def centre_core(instances: np.ndarray, fraction: float = CENTRE_FRACTION, min_px: float = 1.0) -> np.ndarray:
    """The core of every fragment (HxW bool): its pixels whose distance to the fragment's own outline is at
    least `fraction` of the fragment's largest inner distance, and at least `min_px` (the edge band's width
    when the core goes with an edge class, so the core lies inside the band). A fragment too thin for that
    keeps its deepest pixels: every fragment has a core. Distances are taken from the outline pixels
    (`edge_band` of width 1: the image border is no outline), so an outline pixel is at 0."""
    inst = np.asarray(instances)
    frag = inst > 0
    if not frag.any():
        return np.zeros(inst.shape, bool)
    # From inside a fragment the nearest outline pixel is its own (a straight line out crosses it first).
    dist = ndimage.distance_transform_edt(~edge_band(inst, 1))
    ids, flat = np.unique(inst[frag], return_inverse=True)
    deepest = np.zeros(len(ids))
    np.maximum.at(deepest, flat, dist[frag])
    need = np.minimum(np.maximum(fraction * deepest, min_px), deepest)
    core = np.zeros(inst.shape, bool)
    core[frag] = dist[frag] >= need[flat] - 1e-9
    return core


def instances_to_classes(
    instances: np.ndarray,
    edge_width: int = EDGE_WIDTH,
    known: np.ndarray | None = None,
    ignore: int = 255,
    centre: float | None = None,
) -> np.ndarray:
    """HxW uint8: 0 background, 1 rock (fragment interior), 2 rock_edge, with `centre` 3 rock_centre (the
    `centre_core` of fraction `centre`, at least `edge_width` px from the outline where the fragment is
    thick enough, so it is drawn over rock inside the edge band); `ignore` where `known` is False and no
    fragment lies (unlabelled pixels)."""
    inst = np.asarray(instances)
    ids = np.zeros(inst.shape, np.uint8)
    ids[inst > 0] = 1
    ids[edge_band(inst, edge_width)] = 2
    if centre is not None:
        ids[centre_core(inst, centre, float(edge_width))] = 3
    if known is not None:
        ids[(inst == 0) & ~known] = ignore
    return ids


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
        centre=opts.centre,
        unlabelled=opts.unlabelled,
        background_categories=tuple(opts.background_categories),
    )


def import_instance_folder(root: Path, opts: InstanceOptions, val_fraction: float, seed: int) -> LabelledData:
    opts.validate()
    data = LabelledData(
        classes=opts.classes,
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
        classes=opts.classes,
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
    centre = "" if opts.centre is None else f" / rock_centre (cores, fraction {opts.centre:g})"
    head = f"fragment outlines → background / rock / rock_edge{centre} (edge band {opts.edge_width} px); "
    if unl == "unknown":
        return head + f"pixels outside every fragment are {unl} (255 = ignored)"
    return head + f"pixels outside every fragment are background{bg}"


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
    return instances_to_classes(inst, coding.edge_width, known, ignore, coding.centre), {}
