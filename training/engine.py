"""The training step and the evaluation loop as plain functions (torchvision references style).

`train_one_epoch` runs the steps of one epoch; `evaluate` scores a model on full-resolution labels with
the checkpoint's own preprocessing. The `Trainer` (trainer.py) orchestrates them; nothing here writes
files.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from contextlib import nullcontext
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from segtool.base.errors import UserInputError
from segtool.models.confidence import rescaled_mean
from segtool.models.preprocess import Preprocess
from segtool.training import distributed
from segtool.training.metrics import ConfusionMatrix


class TrainingDiverged(UserInputError):
    """The loss became NaN or infinite, or exploded (training.divergence); the message says what to change.
    `recorded`: report.json already holds the warning."""

    def __init__(self, message: str, *, recorded: bool = False) -> None:
        super().__init__(message)
        self.recorded = recorded


@dataclass
class EpochStats:
    """Running totals of one epoch (kept across a mid-epoch interrupt so a resume continues them)."""

    loss_sum: float = 0.0
    steps: int = 0  # steps done in this epoch
    images: int = 0
    seconds: float = 0.0
    lr: float = 0.0  # learning rate of the last step (backbone group)
    stopped: bool = False  # interrupted before the epoch's last step

    @property
    def mean_loss(self) -> float:
        return self.loss_sum / self.steps if self.steps else float("nan")


def autocast(device: torch.device, dtype: torch.dtype | None):
    return torch.autocast(device.type, dtype=dtype) if dtype is not None else nullcontext()


def train_one_epoch(
    model: nn.Module,
    criterion: Callable[[dict[str, torch.Tensor], torch.Tensor], torch.Tensor],
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    loader: Iterable,
    device: torch.device,
    *,
    stats: EpochStats,
    amp_dtype: torch.dtype | None = None,
    scaler: torch.amp.GradScaler | None = None,
    channels_last: bool = False,
    on_step: Callable[[EpochStats, float, float], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    where: str = "",
    frozen: nn.Module | None = None,
) -> EpochStats:
    """Train over `loader` (the batches still to do in this epoch), updating `stats` in place.

    Args:
        stats: totals so far (non-zero when resuming mid-epoch).
        amp_dtype: autocast dtype (CUDA) or None for fp32.
        scaler: gradient scaler for float16 autocast.
        on_step: called after every step as on_step(stats, loss, lr).
        should_stop: checked after every step; True ends the epoch early with `stats.stopped`.
        where: "epoch 3" etc., for the divergence message.
        frozen: a part of the model (a frozen backbone) kept in eval mode: its BatchNorm statistics stay.

    Raises:
        TrainingDiverged: the loss is not finite (on any process).
    """
    model.train()
    if frozen is not None:
        frozen.eval()
    for images, targets in loader:
        t0 = time.perf_counter()
        images = images.to(device, non_blocking=True)
        targets = targets.to(device, non_blocking=True)
        if channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        with autocast(device, amp_dtype):
            outputs = model(images)
        loss = criterion(outputs, targets)  # in fp32: the criterion upcasts the logits

        # The mean over processes both logs one number and makes every rank take the same decision.
        reduced = distributed.all_reduce_sum(
            loss.detach().float().reshape(1).to(distributed.reduce_device(device))
        )
        loss_value = float(reduced.item()) / distributed.current().world_size
        lr = optimizer.param_groups[0]["lr"]
        if not torch.isfinite(torch.tensor(loss_value)):
            raise TrainingDiverged(
                f"the training loss became {loss_value} at {where} step {stats.steps + 1} (learning rate {lr:.3g}); "
                "training stopped. Lower --lr (e.g. by 10x), keep the warm-up, or check the labels "
                "(`segtool train --check DATA`); last.pt still holds the last good epoch"
            )
        optimizer.zero_grad(set_to_none=True)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
        else:
            loss.backward()
            optimizer.step()
        scheduler.step()

        stats.loss_sum += loss_value
        stats.steps += 1
        stats.lr = lr
        stats.images += images.shape[0]
        dt = time.perf_counter() - t0
        stats.seconds += dt
        if on_step is not None:
            on_step(stats, loss_value, lr)
        if should_stop is not None and should_stop():
            stats.stopped = True
            break
    return stats


@dataclass
class EvalResult:
    matrix: ConfusionMatrix
    loss: float | None
    images: int
    # per image of this process, in the loader's order: the confidence as the app measures it on footage
    # (models.confidence.rescaled_mean); the checkpoint's confidence_reference is made from them
    confidences: list[float] = field(default_factory=list)


@torch.inference_mode()
def evaluate(
    model: nn.Module,
    loader: Iterable,
    device: torch.device,
    *,
    num_classes: int,
    preprocess_cfg: dict,
    ignore_index: int = 255,
    weight: torch.Tensor | None = None,
    amp_dtype: torch.dtype | None = None,
    channels_last: bool = False,
    on_progress: Callable[[int], None] | None = None,
) -> EvalResult:
    """Score `model` on full-resolution labels.

    Each image is resized as `preprocess_cfg` says (the checkpoint's preprocessing), the logits are
    upsampled back to the label's size and compared there, as `segtool eval` / `predict` do. Under
    torchrun every process scores its share and the matrices and losses are summed, so all ranks
    return the same result.

    Args:
        loader: yields (list of uint8 3xHxW images, list of HxW labels) — see `collate_list`.
        weight: class weights for the validation loss (the training criterion's).
        on_progress: called with the number of images done so far (this process).

    Returns:
        The confusion matrix, the mean cross-entropy per labelled pixel (None without labelled
        pixels), the number of images (over all processes) and this process's per-image confidences.
    """
    model.eval()
    pre = Preprocess(preprocess_cfg, device)
    cm = ConfusionMatrix(num_classes, ignore_index)
    # Sums stay on the device and are read once at the end: no batch waits for the GPU to finish.
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    weight_sum = torch.zeros((), dtype=torch.float64, device=device)
    done = 0
    confidences: list[float] = []
    w = weight.to(device) if weight is not None else None
    for images, targets in loader:
        conf = [0.0] * len(images)
        groups: dict[tuple[int, ...], list[int]] = {}
        for i, im in enumerate(images):
            groups.setdefault(tuple(im.shape), []).append(i)
        for idx in groups.values():  # equal sizes run as one batch
            x = torch.stack([images[i] for i in idx]).to(device, non_blocking=True)
            y = torch.stack([targets[i] for i in idx]).to(device, non_blocking=True).long()
            with autocast(device, amp_dtype):
                logits = model(pre(x, channels_last=channels_last))["out"]
            logits = F.interpolate(logits.float(), size=y.shape[-2:], mode="bilinear", align_corners=False)
            cm.update(logits.argmax(1), y)
            top = logits.softmax(1).amax(1)  # the app's confidence map: softmax of the upsampled logits
            for j, i in enumerate(idx):
                conf[i] = rescaled_mean(top[j], num_classes)
            # labels that are no class are reported when the matrix is read; the loss leaves them out
            counted = (y >= 0) & (y < num_classes)
            y = torch.where(counted, y, ignore_index)
            # Per-pixel losses are summed in float64: a float32 sum's result depends on how many threads
            # split it (its order), and the validation loss should not change with the machine's load.
            per_pixel = F.cross_entropy(logits, y, weight=w, ignore_index=ignore_index, reduction="none")
            loss_sum += per_pixel.double().sum()
            weight_sum += (
                (w[torch.where(counted, y, 0)].double() * counted).sum()
                if w is not None
                else counted.sum().double()
            )
            done += len(idx)
        confidences += conf
        if on_progress is not None:
            on_progress(done)
    rd = distributed.reduce_device(device)
    cm.reduce_(distributed.all_reduce_sum, device=rd)
    count = torch.tensor(float(done), dtype=torch.float64, device=loss_sum.device)
    totals = distributed.all_reduce_sum(torch.stack([loss_sum, weight_sum, count]).to(rd)).cpu()
    loss = float(totals[0] / totals[1]) if totals[1] > 0 else None
    return EvalResult(cm, loss, int(totals[2]), confidences)
