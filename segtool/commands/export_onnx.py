"""`segtool export-onnx CKPT -o MODEL.onnx [--int8 --calibrate DATA]`: a self-describing ONNX model.

The file runs with `segtool predict -c MODEL.onnx` (OpenVINO or ONNX Runtime) and in any ONNX runtime:
input `image` N×3×H×W float32 normalised with the metadata's mean/std, output `logits` N×K×H×W.
"""

from __future__ import annotations

import argparse
import sys


def add_parser(sub) -> None:
    p = sub.add_parser(
        "export-onnx",
        help="export a checkpoint as ONNX (dynamic size; optional INT8 calibrated on your data)",
        description="Write CKPT as an ONNX model (opset 17, dynamic batch/height/width) with the checkpoint's classes, "
        "colours and preprocessing in its metadata (key segtool.checkpoint). With --int8, post-training static "
        "quantisation (ONNX Runtime, QDQ, per-channel weights) calibrated on frames of DATA; when DATA has labels, "
        "the INT8 model is kept only if its mIoU on them drops by at most --max-drop points. See docs/runtimes.md.",
        epilog="Exit codes: 0 written; 1 INT8 rejected (accuracy dropped too far: the float model was written "
        "instead, the reason is in its metadata); 2 bad usage or input.",
    )
    p.add_argument(
        "checkpoint", help="segtool checkpoint (.pt) or shipped model (rock_fragments, demo_rocks)"
    )
    p.add_argument("-o", "--output", required=True, help="the .onnx file to write")
    p.add_argument("--int8", action="store_true", help="quantise to INT8 (needs --calibrate)")
    p.add_argument(
        "--calibrate",
        metavar="DATA",
        help="calibration frames: a labelled dataset (as for train), a folder of images or a video",
    )
    p.add_argument("--classes", help="labelmap.txt or classes.json for calibration data without one")
    p.add_argument(
        "--calib-frames", type=int, default=300, help="at most this many calibration frames (default 300)"
    )
    p.add_argument(
        "--check-frames",
        type=int,
        default=100,
        help="labelled frames held out to measure the mIoU change (default 100)",
    )
    p.add_argument(
        "--max-drop",
        type=float,
        default=1.0,
        help="largest mIoU drop in points that keeps INT8 (default 1.0)",
    )
    p.add_argument("--threads", type=int, help="CPU threads (default: all cores but one)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from segtool.base.errors import UserInputError
    from segtool.core.model_file import open_model
    from segtool.core.onnx_export import OPSET, check_writable, export_onnx

    out = Path(args.output)
    if out.suffix.lower() != ".onnx":
        raise UserInputError(f"-o {out}: the file name must end in .onnx")
    if args.int8 and not args.calibrate:
        raise UserInputError(
            "--int8 needs --calibrate DATA: a few hundred of your own frames (a dataset, image folder or video)"
        )
    if args.calibrate and not args.int8:
        raise UserInputError("--calibrate is only used with --int8; add --int8 or drop --calibrate")
    if args.calib_frames < 1 or args.check_frames < 0:
        raise UserInputError("--calib-frames must be 1 or more and --check-frames 0 or more")
    check_writable(out)  # a read-only or missing folder: exit 2 now, not after the export's work
    model = open_model(args.checkpoint)
    if model.is_onnx:
        raise UserInputError(
            f"{model.path} is already an exported model; give the checkpoint (.pt) it was exported from"
        )
    ck = model.checkpoint
    if not args.int8:
        export_onnx(ck, out)
        print(f"wrote {out} (ONNX opset {OPSET}, {out.stat().st_size / 1e6:.1f} MB)")
        return 0
    from segtool.core.quantize import quantize_int8

    result = quantize_int8(
        ck,
        out,
        args.calibrate,
        calib_frames=args.calib_frames,
        check_frames=args.check_frames,
        max_drop=args.max_drop,
        threads=args.threads,
        classes=args.classes,
        progress=lambda m: print(m, file=sys.stderr),
    )
    print(result.message, file=sys.stdout if result.kept else sys.stderr)
    return 0 if result.kept else 1
