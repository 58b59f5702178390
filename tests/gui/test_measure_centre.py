"""The Measure panel with a 4-class model of the learned centre split (issue 20): a real window, a tiny
real checkpoint with rock_centre, and the panel measuring exactly what the shared core function gives."""

from __future__ import annotations

import numpy as np
from PIL import Image

from segtool.core.fragments.analyse import FragmentSettings, FragmentSpec, analyse_prediction
from segtool.gui.measure.panel import fmt_size
from segtool.models import save_checkpoint
from tests.gui.helpers import load
from tests.unit.test_centre_split import _tiny4


def test_measure_panel_splits_a_centre_model_by_centres(qtbot, window, tmp_path):
    ckpt = save_checkpoint(_tiny4(), tmp_path / "centre.pt")
    rng = np.random.default_rng(1)
    img = rng.integers(0, 255, (12, 16, 3), np.uint8).repeat(8, 0).repeat(8, 1)
    Image.fromarray(img).save(tmp_path / "pile.png")
    load(qtbot, window, ckpt, tmp_path / "pile.png", timeout=60000)
    window.measure.set_active(True)
    qtbot.waitUntil(lambda: window.measure.current is not None, timeout=60000)
    hub = window.measure
    assert "centre-seeded watershed" in hub.panel.model_label.text()
    assert "centres 'rock_centre'" in hub.panel.model_label.text()
    assert not hub.panel.settings_box.distance.isEnabled()  # split by its classes, not by distance
    r = window.current
    assert (r.mask == 3).any()
    ck = window.engine_info.checkpoint
    spec = FragmentSpec.from_checkpoint(ck.fragments, list(ck.class_names))
    ref = analyse_prediction(r.mask, r.confidence, spec, hub.settings)
    np.testing.assert_array_equal(hub.current.labels, ref.labels)
    assert ref.labels.max() >= 1
    d = ref.distribution
    text = hub.panel.summary.text()
    if d.fragments:
        assert f"Fragments: {d.fragments}" in text
        assert f"D50: {fmt_size(d.d_by_area['D50'], 'px')}" in text
    assert isinstance(hub.settings, FragmentSettings)
