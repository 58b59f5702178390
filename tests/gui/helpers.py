"""Helpers shared by the GUI tests (not fixtures; those are in conftest.py)."""

from __future__ import annotations

import numpy as np


def load(qtbot, win, ckpt=None, source=None, timeout=20000):
    """Open a checkpoint and/or source and wait until a frame with its mask is on screen."""
    if ckpt is not None:
        with qtbot.waitSignal(win.worker.engineReady, timeout=timeout):
            win.open_checkpoint(ckpt)
    if source is not None:
        win.open_source(source)
        qtbot.waitUntil(
            lambda: win.current is not None and (ckpt is None or win.current.mask is not None),
            timeout=timeout,
        )


def wait_for_progress(qtbot, signal, timeout=30000) -> None:
    """Wait until a worker thread's frequent progress signal has been delivered once more.

    Not `qtbot.waitSignal`: with a signal queued many times a second from another thread, a delivery
    already queued when the blocker disconnects reached a freed blocker's method (PySide6) and failed
    the test with an AttributeError inside pytest-qt. A plain list kept alive by the connection is safe.
    """
    seen: list = []
    signal.connect(lambda *args: seen.append(args))
    qtbot.waitUntil(lambda: bool(seen), timeout=timeout)


def nearest_frame(rgb: np.ndarray, truth: list[np.ndarray]) -> int:
    """Index of the ground-truth frame closest to `rgb` (the clip is lossy H.264, so not equal)."""
    a = rgb.astype(np.int16)
    return int(np.argmin([np.abs(a - t).mean() for t in truth]))
