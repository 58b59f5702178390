"""The segmentation loss (cross-entropy on the main and auxiliary outputs) and class weights for rare
classes (sparse rock labels: ~1% of the pixels)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np
import torch
import torch.nn.functional as F


def class_pixel_stats(
    masks: Iterable[np.ndarray], num_classes: int, ignore_index: int = 255
) -> tuple[np.ndarray, np.ndarray]:
    """Per class: labelled pixels, and labelled pixels of the images that contain the class.

    The second count is the denominator of median-frequency balancing (Eigen & Fergus 2015).
    """
    pixels = np.zeros(num_classes, np.int64)
    image_pixels = np.zeros(num_classes, np.int64)
    for m in masks:
        m = np.asarray(m).ravel()
        counts = np.bincount(m[m != ignore_index], minlength=num_classes)[:num_classes]
        pixels += counts
        image_pixels[counts > 0] += int(counts.sum())
    return pixels, image_pixels


def class_weights(
    method: str, pixels: np.ndarray, image_pixels: np.ndarray | None = None, c: float = 1.02
) -> torch.Tensor:
    """Loss weights per class.

    Args:
        method: "log": w = 1 / ln(c + p), p = the class's share of all labelled pixels (ENet,
            Paszke et al. 2016; bounded by 1/ln(c) ≈ 50.5 for absent classes). "median": w =
            median(f) / f, f = pixels / pixels of the images containing the class (SegNet).
        pixels: labelled pixels per class.
        image_pixels: for "median", from `class_pixel_stats`.
        c: the ENet constant.

    Returns:
        float32 tensor of num_classes weights. A class absent from the training labels gets weight 1
        with "median" (it never occurs as a target, so the value does not matter).
    """
    pixels = np.asarray(pixels, np.float64)
    if method == "log":
        p = pixels / max(pixels.sum(), 1.0)
        return torch.tensor(1.0 / np.log(c + p), dtype=torch.float32)
    if method == "median":
        if image_pixels is None:
            raise ValueError("median-frequency weights need image_pixels (see class_pixel_stats)")
        present = pixels > 0
        freq = np.where(present, pixels / np.maximum(np.asarray(image_pixels, np.float64), 1.0), 0.0)
        med = float(np.median(freq[present])) if present.any() else 1.0
        w = np.where(present, med / np.where(present, freq, 1.0), 1.0)
        return torch.tensor(w, dtype=torch.float32)
    raise ValueError(f"unknown class-weight method {method!r}; use log or median")


def make_criterion(
    *, aux_weight: float, weight: torch.Tensor | None = None, ignore_index: int = 255
) -> Callable[[dict[str, torch.Tensor], torch.Tensor], torch.Tensor]:
    """Loss over the model's output dict: CE(out) + aux_weight · CE(aux) when "aux" is present.

    Pixels labelled `ignore_index` (void, crop padding) add nothing. With class weights, the mean is
    over the summed weights of the counted pixels (PyTorch's weighted CE).
    """

    def criterion(outputs: dict[str, torch.Tensor], target: torch.Tensor) -> torch.Tensor:
        if not bool((target != ignore_index).any()):
            # A crop with only void/padding: CE's mean would be 0/0 = NaN and stop the run as diverged.
            return outputs["out"].sum() * 0.0
        w = weight.to(outputs["out"].device) if weight is not None else None
        loss = F.cross_entropy(outputs["out"].float(), target, weight=w, ignore_index=ignore_index)
        if aux_weight > 0 and "aux" in outputs:
            loss = loss + aux_weight * F.cross_entropy(
                outputs["aux"].float(), target, weight=w, ignore_index=ignore_index
            )
        return loss

    return criterion
