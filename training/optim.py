"""Optimiser (SGD momentum 0.9 or AdamW, heads optionally faster) and the poly schedule with warm-up."""

from __future__ import annotations

from torch import nn
from torch.optim import SGD, AdamW, Optimizer
from torch.optim.lr_scheduler import LambdaLR

HEAD_PREFIXES = ("classifier.", "aux_classifier.")


def param_groups(model: nn.Module, lr: float, head_lr_mult: float) -> list[dict]:
    """Backbone parameters at `lr`, head parameters (ASPP/decoder and auxiliary head) at lr × mult.

    A new head on a pretrained backbone learns faster with the ×10 the DeepLab papers use.
    """
    backbone, head = [], []
    for name, p in model.named_parameters():
        if p.requires_grad:
            (head if name.startswith(HEAD_PREFIXES) else backbone).append(p)
    groups = [{"params": backbone, "lr": lr, "name": "backbone"}]
    if head:
        groups.append({"params": head, "lr": lr * head_lr_mult, "name": "head"})
    return groups


def build_optimizer(
    model: nn.Module, *, name: str, lr: float, weight_decay: float, head_lr_mult: float = 1.0
) -> Optimizer:
    """`sgd`: momentum 0.9 (DeepLab); `adamw`: betas (0.9, 0.999); weight decay on all parameters, as
    torchvision's segmentation references do."""
    groups = param_groups(model, lr, head_lr_mult)
    if name == "sgd":
        return SGD(groups, lr=lr, momentum=0.9, weight_decay=weight_decay)
    if name == "adamw":
        return AdamW(groups, lr=lr, weight_decay=weight_decay)
    raise ValueError(f"unknown optimizer {name!r}")


def auto_warmup(total_steps: int) -> int:
    """5% of all steps, at most 500: long enough to calm a fresh head, short against the whole run."""
    return min(500, total_steps // 20)


class PolyWithWarmup:
    """LR factor at step t: linear from `start` to 1 over `warmup` steps, times (1 - t/total)^power.

    A class rather than a closure so the scheduler's state_dict records its settings (plain numbers).
    """

    def __init__(self, total_steps: int, warmup: int, power: float = 0.9, start: float = 0.1) -> None:
        self.total, self.warmup, self.power, self.start = max(1, total_steps), warmup, power, start

    def __call__(self, step: int) -> float:
        poly = max(0.0, 1.0 - step / self.total) ** self.power
        if step < self.warmup:
            return poly * (self.start + (1.0 - self.start) * step / self.warmup)
        return poly


def build_scheduler(optimizer: Optimizer, *, total_steps: int, warmup: int, power: float = 0.9) -> LambdaLR:
    """Stepped once per training step."""
    return LambdaLR(optimizer, PolyWithWarmup(total_steps, warmup, power))
