"""Cyclic garbage holding Qt objects is collected on the GUI thread while a window is open.

The CI deadlock this prevents (py-spy): Python's collector, run by chance in the viewer's worker thread,
destroyed a closed window's Qt objects there; the worker held Qt's connection lock inside
QObject::~QObject and waited for the GIL while the GUI thread held the GIL and waited for that lock.
"""

from __future__ import annotations

import gc
import threading

from PySide6.QtCore import QObject


class Probe(QObject):
    """Records the thread its Python side is finalised on."""

    def __init__(self, seen: list) -> None:
        super().__init__()
        self.seen = seen
        self.me = self  # a reference cycle: only the cyclic collector can free it

    def __del__(self) -> None:
        self.seen.append(threading.current_thread().name)


def _garbage_then_allocate_in_a_worker(seen: list) -> None:
    Probe(seen)  # unreachable at once, kept alive by its cycle
    def churn() -> None:  # enough container allocations to fill generation 0 many times over
        for _ in range(50):
            junk = [[i] for i in range(gc.get_threshold()[0] * 4)]
            del junk
    t = threading.Thread(target=churn, name="worker")
    t.start()
    t.join()


def test_qt_garbage_is_collected_on_the_gui_thread_while_a_window_is_open(qtbot, window):
    assert not gc.isenabled()  # the window holds the collector
    seen: list[str] = []
    _garbage_then_allocate_in_a_worker(seen)
    assert seen == []  # the worker's allocations did not run the collector
    qtbot.waitUntil(lambda: bool(seen), timeout=5000)  # the window's timer did, on this thread
    assert seen == [threading.main_thread().name]


def test_closing_the_last_window_gives_the_collector_back(qtbot, settings):
    from segtool.gui.main_window import MainWindow

    a, b = MainWindow(settings), MainWindow(settings)
    qtbot.addWidget(a)
    qtbot.addWidget(b)
    assert not gc.isenabled()
    a.close()
    assert not gc.isenabled()  # b is still open
    b.close()
    assert gc.isenabled()
