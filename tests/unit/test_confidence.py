"""The model-fit hint: mean confidence on the footage, low for footage unlike the training pictures."""

from __future__ import annotations

import numpy as np

from segtool.core.confidence import LOW, ConfidenceMeter, rescaled_mean


def test_rescaled_mean_maps_a_coin_flip_to_0_and_certainty_to_1():
    assert rescaled_mean(np.full((8, 8), 0.5, np.float32), 2) == 0.0
    assert rescaled_mean(np.ones((8, 8), np.float32), 2) == 1.0
    assert abs(rescaled_mean(np.full((8, 8), 0.55, np.float32), 11) - 0.505) < 1e-3


def test_meter_says_when_the_model_is_unsure():
    m = ConfidenceMeter(window=3)
    assert m.text() == ""
    for _ in range(5):
        m.add(np.full((16, 16), 0.97, np.float32), 2)  # the demo model on its own clip
    assert m.value > LOW
    assert "confidence 0.94" in m.text().replace("Model confidence on this footage:", "confidence")
    for _ in range(3):
        m.add(np.full((16, 16), 0.77, np.float32), 2)  # the same model on a street clip
    assert m.value < LOW
    assert "unsure" in m.text()
    assert "3 frames" in m.text()
    m.reset()
    assert m.value is None


def test_demo_model_is_sure_on_its_clip_and_unsure_on_a_street(shared_data):
    """The real case from the issue: the demo rock model paints 27 % rock on a CamVid street clip."""
    from segtool.core.engine import Engine
    from segtool.core.sources import open_source
    from segtool.demo import demo_checkpoint

    engine = Engine(str(demo_checkpoint()), device="cpu")
    street = ConfidenceMeter()
    with open_source(str(shared_data / "clips" / "camvid_0016E5_val_15fps.mp4")) as src:
        for i in (0, 40, 80):
            street.add(engine.predict([src.read(i).rgb], confidence=True)[0].confidence, 2)
    assert street.value < LOW, street.value
