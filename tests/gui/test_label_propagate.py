"""Label mode's "Follow the video" (issue 21) on the real clip, with real mouse events: propagate a painted
frame to the next frames (off the GUI thread, with progress), step through them, accept one, correct one,
the "not reviewed" mark surviving save and reopen, and cancel."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest

from segtool.core.label_edit import UNKNOWN
from segtool.core.labelset import LabelSet
from tests.gui.helpers import load


def vp_point(win, x: float, y: float) -> QPoint:
    return win.canvas.mapFromScene(x + 0.5, y + 0.5)


def drag(win, pts):
    vp = win.canvas.viewport()
    QTest.mousePress(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, vp_point(win, *pts[0]))
    for p in pts[1:]:
        QTest.mouseMove(vp, vp_point(win, *p))
    QTest.mouseRelease(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, vp_point(win, *pts[-1]))


def click(button):
    assert button.isVisible(), button.text()
    assert button.isEnabled(), button.text()
    QTest.mouseClick(button, Qt.MouseButton.LeftButton)


@pytest.fixture
def labelling(qtbot, window, gui_checkpoint, clip, tmp_path):
    load(qtbot, window, gui_checkpoint, clip)
    window.resize(1100, 800)
    window.canvas.fit()
    hub = window.labels
    hub.new_label_set(tmp_path / "labels")
    hub.set_active(True)
    qtbot.waitUntil(lambda: hub.editor is not None, timeout=10000)
    hub.dock.raise_()
    return window, hub, tmp_path / "labels"


def paint_frame(win, hub):
    """Rock painted over a big block of the road, background around it (real strokes)."""
    hub.panel.brush.setValue(20)
    QTest.keyClick(win.canvas, Qt.Key.Key_2)  # rock
    for y in range(200, 300, 30):
        drag(win, [(150, y), (250, y), (330, y)])
    QTest.keyClick(win.canvas, Qt.Key.Key_1)  # background
    drag(win, [(60, 60), (200, 60), (400, 60)])


def test_propagate_step_accept_correct_and_reopen(qtbot, labelling):
    win, hub, root = labelling
    prop = hub.propagation
    paint_frame(win, hub)
    start = hub.editor.mask.copy()
    assert (start == 1).sum() > 5000
    prop.box.n.setValue(3)
    click(prop.box.start_btn)
    assert prop.running
    assert prop.box.progress.isVisible()
    assert prop.box.cancel_btn.isVisible()
    qtbot.waitUntil(lambda: not prop.running, timeout=60000)
    assert prop.box.progress.value() == 3
    assert not prop.box.progress.isVisible()
    ls = LabelSet.open(root)
    by_frame = {f.frame: f for f in ls.frames}
    assert sorted(by_frame) == [0, 1, 2, 3]
    assert by_frame[0].reviewed
    assert by_frame[0].propagated_from is None
    assert [f.frame for f in ls.unreviewed()] == [1, 2, 3]
    for i in (1, 2, 3):
        m = ls.load_mask(by_frame[i].stem)
        assert by_frame[i].propagated_from == by_frame[0].stem
        # the rock block followed the (slowly moving) road: mostly still rock where it was painted
        assert (m[start == 1] == 1).mean() > 0.6
        assert (m == 1).sum() > 0.6 * (start == 1).sum()
        assert set(np.unique(m).tolist()) <= {0, 1, UNKNOWN}
    assert "3 of 3 frame(s) propagated" in prop.last_message
    assert (ls.load_mask(by_frame[3].stem) == UNKNOWN).any()  # what the flow cannot follow stays unknown

    click(prop.box.next_btn)  # step to frame 1
    qtbot.waitUntil(
        lambda: hub.result is not None and hub.result.index == 1 and hub.editor is not None, timeout=10000
    )
    assert "not reviewed" in prop.box.review.text()
    assert np.array_equal(hub.editor.mask, ls.load_mask(by_frame[1].stem))  # the propagated labels are shown
    click(prop.box.accept_btn)  # accept as is → mark cleared, on to frame 2
    qtbot.waitUntil(lambda: hub.result.index == 2 and hub.editor is not None, timeout=10000)
    assert "not reviewed" in prop.box.review.text()
    QTest.keyClick(win.canvas, Qt.Key.Key_1)
    hub.panel.brush.setValue(6)
    drag(win, [(200, 250), (260, 250)])  # correct: some propagated rock is background
    assert hub.editor.dirty
    assert hub.editor.mask[250, 230] == 0
    corrected = hub.editor.mask.copy()
    click(prop.box.accept_btn)  # saves the correction (which marks it reviewed), on to frame 3
    qtbot.waitUntil(lambda: hub.result.index == 3, timeout=10000)

    again = LabelSet.open(root)
    assert [f.frame for f in again.unreviewed()] == [3]  # survives reopening the folder
    f2 = {f.frame: f for f in again.frames}[2]
    assert f2.reviewed
    assert f2.propagated_from == by_frame[0].stem
    assert np.array_equal(again.load_mask(f2.stem), corrected)

    # Reopen the set in the app: frame 3 still says "not reviewed"; frame 1 says reviewed.
    hub.open_label_set(root)
    qtbot.waitUntil(lambda: hub.editor is not None and hub.key is not None, timeout=10000)
    assert "not reviewed" in prop.box.review.text()
    assert "1 propagated frame(s) to review" in prop.box.review.text()
    win.seek(1)
    qtbot.waitUntil(lambda: hub.result.index == 1 and hub.editor is not None, timeout=10000)
    assert "reviewed" in prop.box.review.text()
    assert "not reviewed" not in prop.box.review.text()


def test_propagation_never_overwrites_the_users_frames(qtbot, labelling):
    win, hub, root = labelling
    prop = hub.propagation
    win.seek(2)
    qtbot.waitUntil(
        lambda: hub.result is not None and hub.result.index == 2 and hub.editor is not None, timeout=10000
    )
    paint_frame(win, hub)
    mine = hub.editor.mask.copy()
    assert hub.save()
    win.seek(0)
    qtbot.waitUntil(lambda: hub.result.index == 0 and hub.editor is not None, timeout=10000)
    paint_frame(win, hub)
    prop.box.n.setValue(5)
    click(prop.box.start_btn)
    qtbot.waitUntil(lambda: not prop.running, timeout=60000)
    ls = LabelSet.open(root)
    assert sorted(f.frame for f in ls.unreviewed()) == [1]  # stopped before frame 2
    assert np.array_equal(ls.load_mask(ls.find(str(win.source.spec), 2).stem), mine)
    assert "stopped before frame 2" in prop.last_message


def test_cancel_stops_and_keeps_what_was_saved(qtbot, labelling):
    win, hub, root = labelling
    prop = hub.propagation
    paint_frame(win, hub)
    prop.box.n.setValue(60)
    click(prop.box.start_btn)
    qtbot.waitUntil(lambda: prop.box.progress.value() >= 1, timeout=60000)
    click(prop.box.cancel_btn)
    qtbot.waitUntil(lambda: not prop.running, timeout=60000)
    assert "(cancelled)" in prop.last_message
    assert prop.box.start_btn.isEnabled()
    ls = LabelSet.open(root)
    done = sorted(f.frame for f in ls.unreviewed())
    assert 1 <= len(done) < 60
    assert done == list(range(1, len(done) + 1))
    for f in ls.unreviewed():
        assert ls.load_mask(f.stem).shape == win.current.rgb.shape[:2]  # every saved frame is whole


def test_propagate_backward_to_the_previous_frames(qtbot, labelling):
    win, hub, root = labelling
    prop = hub.propagation
    win.seek(3)
    qtbot.waitUntil(
        lambda: hub.result is not None and hub.result.index == 3 and hub.editor is not None, timeout=10000
    )
    paint_frame(win, hub)
    QTest.mouseClick(prop.box.backward, Qt.MouseButton.LeftButton)
    assert prop.box.backward.isChecked()
    assert "previous" in prop.box.start_btn.text()
    prop.box.n.setValue(10)
    click(prop.box.start_btn)
    qtbot.waitUntil(lambda: not prop.running, timeout=60000)
    ls = LabelSet.open(root)
    assert sorted(f.frame for f in ls.unreviewed()) == [0, 1, 2]  # clipped at the start of the video
    assert "3 of 3 frame(s) propagated" in prop.last_message


def test_model_fills_what_the_flow_left_unknown(qtbot, labelling):
    win, hub, root = labelling
    prop = hub.propagation
    paint_frame(win, hub)
    QTest.mouseClick(prop.box.fill, Qt.MouseButton.LeftButton)
    prop.box.fill_min.setValue(
        0.0
    )  # any confidence: every pixel the flow left unknown gets the model's class
    prop.box.n.setValue(2)
    click(prop.box.start_btn)
    qtbot.waitUntil(lambda: not prop.running, timeout=60000)
    ls = LabelSet.open(root)
    assert [f.frame for f in ls.unreviewed()] == [1, 2]
    for f in ls.unreviewed():
        assert (ls.load_mask(f.stem) != UNKNOWN).all()
