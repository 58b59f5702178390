"""The Schedule page's presets and time estimates (no Qt): the from-scratch presets, the fine-tuning
preset with the measured defaults of `training.finetune`, and how many repeats each asks for."""

from __future__ import annotations

import math
from dataclasses import dataclass

from segtool.training.finetune import CROPS_PER_EPOCH, FINETUNE_DEFAULTS


@dataclass(frozen=True)
class Preset:
    label: str
    epochs: int
    crop: int
    batch: int
    note: str


PRESETS = {
    "quick": Preset("Quick look", 5, 256, 4, "see whether the labels are learnable at all"),
    "balanced": Preset("Balanced", 30, 384, 8, "a usable model"),
    "best": Preset("Best quality", 80, 512, 8, "the most accurate model these photos allow"),
}
# Starting from a trained model: the settings measured best for correcting it (docs/training.md
# "Fine-tuning a model"); shown, and chosen by default, only for a checkpoint start.
FINETUNE = Preset(
    "Fine-tune (measured defaults)",
    FINETUNE_DEFAULTS["epochs"],
    512,
    FINETUNE_DEFAULTS["batch_size"],
    "corrects the model you start from",
)
FINETUNE_NOTE = (
    "Proposed because you start from a trained model: the settings measured best for correcting one — the backbone "
    "kept as trained, AdamW at learning rate 0.0001, 10 epochs, 4 photos a step, 8 crops an epoch. Faster rates "
    "spoiled fragment models: SGD 0.01 with the whole network learning, and AdamW 0.001 on a new material. Settings "
    "you change are yours; the "
    "run chooses the others and records them. The time shown is on the high side: the backbone does not learn."
)
# Schedule settings the run can choose itself (TrainConfig.auto) while the user leaves them as proposed.
SCHEDULE_AUTO = ("epochs", "repeat", "batch_size", "optimizer", "lr", "freeze_backbone")


def finetune_repeat(n_train: int) -> int:
    """What the run chooses for `repeat` when fine-tuning (training.finetune.auto_repeat)."""
    return max(1, -(-CROPS_PER_EPOCH // max(1, n_train)))


def repeat_for(n_train: int, batch: int) -> int:
    """Show a small training set several times per epoch, so each epoch has at least 4 steps."""
    return max(1, math.ceil(4 * batch / max(1, n_train)))


def estimate_seconds(
    s_per_px: float,
    *,
    epochs: int,
    crop: int,
    batch: int,
    n_train: int,
    repeat: int,
    n_val: int,
    eval_size: int,
) -> float:
    """Training steps at the measured speed, plus validation (a forward pass ≈ 1/3 of a training step on
    a 4:3 photo at `eval_size`), plus ~10 s of start-up."""
    steps = max(1, n_train * repeat // batch)
    train = steps * batch * crop * crop * s_per_px
    val = n_val * eval_size * eval_size * 4 / 3 * s_per_px / 3
    return 10 + epochs * (train + val)
