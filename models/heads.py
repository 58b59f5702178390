"""Segmentation heads: torchvision's ASPP / DeepLabHead / FCNHead, made safe for batch size 1,
plus the DeepLabV3+ decoder that torchvision lacks."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models.segmentation.deeplabv3 import ASPP

ASPP_CHANNELS = 256  # torchvision's ASPP output width (the default of `aspp_channels`)


class ASPPPooling(nn.Sequential):
    """torchvision's ASPP image-pooling branch (same children, so the same state-dict keys), safe for batch size 1.

    In training mode with one image per batch the pooled map is 1x1, so BatchNorm sees a single value per
    channel and torchvision raises "Expected more than 1 value per channel when training" (vision #2151).
    Here that one case normalises with the running statistics (as in eval) and leaves them untouched,
    so batch-size-1 fine-tuning works and larger batches behave exactly like torchvision.
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(in_channels, out_channels, 1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-2:]
        pool, conv, bn, act = self
        y = conv(pool(x))
        if self.training and y.shape[0] == 1:
            y = F.batch_norm(
                y, bn.running_mean, bn.running_var, bn.weight, bn.bias, training=False, eps=bn.eps
            )
        else:
            y = bn(y)
        return F.interpolate(act(y), size=size, mode="bilinear", align_corners=False)


def _make_pooling_safe(aspp: ASPP, in_channels: int, channels: int) -> ASPP:
    aspp.convs[-1] = ASPPPooling(in_channels, channels)
    return aspp


def deeplab_head(
    in_channels: int, num_classes: int, rates: Sequence[int], channels: int = ASPP_CHANNELS
) -> nn.Module:
    """torchvision's DeepLabHead (ASPP → 3x3 conv → BN → ReLU → 1x1 conv) with the batch-size-1-safe pooling.

    Built here rather than with torchvision's class so the width (`channels`) can be chosen; the
    module layout and state-dict keys (`0.*`, `1`, `2`, `4`) are torchvision's, and so are the
    layers at the default width of 256.
    """
    return nn.Sequential(
        _make_pooling_safe(ASPP(in_channels, tuple(rates), channels), in_channels, channels),
        nn.Conv2d(channels, channels, 3, padding=1, bias=False),
        nn.BatchNorm2d(channels),
        nn.ReLU(),
        nn.Conv2d(channels, num_classes, 1),
    )


class DeepLabV3PlusHead(nn.Module):
    """DeepLabV3+ decoder (Chen et al. 2018): ASPP on the deep features, upsampled and fused with
    projected stride-4 low-level features by two 3x3 convolutions (`channels` wide, 256 in the paper)."""

    def __init__(
        self,
        in_channels: int,
        low_channels: int,
        num_classes: int,
        rates: Sequence[int],
        channels: int = ASPP_CHANNELS,
    ) -> None:
        super().__init__()
        self.aspp = _make_pooling_safe(ASPP(in_channels, tuple(rates), channels), in_channels, channels)
        self.project_low = nn.Sequential(
            nn.Conv2d(low_channels, 48, 1, bias=False), nn.BatchNorm2d(48), nn.ReLU(inplace=True)
        )
        self.fuse = nn.Sequential(
            nn.Conv2d(channels + 48, channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(channels),
            nn.ReLU(inplace=True),
        )
        self.head = nn.Conv2d(channels, num_classes, 1)

    def forward(self, x: torch.Tensor, low: torch.Tensor) -> torch.Tensor:
        x = self.aspp(x)
        x = F.interpolate(x, size=low.shape[-2:], mode="bilinear", align_corners=False)
        return self.head(self.fuse(torch.cat([x, self.project_low(low)], dim=1)))


def final_layer_key(decoder: str) -> str:
    """State-dict prefix of the classifier's last (class-count-dependent) convolution."""
    return "classifier.head" if decoder == "v3plus" else "classifier.4"


AUX_FINAL_KEY = "aux_classifier.4"
