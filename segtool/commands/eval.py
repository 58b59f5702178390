"""`segtool eval CKPT DATA`: score a checkpoint against labels; prints a table and writes report.json.

DATA is a labelled dataset (any form `segtool train` accepts), or, with `--labels DIR`, an image, a
folder or a video whose frames pair, in order, with the label images in DIR (`--labels-glob` picks
them, natural sort): e.g. a CamVid clip and `camvid/valannot` filtered to `0016E5_*`.
Inference is `segtool predict`'s (the checkpoint's preprocessing, masks at the frame's own size).
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import sys
from pathlib import Path


def add_parser(sub) -> None:
    p = sub.add_parser(
        "eval",
        help="score a checkpoint on labelled data (IoU table + report.json)",
        description="Evaluate CKPT on DATA: a labelled dataset (folder or .zip, as for train), or an image / folder / "
        "video together with --labels DIR (one label image per frame, in sorted order). Prints per-class IoU and pixel "
        "share and writes the report (mIoU, accuracies, per-class IoU, confusion matrix) as JSON.",
        epilog="Exit codes: 0 done; 2 bad usage or input (mismatched classes or frame counts, unknown label values).",
    )
    p.add_argument("checkpoint", help="segtool checkpoint (.pt)")
    p.add_argument("data", help="labelled dataset, or an image / folder / video with --labels")
    p.add_argument("-o", "--output", default="report.json", help="report file (default ./report.json)")
    p.add_argument("--images", help="dataset: image folder for exports without images (CVAT)")
    p.add_argument("--classes", help="dataset: labelmap.txt or classes.json for data without one")
    p.add_argument("--split", default="auto", choices=("auto", "val", "train", "all"),
                   help="dataset: which samples (auto: the data's val split if it names one, else all)")
    p.add_argument("--labels", help="folder of label images, one per frame of DATA in sorted order")
    p.add_argument("--labels-glob", default="*", help="only label files whose name matches, e.g. '0016E5_*'")
    p.add_argument("--void-ids", default=None,
                   help="label values that mean 'unlabelled' besides 255, e.g. 11 (automatic for CamVid *annot folders)")
    p.add_argument("--device", default="auto", help="auto (cuda > mps > cpu), cpu, cuda, cuda:N, mps")
    p.add_argument("--batch-size", type=int, default=None, help="frames per forward pass (default 4 on CUDA, 1 on CPU)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from models.errors import UserInputError
    from segtool.core.engine import Engine
    from training.metrics import ConfusionMatrix, report_dict

    engine = Engine(args.checkpoint, device=args.device)
    ck = engine.checkpoint
    batch = args.batch_size or (4 if engine.device.type == "cuda" else 1)
    if batch < 1:
        raise UserInputError(f"--batch-size {batch}: use 1 or more")
    pairs, total, described = (_label_frames if args.labels else _dataset_pairs)(args, ck)
    cm = ConfusionMatrix(len(ck.classes), ck.ignore_index)
    images = 0
    with tqdm(total=total, unit="image", disable=args.quiet, desc="eval", file=sys.stderr) as bar:
        pending: list = []

        def flush() -> None:
            for (_, label), pred in zip(pending, engine.predict([rgb for rgb, _ in pending])):
                if pred.mask.shape != label.shape:
                    raise UserInputError(f"label {label.shape[::-1]} and frame {pred.mask.shape[::-1]} sizes differ (w×h)")
                cm.update(pred.mask, label)
                bar.update(1)
            pending.clear()

        for rgb, label in pairs:
            pending.append((rgb, label()))
            images += 1
            if len(pending) >= batch:
                flush()
        flush()
    report = report_dict(cm, ck.class_names, images)
    report.update({"checkpoint": str(args.checkpoint), "data": str(args.data), **described, "device": engine.device_label})
    print(format_table(report))
    out = Path(args.output)
    try:
        out.write_text(json.dumps(report, indent=2) + "\n")
    except OSError as e:
        raise UserInputError(f"cannot write {out}: {e.strerror or e}; choose another -o") from e
    print(f"wrote {out}")
    return 0


def format_table(report: dict) -> str:
    """The per-class table: class, IoU, pixel share; then mIoU and accuracies."""
    lines = [f"  {'class':<22} {'IoU':>8} {'pixels':>8}"]
    for name, iou in report["per_class_iou"].items():
        share = report["pixel_share"][name]
        lines.append(f"  {name[:22]:<22} {'—' if iou is None else f'{iou * 100:7.2f}%':>8} {share * 100:7.2f}%")

    def pct(v) -> str:
        return "—" if v is None else f"{v * 100:.2f}%"

    lines.append(f"  mIoU {pct(report['miou'])}   pixel accuracy {pct(report['pixel_accuracy'])}   "
                 f"mean accuracy {pct(report['mean_accuracy'])}   images {report['images']}")  # fmt: skip
    return "\n".join(lines + warning_text(report))


def warning_text(report: dict) -> list[str]:
    """The report's warnings (a class never predicted, one class everywhere) as lines, with the CLI options."""
    from training.diagnose import CLI_HINT, warning_lines

    lines = [f"WARNING: {line}" for line in warning_lines(report.get("warnings") or [])]
    return lines + [f"  ({CLI_HINT})"] if lines else []


