"""Guard against a Qt-binding regression seen in PySide6 6.12.0: every call to a static void method
(QCoreApplication.processEvents, QTimer.singleShot) dropped a reference to None, and after some
thousand calls Python aborted with "Fatal Python error: deallocating None" (the app calls these in loops)."""

from __future__ import annotations

import sys

import pytest


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="None is immortal from Python 3.12 on")
def test_static_qt_calls_keep_none_alive(qapp):
    from PySide6.QtCore import QCoreApplication

    before = sys.getrefcount(None)
    for _ in range(2000):
        QCoreApplication.processEvents()
    assert sys.getrefcount(None) >= before - 50, (
        "the Qt binding leaks references to None; pin another PySide6"
    )
