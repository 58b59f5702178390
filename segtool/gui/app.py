"""Start the desktop app: `segtool`, `segtool gui [SOURCE] [-c CKPT]`, `python run_gui.py`.

Started with nothing to open, the app plays the built-in synthetic demo (`segtool.gui.demo_banner`):
the shipped demo model on a synthetic rock clip generated into the cache on first use.

`main` shows a window before torch is imported (`segtool.gui.startup`) and checks first that Qt's
platform plugin can load (`segtool.gui.qt_platform`): a missing system library is named with the
package that provides it, instead of Qt's abort.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from segtool import __version__

if TYPE_CHECKING:  # imported on first use: they import torch, which the startup window must not wait for
    from segtool.gui.demo_banner import DemoLauncher
    from segtool.gui.main_window import MainWindow
    from segtool.gui.settings import AppSettings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="segtool gui", description="Open the segtool desktop app.")
    parser.add_argument("source", nargs="?", help="image, folder, video file, cam:N or stream URL")
    parser.add_argument(
        "-c",
        "--checkpoint",
        help="model to load: checkpoint (.pt), exported model (.onnx) or shipped model (rock_fragments, demo_rocks)",
    )
    parser.add_argument(
        "--no-demo", action="store_true", help="start empty instead of playing the built-in demo"
    )
    return parser


def _application():
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("segtool")
    app.setOrganizationName("segtool")
    app.setApplicationVersion(__version__)
    return app


def open_app(argv: Sequence[str] | None = None, settings: AppSettings | None = None):
    """Create the application object and the main window, open what `argv` names (or start the demo),
    and return `(app, window, launcher)` without running the event loop (tests drive it themselves:
    quitting an event loop leaves Qt's quit flag set for the rest of the process)."""
    from segtool.gui.demo_banner import DemoLauncher
    from segtool.gui.main_window import MainWindow

    args = _parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    app = _application()
    window = MainWindow(settings)
    if args.checkpoint:
        window.open_checkpoint(args.checkpoint)
    if args.source:
        window.open_source(args.source)
    window.show()
    launcher = None
    if not (args.source or args.checkpoint or args.no_demo):
        launcher = DemoLauncher(window)
        launcher.start()
    return app, window, launcher


def close_app(window: MainWindow, launcher: DemoLauncher | None) -> None:
    """Stop the demo launcher and every worker of the window (also when the loop quit without a close)."""
    if launcher is not None:
        launcher.shutdown()
    window.shutdown()


def main(argv: Sequence[str] | None = None, settings: AppSettings | None = None) -> int:
    """Open the main window (optionally with a source and a checkpoint) and run the Qt event loop.
    With neither, the built-in demo starts (unless `--no-demo`)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    _parser().parse_args(argv)  # --help and usage errors before anything is loaded
    from segtool.gui.qt_platform import platform_problem

    problem = platform_problem()
    if problem:
        print(f"segtool: error: {problem}", file=sys.stderr)
        return 2
    from segtool.gui.settings import AppSettings
    from segtool.gui.startup import ImportWarmer, StartupWindow

    app = _application()
    settings = settings or AppSettings()
    startup = StartupWindow(settings)
    startup.show()
    warmer = ImportWarmer()
    warmer.start()
    warmer.wait()  # the startup window stays on screen and responsive meanwhile
    if startup.closed_by_user:  # closed while loading: the user wants no app
        return 0
    app, window, launcher = open_app(argv, settings)
    startup.hide()
    code = app.exec()
    close_app(window, launcher)
    return code
