"""The DeepLabV3 family: every backbone x output stride x decoder builds, runs and has the promised strides."""

from __future__ import annotations

import pytest
import torch
from torchvision.models.segmentation.deeplabv3 import ASPPPooling as TorchvisionASPPPooling

from segtool.models import BACKBONES, UserInputError, build_deeplabv3
from segtool.models.heads import ASPPPooling


@pytest.mark.parametrize("decoder", ["none", "v3plus"])
@pytest.mark.parametrize("output_stride", [8, 16])
@pytest.mark.parametrize("backbone", BACKBONES)
def test_every_combination_runs_at_its_output_stride(backbone, output_stride, decoder):
    model = build_deeplabv3(
        backbone=backbone, num_classes=3, output_stride=output_stride, decoder=decoder
    ).eval()
    x = torch.randn(1, 3, 64, 80)
    with torch.no_grad():
        feats = model.backbone(x)
        out = model(x)
    assert out["out"].shape == (1, 3, 64, 80)
    assert "aux" not in out  # the auxiliary head only runs in training
    assert feats["out"].shape[-2:] == (64 // output_stride, 80 // output_stride)
    # the auxiliary head reads the stage before the last: ResNet's layer3 (at the output stride, dilated
    # along with layer4), MobileNetV3's C2 (40 channels at 1.0x, stride 8 at either output stride)
    aux_stride = 8 if backbone.startswith("mobilenet") else output_stride
    assert feats["aux"].shape[-2:] == (64 // aux_stride, 80 // aux_stride)
    if decoder == "v3plus":
        assert feats["low"].shape[-2:] == (16, 20)  # stride 4
    assert torch.isfinite(out["out"]).all()


@pytest.mark.parametrize("backbone", ["resnet18", "resnet50", "mobilenet_v3_large"])
def test_batch_size_one_training_step(backbone):
    """vision #2151: torchvision's ASPP pooling branch raises on a batch of one in training mode."""
    model = build_deeplabv3(
        backbone=backbone, num_classes=2, decoder="v3plus" if backbone == "resnet50" else "none"
    )
    model.train()
    out = model(torch.randn(1, 3, 64, 64))
    assert set(out) == {"out", "aux"}
    loss = out["out"].mean() + 0.4 * out["aux"].mean()
    loss.backward()
    # the gradient reaches every parameter, the first backbone convolution and the pooling branch included
    missing = [name for name, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert missing == []


def test_aspp_pooling_batch_one_fix_is_needed_and_matches_eval():
    x = torch.randn(1, 8, 5, 5)
    theirs = TorchvisionASPPPooling(8, 4).train()
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        theirs(x)
    ours = ASPPPooling(8, 4)
    ours.load_state_dict(theirs.state_dict())
    before = ours[2].running_mean.clone()
    y_train = ours.train()(x)
    assert torch.equal(ours[2].running_mean, before)  # statistics untouched
    assert torch.allclose(y_train, ours.eval()(x))
    # batches > 1 behave exactly like torchvision's branch
    xb = torch.randn(3, 8, 5, 5)
    assert torch.allclose(ours.train()(xb), theirs.train()(xb))


@pytest.mark.parametrize("output_stride,expected", [(16, (2, 4, 8)), (8, (4, 8, 16))])
def test_multi_grid_rates_in_last_stage(output_stride, expected):
    model = build_deeplabv3(backbone="resnet50", output_stride=output_stride, multi_grid=True)
    assert tuple(b.conv2.dilation[0] for b in model.backbone.layer4) == expected


def test_aspp_rates_default_and_override():
    m16 = build_deeplabv3(backbone="resnet18", output_stride=16)
    m8 = build_deeplabv3(backbone="resnet18", output_stride=8, aspp_rates=(3, 5, 7))
    rates16 = [m16.classifier[0].convs[i][0].dilation[0] for i in (1, 2, 3)]
    assert rates16 == [6, 12, 18]
    assert [m8.classifier[0].convs[i][0].dilation[0] for i in (1, 2, 3)] == [3, 5, 7]
    assert build_deeplabv3(backbone="resnet18", output_stride=8).config.aspp_rates == (12, 24, 36)


def test_any_class_count_and_no_aux():
    model = build_deeplabv3(backbone="mobilenet_v3_large", num_classes=7, aux_head=False).train()
    out = model(torch.randn(2, 3, 64, 64))
    assert set(out) == {"out"}
    assert out["out"].shape[1] == 7
    assert not any(k.startswith("aux_classifier") for k in model.state_dict())


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"backbone": "vgg16"}, "unknown backbone 'vgg16'"),
        ({"output_stride": 32}, "output stride 32"),
        ({"decoder": "unet"}, "unknown decoder"),
        ({"num_classes": 1}, "num_classes must be an integer >= 2"),
        ({"aspp_rates": (6, 12)}, "three positive integers"),
        ({"backbone": "mobilenet_v3_large", "multi_grid": True}, "ResNet backbones only"),
    ],
)
def test_invalid_options_are_explained(kwargs, match):
    with pytest.raises(UserInputError, match=match):
        build_deeplabv3(**kwargs)
