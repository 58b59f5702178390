"""Training that goes wrong: the loss is not finite, explodes, or the validation loss climbs far above
where it started. The run stops with a plain message and a suggestion, and report.json's `warnings`
records it (problem "diverged").

The scribble case of docs/training.md showed why: fine-tuning the shipped fragment model with the
from-scratch learning rate (SGD 0.01) on strokes on one photo took the validation loss from 0.5 to 566
in 4 epochs while the training loss fell — a model that paints everything rock, with confidence 0.99.
"""

from __future__ import annotations

import math

VAL_LOSS_FACTOR = 10.0  # validation loss this many times its reference = diverged
TRAIN_LOSS_FACTOR = 10.0  # an epoch's mean training loss this many times the first epoch's = exploded
TRY = [
    "a learning rate 10 times lower",
    "fewer epochs",
    "more labels (more photos, or more strokes per photo)",
]


def diverged(
    epoch: int,
    train_loss: float,
    val_loss: float | None,
    first_train_loss: float | None,
    reference_val_loss: float | None,
    reference: str,
) -> dict | None:
    """A report.json warning when the epoch's losses say the run diverged, else None.

    Args:
        train_loss: this epoch's mean training loss; first_train_loss: the first epoch's (None in epoch 1).
        val_loss: this epoch's validation loss (None without validation).
        reference_val_loss: what the validation loss is compared with — the start model's on the same
            frames when fine-tuning, else the first epoch's; `reference` says which, in words.
    """
    why = None
    if not math.isfinite(train_loss) or (val_loss is not None and not math.isfinite(val_loss)):
        why = f"the loss is no longer a number (training {train_loss:.4g}, validation {val_loss})"
    elif (
        val_loss is not None
        and reference_val_loss
        and math.isfinite(reference_val_loss)
        and val_loss > VAL_LOSS_FACTOR * reference_val_loss
    ):
        why = (
            f"the validation loss rose to {val_loss:.4g}, {val_loss / reference_val_loss:.0f} times "
            f"{reference} ({reference_val_loss:.4g})"
        )
    elif (
        first_train_loss
        and math.isfinite(first_train_loss)
        and train_loss > TRAIN_LOSS_FACTOR * first_train_loss
    ):
        why = f"the training loss rose to {train_loss:.4g}, {train_loss / first_train_loss:.0f} times the first epoch's ({first_train_loss:.4g})"
    if why is None:
        return None
    return {
        "class": None,
        "problem": "diverged",
        "message": f"training diverged in epoch {epoch}: {why}; training stopped",
        "try": list(TRY),
    }


def nonfinite_warning(message: str) -> dict:
    """The report.json warning for a loss that became NaN/inf within an epoch (engine.TrainingDiverged)."""
    return {"class": None, "problem": "diverged", "message": message, "try": list(TRY)}
