"""The inference engine: preprocessing from the checkpoint, masks at frame size, TTA, sliding window, devices."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from segtool.core.engine import Engine, parse_tta
from segtool.core.tiling import plan_tiles
from segtool.models import UserInputError, load_checkpoint
from segtool.models.device import resolve_device, resolve_precision


@pytest.fixture(scope="module")
def native_ckpt(small_checkpoint):
    """The small checkpoint with preprocessing at the frame's own size (no resize)."""
    ck = load_checkpoint(small_checkpoint[0])
    return dataclasses.replace(ck, preprocess=dict(ck.preprocess, resize_short=None))


def _rgb(h, w, seed=0):
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
    img[: h // 2] = img[: h // 2] // 4  # some structure, so classes differ across the image
    return img


def _reference(ck, rgb):
    model = ck.build_model()
    mean = torch.tensor(ck.preprocess["mean"]).view(1, 3, 1, 1)
    std = torch.tensor(ck.preprocess["std"]).view(1, 3, 1, 1)
    x = (torch.from_numpy(rgb).permute(2, 0, 1)[None].float() / 255 - mean) / std
    with torch.no_grad():
        return model(x)["out"].argmax(1)[0].numpy()


def test_mask_matches_a_direct_model_call(native_ckpt):
    rgb = _rgb(96, 128)
    pred = Engine(native_ckpt, device="cpu").predict_one(rgb)
    assert pred.mask.dtype == np.uint8
    assert pred.mask.shape == (96, 128)
    ref = _reference(native_ckpt, rgb)
    assert len(np.unique(ref)) == 2  # both classes occur: the comparison is not trivial
    assert (pred.mask == ref).mean() > 0.999


def test_resize_from_checkpoint_and_output_at_frame_size(small_checkpoint):
    engine = Engine(small_checkpoint[0], device="cpu")
    assert engine.resize_short == 520
    assert engine.network_size(360, 480) == (520, 693)
    frames = [_rgb(90, 120, 1), _rgb(61, 47, 2), _rgb(90, 120, 3)]  # mixed sizes, batched by size
    preds = engine.predict(frames, confidence=True)
    assert [p.mask.shape for p in preds] == [(90, 120), (61, 47), (90, 120)]
    for p in preds:
        assert p.mask.max() < 2
        assert p.confidence.shape == p.mask.shape
        assert 0.5 <= p.confidence.min()
        assert p.confidence.max() <= 1.0
    # a batch gives the same as one at a time
    assert np.array_equal(preds[2].mask, engine.predict_one(frames[2]).mask)


def test_flip_tta_is_flip_equivariant(native_ckpt):
    engine = Engine(native_ckpt, device="cpu", tta="flip")
    rgb = _rgb(64, 96, 5)
    a = engine.predict_one(rgb).mask
    b = engine.predict_one(np.ascontiguousarray(rgb[:, ::-1])).mask
    assert np.array_equal(a, b[:, ::-1])
    ms = Engine(native_ckpt, device="cpu", tta="flip,ms").predict_one(rgb, confidence=True)
    assert ms.mask.shape == (64, 96)
    assert np.isfinite(ms.confidence).all()


def test_sliding_window_core_equals_running_that_window(native_ckpt):
    engine = Engine(native_ckpt, device="cpu", tile=96, max_pixels=64 * 64)
    rgb = _rgb(150, 200, 7)
    mask = engine.predict_one(rgb).mask
    assert mask.shape == (150, 200)
    tiles = plan_tiles(150, 200, 96)
    assert len(tiles) > 4
    t = tiles[len(tiles) // 2]
    window = _reference(native_ckpt, np.ascontiguousarray(rgb[t.y0 : t.y1, t.x0 : t.x1]))
    core = window[t.cy0 - t.y0 : t.cy1 - t.y0, t.cx0 - t.x0 : t.cx1 - t.x0]
    assert (mask[t.cy0 : t.cy1, t.cx0 : t.cx1] == core).mean() > 0.999


def test_tiles_cover_every_pixel_exactly_once():
    for h, w, tile in [(1000, 700, 256), (4000, 6000, 1024), (100, 100, 512), (513, 1025, 512)]:
        cover = np.zeros((h, w), np.uint8)
        for t in plan_tiles(h, w, tile):
            assert t.y1 - t.y0 <= tile
            assert t.x1 - t.x0 <= tile
            assert t.y0 <= t.cy0 < t.cy1 <= t.y1
            assert t.x0 <= t.cx0 < t.cx1 <= t.x1
            cover[t.cy0 : t.cy1, t.cx0 : t.cx1] += 1
        assert cover.min() == 1
        assert cover.max() == 1


def test_classes_without_colours_are_refused(native_ckpt):
    ck = dataclasses.replace(
        native_ckpt, classes=[{"name": "background", "color": None}, {"name": "rock", "color": None}]
    )
    with pytest.raises(UserInputError, match="colour"):
        Engine(ck, device="cpu")


def test_bad_frames_and_options(native_ckpt):
    engine = Engine(native_ckpt, device="cpu")
    with pytest.raises(UserInputError, match="HxWx3 uint8"):
        engine.predict([np.zeros((10, 10), np.uint8)])
    with pytest.raises(UserInputError, match="unknown test-time augmentation 'rotate'"):
        parse_tta("flip,rotate")
    assert parse_tta("ms,flip,ms") == ("ms", "flip")


def test_device_choice_and_messages():
    assert resolve_device("cpu").type == "cpu"
    with pytest.raises(UserInputError, match="unknown device 'tpu'"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(UserInputError, match="CUDA is not available"):
            resolve_device("cuda:1")
    assert resolve_precision("auto", torch.device("cpu")) is None
    with pytest.raises(UserInputError, match="fp16 is not supported on the CPU"):
        resolve_precision("fp16", torch.device("cpu"))


def test_auto_device_prefers_cuda_then_mps_then_cpu(monkeypatch):
    # what this machine has decides the real answer
    mps = bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())
    expected = "cuda" if torch.cuda.is_available() else "mps" if mps else "cpu"
    assert resolve_device("auto").type == expected
    # and each rung of the order, whatever this machine has (a torch.device is only a name until used)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert resolve_device("auto") == torch.device("mps")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 1)
    assert resolve_device("auto") == torch.device("cuda", 1)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_amp_matches_cpu(native_ckpt):
    rgb = _rgb(256, 320, 9)
    cpu = Engine(native_ckpt, device="cpu").predict_one(rgb).mask
    gpu = Engine(native_ckpt, device="cuda").predict_one(rgb).mask
    assert (cpu == gpu).mean() > 0.98  # bf16/fp16 autocast may flip a few boundary pixels


_PEAK_MEMORY_CHILD = """
import dataclasses, json, resource, sys
import numpy as np
from segtool.models import load_checkpoint
from segtool.core.engine import Engine

ck = load_checkpoint(sys.argv[1])
ck = dataclasses.replace(ck, preprocess=dict(ck.preprocess, resize_short=None))  # the photo at its own size
engine = Engine(ck, device="cpu")
rgb = np.zeros((4000, 6000, 3), np.uint8)
rgb[::50] = 255  # stripes: some structure
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
mask = engine.predict_one(rgb).mask
grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
print(json.dumps({"shape": list(mask.shape), "grown_mb": grown / 1024}))
"""


@pytest.mark.slow
def test_24_megapixel_photo_runs_in_bounded_memory(tmp_path):
    """A 6000x4000 field photo at its own size runs in sliding windows, in far less memory than one
    whole-image pass. Measured in a fresh process, whose peak resident size (ru_maxrss, a lifetime peak)
    then starts at what loading took: in this test process any heavier earlier test would hide the growth.
    Full-width model (the tiny one's activations are too small to tell the two apart). Measured on a 2-core
    CPU, torch 2.14: sliding windows grew the peak by 824 MB (mostly the full-size input and logits), one
    whole-image pass (max_pixels above 24 MP) by 3,571 MB."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    from tests.helpers import make_small_checkpoint

    path, _ = make_small_checkpoint(tmp_path / "full.pt", width_mult=1.0, aspp_channels=256)
    repo = Path(__file__).resolve().parents[2]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(repo), os.environ.get("PYTHONPATH", "")]))
    res = subprocess.run(
        [sys.executable, "-c", _PEAK_MEMORY_CHILD, str(path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=1800,
    )
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert out["shape"] == [4000, 6000]
    assert out["grown_mb"] < 2000, f"peak memory grew by {out['grown_mb']:.0f} MB"
