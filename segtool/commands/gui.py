"""`segtool gui [SOURCE] [-c CKPT]`: open the desktop app."""

from __future__ import annotations

import argparse


def add_parser(sub) -> None:
    p = sub.add_parser("gui", help="open the desktop app", description="Open the desktop app.")
    p.add_argument("source", nargs="?", help="image, folder, video file, cam:N or stream URL to open")
    p.add_argument(
        "-c",
        "--checkpoint",
        help="model to load: checkpoint (.pt), exported model (.onnx) or shipped model (rock_fragments, demo_rocks)",
    )
    p.add_argument("--no-demo", action="store_true", help="start empty instead of playing the built-in demo")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from segtool.gui.app import main

    argv = []
    if args.source:
        argv.append(args.source)
    if args.checkpoint:
        argv += ["-c", args.checkpoint]
    if getattr(args, "no_demo", False):
        argv.append("--no-demo")
    return main(argv)
