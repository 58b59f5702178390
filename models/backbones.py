"""Dilated backbones from torchvision's ResNet and MobileNetV3, returning the feature maps the heads need.

Feature names returned by the backbone (an `IntermediateLayerGetter`, as in torchvision, so state-dict
keys are `backbone.<torchvision module path>`):
  "out"  deepest features (stride = output stride)
  "aux"  the stage before (input of the auxiliary head), only when requested
  "low"  stride-4 features (input of the DeepLabV3+ decoder), only when requested
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from torch import nn
from torchvision.models import mobilenetv3, resnet
from torchvision.models._utils import IntermediateLayerGetter


@dataclass(frozen=True)
class BackboneInfo:
    out_channels: int
    aux_channels: int
    low_channels: int


def _set_conv_dilation(conv: nn.Conv2d, dilation: int, stride: int | None = None) -> None:
    # For a 3x3 kernel, padding = dilation keeps the spatial size; parameters are unchanged.
    conv.dilation = (dilation, dilation)
    conv.padding = (dilation * (conv.kernel_size[0] // 2), dilation * (conv.kernel_size[1] // 2))
    if stride is not None:
        conv.stride = (stride, stride)


def _dilate_basic_layer(layer: nn.Sequential, previous: int, dilation: int) -> None:
    """Turn a strided BasicBlock stage into a dilated one, following torchvision's convention for
    Bottleneck stages (`replace_stride_with_dilation`): the first block keeps the previous dilation
    and loses its stride, the others use the new dilation. torchvision refuses dilation in BasicBlock."""
    for i, block in enumerate(layer):
        d = previous if i == 0 else dilation
        _set_conv_dilation(block.conv1, d, stride=1 if i == 0 else None)
        _set_conv_dilation(block.conv2, d)
        if block.downsample is not None:
            block.downsample[0].stride = (1, 1)
        block.stride = 1


def _apply_multi_grid(layer: nn.Sequential, rate: int, grid: Sequence[int]) -> None:
    """DeepLabV3 multi-grid: block i of the last stage uses rate * grid[i]."""
    for i, block in enumerate(layer):
        d = rate * grid[i % len(grid)]
        convs = [block.conv2] if isinstance(block, resnet.Bottleneck) else [block.conv1, block.conv2]
        for conv in convs:
            _set_conv_dilation(conv, d)


def build_resnet(name: str, output_stride: int, multi_grid: Sequence[int] | None, returns: dict[str, str]):
    """A torchvision ResNet without avgpool/fc, dilated to `output_stride`."""
    dilate = [False, output_stride == 8, True]  # layer2, layer3, layer4
    ctor = getattr(resnet, name)
    bottleneck = name in ("resnet50", "resnet101")
    if bottleneck:
        net = ctor(weights=None, replace_stride_with_dilation=dilate)
    else:
        net = ctor(weights=None)
        rate = 1
        for layer_name, flag in zip(("layer2", "layer3", "layer4"), dilate):
            if flag:
                _dilate_basic_layer(getattr(net, layer_name), rate, rate * 2)
                rate *= 2
    if multi_grid:
        _apply_multi_grid(net.layer4, 32 // output_stride, multi_grid)  # layer4 runs at dilation 32/OS
    expansion = 4 if bottleneck else 1
    info = BackboneInfo(
        out_channels=512 * expansion, aux_channels=256 * expansion, low_channels=64 * expansion
    )
    layer_of = {"out": "layer4", "aux": "layer3", "low": "layer1"}
    return IntermediateLayerGetter(net, {layer_of[k]: k for k in returns}), info


def build_mobilenet_v3_large(output_stride: int, returns: dict[str, str], width_mult: float = 1.0):
    """torchvision's MobileNetV3-Large features, dilated as torchvision does for DeepLabV3 (output stride 16),
    or one stage further for output stride 8 (stage C3 at dilation 2, C4 at dilation 4). `width_mult`
    scales every layer's channels (rounded to multiples of 8, as torchvision does)."""
    settings, last_channel = mobilenetv3._mobilenet_v3_conf(
        "mobilenet_v3_large", width_mult=width_mult, dilated=True
    )
    if output_stride == 8:
        c3 = [i for i, s in enumerate(settings) if s.stride == 2][
            2
        ]  # the block that starts stage C3 (80 ch at 1.0x)
        c4 = next(i for i, s in enumerate(settings) if s.dilation == 2)
        for i in range(c3, len(settings)):
            settings[i].dilation = 2 if i < c4 else 4
    features = mobilenetv3.MobileNetV3(settings, last_channel).features
    # Strided blocks start stages C1..C4; first and last modules are C0 and C5 (as in torchvision).
    stage = [0] + [i for i, b in enumerate(features) if getattr(b, "_is_cn", False)] + [len(features) - 1]
    positions = {"out": stage[-1], "aux": stage[-4], "low": stage[2] - 1}  # low: last block at stride 4
    info = BackboneInfo(
        out_channels=features[positions["out"]].out_channels,
        aux_channels=features[positions["aux"]].out_channels,
        low_channels=features[positions["low"]].out_channels,
    )
    return IntermediateLayerGetter(features, {str(positions[k]): k for k in returns}), info
