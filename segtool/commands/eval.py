"""`segtool eval CKPT DATA`: score a checkpoint against labels; prints a table and writes report.json.

DATA is a labelled dataset (any form `segtool train` accepts), or, with `--labels DIR`, an image, a
folder or a video whose frames pair, in order, with the label images in DIR (`--labels-glob` picks
them, natural sort): e.g. a CamVid clip and `camvid/valannot` filtered to `0016E5_*`.
The scoring itself is `segtool.core.evaluate` (shared with the app); this module parses the options,
shows progress and writes the report.
"""

from __future__ import annotations

import argparse
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
    p.add_argument(
        "checkpoint",
        help="segtool checkpoint (.pt), exported model (.onnx) or shipped model (rock_fragments, demo_rocks)",
    )
    p.add_argument("data", help="labelled dataset, or an image / folder / video with --labels")
    p.add_argument("-o", "--output", default="report.json", help="report file (default ./report.json)")
    p.add_argument("--images", help="dataset: image folder for exports without images (CVAT)")
    p.add_argument("--classes", help="dataset: labelmap.txt or classes.json for data without one")
    p.add_argument(
        "--split",
        default="auto",
        choices=("auto", "val", "train", "all"),
        help="dataset: which samples (auto: the data's val split if it names one, else all)",
    )
    p.add_argument("--labels", help="folder of label images, one per frame of DATA in sorted order")
    p.add_argument("--labels-glob", default="*", help="only label files whose name matches, e.g. '0016E5_*'")
    p.add_argument(
        "--void-ids",
        default=None,
        help="label values that mean 'unlabelled' besides 255, e.g. 11 (automatic for CamVid *annot folders)",
    )
    p.add_argument("--device", default="auto", help="auto (cuda > mps > cpu), cpu, cuda, cuda:N, mps")
    p.add_argument(
        "--runtime",
        default="auto",
        choices=("auto", "torch", "openvino", "onnxruntime"),
        help="what runs the network: auto (PyTorch on GPUs; on the CPU OpenVINO, else ONNX Runtime, else PyTorch; "
        "$SEGTOOL_RUNTIME overrides auto), torch, openvino, onnxruntime. See docs/runtimes.md",
    )
    p.add_argument(
        "--batch-size", type=int, default=None, help="frames per forward pass (default 4 on CUDA, 1 on CPU)"
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from segtool.base.errors import UserInputError
    from segtool.core.engine import Engine
    from segtool.core.evaluate import dataset_frames, evaluate, label_folder_frames

    engine = Engine(args.checkpoint, device=args.device, runtime=args.runtime)
    ck = engine.checkpoint
    if args.labels:
        frames = label_folder_frames(
            args.data, ck, args.labels, labels_glob=args.labels_glob, void_ids=_void_ids(args.void_ids)
        )
    else:
        frames = dataset_frames(
            args.data,
            ck,
            images=args.images,
            classes=args.classes,
            split=args.split,
            checkpoint_label=str(args.checkpoint),
        )
    with tqdm(total=frames.total, unit="image", disable=args.quiet, desc="eval", file=sys.stderr) as bar:
        report = evaluate(
            engine,
            frames,
            batch_size=args.batch_size,
            checkpoint_label=str(args.checkpoint),
            data_label=str(args.data),
            progress=lambda done: bar.update(done - bar.n),
        )
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
        lines.append(
            f"  {name[:22]:<22} {'—' if iou is None else f'{iou * 100:7.2f}%':>8} {share * 100:7.2f}%"
        )

    def pct(v) -> str:
        return "—" if v is None else f"{v * 100:.2f}%"

    lines.append(
        f"  mIoU {pct(report['miou'])}   pixel accuracy {pct(report['pixel_accuracy'])}   "
        f"mean accuracy {pct(report['mean_accuracy'])}   images {report['images']}"
    )
    return "\n".join(lines + warning_text(report))


def warning_text(report: dict) -> list[str]:
    """The report's warnings (a class never predicted, one class everywhere) as lines, with the CLI options."""
    from segtool.training.diagnose import CLI_HINT, warning_lines

    lines = [f"WARNING: {line}" for line in warning_lines(report.get("warnings") or [])]
    return lines + [f"  ({CLI_HINT})"] if lines else []


def _void_ids(text: str | None) -> tuple[int, ...] | None:
    """--void-ids "11,12" → (11, 12); None = automatic (CamVid's label folders use 11)."""
    from segtool.base.errors import UserInputError

    if text is None:
        return None
    try:
        return tuple(int(t) for t in text.split(",") if t.strip())
    except ValueError as e:
        raise UserInputError(f"--void-ids {text!r}: give label values separated by commas, e.g. 11") from e