def _dataset_pairs(args: argparse.Namespace, ck):
    from models.errors import UserInputError
    from training.data import open_dataset

    data = open_dataset(args.data, images=args.images, val_fraction=0.0, classes=args.classes)
    if data.class_names != ck.class_names:
        raise UserInputError(
            f"{args.data} has classes {', '.join(data.class_names)} but {args.checkpoint} predicts "
            f"{', '.join(ck.class_names)}; evaluate with data labelled for this model (or give --classes FILE)"
        )
    labelled = [s for s in data.samples if s.mask is not None]
    split = args.split
    if split == "auto":
        split = "val" if any(s.split == "val" for s in labelled) else "all"
    samples = labelled if split == "all" else [s for s in labelled if s.split == split]
    if not samples:
        raise UserInputError(f"{args.data} has no labelled {split} samples; use --split all")
    pairs = ((data.load_image(s), (lambda s=s: data.load_mask(s))) for s in samples)
    return pairs, len(samples), {"split": split, "form": data.form}


def _label_frames(args: argparse.Namespace, ck):
    from models.errors import UserInputError
    from segtool.core.sources import open_source
    from training.data.classes import ClassInfo
    from training.data.files import list_images, natural_key
    from training.data.folder import is_camvid
    from training.data.masks import MaskCoding, decode_raster, read_mask_image

    labels_dir = Path(args.labels)
    if not labels_dir.is_dir():
        raise UserInputError(f"--labels {labels_dir} is not a folder; give the folder of label images")
    files = sorted((p for p in list_images(labels_dir, recursive=False) if fnmatch.fnmatch(p.name, args.labels_glob)),
                   key=lambda p: natural_key(p.name))  # fmt: skip
    if not files:
        raise UserInputError(f"--labels {labels_dir}: no image file matches {args.labels_glob!r}")
    void = _void_ids(args.void_ids, labels_dir, is_camvid)
    classes = [ClassInfo(c["name"], tuple(c.get("color") or (0, 0, 0))) for c in ck.classes]
    coding = MaskCoding("index", void_ids=void, colors_known=all(c.get("color") for c in ck.classes))

    def decode(path: Path):
        def load():
            ids, unknown = decode_raster(read_mask_image(path), classes, coding, ck.ignore_index)
            if unknown:
                top = ", ".join(f"{k} ×{v} px" for k, v in list(unknown.items())[:3])
                raise UserInputError(f"label {path.name} has values that are not classes of the checkpoint: {top} — "
                                     "if they mean 'unlabelled' pass --void-ids, else check the label folder")  # fmt: skip
            return ids
        return load

    source = open_source(args.data)
    n_frames = source.frames_expected

    def pairs():
        with source:
            n = 0
            for frame in source.frames():
                if n >= len(files):
                    raise UserInputError(f"{args.data} has more frames than the {len(files)} label files in {labels_dir} "
                                         f"matching {args.labels_glob!r}; one label per frame is needed")  # fmt: skip
                yield frame.rgb, decode(files[n])
                n += 1
            if n != len(files):
                raise UserInputError(f"{args.data} has {n} frames but {labels_dir} has {len(files)} label files matching "
                                     f"{args.labels_glob!r}; narrow them with --labels-glob")  # fmt: skip

    if n_frames is not None and n_frames != len(files):
        source.close()
        raise UserInputError(f"{args.data} has {n_frames} frames but {labels_dir} has {len(files)} label files matching "
                             f"{args.labels_glob!r}; one label per frame in sorted order is needed (narrow with --labels-glob)")  # fmt: skip
    return pairs(), n_frames or len(files), {"labels": str(labels_dir), "labels_glob": args.labels_glob, "void_ids": list(void)}


def _void_ids(text: str | None, labels_dir: Path, is_camvid) -> tuple[int, ...]:
    from models.errors import UserInputError
    from training.data.classes import CAMVID_VOID_ID

    if text is None:  # CamVid's label folders use 11 for unlabelled
        return (CAMVID_VOID_ID,) if labels_dir.name.endswith("annot") and is_camvid(labels_dir.parent) else ()
    try:
        return tuple(int(t) for t in text.split(",") if t.strip())
    except ValueError as e:
        raise UserInputError(f"--void-ids {text!r}: give label values separated by commas, e.g. 11") from e
