"""Label mode for a fragment model (issue 19), with real mouse and key events: rock_edge is not offered, a
polygon of rock or an outline is one fragment, and the saved label set holds the fragment ids beside the
class mask."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest

from segtool.core.label_edit import UNKNOWN
from segtool.core.labelset import LabelSet
from tests.gui.helpers import load
from tests.helpers import make_fragment_checkpoint


def vp_point(win, x: float, y: float) -> QPoint:
    return win.canvas.mapFromScene(x + 0.5, y + 0.5)


def click_polygon(win, pts) -> None:
    vp = win.canvas.viewport()
    for x, y in pts:
        QTest.mouseClick(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, vp_point(win, x, y))
    QTest.keyClick(win.canvas, Qt.Key.Key_Return)


@pytest.fixture
def fragment_labelling(qtbot, window, tmp_path):
    ckpt = make_fragment_checkpoint(tmp_path / "frag.pt", resize_short=64)
    rng = np.random.default_rng(0)
    photo = rng.integers(0, 90, (240, 320, 3), np.uint8)
    photo[40:120, 40:140] += 120
    photo[40:120, 140:240] += 100
    Image.fromarray(photo).save(tmp_path / "pile.png")
    load(qtbot, window, ckpt, str(tmp_path / "pile.png"))
    window.resize(1000, 760)
    window.canvas.fit()
    hub = window.labels
    hub.new_label_set(tmp_path / "labels")
    hub.set_active(True)
    qtbot.waitUntil(lambda: hub.editor is not None, timeout=10000)
    return window, hub, tmp_path / "labels"


def test_fragments_are_labelled_as_instances_and_rock_edge_is_not_offered(qtbot, fragment_labelling):
    win, hub, root = fragment_labelling
    rows = [hub.panel.classes.item(r).text() for r in range(hub.panel.classes.count())]
    assert [r.split()[-1] for r in rows] == ["background", "rock"]  # no rock_edge to paint
    assert hub.panel.class_note.isVisible()
    assert "rock_edge" in hub.panel.class_note.text()
    QTest.keyClick(win.canvas, Qt.Key.Key_3)  # no third row: the class stays what it was
    assert hub.cls == 1
    QTest.keyClick(win.canvas, Qt.Key.Key_2)  # rock
    QTest.keyClick(win.canvas, Qt.Key.Key_P)  # a polygon of rock fills one fragment
    click_polygon(win, [(40, 40), (139, 40), (139, 119), (40, 119)])
    QTest.keyClick(win.canvas, Qt.Key.Key_1)  # background chosen, but an outline is always a fragment
    QTest.keyClick(win.canvas, Qt.Key.Key_O)
    click_polygon(win, [(140, 40), (239, 40), (239, 119), (140, 119)])
    QTest.keyClick(win.canvas, Qt.Key.Key_P)  # background polygon below both
    click_polygon(win, [(30, 150), (280, 150), (280, 220), (30, 220)])
    QTest.keyClick(win, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    assert not hub.editor.dirty
    ls = LabelSet.open(root)
    assert ls.fragments == {"interior": "rock", "edge": "rock_edge"}
    assert json.loads((root / "manifest.json").read_text())["fragments"]["edge"] == "rock_edge"
    stem = ls.frames[0].stem
    inst, mask = ls.load_instances(stem), ls.load_mask(stem)
    assert inst is not None
    assert inst.dtype == np.uint16
    assert inst[80, 90] == 1
    assert inst[80, 190] == 2
    assert inst[180, 150] == 0
    assert inst[10, 10] == 0
    assert set(np.unique(inst).tolist()) == {0, 1, 2}
    assert mask[80, 90] == 1
    assert mask[80, 190] == 1
    assert mask[180, 150] == 0
    assert mask[10, 10] == UNKNOWN
    assert not (mask == 2).any()  # rock_edge is never painted
    assert ((inst > 0) == (mask == 1)).all()


def test_painting_background_over_a_fragment_removes_it_from_the_saved_instances(qtbot, fragment_labelling):
    win, hub, root = fragment_labelling
    QTest.keyClick(win.canvas, Qt.Key.Key_O)
    click_polygon(win, [(40, 40), (139, 40), (139, 119), (40, 119)])
    QTest.keyClick(win.canvas, Qt.Key.Key_1)
    QTest.keyClick(win.canvas, Qt.Key.Key_B)
    hub.panel.brush.setValue(5)
    vp = win.canvas.viewport()
    QTest.mousePress(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, vp_point(win, 60, 80))
    QTest.mouseMove(vp, vp_point(win, 120, 80))
    QTest.mouseRelease(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, vp_point(win, 120, 80))
    hub.save()
    ls = LabelSet.open(root)
    inst, mask = ls.load_instances(ls.frames[0].stem), ls.load_mask(ls.frames[0].stem)
    assert mask[80, 90] == 0
    assert inst[80, 90] == 0
    assert inst[50, 90] == 1


def test_wizard_data_page_accepts_a_fragment_scribble_set_without_edge_pixels(qtbot, tmp_path, monkeypatch):
    """Scribbles on a fragment model's set (no outline yet): nothing asks to paint rock_edge."""
    from PySide6.QtTest import QTest as _QTest

    from segtool.gui.wizard import TrainingWizard

    monkeypatch.setenv("SEGTOOL_RUNS", str(tmp_path / "runs"))
    ls = LabelSet.create(
        tmp_path / "L",
        [
            {"name": "background", "color": [0, 0, 0]},
            {"name": "rock", "color": [200, 120, 60]},
            {"name": "rock_edge", "color": [255, 230, 0]},
        ],
        fragments={"interior": "rock", "edge": "rock_edge"},
    )
    rng = np.random.default_rng(0)
    for i in range(5):
        mask = np.full((64, 64), UNKNOWN, np.uint8)
        mask[10:20, 10:40] = 1
        mask[45:55, 5:60] = 0
        ls.save(rng.integers(0, 255, (64, 64, 3), np.uint8), mask, source=f"p{i}.jpg")
    wiz = TrainingWizard(None, tmp_path / "runs")
    qtbot.addWidget(wiz)
    wiz.show()
    try:
        page = wiz.data_page
        page.set_path(tmp_path / "L", None)
        for _ in range(3000):  # QTest.qWait, not qtbot.waitUntil (see tests/gui/test_wizard.py's wait_until)
            if page.check is not None:
                break
            _QTest.qWait(20)
        assert page.isComplete(), page.problems.text()
        assert "rock_edge" not in page.problems.text()
        assert page.classes.item(2, 0).text() == "rock_edge"
        assert page.classes.item(2, 2).text() == "none — drawn along outlined fragments"
        assert page.classes.item(1, 2).text().endswith("%")
    finally:
        wiz.shutdown()
        wiz.close()


