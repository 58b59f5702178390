"""`segtool …` command line. Each subcommand lives in `segtool/commands/<name>.py` with `add_parser` and `run`.

Exit codes (docs/outputs.md "Errors"): 0 complete; 1 partial (a source broke mid-way; what was written is valid);
2 bad usage or input, with a message that names the bad value and what to do.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from segtool import __version__
from segtool.commands import COMMANDS

EXIT_OK, EXIT_PARTIAL, EXIT_BAD_INPUT = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse exits 2 too; keep its usage line, add our prefix
        self.print_usage(sys.stderr)
        self.exit(EXIT_BAD_INPUT, f"segtool: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="segtool",
        description="Semantic segmentation of images and video with DeepLabV3. "
        "Run without a command to open the desktop app.",
        epilog="Exit codes: 0 complete, 1 partial (source broke mid-way), 2 bad usage or input.",
    )
    parser.add_argument("--version", action="version", version=f"segtool {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for module in COMMANDS:
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `segtool` console script; returns the exit code."""
    args = build_parser().parse_args(argv)
    if args.command is None:
        from segtool.commands import gui

        return gui.run(argparse.Namespace(source=None, checkpoint=None))
    from models.errors import UserInputError

    try:
        return int(args.run(args) or 0)
    except UserInputError as e:
        print(f"segtool: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("segtool: interrupted", file=sys.stderr)
        return 130
