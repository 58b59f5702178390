"""The DeepLabV3 / DeepLabV3+ network and its public keyword-only builder."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models.segmentation.fcn import FCNHead

from segtool.models.backbones import build_mobilenet_v3_large, build_resnet
from segtool.models.config import EFFICIENTNET_LITE, ModelConfig
from segtool.models.efficientnet_lite import build_efficientnet_lite
from segtool.models.heads import DeepLabV3PlusHead, deeplab_head


class DeepLabV3(nn.Module):
    """DeepLabV3 with torchvision's module layout (`backbone`, `classifier`, `aux_classifier`).

    `forward(x)` returns an OrderedDict like torchvision's: "out" (N x K x H x W logits at the input size)
    and, in training mode when the auxiliary head exists, "aux". The auxiliary head is skipped in eval
    mode (inference does not need it), which does not change "out".
    """

    def __init__(
        self, config: ModelConfig, backbone: nn.Module, classifier: nn.Module, aux: nn.Module | None
    ):
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
    if config.backbone in EFFICIENTNET_LITE:
        backbone, info = build_efficientnet_lite(config.backbone, config.output_stride, returns)
    elif config.backbone == "mobilenet_v3_large":
        backbone, info = build_mobilenet_v3_large(config.output_stride, returns, config.width_mult)
    else:
        backbone, info = build_resnet(config.backbone, config.output_stride, config.multi_grid, returns)
    if config.decoder == "v3plus":
        classifier = DeepLabV3PlusHead(
            info.out_channels, info.low_channels, config.num_classes, config.aspp_rates, config.aspp_channels
        )
    else:
        classifier = deeplab_head(
            info.out_channels, config.num_classes, config.aspp_rates, config.aspp_channels
        )
    aux = FCNHead(info.aux_channels, config.num_classes) if config.aux_head else None
    return DeepLabV3(config, backbone, classifier, aux)


def build_deeplabv3(**options: Any) -> DeepLabV3:
    """Build a randomly initialised DeepLabV3 network (the public, keyword-only builder).

    Args:
        **options: the keywords of `ModelConfig.create`, which documents and validates them (backbone,
            num_classes, output_stride, aspp_rates, multi_grid, decoder, aux_head, width_mult,
            aspp_channels); one signature for the stored config and the builder.

    Raises:
        UserInputError: an option is not supported; the message says which values are.
    """
    return build_from_config(ModelConfig.create(**options))


def build_from_config(config: ModelConfig) -> DeepLabV3:
    """Build the network a stored `ModelConfig` describes."""
    return _build(config)
