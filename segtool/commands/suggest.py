"""`segtool suggest SOURCE -c CKPT -n N -o DIR`: the N frames most worth labelling, by the model's uncertainty."""

from __future__ import annotations

import argparse
import sys


def add_parser(sub) -> None:
    p = sub.add_parser(
        "suggest",
        help="pick the frames most worth labelling (uncertain, and different from each other)",
        description="Run the model over every k-th frame of SOURCE, score each frame by how unsure the model is, "
        "and save N frames worth labelling (chosen by --strategy; by default the most uncertain frame of each of N "
        "groups of look-alike frames) as DIR/<stem>_<frame>.png "
        "with DIR/suggestions.csv (rank, frame, pts_s, score, uncertain_share, priority: the ranking key). "
        "The app's Suggest frames gives the same frames for the same video and model. See docs/labelling.md.",
        epilog="Exit codes: 0 done; 2 bad usage or input; 130 interrupted.",
    )
    p.add_argument("source", help="video file, image folder or image")
    p.add_argument(
        "-c",
        "--checkpoint",
        required=True,
        help="segtool checkpoint (.pt), exported model (.onnx) or shipped model (rock_fragments, demo_rocks)",
    )
    p.add_argument("-n", type=int, default=10, help="how many frames to suggest (default 10)")
    p.add_argument("-o", "--output", required=True, help="folder for the frames and suggestions.csv")
    p.add_argument(
        "--strategy",
        default=None,
        metavar="NAME",
        help="how the N frames are chosen: random (default: measured, no ranking beat random frames), "
        "cluster (the most uncertain of each group of look-alike frames), spaced, kcenter or uncertain; "
        "see docs/labelling.md",
    )
    p.add_argument(
        "--every",
        type=int,
        default=None,
        help="score every k-th frame (default: about 200 frames over the footage, as the app; 5 when the length is unknown)",
    )
    p.add_argument(
        "--min-gap",
        type=int,
        help="--strategy uncertain only: fewest frames between two suggestions (default: span / 2N)",
    )
    p.add_argument(
        "--threshold",
        type=float,
        default=0.6,
        help="a pixel is uncertain when its winning class probability is below this (default 0.6)",
    )
    p.add_argument("--device", default="auto", help="auto (cuda > mps > cpu), cpu, cuda, cuda:N, mps")
    p.add_argument("--threads", type=int, help="CPU threads for the model (default: all cores but one)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from segtool.base.errors import UserInputError
    from segtool.core.engine import Engine
    from segtool.core.sources import open_source
    from segtool.core.suggest import (
        DEFAULT_STRATEGY,
        check_strategy,
        default_every,
        suggest,
        write_suggestions,
    )

    if args.n < 1:
        raise UserInputError(f"-n {args.n}: ask for 1 or more frames")
    if args.every is not None and args.every < 1:
        raise UserInputError(f"--every {args.every}: use 1 or more (every k-th frame is scored)")
    if args.min_gap is not None and args.min_gap < 0:
        raise UserInputError(f"--min-gap {args.min_gap}: use 0 or more frames")
    _check_output(args.output)
    strategy = args.strategy or DEFAULT_STRATEGY
    check_strategy(strategy)
    if args.min_gap is not None and strategy != "uncertain":
        raise UserInputError(
            f"--min-gap {args.min_gap}: only --strategy uncertain uses it ({strategy} chooses the "
            "frames itself); drop --min-gap or add --strategy uncertain"
        )
    engine = Engine(args.checkpoint, device=args.device, threads=args.threads)
    with open_source(args.source) as source:
        if source.is_live:
            raise UserInputError(
                f"{args.source} is a live source; suggest needs a video file, a folder or an image"
            )
        n = source.frames_expected
        every = args.every or default_every(n)
        total = None if n is None else len(range(0, n, every))
        with tqdm(total=total, unit="frame", disable=args.quiet, desc="scoring", dynamic_ncols=True) as bar:
            scores, picks, _ = suggest(
                source,
                engine,
                args.n,
                strategy=strategy,
                every=every,
                threshold=args.threshold,
                min_gap=args.min_gap,
                progress=lambda p: bar.update(1),
            )
        write_suggestions(source, picks, args.output)
    if len(picks) < args.n:
        print(
            f"segtool: note: only {len(scores)} frame(s) were scored, so {len(picks)} suggested "
            "(lower --every for more)",
            file=sys.stderr,
        )
    print(
        f"done: {len(picks)} frame(s) suggested from {len(scores)} scored (every {every}, strategy {strategy}) "
        f"-> {args.output}"
    )
    for rank, p in enumerate(picks[:10], 1):  # priority is what ranks them: it reads in order
        print(
            f"  {rank:2d}. frame {p.index:6d}  priority {p.priority:.3f} = mean uncertainty {p.score:.3f} "
            f"+ unsure share {p.uncertain_share:.3f}"
        )
    return 0


def _check_output(output: str) -> None:
    """-o must be a folder or not exist yet (a file there is the user's: never replaced)."""
    from pathlib import Path

    from segtool.base.errors import UserInputError

    if Path(output).exists() and not Path(output).is_dir():
        raise UserInputError(
            f"-o {output!r} is a file; give a folder for the frames and suggestions.csv (it is created when missing)"
        )
