"""What a training run reports while it works, for progress bars (CLI: tqdm) and the GUI wizard.

Subclass `TrainingEvents` and override what you need; every method is a no-op by default. Events are
called on the thread (and, under torchrun, only in the process of rank 0) that runs the trainer; a GUI
worker turns them into Qt signals. To stop a run, set the `cancel` event passed to `train()`: the
trainer finishes the current step, writes `last.pt` (which `--resume` continues from) and returns with
`TrainResult.stopped == "cancelled"`. Raising KeyboardInterrupt from an event does the same and then
re-raises it (that is what Ctrl-C does in the CLI).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class RunInfo:
    """Sent once before the first step."""

    run_dir: str
    classes: list[str]
    train_images: int
    val_images: int
    epochs: int
    start_epoch: int  # 0 for a new run; the next epoch (0-based) when resumed
    steps_per_epoch: int
    device: str
    world_size: int
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class BatchProgress:
    """After each training step."""

    epoch: int  # 1-based
    epochs: int
    step: int  # 1-based, within the epoch
    steps: int
    loss: float
    lr: float
    images_per_s: float


@dataclass(frozen=True)
class EpochSummary:
    """After each epoch's validation; `metrics` is `training.metrics.report_dict` (or {} without val)."""

    epoch: int  # 1-based
    epochs: int
    train_loss: float
    val_loss: float | None
    lr: float
    seconds: float
    metrics: dict[str, Any]
    is_best: bool


class TrainingEvents:
    """No-op callbacks; override the ones you need."""

    def on_train_start(self, info: RunInfo) -> None: ...

    def on_epoch_start(self, epoch: int, epochs: int) -> None: ...

    def on_batch_end(self, progress: BatchProgress) -> None: ...

    def on_validation_progress(self, done: int, total: int) -> None: ...

    def on_epoch_end(self, summary: EpochSummary) -> None: ...

    def on_message(self, text: str) -> None:
        """A note for the user (initialisation, class weights, checkpoints written)."""

    def on_train_end(self, result: Any) -> None:
        """With the `TrainResult` (also after a cancel)."""
