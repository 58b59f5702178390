"""`segtool suggest SOURCE -c CKPT -n N -o DIR`: the N frames most worth labelling, by the model's uncertainty."""

from __future__ import annotations

import argparse
import sys


def add_parser(sub) -> None:
    p = sub.add_parser(
        "suggest",
        help="pick the frames most worth labelling (model uncertainty, spread over the footage)",
        description="Run the model over every k-th frame of SOURCE, score each frame by how unsure the model is, "
        "and save the N most useful frames (uncertain, and apart in time and content) as DIR/<stem>_<frame>.png "
        "with DIR/suggestions.csv (rank, frame, pts_s, score, uncertain_share). See docs/labelling.md.",
        epilog="Exit codes: 0 done; 2 bad usage or input; 130 interrupted.",
    )
    p.add_argument("source", help="video file, image folder or image")
    p.add_argument("-c", "--checkpoint", required=True, help="segtool checkpoint (.pt), exported model (.onnx) or shipped model (rock_fragments, demo_rocks)")
    p.add_argument("-n", type=int, default=10, help="how many frames to suggest (default 10)")
    p.add_argument("-o", "--output", required=True, help="folder for the frames and suggestions.csv")
    p.add_argument("--every", type=int, default=5, help="score every k-th frame (default 5)")
    p.add_argument("--min-gap", type=int, help="fewest frames between two suggestions (default: span / 2N)")
    p.add_argument("--threshold", type=float, default=0.6,
                   help="a pixel is uncertain when its winning class probability is below this (default 0.6)")
    p.add_argument("--device", default="auto", help="auto (cuda > mps > cpu), cpu, cuda, cuda:N, mps")
    p.add_argument("--threads", type=int, help="CPU threads for the model (default: all cores but one)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from models.errors import UserInputError
    from segtool.core.engine import Engine
    from segtool.core.sources import open_source
    from segtool.core.suggest import pick_diverse, score_frames, write_suggestions

    if args.n < 1:
        raise UserInputError(f"-n {args.n}: ask for 1 or more frames")
    if args.every < 1:
        raise UserInputError(f"--every {args.every}: use 1 or more (every k-th frame is scored)")
    if args.min_gap is not None and args.min_gap < 0:
        raise UserInputError(f"--min-gap {args.min_gap}: use 0 or more frames")
    _check_output(args.output)
    engine = Engine(args.checkpoint, device=args.device, threads=args.threads)
    with open_source(args.source) as source:
        if source.is_live:
            raise UserInputError(f"{args.source} is a live source; suggest needs a video file, a folder or an image")
        n = source.frames_expected
        total = None if n is None else len(range(0, n, args.every))
        with tqdm(total=total, unit="frame", disable=args.quiet, desc="scoring", dynamic_ncols=True) as bar:
            scores = score_frames(source, engine, every=args.every, threshold=args.threshold,
                                  progress=lambda p: bar.update(1))  # fmt: skip
        picks = pick_diverse(scores, args.n, min_gap=args.min_gap)
        write_suggestions(source, picks, args.output)
    if len(picks) < args.n:
        print(f"segtool: note: only {len(scores)} frame(s) were scored, so {len(picks)} suggested "
              "(lower --every for more)", file=sys.stderr)  # fmt: skip
    print(f"done: {len(picks)} frame(s) suggested from {len(scores)} scored -> {args.output}")
    for rank, p in enumerate(picks[:10], 1):
        print(f"  {rank:2d}. frame {p.index:6d}  score {p.score:.3f}  uncertain {100 * p.uncertain_share:.1f} %")
    return 0


def _check_output(output: str) -> None:
    """-o must be a folder or not exist yet (a file there is the user's: never replaced)."""
    from pathlib import Path

    from models.errors import UserInputError

    if Path(output).exists() and not Path(output).is_dir():
        raise UserInputError(f"-o {output!r} is a file; give a folder for the frames and suggestions.csv (it is created when missing)")
