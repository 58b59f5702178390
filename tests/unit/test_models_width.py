"""Slim models: MobileNetV3 `width_mult` and `aspp_channels`, and half-precision checkpoint storage.

The defaults must leave every existing model, state-dict key and checkpoint exactly as before.
"""

from __future__ import annotations

import pytest
import torch

from segtool.models import (
    Checkpoint,
    UserInputError,
    build_deeplabv3,
    load_checkpoint,
    make_classes,
    save_checkpoint,
)
from segtool.models.config import ModelConfig
from tests.helpers import randomize_bn_stats

CLASSES = make_classes(["background", "rock"], [[0, 0, 0], [250, 50, 83]])


def _params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_defaults_are_unchanged_and_not_written():
    cfg = ModelConfig.create(backbone="mobilenet_v3_large")
    assert (cfg.width_mult, cfg.aspp_channels) == (1.0, 256)
    d = cfg.to_dict()
    assert "width_mult" not in d  # older segtool versions can still read it
    assert "aspp_channels" not in d
    old = {
        "backbone": "resnet18",
        "num_classes": 2,
        "output_stride": 16,
        "aspp_rates": [6, 12, 18],
        "multi_grid": None,
        "decoder": "none",
        "aux_head": True,
    }
    assert ModelConfig.from_dict(old).to_dict() == old


@pytest.mark.parametrize("decoder", ["none", "v3plus"])
@pytest.mark.parametrize("output_stride", [8, 16])
def test_slim_mobilenet_builds_runs_and_round_trips(decoder, output_stride):
    model = build_deeplabv3(
        backbone="mobilenet_v3_large",
        num_classes=3,
        output_stride=output_stride,
        decoder=decoder,
        width_mult=0.5,
        aspp_channels=64,
    ).eval()
    full = build_deeplabv3(
        backbone="mobilenet_v3_large", num_classes=3, output_stride=output_stride, decoder=decoder
    )
    assert _params(model) < _params(full) / 4
    with torch.no_grad():
        feats = model.backbone(torch.randn(1, 3, 64, 80))
        out = model(torch.randn(1, 3, 64, 80))["out"]
    assert out.shape == (1, 3, 64, 80)
    assert feats["out"].shape[-2:] == (64 // output_stride, 80 // output_stride)
    d = model.config.to_dict()
    assert (d["width_mult"], d["aspp_channels"]) == (0.5, 64)
    assert ModelConfig.from_dict(d) == model.config


def test_default_width_state_dict_keys_and_shapes_match_before():
    """deeplab_head is now built here instead of by torchvision: same keys and shapes at 256."""
    from torchvision.models.segmentation.deeplabv3 import DeepLabHead

    ours = build_deeplabv3(backbone="resnet18", num_classes=2, aux_head=False).classifier.state_dict()
    theirs = DeepLabHead(512, 2, (6, 12, 18)).state_dict()
    assert {k: v.shape for k, v in ours.items()} == {k: v.shape for k, v in theirs.items()}


def test_bad_values_are_refused_with_a_reason():
    with pytest.raises(UserInputError, match="mobilenet_v3_large only"):
        ModelConfig.create(backbone="resnet18", width_mult=0.5)
    with pytest.raises(UserInputError, match="0.1 to 2.0"):
        ModelConfig.create(backbone="mobilenet_v3_large", width_mult=0.0)
    with pytest.raises(UserInputError, match="ASPP channels"):
        ModelConfig.create(aspp_channels=4)
    with pytest.raises(UserInputError, match="unknown fields"):
        ModelConfig.from_dict({**ModelConfig.create().to_dict(), "depth_mult": 2})


def test_half_precision_checkpoint_is_smaller_and_loads_as_float32(tmp_path):
    torch.manual_seed(0)
    model = randomize_bn_stats(
        build_deeplabv3(
            backbone="mobilenet_v3_large", num_classes=2, width_mult=0.5, aspp_channels=64, aux_head=False
        )
    ).eval()
    ck = Checkpoint(config=model.config, classes=CLASSES, state_dict=model.state_dict())
    full, half = (
        save_checkpoint(ck, tmp_path / "full.pt"),
        save_checkpoint(ck, tmp_path / "half.pt", half=True),
    )
    assert half.stat().st_size < 0.6 * full.stat().st_size
    raw = torch.load(half, weights_only=True)["state_dict"]
    assert raw["classifier.1.weight"].dtype == torch.float16  # a conv weight
    assert raw["classifier.2.running_var"].dtype == torch.float32  # BN statistics stay exact
    loaded = load_checkpoint(half)
    assert all(v.dtype != torch.float16 for v in loaded.state_dict.values())
    x = torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        a, b = model(x)["out"], loaded.build_model()(x)["out"]
    assert torch.allclose(a, b, atol=1e-2 * a.abs().max().item())
    assert (a.argmax(1) == b.argmax(1)).float().mean() > 0.99
