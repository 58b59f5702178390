"""The DeepLabV3 / DeepLabV3+ network and its public keyword-only builder."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models.segmentation.fcn import FCNHead

from models.backbones import build_mobilenet_v3_large, build_resnet
from models.config import DEFAULT_ASPP_CHANNELS, DEFAULT_WIDTH_MULT, ModelConfig
from models.heads import DeepLabV3PlusHead, deeplab_head


class DeepLabV3(nn.Module):
    """DeepLabV3 with torchvision's module layout (`backbone`, `classifier`, `aux_classifier`).

    `forward(x)` returns an OrderedDict like torchvision's: "out" (N x K x H x W logits at the input size)
    and, in training mode when the auxiliary head exists, "aux". The auxiliary head is skipped in eval
    mode (inference does not need it), which does not change "out".
    """

    def __init__(self, config: ModelConfig, backbone: nn.Module, classifier: nn.Module, aux: nn.Module | None):
        super().__init__()
        self.config = config
        self.backbone = backbone
        self.classifier = classifier
        self.aux_classifier = aux

    def forward(self, x: torch.Tensor) -> OrderedDict[str, torch.Tensor]:
        size = x.shape[-2:]
        features = self.backbone(x)
        if self.config.decoder == "v3plus":
            logits = self.classifier(features["out"], features["low"])
        else:
            logits = self.classifier(features["out"])
        result: OrderedDict[str, torch.Tensor] = OrderedDict()
        result["out"] = F.interpolate(logits, size=size, mode="bilinear", align_corners=False)
        if self.aux_classifier is not None and self.training:
            aux = self.aux_classifier(features["aux"])
            result["aux"] = F.interpolate(aux, size=size, mode="bilinear", align_corners=False)
        return result


def _build(config: ModelConfig) -> DeepLabV3:
    returns = {"out": "out"}
    if config.aux_head:
        returns["aux"] = "aux"
    if config.decoder == "v3plus":
        returns["low"] = "low"
    if config.backbone == "mobilenet_v3_large":
        backbone, info = build_mobilenet_v3_large(config.output_stride, returns, config.width_mult)
    else:
        backbone, info = build_resnet(config.backbone, config.output_stride, config.multi_grid, returns)
    if config.decoder == "v3plus":
        classifier = DeepLabV3PlusHead(info.out_channels, info.low_channels, config.num_classes, config.aspp_rates,
                                       config.aspp_channels)  # fmt: skip
    else:
        classifier = deeplab_head(info.out_channels, config.num_classes, config.aspp_rates, config.aspp_channels)
    aux = FCNHead(info.aux_channels, config.num_classes) if config.aux_head else None
    return DeepLabV3(config, backbone, classifier, aux)


def build_deeplabv3(
    *,
    backbone: str = "resnet50",
    num_classes: int = 2,
    output_stride: int = 16,
    aspp_rates: Sequence[int] | None = None,
    multi_grid: Sequence[int] | bool | None = None,
    decoder: str = "none",
    aux_head: bool = True,
    width_mult: float = DEFAULT_WIDTH_MULT,
    aspp_channels: int = DEFAULT_ASPP_CHANNELS,
) -> DeepLabV3:
    """Build a randomly initialised DeepLabV3 network.

    Args:
        backbone: resnet18, resnet34, resnet50, resnet101 or mobilenet_v3_large.
        num_classes: number of classes (>= 2).
        output_stride: 8 or 16.
        aspp_rates: three ASPP rates; default 12/24/36 at output stride 8, 6/12/18 at 16.
        multi_grid: True for (1, 2, 4), or explicit unit rates for the last ResNet stage.
        decoder: "none" for DeepLabV3, "v3plus" for DeepLabV3+.
        aux_head: add the auxiliary FCN head used for the auxiliary training loss.
        width_mult: MobileNetV3 channel multiplier (mobilenet_v3_large only; 0.5 for a small, fast model).
        aspp_channels: width of the ASPP module and the layers after it (default 256).

    Raises:
        UserInputError: an option is not supported; the message says which values are.
    """
    return build_from_config(
        ModelConfig.create(
            backbone=backbone,
            num_classes=num_classes,
            output_stride=output_stride,
            aspp_rates=aspp_rates,
            multi_grid=multi_grid,
            decoder=decoder,
            aux_head=aux_head,
            width_mult=width_mult,
            aspp_channels=aspp_channels,
        )
    )


def build_from_config(config: ModelConfig) -> DeepLabV3:
    """Build the network a stored `ModelConfig` describes."""
    return _build(config)
