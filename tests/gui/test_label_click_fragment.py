"""Label mode's "Click a fragment" (issue 21) with real mouse and key events and the shipped fragment model
(assets/rock_fragments.pt) on a generated photo of rocks: one click labels the fragment the model sees under
the pointer — split as the Measure panel splits it — as one saved instance of the rock class, one undo step."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest

from segtool.core.fragments import FragmentSpec
from segtool.core.fragments.split import split_classes
from segtool.core.label_edit import UNKNOWN
from segtool.core.labelset import LabelSet
from tests.gui.helpers import load

CKPT = Path(__file__).resolve().parents[2] / "assets" / "rock_fragments.pt"
H, W = 240, 320
ROCKS = [(80, 80, 45, (90, 85, 80)), (200, 90, 50, (110, 100, 95)), (140, 180, 40, (70, 70, 75))]


def vp_point(win, x: float, y: float) -> QPoint:
    return win.canvas.mapFromScene(x + 0.5, y + 0.5)


@pytest.fixture
def rocks(qtbot, window, tmp_path):
    rng = np.random.default_rng(0)
    rgb = np.full((H, W, 3), (150, 140, 120), np.uint8)
    yy, xx = np.mgrid[:H, :W]
    for cx, cy, r, c in ROCKS:
        rgb[(yy - cy) ** 2 + (xx - cx) ** 2 <= r * r] = c
    rgb = np.clip(rgb.astype(int) + rng.integers(-15, 16, rgb.shape), 0, 255).astype(np.uint8)
    Image.fromarray(rgb).save(tmp_path / "rocks.png")
    load(qtbot, window, CKPT, str(tmp_path / "rocks.png"), timeout=60000)
    window.resize(1000, 760)
    window.canvas.fit()
    hub = window.labels
    hub.new_label_set(tmp_path / "labels")
    hub.set_active(True)
    qtbot.waitUntil(lambda: hub.editor is not None, timeout=10000)
    return window, hub, tmp_path / "labels"


def test_one_click_labels_the_models_fragment(qtbot, rocks):
    win, hub, root = rocks
    QTest.keyClick(win.canvas, Qt.Key.Key_C)
    assert hub.tool == "fragment"
    qtbot.waitUntil(lambda: hub.result.mask is not None, timeout=30000)
    pred = np.array(hub.result.mask)
    spec = FragmentSpec.from_checkpoint(win.engine_info.checkpoint.fragments, win.engine_info.class_names)
    # the Measure panel's split of the model's prediction
    split = split_classes(pred, spec.interior_id, spec.edge_id, centre_id=spec.centre_id)
    cx, cy, r, _ = ROCKS[0]
    expected = split == split[cy, cx]
    assert split[cy, cx] > 0
    vp = win.canvas.viewport()
    QTest.mouseClick(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, vp_point(win, cx, cy))
    qtbot.waitUntil(
        lambda: hub.editor.instances is not None and (hub.editor.instances > 0).any(), timeout=30000
    )
    QTest.keyClick(win, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    ls = LabelSet.open(root)
    stem = ls.frames[0].stem
    inst, mask = ls.load_instances(stem), ls.load_mask(stem)
    assert np.array_equal(inst == 1, expected)
    assert set(np.unique(inst).tolist()) == {0, 1}
    assert (mask[expected] == 1).all()
    assert (mask[~expected] == UNKNOWN).all()
    yy, xx = np.mgrid[:H, :W]
    disc = (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
    assert (expected & disc).sum() / (expected | disc).sum() > 0.6  # the model's rock is the rock clicked
    # A second click on another rock is a second fragment; undo takes back exactly one click.
    cx2, cy2, _, _ = ROCKS[2]
    QTest.mouseClick(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, vp_point(win, cx2, cy2))
    assert hub.editor.instances[cy2, cx2] == 2
    QTest.keyClick(win, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert hub.editor.instances[cy2, cx2] == 0
    assert np.array_equal(hub.editor.instances == 1, expected)
