"""`segtool predict SOURCE… -c CKPT -o OUT`: export masks of images, folders, videos, cameras and streams.

One SOURCE writes into OUT directly; several (or a folder of videos, a glob, @list.txt) make a batch:
`OUT/<name>/` each and `OUT/batch.json` (segtool/commands/predict_batch.py, docs/batch.md)."""

from __future__ import annotations

import argparse
import sys

from segtool.commands._interrupt import first_ctrl_c_cancels


def add_parser(sub) -> None:
    p = sub.add_parser(
        "predict",
        help="export masks (PNG / FFV1), overlay video, coverage CSV",
        description="Segment SOURCE (image, folder, video file, cam:N, rtsp/http URL) with a checkpoint and write "
        "masks, optional overlays, coverage.csv and summary.json into OUT. See docs/outputs.md. Several SOURCEs, "
        "a folder of videos, a glob or @list.txt make a batch: OUT/<name>/ per source and OUT/batch.json "
        "(docs/batch.md).",
        epilog="Exit codes: 0 complete; 1 partial (the source broke mid-way; what was written is valid; "
        "summary.json says complete: false) or, for a batch, any source partial or failed; 2 bad usage or input; "
        "130 interrupted (Ctrl-C; --resume continues).",
    )
    p.add_argument(
        "source",
        nargs="+",
        metavar="SOURCE",
        help="image, folder, video file, cam:N or stream URL; several, a glob ('clips/*.mp4') or @list.txt for a batch",
    )
    p.add_argument(
        "-c",
        "--checkpoint",
        required=True,
        help="segtool checkpoint (.pt), exported model (.onnx) or shipped model (rock_fragments, demo_rocks)",
    )
    p.add_argument("-o", "--output", required=True, help="output folder")
    p.add_argument(
        "--overlay",
        action="store_true",
        help="also write overlays (overlay.mp4 for videos, overlays/*.jpg for images)",
    )
    p.add_argument(
        "--opacity",
        type=float,
        default=0.5,
        help="overlay: how strongly classes colour the frame, 0-1 (default 0.5)",
    )
    p.add_argument(
        "--hide",
        action="append",
        default=[],
        metavar="CLASS",
        help="overlay: leave this class uncoloured (repeat, or give a comma list), e.g. --hide background",
    )
    p.add_argument(
        "--format",
        choices=("png", "ffv1"),
        default="png",
        help="video masks as PNG files or one FFV1 lossless video",
    )
    p.add_argument("--device", default="auto", help="auto (cuda > mps > cpu), cpu, cuda, cuda:N, mps")
    p.add_argument(
        "--precision",
        default="auto",
        choices=("auto", "fp32", "fp16", "bf16"),
        help="autocast on GPUs (auto: bf16/fp16 on CUDA)",
    )
    p.add_argument(
        "--runtime",
        default="auto",
        choices=("auto", "torch", "openvino", "onnxruntime"),
        help="what runs the network: auto (PyTorch on GPUs; on the CPU OpenVINO, else ONNX Runtime, else PyTorch; "
        "$SEGTOOL_RUNTIME overrides auto), torch, openvino, onnxruntime. See docs/runtimes.md",
    )
    p.add_argument("--batch-size", type=int, help="frames per forward pass (default 4 on CUDA, 1 on CPU)")
    p.add_argument("--threads", type=int, help="CPU threads for the model (default: all cores but one)")
    p.add_argument("--start", type=int, default=0, help="first frame index (default 0)")
    p.add_argument("--end", type=int, help="stop before this frame index")
    p.add_argument("--every", type=int, default=1, help="process every N-th frame")
    p.add_argument("--tta", help="test-time augmentation: flip, ms (scales 0.75/1/1.25) or flip,ms")
    p.add_argument(
        "--tile", type=int, default=1024, help="sliding-window size for images too large to run whole"
    )
    p.add_argument("--resume", action="store_true", help="continue an interrupted export in OUT")
    p.add_argument("--overwrite", action="store_true", help="replace an earlier export in OUT")
    p.add_argument("--timeout", type=float, default=10.0, help="streams: connect/read timeout in seconds")
    p.add_argument("--reconnects", type=int, default=3, help="streams: reconnect attempts before giving up")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    from segtool.commands.predict_batch import add_batch_arguments

    add_batch_arguments(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from segtool.core.engine import Engine
    from segtool.core.export import ExportOptions, expected_frames, run_export
    from segtool.core.sources import open_source

    opts = ExportOptions(
        format=args.format,
        overlay=args.overlay,
        start=args.start,
        end=args.end,
        every=args.every,
        batch_size=args.batch_size,
        resume=args.resume,
        overwrite=args.overwrite,
        overlay_alpha=args.opacity,
        overlay_hidden=tuple(n.strip() for h in args.hide for n in h.split(",") if n.strip()),
    )
    if args.threads is not None and args.threads < 1:
        raise_usage(f"--threads {args.threads}: use 1 or more")
    from segtool.commands.predict_batch import batch_requested, run_batch_command

    batch = batch_requested(args)
    if batch is not None:
        return run_batch_command(args, opts, *batch)
    args.source = args.source[0]
    engine = Engine(
        args.checkpoint,
        device=args.device,
        precision=args.precision,
        tta=args.tta,
        tile=args.tile,
        threads=args.threads,
        runtime=args.runtime,
    )
    with open_source(args.source, connect_timeout_s=args.timeout, max_reconnects=args.reconnects) as source:
        for name in source.skipped:
            print(f"segtool: warning: skipped {name} (not an image)", file=sys.stderr)
        total = expected_frames(source, opts)
        bar = tqdm(total=total, unit="frame", disable=args.quiet, desc=source.kind, dynamic_ncols=True)

        def on_progress(p) -> None:
            bar.update(1)
            bar.set_postfix(fps=f"{p.fps:.1f}", refresh=False)

        try:
            with first_ctrl_c_cancels() as cancel:  # first Ctrl-C: stop cleanly and keep what was written
                result = run_export(
                    source,
                    engine,
                    args.output,
                    opts,
                    checkpoint_label=str(args.checkpoint),
                    progress=on_progress,
                    cancel=cancel,
                )
        finally:
            bar.close()
    s = result.summary
    line = f"{s['frames_written']} frame(s) in {s['seconds']:.1f} s ({s['fps']:.1f} fps) on {s['device']} -> {result.out}"
    code = result.exit_code
    # Only claim what summary.json says when it could be written (a full disk may prevent even that).
    record = (
        "summary.json says complete: false"
        if result.summary_written
        else "summary.json could not be written; the job record in OUT still allows --resume"
    )
    if code == 0:
        print(f"done: {line}")
    elif code == 1:
        print(f"segtool: partial: {s['stopped']}\n  wrote {line}; {record}", file=sys.stderr)
    elif code == 2:
        print(f"segtool: error: {s['stopped']}\n  wrote {line}; {record}", file=sys.stderr)
    else:
        print(f"segtool: interrupted: {line}; rerun with --resume to continue", file=sys.stderr)
    return code


def raise_usage(message: str) -> None:
    from segtool.base.errors import UserInputError

    raise UserInputError(message)
