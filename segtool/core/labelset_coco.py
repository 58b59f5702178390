"""A fragment label set to and from a COCO instance file (what CVAT, Roboflow and most labelling tools read).

COCO holds objects, not class masks: every outlined fragment (an instance id in instances/) is one
annotation of the interior class (`rock`), with its pixels as uncompressed RLE; the background painted in
a frame is one annotation of category `background`, so importing it back knows which pixels were
labelled background and which were never painted (unknown). Rock painted without an outline is no object
and cannot travel: `export_coco` says how much was left out.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from segtool.base.errors import UserInputError
from segtool.core.labelset import (
    UNKNOWN,
    LabelSet,
    check_export_target,
    check_import_target,
    checked_instances,
    checked_masks,
    finish_import,
    mark_import,
    write_export,
)
from segtool.training.data.instances import (
    FRAGMENT_CLASSES,
    FRAGMENTS_FIELD,
    coco_instances,
    read_coco,
    rle_encode,
)

BACKGROUND = "background"


def export_coco(ls: LabelSet, out: str | os.PathLike) -> tuple[Path, list[str]]:
    """Write the fragments of `ls` as a COCO instance JSON; returns (the file, notes on what was left out).

    The images stay in `ls.root/images` (`file_name` is the image's name there)."""
    if not ls.fragments:
        raise UserInputError(
            f"{ls.root} is not a label set of a fragment model (classes {', '.join(ls.class_names)}); "
            "COCO holds fragment outlines — use `segtool labels export-cvat` for class masks"
        )
    interior = ls.class_names.index(ls.fragments["interior"])
    bg = ls.class_names.index(BACKGROUND) if BACKGROUND in ls.class_names else None
    cats = [{"id": 1, "name": ls.fragments["interior"], "supercategory": "fragment"}]
    if bg is not None:
        cats.append({"id": 2, "name": BACKGROUND, "supercategory": ""})
    out = check_export_target(Path(out))
    masks = checked_masks(ls)  # the same checks as export-cvat: an unfinished set or a bad file is refused
    images, anns, left_out = [], [], 0
    for n, f in enumerate(ls.frames, start=1):
        mask = masks.get(f.stem)
        if mask is None:
            continue
        inst = checked_instances(ls, f.stem, mask.shape)
        inst = np.zeros(mask.shape, np.uint16) if inst is None else inst
        h, w = mask.shape
        images.append({"id": n, "file_name": f.image, "width": int(w), "height": int(h)})
        for k in np.unique(inst[inst > 0]).tolist():
            anns.append(_annotation(len(anns) + 1, n, 1, inst == k))
        if bg is not None and (mask == bg).any():
            anns.append(_annotation(len(anns) + 1, n, 2, (mask == bg) & (inst == 0)))
        left_out += int(((mask == interior) & (inst == 0)).sum())
    if not images:
        raise UserInputError(f"{ls.root} has no labelled frame to export yet")
    doc = {
        "info": {"description": f"segtool label set {ls.root.name}"},
        "images": images,
        "annotations": anns,
        "categories": cats,
    }
    write_export(out, (json.dumps(doc) + "\n").encode())
    notes = []
    if left_out:
        notes.append(
            f"{left_out} px of {ls.fragments['interior']} painted without an outline are not in {out.name} "
            "(COCO holds objects: outline those fragments to keep them)"
        )
    return out, notes


def _annotation(ann_id: int, image_id: int, cat: int, m: np.ndarray) -> dict:
    ys, xs = np.nonzero(m)
    bbox = (
        [int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)]
        if xs.size
        else [0, 0, 0, 0]
    )
    return {
        "id": ann_id,
        "image_id": image_id,
        "category_id": cat,
        "segmentation": rle_encode(m),
        "area": int(m.sum()),
        "bbox": bbox,
        "iscrowd": 0,
    }


def import_coco(
    coco: str | os.PathLike, images: str | os.PathLike | None, root: str | os.PathLike
) -> LabelSet:
    """Read a COCO instance JSON (images in `images`, beside the file, or in images/ next to it) into a
    fragment label set at `root`: every annotation is a fragment (instance), except those of category
    `background`, which are labelled background; every other pixel is unknown."""
    from PIL import Image, ImageOps

    coco = Path(coco)
    check_import_target(Path(root))  # into a new or empty folder only, as import-cvat
    if not coco.is_file():
        raise UserInputError(f"COCO file {coco} does not exist — give the .json export")
    doc = read_coco(coco)
    bgs = (BACKGROUND,) if BACKGROUND in set(doc["categories"].values()) else ()
    folders = [Path(images)] if images is not None else [coco.parent, coco.parent / "images"]
    found = {name: next((d / name for d in folders if (d / name).is_file()), None) for name in doc["images"]}
    missing = sorted(n for n, p in found.items() if p is None)
    if missing:
        raise UserInputError(
            f"{coco.name} names {len(missing)} image(s) not found in {', '.join(map(str, folders))} "
            f"(first: {missing[0]}) — give their folder with --images"
        )
    classes = [{"name": c.name, "color": list(c.color)} for c in FRAGMENT_CLASSES]
    mark_import(Path(root), coco)  # first: a kill from here on leaves a set that says it is unfinished
    ls = LabelSet.create(root, classes, fragments=dict(FRAGMENTS_FIELD))
    for name, path in found.items():
        inst, known = coco_instances(coco, name, bgs)
        if inst.max() > 65535:
            raise UserInputError(
                f"{name}: {int(inst.max())} objects; at most 65535 fit a 16-bit instance PNG"
            )
        mask = np.full(inst.shape, UNKNOWN, np.uint8)
        mask[known] = 0
        mask[inst > 0] = 1
        try:
            with Image.open(path) as im:
                rgb = np.asarray(ImageOps.exif_transpose(im).convert("RGB")).copy()
        except OSError as e:
            raise UserInputError(f"cannot read image {path}: {e} — replace or remove it") from e
        if rgb.shape[:2] != mask.shape:
            raise UserInputError(
                f"{coco.name} says {name} is {mask.shape[1]}×{mask.shape[0]} but the image is "
                f"{rgb.shape[1]}×{rgb.shape[0]} — give the images the file was made for"
            )
        ls.save(rgb, mask, source=name, instances=inst.astype(np.uint16))
    finish_import(ls)
    return ls
