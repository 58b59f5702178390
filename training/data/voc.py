"""Importers for the VOC family: Pascal VOC and CVAT "Segmentation mask 1.1" (a VOC layout plus
`labelmap.txt`; images only when exported with "Save images", else given with `images=`)."""

from __future__ import annotations

from pathlib import Path

from segtool.base.errors import UserInputError

from .classes import VOC_VOID_COLOR, find_class_file, read_class_file, voc_classes
from .dataset import LabelledData, Sample
from .files import list_images, natural_key, rel_stem, split_from_parts
from .masks import MaskCoding

MASK_DIRS = {
    "masks",
    "labels",
    "annotations",
    "segmentationclass",
    "segmentationobject",
    "trainannot",
    "valannot",
}
SUBSET_SPLITS = {"train": "train", "training": "train", "val": "val", "valid": "val", "validation": "val"}


def is_voc_like(root: Path) -> bool:
    return (root / "SegmentationClass").is_dir()


def _read_subsets(root: Path) -> tuple[dict[str, str], list[str]]:
    """Split per mask name from ImageSets/Segmentation/*.txt, and the subset files seen.

    `trainval.txt` (VOC's union of train and val) carries no split of its own; CVAT's `default.txt`
    (and any subset not named train/val) leaves the split open.
    """
    sets_dir = root / "ImageSets" / "Segmentation"
    splits: dict[str, str] = {}
    seen: list[str] = []
    if not sets_dir.is_dir():
        return splits, seen
    for txt in sorted(sets_dir.glob("*.txt")):
        seen.append(txt.name)
        split = SUBSET_SPLITS.get(txt.stem.lower())
        if split is None:
            continue
        for line in txt.read_text(encoding="utf-8-sig").splitlines():
            name = line.strip().split(" ")[0]
            if name:
                splits[name] = split
    return splits, seen


def _image_lookup(images_dir: Path):
    """Find the image for a mask name: exact relative path first, then a unique bare file name.

    The bare-name fallback is what lets a CVAT export (masks `1.png`) be used with a user's image folder
    laid out as `train/images/1.jpeg`, `val/images/4.jpeg`.
    """
    # A user's image folder may hold their masks too (rocks/train/{images,masks}): skip mask folders so
    # "1.png" in masks/ does not compete with "1.jpeg" in images/.
    imgs = [
        p
        for p in list_images(images_dir)
        if not MASK_DIRS & {q.lower() for q in p.relative_to(images_dir).parts[:-1]}
    ]
    by_rel = {rel_stem(p, images_dir): p for p in imgs}
    by_name: dict[str, list[Path]] = {}
    for p in imgs:
        by_name.setdefault(p.stem, []).append(p)

    def find(key: str) -> Path | None:
        if key in by_rel:
            return by_rel[key]
        cands = by_name.get(Path(key).name, [])
        return cands[0] if len(cands) == 1 else None

    return imgs, find


def import_voc(
    root: Path, images: Path | None, class_file: Path | None, val_fraction: float, seed: int
) -> LabelledData:
    """VOC / CVAT layout at `root` (`SegmentationClass/`, optional `ImageSets/Segmentation/*.txt`)."""
    labelmap = root / "labelmap.txt"
    form = "cvat" if labelmap.is_file() else "voc"
    data = LabelledData(classes=[], samples=[], form=form, root=root)

    class_file = class_file or find_class_file(root)
    if class_file is not None:
        cl = read_class_file(class_file)
        data.classes, data.class_source = cl.classes, cl.source
        kind = "color" if cl.colors_given else "index"
        data.coding = MaskCoding(kind, tuple(cl.void_ids), tuple(cl.void_colors), cl.colors_given)
    else:
        data.classes, data.class_source = voc_classes(), "the Pascal VOC classes"
        # VOC masks are palette PNGs whose index is the class id; 255 (borders) is void.
        data.coding = MaskCoding("index", void_colors=(VOC_VOID_COLOR,), colors_known=True)
        data.notes.append("no labelmap.txt: using the 21 Pascal VOC classes (pass a class file for others)")

    images_dir = _find_images_dir(root, images, form)
    masks_dir = root / "SegmentationClass"
    imgs, find = _image_lookup(images_dir)
    subsets, subset_files = _read_subsets(root)
    if subset_files:
        data.notes.append(f"ImageSets/Segmentation: {', '.join(subset_files)}")

    used: set[Path] = set()
    for mask in list_images(masks_dir):
        key = rel_stem(mask, masks_dir)
        image = find(key)
        if image is None:
            data.unmatched_masks.append(mask)
            continue
        used.add(image)
        split = subsets.get(key) or split_from_parts(image.relative_to(images_dir).parts[:-1]) or ""
        data.samples.append(Sample(image, mask, split))
    data.unmatched_images.extend(p for p in imgs if p not in used)
    data.samples.sort(key=lambda s: natural_key(data.display(s.mask)))
    if not data.samples:
        raise UserInputError(
            f"none of the {len(list_images(masks_dir))} masks in {masks_dir} has an image with the same name in "
            f"{images_dir} ({len(imgs)} images) — check the --images folder"
        )
    origins = []
    if any(v for v in subsets.values()):
        origins.append("ImageSets/Segmentation/{train,val}.txt")
    if any(split_from_parts(s.image.relative_to(images_dir).parts[:-1]) for s in data.samples):
        origins.append(f"the train/val folders of {images_dir}")
    data.assign_splits(val_fraction, seed, origin=" and ".join(origins) or "ImageSets")
    return data


def _find_images_dir(root: Path, images: Path | None, form: str) -> Path:
    if images is not None:
        images = Path(images).expanduser()
        if not images.is_dir():
            raise UserInputError(f"--images {images} is not a folder — give the folder that holds the images")
        return images
    for name in ("JPEGImages", "images", "Images"):
        if (root / name).is_dir() and list_images(root / name):
            return root / name
    what = "CVAT export" if form == "cvat" else "VOC folder"
    raise UserInputError(
        f"the {what} {root} holds no images (CVAT includes them only with 'Save images') — "
        "pass the image folder with --images DIR (images=DIR); train/ and val/ subfolders in it set the split"
    )
