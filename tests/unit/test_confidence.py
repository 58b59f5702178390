"""The model-fit hint: mean confidence on the footage, compared with the model's own reference (its
validation images), or with a generic threshold for a model that records none."""

from __future__ import annotations

import re

import numpy as np

from segtool.core.confidence import LOW, RATIO, ConfidenceMeter, limit_for, rescaled_mean
from segtool.models import confidence as model_confidence

# measured with the shipped models (docs/app.md): the demo model on 40 held-out synthetic pictures, and
# the fragment model on its hold-out (2 gravel photos + 36 conveyor tiles)
DEMO_REF = {"mean": 0.877, "p10": 0.796, "images": 40, "source": "images", "data": "rocks_test"}
FRAG_REF = {"mean": 0.757, "p10": 0.611, "images": 38, "source": "validation", "data": "frag_gc/val"}


def _frame(value: float, num_classes: int = 2) -> np.ndarray:
    """A confidence map whose rescaled mean is `value`."""
    floor = 1.0 / num_classes
    return np.full((16, 16), floor + value * (1 - floor), np.float32)


def test_rescaled_mean_maps_a_coin_flip_to_0_and_certainty_to_1():
    assert rescaled_mean(np.full((8, 8), 0.5, np.float32), 2) == 0.0
    assert rescaled_mean(np.ones((8, 8), np.float32), 2) == 1.0
    assert abs(rescaled_mean(np.full((8, 8), 0.55, np.float32), 11) - 0.505) < 1e-3


def test_core_and_training_share_one_implementation():
    import torch

    assert rescaled_mean is model_confidence.rescaled_mean
    conf = np.random.default_rng(0).uniform(0.5, 1.0, (37, 53)).astype(np.float32)
    assert abs(rescaled_mean(torch.from_numpy(conf), 2) - rescaled_mean(conf, 2)) < 1e-6


def test_meter_without_reference_uses_the_generic_threshold_and_says_so():
    m = ConfidenceMeter(window=3)
    assert m.text() == ""
    for _ in range(5):
        m.add(_frame(0.94), 2)  # the demo model on its own clip
    assert m.limit == LOW and not m.unsure
    assert "0.94 over 3 frames" in m.text()
    assert "generic threshold" in m.text() and "records no confidence of its own" in m.text()
    for _ in range(3):
        m.add(_frame(0.54), 2)  # the same model on a street clip
    assert m.unsure
    assert "unsure" in m.text() and "3 frames" in m.text()
    m.reset()
    assert m.value is None


def test_the_fragment_models_own_gravel_is_no_longer_unsure_but_was_under_the_generic_threshold():
    """The issue: the notice warned on the fragment model's own gravel (0.56-0.59 per photo)."""
    gravel = [0.561, 0.593]
    old, new = ConfidenceMeter(), ConfidenceMeter(reference=FRAG_REF)
    for v in gravel:
        old.add(_frame(v, 3), 3)
        new.add(_frame(v, 3), 3)
    assert old.unsure  # the global 0.7
    assert not new.unsure
    assert abs(new.limit - RATIO * 0.611) < 1e-9
    text = new.text()
    # both numbers: here, and on its validation images
    assert "0.58 over 2 frames, against 0.76 on its 38 validation images" in text, text
    assert "unsure below 0.49, 0.8 × their hardest tenth" in text


def test_demo_model_on_a_street_is_unsure_against_its_own_reference():
    m = ConfidenceMeter(reference=DEMO_REF)
    for v in (0.82, 0.89, 0.95):  # its own clip: lowest, mean, highest frame measured
        m.set_reference(DEMO_REF)
        m.add(_frame(v), 2)
        assert not m.unsure, v
    m.set_reference(DEMO_REF)
    for v in (0.47, 0.54, 0.60):  # a street clip
        m.add(_frame(v), 2)
    assert m.unsure
    text = m.text()
    assert text.startswith("⚠ The model is unsure on this footage: confidence 0.54 over 3 frames here")
    assert "against 0.88 on its 40 reference images (unsure below 0.64, 0.8 × their hardest tenth" in text


def test_set_reference_forgets_the_frames_and_none_falls_back():
    m = ConfidenceMeter(reference=FRAG_REF)
    m.add(_frame(0.5), 2)
    m.set_reference(None)
    assert m.value is None and m.limit == LOW == limit_for(None)


def test_demo_model_is_sure_on_its_clip_and_unsure_on_a_street(shared_data):
    """The real case from the issue: the demo rock model paints 27 % "rock" on a CamVid street clip."""
    from segtool.core.engine import Engine
    from segtool.core.sources import open_source
    from segtool.demo import demo_checkpoint

    engine = Engine(str(demo_checkpoint()), device="cpu")
    street = ConfidenceMeter(reference=DEMO_REF)
    with open_source(str(shared_data / "clips" / "camvid_0016E5_val_15fps.mp4")) as src:
        for i in (0, 40, 80):
            street.add(engine.predict([src.read(i).rgb], confidence=True)[0].confidence, 2)
    assert street.unsure, street.value
    assert street.value < LOW


def test_fragment_model_is_not_unsure_on_its_own_gravel(shared_data):
    """The shipped fragment model on the two gravel photos of its hold-out: unsure under the generic 0.7,
    sure against the reference of its own validation set."""
    from segtool.core.engine import Engine
    from segtool.core.sources import load_image

    photos = sorted((shared_data / "rocks_dense" / "gravel" / "images").glob("*"))
    photos = [p for p in photos if re.match(r"[67]_", p.name)]
    assert len(photos) == 2
    engine = Engine("rock_fragments", device="cpu", runtime="torch")
    own, generic = ConfidenceMeter(reference=FRAG_REF), ConfidenceMeter()
    for p in photos:
        conf = engine.predict_one(load_image(str(p))[..., :3], confidence=True).confidence
        own.add(conf, 3)
        generic.add(conf, 3)
    assert generic.unsure and not own.unsure, own.value
