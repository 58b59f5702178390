"""Small helpers shared by tests (not fixtures)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch

from models import Checkpoint, build_deeplabv3, make_classes, save_checkpoint

TINY_WIDTH = 0.25  # MobileNetV3 channel multiplier of the shared test model
TINY_ASPP = 16  # its ASPP width


def randomize_bn_stats(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Give BatchNorm layers non-trivial running statistics, so that comparisons in eval mode mean something."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.normal_(0.0, 0.2, generator=g)
            m.running_var.uniform_(0.5, 2.0, generator=g)
    return model


def make_small_checkpoint(
    path: Path,
    *,
    resize_short: int | None = 520,
    train: dict | None = None,
    width_mult: float = TINY_WIDTH,
    aspp_channels: int = TINY_ASPP,
) -> tuple[Path, torch.nn.Module]:
    """A real 2-class (background, rock) mobilenet_v3_large checkpoint and the model it was saved from.

    Tiny (width 0.25, 16 ASPP channels: 0.33 M parameters, 1.4 MB instead of 11 M and 44 MB), so tests
    spend their time on what they check, not on convolutions; every code path is the full-size one.
    `width_mult=1.0, aspp_channels=256` gives the standard network, for tests about its size.
    A random DeepLab predicts nearly the same logits everywhere; the head is amplified and its bias centred
    so that both classes occur on structured images, so tests compare real masks, not constant ones.
    """
    torch.manual_seed(0)
    model = build_deeplabv3(
        backbone="mobilenet_v3_large", num_classes=2, aux_head=False, width_mult=width_mult, aspp_channels=aspp_channels
    )
    model = randomize_bn_stats(model).eval()
    with torch.no_grad():
        model.classifier[4].weight.mul_(100.0)
        model.classifier[4].bias.zero_()
        g = torch.Generator().manual_seed(0)
        probe = torch.rand(1, 3, 96, 128, generator=g)
        probe[:, :, :48] /= 4
        logits = model((probe - 0.45) / 0.225)["out"]
        model.classifier[4].bias[1] = -(logits[:, 1] - logits[:, 0]).median()
    ckpt = Checkpoint(
        config=model.config,
        classes=make_classes(["background", "rock"], [[0, 0, 0], [250, 50, 83]]),
        state_dict=model.state_dict(),
        train=train,
    )
    ckpt = dataclasses.replace(ckpt, preprocess=dict(ckpt.preprocess, resize_short=resize_short))
    return save_checkpoint(ckpt, path), model
