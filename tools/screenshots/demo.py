"""Save a picture of the app playing the built-in demo at one frame (paused there) — docs/images/demo.png:

    xvfb-run -s "-screen 0 1600x1000x24" python tools/screenshots/demo.py docs/images/demo.png

Settings go to a temporary file, so the user's own are neither used nor changed.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from _qt import run_until
from PySide6.QtWidgets import QApplication

from segtool.gui.demo_banner import DemoLauncher
from segtool.gui.main_window import MainWindow
from segtool.gui.settings import AppSettings, ini_settings


def screenshot(out: str, frame: int = 120, size: tuple[int, int] = (1400, 860)) -> int:
    _app = QApplication.instance() or QApplication(sys.argv[:1])  # referenced until the window is closed
    win = MainWindow(AppSettings(ini_settings(Path(tempfile.mkdtemp(prefix="segtool_shot_")) / "s.ini")))
    win.resize(*size)
    win.move(0, 0)
    win.show()
    launcher = DemoLauncher(win)
    launcher.start()
    ok = run_until(lambda: launcher.started and win.current is not None and win.current.mask is not None, 300)
    if ok:
        win.toggle_play()  # pause, then show the chosen frame exactly
        win.seek(frame)
        ok = run_until(
            lambda: win.current.index == frame and win.current.mask is not None and not win.playing, 60
        )
    run_until(lambda: False, 0.5)
    pix = win.grab()
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    saved = ok and pix.save(out)
    launcher.shutdown()
    win.close()
    print(
        f"saved {out} ({pix.width()}x{pix.height()})" if saved else f"could not save {out}: {win.last_error}"
    )
    return 0 if saved else 1


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Save a screenshot of the app playing the built-in demo.")
    ap.add_argument("out", help="PNG file to write")
    ap.add_argument("--frame", type=int, default=120)
    args = ap.parse_args(argv)
    return screenshot(args.out, args.frame)


if __name__ == "__main__":
    raise SystemExit(main())
