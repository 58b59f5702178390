"""What the screenshot scripts share: running the Qt event loop until the window shows what they wait for."""

from __future__ import annotations

import time
from collections.abc import Callable

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
