"""The checkpoint's preprocessing (shorter-side resize, mean/std), one implementation for inference
(`segtool.core.engine.Engine`) and training's validation (`training.engine.evaluate`), so the
validation mIoU stored in a checkpoint is what `segtool eval` / `predict` measure."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F


def network_size(height: int, width: int, resize_short: int | None) -> tuple[int, int]:
    """The size a frame is resized to before the network: shorter side = `resize_short` (None: as is)."""
    if not resize_short:
        return height, width
    s = resize_short / min(height, width)
    return max(1, round(height * s)), max(1, round(width * s))


class Preprocess:
    """A checkpoint's `preprocess` entry ready on a device (mean/std tensors made once).

    Args:
        cfg: `{"mean", "std", "resize_short"}` as stored in a checkpoint (mean/std in 0..1 units).
        device: where the frames will be.
    """

    def __init__(self, cfg: dict[str, Any], device: torch.device | str = "cpu") -> None:
        self.resize_short: int | None = cfg.get("resize_short")
        # in 0..255 units: frames arrive as uint8 values, and one subtraction and division normalise them
        self.mean = torch.tensor(cfg["mean"], dtype=torch.float32, device=device).view(1, 3, 1, 1) * 255.0
        self.std = torch.tensor(cfg["std"], dtype=torch.float32, device=device).view(1, 3, 1, 1) * 255.0

    def network_size(self, height: int, width: int) -> tuple[int, int]:
        return network_size(height, width, self.resize_short)

    def __call__(self, images: torch.Tensor, *, channels_last: bool = False) -> torch.Tensor:
        """N×3×H×W images with values 0..255 (uint8 or float, any memory layout, on the device) → the
        normalised float network input at the checkpoint's size (bilinear, antialiased when shrinking)."""
        x = images.float()
        h, w = x.shape[-2:]
        nh, nw = self.network_size(h, w)
        if (nh, nw) != (h, w):
            x = F.interpolate(x, size=(nh, nw), mode="bilinear", align_corners=False, antialias=nh < h)
        x = (x - self.mean) / self.std
        return x.contiguous(memory_format=torch.channels_last) if channels_last else x


def preprocess(images: torch.Tensor, cfg: dict[str, Any], *, channels_last: bool = False) -> torch.Tensor:
    """One-off form of `Preprocess(cfg, images.device)(images)`."""
    return Preprocess(cfg, images.device)(images, channels_last=channels_last)
