"""Segmentation metrics from a confusion matrix (the torchvision references' bincount approach).

`mat[t, p]` counts pixels whose label is class `t` and whose prediction is class `p`; pixels labelled
with the ignore index are not counted. Everything else (IoU, accuracies) is derived from `mat`, so
matrices from several workers or processes simply add up (`merge`, `reduce_`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from .diagnose import model_warnings


def _as_tensor(x: Any) -> torch.Tensor:
    return x if isinstance(x, torch.Tensor) else torch.from_numpy(np.asarray(x))


class ConfusionMatrix:
    """Accumulates a num_classes × num_classes confusion matrix (rows = label, columns = prediction).

    Args:
        num_classes: number of classes.
        ignore_index: label value that is skipped (void / unlabelled pixels).
    """

    def __init__(self, num_classes: int, ignore_index: int = 255) -> None:
        if num_classes < 1:
            raise ValueError(f"num_classes must be ≥ 1, got {num_classes}")
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.mat = np.zeros((num_classes, num_classes), np.int64)

    def update(self, pred: Any, target: Any) -> None:
        """Add a batch. `pred` and `target` are class ids of the same shape (numpy or torch, any device).

        The counting runs where the tensors are (a GPU batch is counted on the GPU); only the small
        matrix is copied back.

        Raises:
            ValueError: shapes differ, a prediction is outside [0, num_classes), or a label is neither a
                class id nor the ignore index (a wrong class list must not pass unnoticed).
        """
        p, t = _as_tensor(pred), _as_tensor(target)
        if p.shape != t.shape:
            raise ValueError(f"prediction shape {tuple(p.shape)} differs from label shape {tuple(t.shape)}")
        if p.device != t.device:
            p = p.to(t.device)
        p, t = p.reshape(-1).long(), t.reshape(-1).long()
        keep = t != self.ignore_index
        p, t = p[keep], t[keep]
        n = self.num_classes
        if t.numel():
            bad_t = (t < 0) | (t >= n)
            if bool(bad_t.any()):
                raise ValueError(
                    f"label value {int(t[bad_t][0])} is not a class id (0..{n - 1}) or {self.ignore_index}"
                )
            bad_p = (p < 0) | (p >= n)
            if bool(bad_p.any()):
                raise ValueError(f"prediction value {int(p[bad_p][0])} is outside 0..{n - 1}")
        counts = torch.bincount(t * n + p, minlength=n * n).reshape(n, n)
        self.mat += counts.cpu().numpy()

    def merge(self, other: ConfusionMatrix) -> ConfusionMatrix:
        """Add another matrix (e.g. from a data-loader worker) into this one; returns self."""
        if other.mat.shape != self.mat.shape:
            raise ValueError(
                f"cannot merge a {other.num_classes}-class matrix into a {self.num_classes}-class one"
            )
        self.mat += other.mat
        return self

    def reduce_(self, fn: Callable[[torch.Tensor], Any], device: str | torch.device | None = None) -> None:
        """Combine across processes in place, e.g. ``cm.reduce_(torch.distributed.all_reduce, device="cuda")``.

        `fn` gets the matrix as an int64 tensor on `device`; it may change it in place (all_reduce) or
        return a new tensor, which then replaces the matrix.
        """
        t = torch.from_numpy(self.mat.copy())
        if device is not None:
            t = t.to(device)
        out = fn(t)
        result = out if isinstance(out, torch.Tensor) else t
        self.mat = result.detach().cpu().numpy().astype(np.int64, copy=False).reshape(self.mat.shape)

    def reset(self) -> None:
        self.mat[:] = 0

    def compute(self) -> dict:
        """Metrics from the matrix.

        Returns:
            dict with
            - ``iou``: per-class IoU list; None for a class absent from both labels and predictions.
            - ``miou``: mean of the non-None IoUs (None when nothing was counted).
            - ``pixel_accuracy``: correct / counted pixels.
            - ``mean_accuracy``: mean recall over classes present in the labels.
            - ``fw_iou``: IoU weighted by each class's share of label pixels.
            - ``pixel_share``: each class's share of label pixels.
            - ``pixels``: counted pixels.
        """
        m = self.mat.astype(np.float64)
        tp = np.diag(m)
        label_px = m.sum(axis=1)
        pred_px = m.sum(axis=0)
        union = label_px + pred_px - tp
        total = m.sum()
        iou: list[float | None] = [
            float(tp[i] / union[i]) if union[i] > 0 else None for i in range(self.num_classes)
        ]
        present_iou = [v for v in iou if v is not None]
        in_labels = label_px > 0
        share = label_px / total if total > 0 else np.zeros_like(label_px)
        return {
            "iou": iou,
            "miou": float(np.mean(present_iou)) if present_iou else None,
            "pixel_accuracy": float(tp.sum() / total) if total > 0 else None,
            "mean_accuracy": float(np.mean(tp[in_labels] / label_px[in_labels])) if in_labels.any() else None,
            "fw_iou": float(sum(share[i] * iou[i] for i in range(self.num_classes) if in_labels[i]))
            if total > 0
            else None,
            "pixel_share": [float(v) for v in share],
            "pixels": int(total),
        }


def report_dict(cm: ConfusionMatrix, class_names: Sequence[str], images: int) -> dict:
    """The `report.json` of `segtool eval` / training (fields as in ARCHITECTURE.md, plus extras).

    Args:
        cm: the accumulated matrix.
        class_names: names in class-id order.
        images: how many images were evaluated.

    Returns:
        ``{"miou", "pixel_accuracy", "mean_accuracy", "per_class_iou": {name: float|None},
        "confusion_matrix": [[int]], "classes": [name], "images": N, "fw_iou",
        "pixel_share": {name: float}, "warnings": [...]}``. Metrics are None when no pixel was counted;
        ``warnings`` names each class the model never predicts (training.diagnose).
    """
    if len(class_names) != cm.num_classes:
        raise ValueError(f"{len(class_names)} class names for a {cm.num_classes}-class matrix")
    r = cm.compute()
    names = list(class_names)
    return {
        "miou": r["miou"],
        "pixel_accuracy": r["pixel_accuracy"],
        "mean_accuracy": r["mean_accuracy"],
        "per_class_iou": dict(zip(names, r["iou"], strict=True)),
        "confusion_matrix": cm.mat.astype(int).tolist(),
        "classes": names,
        "images": int(images),
        "fw_iou": r["fw_iou"],
        "pixel_share": dict(zip(names, r["pixel_share"], strict=True)),
        "warnings": model_warnings(cm.mat, names),
    }
