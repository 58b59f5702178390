"""Label mode's optional SAM click (issue 21) with real mouse and key events, on a tiny generated SAM-layout
encoder/decoder pair (tests/sam_tiny.py, exported by torch here; nothing downloaded): one click paints the
object under it with the chosen class, one undo step, saved pixels asserted."""

from __future__ import annotations

import numpy as np
from PIL import Image
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest

from segtool.core.label_edit import UNKNOWN
from segtool.core.labelset import LabelSet
from tests.gui.helpers import load
from tests.sam_tiny import export_tiny_sam


def vp_point(win, x: float, y: float) -> QPoint:
    return win.canvas.mapFromScene(x + 0.5, y + 0.5)


def test_sam_click_paints_the_object(qtbot, window, tmp_path):
    h, w = 120, 200
    rgb = np.full((h, w, 3), 40, np.uint8)
    rgb[30:90, 110:180] = 220  # a bright block
    block = np.zeros((h, w), bool)
    block[30:90, 110:180] = True
    Image.fromarray(rgb).save(tmp_path / "block.png")
    enc, dec = export_tiny_sam(tmp_path)
    load(qtbot, window, None, tmp_path / "block.png")
    window.resize(1000, 760)
    window.canvas.fit()
    hub = window.labels
    hub.new_label_set(tmp_path / "labels", ["background", "rock"])
    hub.set_active(True)
    qtbot.waitUntil(lambda: hub.editor is not None, timeout=10000)
    QTest.keyClick(window.canvas, Qt.Key.Key_A)
    assert hub.tool == "sam"
    vp = window.canvas.viewport()
    QTest.mouseClick(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, vp_point(window, 140, 60))
    assert not (hub.editor.mask == 1).any()  # no SAM files yet: nothing painted (the status bar says why)
    assert hub.sam.load(str(enc), str(dec))
    QTest.keyClick(window.canvas, Qt.Key.Key_2)  # rock
    QTest.mouseClick(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, vp_point(window, 140, 60))
    qtbot.waitUntil(lambda: (hub.editor.mask == 1).any(), timeout=30000)
    QTest.keyClick(window, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    ls = LabelSet.open(tmp_path / "labels")
    m = ls.load_mask(ls.frames[0].stem)
    got = m == 1
    assert (got & block).sum() / (got | block).sum() > 0.8
    assert (m[~got] == UNKNOWN).all()
    QTest.keyClick(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)  # one undo step
    assert not (hub.editor.mask == 1).any()
