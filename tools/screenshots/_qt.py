"""What the screenshot scripts share: a window with its own settings file, and running the Qt event loop
until the window shows what they wait for."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QEventLoop, QTimer


def run_until(cond: Callable[[], object], timeout_s: float) -> bool:
    """Run the event loop until `cond()` holds (a real loop, not a processEvents() spin)."""
    loop, poll, t0 = QEventLoop(), QTimer(interval=50), time.perf_counter()
    poll.timeout.connect(lambda: (cond() or time.perf_counter() - t0 > timeout_s) and loop.quit())
    poll.start()
    if not cond():
        loop.exec()
    poll.stop()
    return bool(cond())


def open_window(settings_dir: Path, size: str, opacity: int):
    """A shown MainWindow at `size` ("WxH") in the top-left corner, its settings in `settings_dir` (never
    the user's), the overlay at `opacity` %."""
    from segtool.gui.main_window import MainWindow
    from segtool.gui.settings import AppSettings, ini_settings

    win = MainWindow(AppSettings(ini_settings(settings_dir / "settings.ini")))
    w, h = (int(v) for v in size.split("x"))
    win.resize(w, h)
    win.move(0, 0)
    win.show()
    win.panel.opacity.setValue(opacity)
    return win
