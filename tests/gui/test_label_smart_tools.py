"""Label mode's GrabCut and intelligent scissors (issue 21) with real mouse and key events, on a generated
photo of one round "rock": the saved pixels follow the rock, not the box or the straight lines clicked."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest

from segtool.core.label_edit import UNKNOWN
from segtool.core.labelset import LabelSet
from tests.gui.helpers import load

H, W, CX, CY, R = 360, 480, 240, 180, 90


def vp_point(win, x: float, y: float) -> QPoint:
    return win.canvas.mapFromScene(x + 0.5, y + 0.5)


def _blue_patch() -> np.ndarray:
    """A small blue stone touching the rock's top right, inside a box drawn around the rock."""
    yy, xx = np.mgrid[:H, :W]
    patch = np.zeros((H, W), bool)
    patch[CY - R - 12 : CY - R + 14, CX + 22 : CX + 50] = True
    return patch & ((yy - CY) ** 2 + (xx - CX) ** 2 > R**2)


def _open_photo(qtbot, window, tmp_path, blue: bool = False):
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:H, :W]
    disc = (yy - CY) ** 2 + (xx - CX) ** 2 <= R**2
    rgb = np.empty((H, W, 3), np.uint8)
    rgb[...] = (40, 90, 40)
    rgb[disc] = (200, 120, 60)
    if blue:
        rgb[_blue_patch()] = (60, 60, 200)
    rgb = np.clip(rgb.astype(int) + rng.integers(-20, 21, rgb.shape), 0, 255).astype(np.uint8)
    Image.fromarray(rgb).save(tmp_path / "rock.png")
    load(qtbot, window, None, tmp_path / "rock.png")
    window.resize(1100, 800)
    window.canvas.fit()
    hub = window.labels
    hub.new_label_set(tmp_path / "labels", ["background", "rock"])
    hub.set_active(True)
    qtbot.waitUntil(lambda: hub.editor is not None, timeout=10000)
    QTest.keyClick(window.canvas, Qt.Key.Key_2)  # rock
    return window, hub, disc, tmp_path / "labels"


@pytest.fixture
def rock_photo(qtbot, window, tmp_path):
    return _open_photo(qtbot, window, tmp_path)


def _iou(a, b):
    return (a & b).sum() / (a | b).sum()


def test_grabcut_box_drag_labels_the_rock(qtbot, rock_photo):
    win, hub, disc, root = rock_photo
    QTest.keyClick(win.canvas, Qt.Key.Key_G)
    assert hub.tool == "grabcut"
    vp = win.canvas.viewport()
    QTest.mousePress(
        vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, vp_point(win, CX - R - 15, CY - R - 15)
    )
    QTest.mouseMove(vp, vp_point(win, CX, CY))
    QTest.mouseRelease(
        vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, vp_point(win, CX + R + 15, CY + R + 15)
    )
    qtbot.waitUntil(lambda: (hub.editor.mask == 1).any(), timeout=30000)
    m = hub.editor.mask
    assert _iou(m == 1, disc) > 0.95
    assert (m[~disc] != 1).mean() > 0.99  # the rest stays as it was: unknown
    assert m[5, 5] == UNKNOWN
    QTest.keyClick(win, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    ls = LabelSet.open(root)
    assert np.array_equal(ls.load_mask(ls.frames[0].stem), m)
    QTest.keyClick(win, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)  # one undo step
    assert not (hub.editor.mask == 1).any()


def test_scissors_clicks_snap_to_the_rock_edge(qtbot, rock_photo):
    win, hub, disc, root = rock_photo
    QTest.keyClick(win.canvas, Qt.Key.Key_I)
    assert hub.tool == "scissors"
    vp = win.canvas.viewport()
    for x, y in [(CX + R, CY), (CX, CY + R), (CX - R, CY), (CX, CY - R)]:  # four clicks on the outline
        QTest.mouseClick(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, vp_point(win, x, y))
    QTest.keyClick(win.canvas, Qt.Key.Key_Return)  # close along the edge and fill
    m = hub.editor.mask
    # A polygon through the four clicks would cover 2/pi = 64 % of the rock; the path follows its edge.
    assert _iou(m == 1, disc) > 0.95
    QTest.keyClick(win, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    ls = LabelSet.open(root)
    assert np.array_equal(ls.load_mask(ls.frames[0].stem), m)


def test_grabcut_strokes_inside_the_box_refine_it(qtbot, window, tmp_path):
    win, hub, disc, root = _open_photo(qtbot, window, tmp_path, blue=True)
    patch = _blue_patch()
    QTest.keyClick(win.canvas, Qt.Key.Key_G)
    vp = win.canvas.viewport()
    box = (CX - R - 15, CY - R - 15, CX + R + 15, CY + R + 15)
    QTest.mousePress(
        vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, vp_point(win, box[0], box[1])
    )
    QTest.mouseMove(vp, vp_point(win, CX, CY))
    QTest.mouseRelease(
        vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, vp_point(win, box[2], box[3])
    )
    qtbot.waitUntil(lambda: (hub.editor.mask == 1).any(), timeout=30000)
    hub.smart.wait()
    qtbot.wait(50)
    before = hub.editor.mask == 1
    assert before[patch].mean() > 0.5  # the box alone takes the blue stone for part of the rock
    # Strokes that start on the object found, across the blue stone: "not this" (a few, as a user would).
    ys, xs = np.nonzero(patch)
    x0, x1 = int(xs.min()) + 2, int(xs.max()) - 2
    for n, y in enumerate((int(np.median(ys)), int(ys.min()) + 6, int(ys.max()) - 6), 1):
        QTest.mousePress(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, vp_point(win, x0, y))
        QTest.mouseRelease(
            vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, vp_point(win, x1, y)
        )
        qtbot.waitUntil(
            lambda n=n: (
                hub.smart._gc is not None
                and int((hub.smart._gc["bg"] | hub.smart._gc["fg"]).any(axis=1).sum()) >= 5 * n
            ),
            timeout=30000,
        )
        hub.smart.wait()
        qtbot.wait(50)
        if (hub.editor.mask == 1)[patch].mean() < 0.1:
            break
    assert (hub.editor.mask == 1)[patch].mean() < 0.1
    assert _iou(hub.editor.mask == 1, disc) > 0.9
    QTest.keyClick(win, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    ls = LabelSet.open(root)
    assert np.array_equal(ls.load_mask(ls.frames[0].stem), hub.editor.mask)
    QTest.keyClick(
        win, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier
    )  # the refined object is one undo step
    assert not (hub.editor.mask == 1).any()
