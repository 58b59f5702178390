"""GUI tests: every test here is marked `gui`; a test that leaves a QThread running fails."""

from __future__ import annotations

import pytest

from segtool.models.checkpoint import load_checkpoint
from tests.gui.label_support import labelling  # noqa: F401 (a fixture, for every GUI test module)
from tests.gui.wizard_support import runs_env, tiny, wizard  # noqa: F401 (fixtures; runs_env is autouse)
from tests.helpers import make_small_checkpoint


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/gui/" in str(item.fspath).replace("\\", "/"):
            item.add_marker(pytest.mark.gui)


@pytest.fixture(autouse=True)
def no_dangling_qthreads(qapp):
    """Fail any test that leaves a QThread running (napari's `_dangling_qthreads` idea)."""
    from PySide6.QtCore import QThread

    yield
    qapp.processEvents()
    running = [t for t in qapp.findChildren(QThread) if t.isRunning()]
    for w in qapp.topLevelWidgets():
        running += [t for t in w.findChildren(QThread) if t.isRunning()]
    assert not running, f"test left {len(running)} QThread(s) running"


@pytest.fixture(autouse=True)
def gui_thread_gc(qapp):
    """Garbage collected on the GUI thread in every GUI test, as the app does while its window is open
    (segtool.gui.main_thread_gc): also tests that build a dialog or the wizard without a main window run
    worker threads, and a collection on one of those could destroy Qt objects there and deadlock."""
    from segtool.gui.main_thread_gc import MainThreadGC

    guard = MainThreadGC()
    yield guard
    guard.release()


@pytest.fixture(scope="session")
def gui_checkpoint(tmp_path_factory):
    """A real tiny 2-class mobilenet_v3_large checkpoint at a 64-px short side: real inference, a few ms a frame."""
    train = {
        "dataset": "gui-test",
        "metrics": {"miou": 0.612, "per_class_iou": {"background": 0.9, "rock": 0.55}},
    }
    return make_small_checkpoint(tmp_path_factory.mktemp("gui") / "rocks.pt", resize_short=64, train=train)[0]


@pytest.fixture(scope="session")
def reference_engine(gui_checkpoint):
    """An Engine of the test checkpoint, to recompute what the app should show (same thread count as the
    app's engines: a different OpenMP split changes float sums, and argmax at near-ties with them)."""
    from segtool.core.engine import Engine
    from segtool.gui.workers import app_cpu_threads

    return Engine(load_checkpoint(gui_checkpoint), device="cpu", threads=app_cpu_threads())


@pytest.fixture
def settings(tmp_path):
    """Settings in a temporary file: tests never read or write the user's settings."""
    from segtool.gui.settings import AppSettings, ini_settings

    return AppSettings(ini_settings(tmp_path / "segtool.ini"))


@pytest.fixture
def window(qtbot, settings):
    from segtool.gui.main_window import MainWindow

    win = MainWindow(settings)
    qtbot.addWidget(win)
    win.show()
    yield win
    win.close()
