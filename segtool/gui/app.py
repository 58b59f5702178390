"""Start the desktop app: `segtool`, `segtool gui [SOURCE] [-c CKPT]`, `python run_gui.py`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from PySide6.QtWidgets import QApplication

from segtool import __version__
from segtool.gui.main_window import MainWindow


def main(argv: Sequence[str] | None = None) -> int:
    """Open the main window (optionally with a checkpoint) and run the Qt event loop."""
    parser = argparse.ArgumentParser(prog="segtool gui")
    parser.add_argument("source", nargs="?")
    parser.add_argument("-c", "--checkpoint")
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("segtool")
    app.setApplicationVersion(__version__)
    window = MainWindow()
    if args.checkpoint:
        window.open_checkpoint(args.checkpoint)
    if args.source:
        window.statusBar().showMessage(
            f"Opening sources ({args.source}) arrives with the live viewer; this build shows checkpoints only.", 10000
        )
    window.show()
    return app.exec()
