"""`segtool propagate SOURCE --mask MASK.png --at FRAME -n N -o DIR [-c CKPT]`: a labelled frame's mask carried
along the video by optical flow (core/propagate.py), one class-index PNG per frame."""

from __future__ import annotations

import argparse
import sys

from segtool.commands._interrupt import first_ctrl_c_cancels


def add_parser(sub) -> None:
    p = sub.add_parser(
        "propagate",
        help="carry a labelled frame's mask to the next (or previous) frames of a video by optical flow",
        description="Propagate MASK (the labels of frame FRAME of SOURCE) to frames FRAME+1 … FRAME+N (or FRAME-1 … "
        "FRAME-N with --backward) by dense optical flow, forward-backward checked: pixels the flow cannot follow "
        "(occluded, newly visible, inconsistent) are left unknown (255). Writes DIR/<frame:06d>.png (8-bit class ids, "
        "255 = unknown), frames numbered as `segtool predict` numbers them. With -c, pixels left unknown where the "
        "model is confident take the model's class. See docs/labelling.md.",
        epilog="Exit codes: 0 done; 2 bad usage or input; 130 interrupted (the files written are whole).",
    )
    p.add_argument("source", help="video file (or image folder) the mask belongs to")
    p.add_argument("--mask", required=True, help="class-index PNG of frame FRAME (255 = unknown)")
    p.add_argument(
        "--at", type=int, required=True, metavar="FRAME", help="frame the mask belongs to (0-based)"
    )
    p.add_argument("-n", type=int, required=True, help="how many frames to propagate to")
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="folder for the propagated masks")
    p.add_argument("-c", "--checkpoint", help="model whose confident pixels fill what the flow left unknown")
    p.add_argument(
        "--min-confidence",
        type=float,
        default=0.9,
        help="with -c: the model's probability needed to fill a pixel (default 0.9)",
    )
    p.add_argument(
        "--instances",
        metavar="INST.png",
        help="16-bit fragment ids of frame FRAME, carried along too (DIR/instances/<frame>.png)",
    )
    p.add_argument("--backward", action="store_true", help="propagate to the previous frames instead")
    p.add_argument("--flow", default="dis", choices=("dis", "farneback"), help="optical flow (default dis)")
    p.add_argument("--overwrite", action="store_true", help="replace masks already in DIR")
    p.add_argument(
        "--device", default="auto", help="with -c: auto (cuda > mps > cpu), cpu, cuda, cuda:N, mps"
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from segtool.core.propagate_job import run_propagate
    from segtool.core.sources import open_source

    engine = None
    if args.checkpoint:
        from segtool.core.engine import Engine

        engine = Engine(args.checkpoint, device=args.device)
    with (
        open_source(args.source, frame_threads=False) as source,
        first_ctrl_c_cancels("segtool: stopping after this frame (Ctrl-C again to stop at once)") as cancel,
        tqdm(total=args.n, unit="frame", disable=args.quiet, desc="propagating", dynamic_ncols=True) as bar,
    ):
        res = run_propagate(
            source,
            args.mask,
            args.at,
            args.n,
            args.output,
            instances_path=args.instances,
            backward=args.backward,
            method=args.flow,
            model=engine,
            min_confidence=args.min_confidence,
            overwrite=args.overwrite,
            cancel=cancel,
            progress=lambda p: bar.update(1),
        )
    if res.frames:
        idx = [i for i, _, _ in res.frames]
        worst = min(res.frames, key=lambda f: f[1])
        print(
            f"{'stopped' if res.cancelled else 'done'}: {len(idx)} frame(s) {min(idx)}–{max(idx)} -> {args.output}; "
            f"labelled share falls to {100 * worst[1]:.1f} % at frame {worst[0]} (the rest unknown)"
        )
        if engine is not None:
            print(
                f"  the model filled {100 * sum(f[2] for f in res.frames) / len(res.frames):.1f} % of the pixels on average"
            )
    if len(res.frames) < args.n and not res.cancelled:
        print(
            f"segtool: note: the source ends; {len(res.frames)} of {args.n} frame(s) propagated",
            file=sys.stderr,
        )
    return 130 if res.cancelled else 0
