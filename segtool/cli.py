"""`segtool …` command line. Each subcommand lives in `segtool/commands/<name>.py` with `add_parser` and `run`.

Exit codes (docs/outputs.md "Errors"): 0 complete; 1 partial (a source broke mid-way; what was written is valid);
2 bad usage or input, with a message that names the bad value and what to do.
"""

from __future__ import annotations

import argparse
import errno
import os
import sys
from collections.abc import Sequence
from pathlib import Path

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
    from segtool.base.errors import UserInputError

    try:
        return int(args.run(args) or 0)
    except UserInputError as e:
        print(f"segtool: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("segtool: interrupted", file=sys.stderr)
        return 130
    except OSError as e:
        # The one place for the kind: a path the user gave that the file system refuses (a name longer than
        # it allows, a file where a folder is needed, a read-only place) is bad input wherever it is opened.
        message = os_error_message(e)
        if message is None:
            raise
        print(f"segtool: error: {message}", file=sys.stderr)
        return EXIT_BAD_INPUT


# errno → what to do; only errors about a path the user chose (others stay tracebacks: they are bugs)
_PATH_ERRORS = {
    errno.ENAMETOOLONG: "shorten that name or choose a shorter path (most file systems allow 255 bytes per name)",
    errno.ENOTDIR: "a file stands where a folder is needed in that path; move the file or choose another path",
    errno.EEXIST: "a file or folder of that name is in the way; move it or choose another path",
    errno.EISDIR: "that is a folder where a file is needed; give a file name",
    errno.EACCES: "you have no permission there; choose a folder you can write (or read) with the option",
    errno.EPERM: "the operation is not permitted there; choose another folder",
    errno.EROFS: "that place is read-only; choose a writable folder",
    errno.ENOSPC: "the disk is full; free some space or choose another folder",
    errno.EDQUOT: "the disk quota is used up; free some space or choose another folder",
    errno.ENOENT: "check the path (a folder in it does not exist)",
}


def os_error_message(e: OSError) -> str | None:
    """The exit-2 message for an `OSError` about a user's path (naming the path and the fix), else None."""
    fix = _PATH_ERRORS.get(e.errno)
    if fix is None or not e.filename:
        return None
    path = e.filename if isinstance(e.filename, str) else repr(e.filename)
    extra = f" (and {e.filename2!r})" if getattr(e, "filename2", None) else ""
    if e.errno == errno.ENAMETOOLONG:
        longest = max((len(os.fsencode(part)) for part in Path(path).parts), default=0)
        return f"cannot use {path!r}{extra}: a name in it is too long ({longest} bytes); {fix}"
    return f"cannot use {path!r}{extra}: {e.strerror or e}; {fix}"
