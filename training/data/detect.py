"""`open_dataset`: tell which form a path is in and import it."""

from __future__ import annotations

import dataclasses
import zipfile
from pathlib import Path

from segtool.base.errors import UserInputError

from ..labelset_schema import check_label_set_folder
from .archive import extract_zip
from .dataset import LabelledData
from .files import split_from_parts
from .folder import folder_pairs, import_camvid, import_folder, is_camvid
from .instances import (
    InstanceOptions,
    find_coco_files,
    import_coco,
    import_instance_folder,
    instance_folder_pairs,
)
from .labelme import find_labelme_files, import_labelme
from .voc import import_voc, is_voc_like

FORMS_HELP = (
    "accepted layouts: images/ + masks/ (optionally under train/ and val/); a CVAT 'Segmentation mask 1.1' "
    "export (zip or folder); a VOC folder (JPEGImages/, SegmentationClass/); labelme JSON files beside "
    "their images; CamVid (train/, trainannot/, val/, valannot/); fragment outlines: images/ + instances/ (16-bit "
    "instance PNGs) or a COCO instance JSON beside images/ — see docs/datasets.md"
)
_DEBRIS = {"__MACOSX", ".DS_Store", "Thumbs.db"}


def _descend(root: Path) -> Path:
    """Step into a lone top-level folder (zips often wrap everything in one)."""
    while True:
        entries = [p for p in root.iterdir() if p.name not in _DEBRIS and not p.name.startswith(".")]
        if len(entries) == 1 and entries[0].is_dir() and not split_from_parts([entries[0].name]):
            root = entries[0]
        else:
            return root


def open_dataset(
    path: str | Path,
    *,
    images: str | Path | None = None,
    val_fraction: float = 0.2,
    seed: int = 0,
    classes: str | Path | None = None,
    unknown_classes: list[str] | tuple[str, ...] = (),
    instances: InstanceOptions | None = None,
) -> LabelledData:
    """Open a labelled dataset in any supported form; the form is detected from the files.

    Args:
        path: dataset folder or `.zip` archive (extracted once into the segtool cache).
        images: image folder for exports that hold no images (CVAT without "Save images"). Images are
            matched to masks by file name; `train/` / `val/` folders in it decide the split.
        val_fraction: share of samples put in "val" when the data itself names no split.
        seed: seed of that random split (the same seed gives the same split).
        classes: a `labelmap.txt` or `classes.json` to use instead of (or where there is no) class file
            in the data, e.g. for a read-only colour-mask folder.
        unknown_classes: class names whose pixels are read as unknown (ignored in training and
            metrics): for sparse exports where unpainted pixels were saved as background.
        instances: how fragment outlines (instance PNGs, COCO) become background / rock / rock_edge
            (edge width, unlabelled pixels); None = the defaults.

    Returns:
        The dataset. Nothing but file names (and, for some forms, a few masks) is read here; call
        `check_dataset` to validate every mask.

    Raises:
        UserInputError: the path does not exist, the layout is not recognised, the archive is unsafe,
            or nothing could be paired. The message says what was found and what to do.
    """
    src = Path(path).expanduser()
    images_p = Path(images).expanduser() if images is not None else None
    class_file = Path(classes).expanduser() if classes is not None else None
    if class_file is not None and not class_file.is_file():
        raise UserInputError(f"class file {class_file} does not exist — give a labelmap.txt or classes.json")
    if not src.exists():
        raise UserInputError(f"dataset {src} does not exist — give a dataset folder or a .zip export")
    if src.is_file() and src.suffix.lower() == ".json":
        # A COCO instance file given directly: images beside it or in images/ next to it.
        data = import_coco(src.parent, instances or InstanceOptions(), val_fraction, seed, files=[src])
        data.source = src
        if unknown_classes:
            data.set_unknown_classes(list(unknown_classes))
        return data
    if src.is_file():
        if not zipfile.is_zipfile(src):
            raise UserInputError(
                f"dataset {src} is a file but not a zip archive — give a folder or a .zip; {FORMS_HELP}"
            )
        root = extract_zip(src)
    else:
        root = src
    root = _descend(root)
    check_label_set_folder(root)  # a label set (segtool's own layout): complete, valid manifest and classes

    if is_voc_like(root):
        data = import_voc(root, images_p, class_file, val_fraction, seed)
    else:
        if images_p is not None:
            raise UserInputError(
                f"--images is for CVAT/VOC exports without images; {src} is not one (no SegmentationClass/) — "
                "drop --images"
            )
        if is_camvid(root):
            data = import_camvid(root, class_file, val_fraction, seed)
        elif folder_pairs(root):
            data = import_folder(root, class_file, val_fraction, seed)
            if data.fragments is not None and instances is not None:  # a label set's outlines: --edge-width
                data.coding = dataclasses.replace(data.coding, edge_width=instances.validate().edge_width)
        elif instance_folder_pairs(root):
            data = import_instance_folder(root, instances or InstanceOptions(), val_fraction, seed)
        elif find_coco_files(root, limit=1):
            data = import_coco(root, instances or InstanceOptions(), val_fraction, seed)
        elif find_labelme_files(root, limit=1):
            data = import_labelme(root, class_file, val_fraction, seed)
        else:
            found = sorted(p.name + ("/" if p.is_dir() else "") for p in root.iterdir())[:12]
            raise UserInputError(
                f"cannot tell the dataset layout of {src} (found: {', '.join(found) or 'nothing'}); {FORMS_HELP}"
            )
    data.source = src
    if unknown_classes:
        data.set_unknown_classes(list(unknown_classes))
    if src.is_file():
        data.notes.insert(0, f"extracted {src.name} to {root}")
    return data
