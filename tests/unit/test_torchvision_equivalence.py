"""A torchvision DeepLabV3 imported into segtool predicts exactly what torchvision predicts."""

from __future__ import annotations

import pytest
import torch
from torchvision.models import segmentation as tvseg

from segtool.models.import_weights import import_state_dict
from tests.helpers import randomize_bn_stats

CASES = [
    (tvseg.deeplabv3_resnet50, "resnet50"),
    (tvseg.deeplabv3_resnet101, "resnet101"),
    (tvseg.deeplabv3_mobilenet_v3_large, "mobilenet_v3_large"),
]


@pytest.mark.parametrize("builder,backbone", CASES, ids=[c[1] for c in CASES])
def test_imported_torchvision_model_gives_the_same_output(builder, backbone, tmp_path):
    torch.manual_seed(1)
    tv = randomize_bn_stats(builder(weights=None, weights_backbone=None, num_classes=4, aux_loss=True)).eval()
    path = tmp_path / "tv.pth"
    torch.save(tv.state_dict(), path)
    ckpt, notes = import_state_dict(path, backbone=backbone, class_names=["a", "b", "c", "d"])
    ours = ckpt.build_model()
    assert ckpt.config.aux_head
    assert notes == []
    x = torch.randn(2, 3, 97, 131)
    with torch.no_grad():
        expected = tv(x)["out"]
        got = ours(x)["out"]
    assert expected.abs().max() > 1e-3  # a real signal, not zeros
    assert (expected - got).abs().max().item() <= 1e-5
    # the auxiliary head matches too (training mode computes it; BN in eval for a deterministic comparison)
    ours.train()
    for m in ours.modules():
        if isinstance(m, (torch.nn.BatchNorm2d, torch.nn.Dropout)):
            m.eval()
    with torch.no_grad():
        assert (tv(x)["aux"] - ours(x)["aux"]).abs().max().item() <= 1e-5
