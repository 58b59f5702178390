"""GUI tests: every test here is marked `gui`; a test that leaves a QThread running fails."""

from __future__ import annotations

import pytest


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
