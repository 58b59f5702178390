"""Label-mode fixtures and steps shared by several GUI test modules (test modules never import each other)."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest

from tests.gui.helpers import load


def drag(win, pts, button=Qt.MouseButton.LeftButton):
    vp = win.canvas.viewport()
    QTest.mousePress(vp, button, Qt.KeyboardModifier.NoModifier, vp_point(win, *pts[0]))
    for p in pts[1:]:
        QTest.mouseMove(vp, vp_point(win, *p))
    QTest.mouseRelease(vp, button, Qt.KeyboardModifier.NoModifier, vp_point(win, *pts[-1]))


@pytest.fixture
def labelling(qtbot, window, gui_checkpoint, clip, tmp_path):
    load(qtbot, window, gui_checkpoint, clip)
    window.resize(1000, 760)
    window.canvas.fit()
    hub = window.labels
    hub.new_label_set(tmp_path / "labels")
    hub.set_active(True)
    qtbot.waitUntil(lambda: hub.editor is not None, timeout=10000)
    return window, hub, tmp_path / "labels"


def vp_point(win, x: float, y: float) -> QPoint:
    """Viewport position of image pixel (x, y) at the current zoom."""
    return win.canvas.mapFromScene(x + 0.5, y + 0.5)
