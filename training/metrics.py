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

_NONE = torch.iinfo(torch.int64).min  # "no bad value seen"


def _as_tensor(x: Any) -> torch.Tensor:
    return x if isinstance(x, torch.Tensor) else torch.from_numpy(np.asarray(x))


class ConfusionMatrix:
    """Accumulates a num_classes × num_classes confusion matrix (rows = label, columns = prediction).

    The counts stay where the batches are (a GPU batch is counted on the GPU, into a matrix on the GPU),
    and nothing in `update` waits for the device: values that are not classes are counted apart and
    reported when the matrix is read (`mat`, `compute`), which copies it to the host once.

    Args:
        num_classes: number of classes.
        ignore_index: label value that is skipped (void / unlabelled pixels).
    """

    def __init__(self, num_classes: int, ignore_index: int = 255) -> None:
        if num_classes < 1:
            raise ValueError(f"num_classes must be ≥ 1, got {num_classes}")
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self._counts: torch.Tensor | None = None  # n*n + 1 int64 (the last slot takes what is not counted)
        self._bad_label: torch.Tensor | None = None  # largest non-class label seen, or _NONE
        self._bad_pred: torch.Tensor | None = None
        self._host: np.ndarray | None = None  # the last read-back, until the next update

    @property
    def tensor(self) -> torch.Tensor:
        """The n × n counts where they are kept (the device of the first batch; a CPU zero matrix before
        any), without copying or checking."""
        n = self.num_classes
        if self._counts is None:
            return torch.zeros((n, n), dtype=torch.int64)
        return self._counts[: n * n].view(n, n)

    def update(self, pred: Any, target: Any) -> None:
        """Add a batch. `pred` and `target` are class ids of the same shape (numpy or torch, any device).

        Raises:
            ValueError: shapes differ. (A prediction outside [0, num_classes) or a label that is neither a
                class id nor the ignore index raises when the matrix is read: a wrong class list must
                not pass unnoticed, but checking here would stall the GPU every batch.)
        """
        p, t = _as_tensor(pred), _as_tensor(target)
        if p.shape != t.shape:
            raise ValueError(f"prediction shape {tuple(p.shape)} differs from label shape {tuple(t.shape)}")
        if p.device != t.device:
            p = p.to(t.device)
        p, t = p.reshape(-1).long(), t.reshape(-1).long()
        n = self.num_classes
        if self._counts is None:
            self._counts = torch.zeros(n * n + 1, dtype=torch.int64, device=t.device)
            self._bad_label = torch.full((), _NONE, dtype=torch.int64, device=t.device)
            self._bad_pred = torch.full((), _NONE, dtype=torch.int64, device=t.device)
        elif t.device != self._counts.device:
            p, t = p.to(self._counts.device), t.to(self._counts.device)
        self._host = None
        if not t.numel():
            return
        labelled = t != self.ignore_index
        class_t = (t >= 0) & (t < n)
        class_p = (p >= 0) & (p < n)
        bad_t = labelled & ~class_t
        bad_p = labelled & class_t & ~class_p
        counted = labelled & class_t & class_p
        # scatter_add_ in place: no host sync (bincount on CUDA reads the maximum back to size its output)
        self._counts.scatter_add_(0, torch.where(counted, t * n + p, n * n), torch.ones_like(t))
        torch.maximum(self._bad_label, torch.where(bad_t, t, _NONE).amax(), out=self._bad_label)
        torch.maximum(self._bad_pred, torch.where(bad_p, p, _NONE).amax(), out=self._bad_pred)

    @property
    def mat(self) -> np.ndarray:
        """The n × n int64 counts on the host (one copy from the device per read after an update).

        Raises:
            ValueError: a label was neither a class id nor the ignore index, or a prediction was outside
                0..n-1 (naming the value).
        """
        if self._host is None:
            n = self.num_classes
            if self._counts is None:
                self._host = np.zeros((n, n), np.int64)
            else:
                host = (
                    torch.cat([self._counts[: n * n], self._bad_label.view(1), self._bad_pred.view(1)])
                    .cpu()
                    .numpy()
                )
                bad_label, bad_pred = int(host[-2]), int(host[-1])
                if bad_label != _NONE:
                    raise ValueError(
                        f"label value {bad_label} is not a class id (0..{n - 1}) or {self.ignore_index}"
                    )
                if bad_pred != _NONE:
                    raise ValueError(f"prediction value {bad_pred} is outside 0..{n - 1}")
                self._host = host[: n * n].reshape(n, n)
        return self._host

    def merge(self, other: ConfusionMatrix) -> ConfusionMatrix:
        """Add another matrix (e.g. from a data-loader worker) into this one; returns self."""
        if other.num_classes != self.num_classes:
            raise ValueError(
                f"cannot merge a {other.num_classes}-class matrix into a {self.num_classes}-class one"
            )
        self._set(torch.from_numpy(self.mat + other.mat))
        return self

    def reduce_(self, fn: Callable[[torch.Tensor], Any], device: str | torch.device | None = None) -> None:
        """Combine across processes in place, e.g. ``cm.reduce_(torch.distributed.all_reduce, device="cuda")``.

        `fn` gets the matrix as an int64 tensor on `device` (default: where it is kept); it may change it
        in place (all_reduce) or return a new tensor, which then replaces the matrix.
        """
        self.mat  # noqa: B018 - raises on values that are not classes before anything is combined
        t = self.tensor.clone()
        if device is not None:
            t = t.to(device)
        out = fn(t)
        self._set(out if isinstance(out, torch.Tensor) else t)

    def _set(self, m: torch.Tensor) -> None:
        n = self.num_classes
        m = m.detach().to(torch.int64).reshape(n * n)
        self._counts = torch.cat([m, torch.zeros(1, dtype=torch.int64, device=m.device)])
        self._bad_label = torch.full((), _NONE, dtype=torch.int64, device=m.device)
        self._bad_pred = torch.full((), _NONE, dtype=torch.int64, device=m.device)
        self._host = None

    def reset(self) -> None:
        self._counts = self._bad_label = self._bad_pred = self._host = None

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


def report_dict(
    cm: ConfusionMatrix, class_names: Sequence[str], images: int, *, labelled_only: bool = False
) -> dict:
    """The `report.json` of `segtool eval` / training (fields in docs/training.md, plus extras).

    Args:
        cm: the accumulated matrix.
        class_names: names in class-id order.
        images: how many images were evaluated.
        labelled_only: a class without a labelled pixel gets IoU None and is left out of mIoU even when
            the model predicts it (training runs, as the data check says: an edge class nobody could
            stroke would otherwise score 0 for the start model and None for a fine-tuned one that forgot
            it, and the forgetful model would look better).

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
    if labelled_only:
        unlabelled = cm.mat.sum(axis=1) == 0
        r["iou"] = [None if unlabelled[i] else v for i, v in enumerate(r["iou"])]
        scored = [v for v in r["iou"] if v is not None]
        r["miou"] = float(np.mean(scored)) if scored else None
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
