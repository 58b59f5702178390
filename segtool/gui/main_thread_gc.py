"""Collect Python's cyclic garbage on the GUI thread only.

Python's collector runs in whichever thread happens to allocate when a generation fills up. If that is
a worker thread (the viewer's, an export's) and the garbage holds Qt objects (a closed dialog, a
widget kept in a cycle by a connected lambda), their C++ destructors run on that worker: Qt objects
destroyed off their thread, and a real deadlock seen in this project's CI: the worker, inside
`QObject::~QObject` holding Qt's connection lock, waited for the GIL, while the GUI thread, holding
the GIL, waited for that lock (py-spy stacks in the commit that added this module).

So while a window is open, automatic collection is off and a timer on the GUI thread collects instead,
generation by generation, with the interpreter's own thresholds (the approach of pyqtgraph's
`GarbageCollector`, with a release that switches automatic collection back on when the last window
closes, so code running after it, such as the rest of a test session, is not left without a collector).
"""

from __future__ import annotations

import gc

from PySide6.QtCore import QObject, QTimer

_holders: set[int] = set()  # the live MainThreadGC objects (one per open window)


def _let_go(key: int) -> None:
    if key in _holders:
        _holders.discard(key)
        gc.collect()  # everything left over, here on the GUI thread
        if not _holders:
            gc.enable()


class MainThreadGC(QObject):
    """While alive (until `release`, or until it is destroyed with its window), cyclic garbage is
    collected by a timer on this object's thread instead of wherever the interpreter happens to be."""

    def __init__(self, parent: QObject | None = None, interval_ms: int = 500) -> None:
        super().__init__(parent)
        self.threshold = gc.get_threshold()
        self._key = id(self)
        _holders.add(self._key)
        gc.disable()
        self.timer = QTimer(self)
        self.timer.timeout.connect(self.collect)
        self.timer.start(interval_ms)
        # A window deleted without being closed still gives the collector back.
        self.destroyed.connect(lambda *_, key=self._key: _let_go(key))

    def collect(self) -> None:
        """What the interpreter would have done: the youngest generation when it is over its threshold,
        the older ones when they are too."""
        c0, c1, c2 = gc.get_count()
        t0, t1, t2 = self.threshold
        if c0 > t0:
            gc.collect(0)
            if c1 > t1:
                gc.collect(1)
                if c2 > t2:
                    gc.collect(2)

    def release(self) -> None:
        """Stop the timer, collect everything once (on the GUI thread) and, when no other window holds
        one, switch automatic collection back on."""
        self.timer.stop()
        _let_go(self._key)