def test_start_from_the_prediction_of_the_shipped_fragment_model_gives_its_fragments(
    qtbot, window, tmp_path, shared_data
):
    """Correcting the shipped model: its prediction comes in as fragments (instances), cut as the Measure
    panel cuts it, with no rock_edge pixel in the mask; undo takes them away again."""
    from pathlib import Path

    from segtool.core.fragments import FragmentSpec
    from segtool.core.fragments.split import split_classes
    from segtool.training.data import open_dataset

    repo = Path(__file__).resolve().parents[2]
    photo = shared_data / "rocks_dense" / "gravel" / "images" / "1_P1060330_1.jpg"
    load(qtbot, window, repo / "assets" / "rock_fragments.pt", str(photo))
    hub = window.labels
    hub.new_label_set(tmp_path / "labels")
    hub.set_active(True)
    qtbot.waitUntil(lambda: hub.editor is not None and window.current.confidence is not None, timeout=20000)
    hub.panel.threshold.setValue(0.0)
    hub.panel.from_pred_btn.click()
    pred = window.current.mask
    inst, mask = hub.editor.instances, hub.editor.mask
    info = window.engine_info
    spec = FragmentSpec.from_checkpoint(info.checkpoint.fragments, info.class_names)
    expect = split_classes(pred, spec.interior_id, spec.edge_id, centre_id=spec.centre_id)
    assert inst is not None
    assert len(np.unique(inst[inst > 0])) == len(np.unique(expect[expect > 0])) > 5
    assert not (mask == 2).any()
    assert (mask[inst > 0] == 1).all()
    assert ((mask == 1) == (inst > 0)).all()
    hub.save()
    data = open_dataset(tmp_path / "labels", val_fraction=0.0)
    trained_on = data.load_mask(data.samples[0])
    assert (trained_on == 2).sum() > 0.5 * (pred == 2).sum()  # the edge band comes back along the fragments
    hub.undo()
    assert not hub.editor.instances.any()
    assert (hub.editor.mask == UNKNOWN).all()


def test_a_fragment_model_starts_label_mode_with_grabcut_and_its_object_is_a_fragment(
    qtbot, fragment_labelling
):
    # The default for fragment models is the best tool of the simulated annotator (docs/benchmarks.md).
    win, hub, root = fragment_labelling
    assert hub.tool == "grabcut"
    assert hub.panel.tool_buttons["grabcut"].isChecked()
    QTest.keyClick(win.canvas, Qt.Key.Key_2)  # rock
    vp = win.canvas.viewport()
    QTest.mousePress(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, vp_point(win, 30, 30))
    QTest.mouseRelease(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, vp_point(win, 250, 130))
    qtbot.waitUntil(
        lambda: hub.editor.instances is not None and (hub.editor.instances > 0).any(), timeout=30000
    )
    QTest.keyClick(win, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    ls = LabelSet.open(root)
    inst, mask = ls.load_instances(ls.frames[0].stem), ls.load_mask(ls.frames[0].stem)
    assert set(np.unique(inst).tolist()) == {0, 1}
    assert ((inst == 1) == (mask == 1)).all()
    assert inst[80, 90] == 1  # the bright blocks, not the rest
    assert inst[80, 190] == 1
    assert inst[200, 20] == 0
    QTest.keyClick(win.canvas, Qt.Key.Key_B)  # the user's choice is kept when label mode is entered again
    hub.set_active(False)
    hub.set_active(True)
    assert hub.tool == "brush"
