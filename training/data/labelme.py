"""Importer for labelme: one JSON of polygons beside each image."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from segtool.base.errors import UserInputError

from .classes import ClassList, default_classes, read_class_file
from .dataset import LabelledData, Sample
from .files import is_image, list_images, natural_key, split_from_parts
from .masks import AREA_SHAPES, LABELME_BACKGROUND, LABELME_IGNORE, MaskCoding


def find_labelme_files(root: Path, limit: int | None = None) -> list[Path]:
    """JSON files under `root` that look like labelme annotations (a top-level "shapes" key)."""
    found = []
    for p in sorted(root.rglob("*.json"), key=lambda p: natural_key(p.relative_to(root).as_posix())):
        if p.name.startswith(".") or p.name == "classes.json":
            continue
        try:
            head = p.read_text(encoding="utf-8-sig", errors="replace")
        except OSError:
            continue
        if '"shapes"' in head:
            found.append(p)
            if limit and len(found) >= limit:
                break
    return found


def read_labels_txt(path: Path) -> ClassList:
    """labelme's `labels.txt` (as used by labelme2voc): one label a line; `__ignore__` is void and
    `_background_` is class 0."""
    names = []
    for line in path.read_text(encoding="utf-8-sig").splitlines():
        name = line.strip()
        if not name or name == LABELME_IGNORE:
            continue
        names.append("background" if name in LABELME_BACKGROUND else name)
    if "background" in names:
        names.remove("background")
    return ClassList(default_classes(["background", *names]), path.name, colors_given=False)


def _find_image(json_path: Path, doc: dict) -> Path | None:
    rel = doc.get("imagePath")
    if rel:
        cand = (json_path.parent / str(rel).replace("\\", "/")).resolve()
        if cand.is_file():
            return cand
    for p in sorted(json_path.parent.glob(json_path.stem + ".*")):
        if is_image(p):
            return p
    return None


def import_labelme(root: Path, class_file: Path | None, val_fraction: float, seed: int) -> LabelledData:
    """All labelme JSONs under `root`; classes from `class_file`, `labels.txt`, or the labels seen."""
    data = LabelledData(classes=[], samples=[], form="labelme", root=root, coding=MaskCoding("labelme"))
    labels: set[str] = set()
    skipped_shapes: Counter = Counter()
    for jp in find_labelme_files(root):
        try:
            doc = json.loads(jp.read_text(encoding="utf-8-sig"))
        except (OSError, ValueError) as exc:
            # A damaged JSON is a damaged label, like a damaged mask PNG: pair it with its image so the
            # check reports it as an error (training refuses) instead of silently dropping the image.
            image = _find_image(jp, {})
            if image is None:
                data.warnings.append(f"cannot read labelme file {data.display(jp)}: {exc} — fix or remove it")
            else:
                data.samples.append(
                    Sample(image, jp, split_from_parts(jp.relative_to(root).parts[:-1]) or "")
                )
            continue
        image = _find_image(jp, doc)
        if image is None:
            data.unmatched_masks.append(jp)
            continue
        for shape in doc.get("shapes", []):
            kind = shape.get("shape_type") or "polygon"
            if kind not in AREA_SHAPES:
                skipped_shapes[kind] += 1
                continue
            label = str(shape.get("label", ""))
            if label not in LABELME_BACKGROUND and label != LABELME_IGNORE:
                labels.add(label)
        split = split_from_parts(jp.relative_to(root).parts[:-1]) or ""
        data.samples.append(Sample(image, jp, split))
    if not data.samples:
        raise UserInputError(f"{root}: no labelme JSON file whose image could be found beside it")
    labelled = {s.image.resolve() for s in data.samples}
    folders = {s.mask.parent for s in data.samples if s.mask is not None}
    for folder in sorted(folders):
        data.unmatched_images.extend(
            p for p in list_images(folder, recursive=False) if p.resolve() not in labelled
        )

    if class_file is None and (root / "labels.txt").is_file():
        class_file = root / "labels.txt"
    if class_file is not None:
        cl = read_labels_txt(class_file) if class_file.name == "labels.txt" else read_class_file(class_file)
        data.classes, data.class_source = cl.classes, cl.source
    else:
        names = sorted(labels, key=natural_key)
        data.classes = default_classes(["background", *names])
        data.class_source = "the labels in the JSON files"
        data.notes.append(
            f"classes from the labels seen: background (unpainted, id 0), {', '.join(names)}; "
            "add labels.txt to fix the order"
        )
    if skipped_shapes:
        kinds = ", ".join(f"{n} {k}" for k, n in skipped_shapes.most_common())
        data.warnings.append(f"shapes that enclose no area are not painted: {kinds} — draw polygons instead")
    data.assign_splits(val_fraction, seed, origin="folders train/ and val/")
    return data
