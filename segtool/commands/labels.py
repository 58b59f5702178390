"""`segtool labels …`: label sets (the folders the app's label mode writes) to and from CVAT and COCO."""

from __future__ import annotations

import argparse


def add_parser(sub) -> None:
    p = sub.add_parser(
        "labels",
        help="label sets: import from / export to CVAT 'Segmentation mask 1.1' or COCO, show what is labelled",
        description="A label set is the folder label mode writes (images/, masks/ with 255 = unknown, classes.json, "
        "manifest.json); segtool train reads it as it is. See docs/labelling.md.",
    )
    lsub = p.add_subparsers(dest="labels_command", metavar="ACTION", required=True)
    i = lsub.add_parser(
        "import-cvat", help="CVAT 'Segmentation mask 1.1' export (zip or folder) -> label set"
    )
    i.add_argument("export", help="the CVAT export (.zip or folder)")
    i.add_argument("--images", help="the photos, when the export holds none")
    i.add_argument("-o", "--output", required=True, help="label-set folder (created)")
    i.add_argument(
        "--unknown-class",
        action="append",
        default=[],
        metavar="NAME",
        help="make the pixels of class NAME unknown (the class stays): sparse exports whose unpainted "
        "pixels were saved as background; then paint real background in label mode (repeatable)",
    )
    i.set_defaults(run=_import)
    e = lsub.add_parser("export-cvat", help="label set -> CVAT 'Segmentation mask 1.1' zip")
    e.add_argument("labels", help="label-set folder")
    e.add_argument("-o", "--output", required=True, help="zip to write")
    e.set_defaults(run=_export)
    ci = lsub.add_parser("import-coco", help="COCO instance JSON (fragment outlines) -> fragment label set")
    ci.add_argument("coco", help="the COCO .json file")
    ci.add_argument("--images", help="the photos' folder (default: beside the file, or images/ next to it)")
    ci.add_argument("-o", "--output", required=True, help="label-set folder (created)")
    ci.set_defaults(run=_import_coco)
    ce = lsub.add_parser(
        "export-coco", help="fragment label set -> COCO instance JSON (one object per fragment)"
    )
    ce.add_argument("labels", help="label-set folder (of a fragment model)")
    ce.add_argument("-o", "--output", required=True, help="the .json to write (images stay in LABELS/images)")
    ce.set_defaults(run=_export_coco)
    s = lsub.add_parser("info", help="classes and labelled frames of a label set")
    s.add_argument("labels", help="label-set folder")
    s.set_defaults(run=_info)


def _import(args: argparse.Namespace) -> int:
    from segtool.core.labelset import import_cvat

    ls = import_cvat(args.export, args.images, args.output, unknown_classes=args.unknown_class)
    print(f"done: {len(ls.frames)} frame(s), classes {', '.join(ls.class_names)} -> {ls.root}")
    return 0


def _export(args: argparse.Namespace) -> int:
    from segtool.core.labelset import LabelSet, export_cvat

    ls = LabelSet.open(args.labels)
    out = export_cvat(ls, args.output)
    print(f"done: {len(ls.frames)} frame(s) -> {out} (import it in CVAT as 'Segmentation mask 1.1')")
    return 0


def _import_coco(args: argparse.Namespace) -> int:
    from segtool.core.labelset_coco import import_coco

    ls = import_coco(args.coco, args.images, args.output)
    print(
        f"done: {len(ls.frames)} frame(s), fragments as instances, classes {', '.join(ls.class_names)} -> {ls.root}"
    )
    return 0


def _export_coco(args: argparse.Namespace) -> int:
    from segtool.core.labelset import LabelSet
    from segtool.core.labelset_coco import export_coco

    ls = LabelSet.open(args.labels)
    out, notes = export_coco(ls, args.output)
    for n in notes:
        print(f"note: {n}")
    print(f"done: {len(ls.frames)} frame(s) -> {out} (images: {ls.root / 'images'})")
    return 0


def _info(args: argparse.Namespace) -> int:
    """Classes and per-frame shares; every frame whose files are wrong is listed with the reason, and then the
    command exits 2 (so a script never takes a broken or unfinished set for a good one)."""
    import numpy as np

    from segtool.base.errors import UserInputError
    from segtool.core.labelset import UNKNOWN, LabelSet

    ls = LabelSet.open(args.labels)
    print(f"{ls.root}: {len(ls.frames)} frame(s); classes: {', '.join(ls.class_names)}")
    problems = [ls.incomplete] if ls.incomplete else []
    if ls.incomplete:
        print(f"  UNFINISHED: {ls.incomplete}")
    if ls.fragments:
        print(
            f"  fragment model: {ls.fragments['edge']} is derived from the outlined fragments when training"
        )
    for f in ls.frames:
        where = f" (frame {f.frame} of {f.source})" if f.frame is not None else ""
        try:
            m = ls.checked_mask(f.stem)
        except UserInputError as e:  # shown per frame, never as shares read from a broken file
            problems.append(str(e))
            print(f"  {f.image}{where}: PROBLEM: {e}")
            continue
        if m is None:
            missing = (
                ""
                if (ls.root / "images" / f.image).is_file()
                else f" and its image images/{f.image} is missing"
            )
            print(f"  {f.image}{where}: no mask yet{missing}")
            continue
        shares = ", ".join(f"{n} {100 * float((m == i).mean()):.1f} %" for i, n in enumerate(ls.class_names))
        inst = ls.load_instances(f.stem) if ls.fragments else None
        frags = f", {len(np.unique(inst[inst > 0]))} fragment(s) outlined" if inst is not None else ""
        print(f"  {f.image}{where}: {shares}, unknown {100 * float((m == UNKNOWN).mean()):.1f} %{frags}")
    listed = {f.stem for f in ls.frames}
    for m in sorted((ls.root / "masks").glob("*.png")):
        if m.stem not in listed and not m.name.startswith("."):
            problems.append(f"{m} belongs to no frame (its image is gone and the manifest does not list it)")
            print(
                f"  masks/{m.name}: PROBLEM: no image and no manifest entry — put the image back in images/ or delete the mask"
            )
    if problems:
        raise UserInputError(
            f"{len(problems)} problem(s) in the label set {ls.root} (listed above); first: {problems[0]}"
        )
    return 0
