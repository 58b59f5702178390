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


def _garbage_then_allocate_in_a_worker(seen: list, keep: list) -> None:
    Probe(seen)  # unreachable at once, kept alive by its cycle

    def churn() -> None:  # net container allocations (kept: frees lower the count) filling generation 0
        keep.append([[i] for i in range(gc.get_threshold()[0] * 4)])

    t = threading.Thread(target=churn, name="worker")
    t.start()
    t.join()


def test_qt_garbage_is_collected_on_the_gui_thread_while_a_window_is_open(qtbot, window):
    assert not gc.isenabled()  # the window holds the collector
    seen: list[str] = []
    keep: list = []
    _garbage_then_allocate_in_a_worker(seen, keep)
    assert seen == []  # the worker's allocations did not run the collector
    qtbot.waitUntil(lambda: bool(seen), timeout=5000)  # the window's timer did, on this thread
    assert seen == [threading.main_thread().name]


def test_each_window_holds_the_collector_until_it_closes(qtbot, settings):
    from segtool.gui import main_thread_gc
    from segtool.gui.main_window import MainWindow

    before = len(main_thread_gc._holders)  # this test's own guard (conftest)
    a, b = MainWindow(settings), MainWindow(settings)
    qtbot.addWidget(a)
    qtbot.addWidget(b)
    assert len(main_thread_gc._holders) == before + 2
    assert not gc.isenabled()
    a.close()
    assert len(main_thread_gc._holders) == before + 1
    assert not gc.isenabled()
    b.close()
    assert len(main_thread_gc._holders) == before


def test_the_last_release_switches_automatic_collection_back_on(gui_thread_gc):
    from segtool.gui.main_thread_gc import MainThreadGC

    other = MainThreadGC()
    gui_thread_gc.release()
    assert not gc.isenabled()  # `other` still holds it
    other.release()
    assert gc.isenabled()
    other.release()  # twice is harmless
    assert gc.isenabled()
