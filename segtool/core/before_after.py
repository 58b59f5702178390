"""Did training on my labels help? Per-class IoU of the model before and after, on the run's own
validation frames (the labelled frames the run held out), for label mode's "Train on my labels".

Qt-free: the app runs it in a background thread when a run started from label mode finishes.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from models.checkpoint import Checkpoint, load_checkpoint
from models.errors import UserInputError
from segtool.core.engine import Engine
from segtool.core.evaluate import LabelledFrames, evaluate
from training.config import TrainConfig
from training.rundata import open_run_data


def compare_on_run(
    run_dir: str | os.PathLike,
    before: Checkpoint | str | os.PathLike | None,
    *,
    after: str | os.PathLike | None = None,
    threads: int | None = None,
    cancel: threading.Event | None = None,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Score `before` (the model the run started from; None: none) and the run's `best.pt` on the run's
    validation frames, exactly as the run split them (its config.json).

    Returns:
        {"frames": n, "classes": [...], "before": report | None, "after": report, "note": str}; a report
        is `segtool.core.evaluate.evaluate`'s (per_class_iou, miou, …). "before" is None when there was no
        model or its classes differ from the run's (the note says which).

    Raises:
        UserInputError: the run folder has no config.json / best.pt, or no validation frames.
    """
    run_dir = Path(run_dir)
    if not (run_dir / "config.json").is_file():
        raise UserInputError(f"{run_dir} has no config.json; it is not a finished training run")
    after_path = Path(after) if after is not None else run_dir / "best.pt"
    if not after_path.is_file():
        raise UserInputError(f"{after_path} does not exist; the run did not finish an epoch")
    rd = open_run_data(TrainConfig.load(run_dir / "config.json"))
    data, samples = rd.val_data, rd.val
    if not samples:
        raise UserInputError(f"{run_dir}: the run held out no validation frames, so there is nothing to compare on; "
                             "label more frames (a fifth of them are held out)")  # fmt: skip

    def frames() -> LabelledFrames:
        pairs = ((data.load_image(s), (lambda s=s: data.load_mask(s))) for s in samples)
        return LabelledFrames(pairs, len(samples), {"split": "val", "run": str(run_dir)})

    note = ""
    reports: dict[str, Any] = {"before": None}
    models: list[tuple[str, Checkpoint]] = []
    if before is not None:
        ck = before if isinstance(before, Checkpoint) else load_checkpoint(before)
        if ck.class_names == data.class_names:
            models.append(("before", ck))
        else:
            note = (f"the model before has classes {', '.join(ck.class_names)}, the labels "
                    f"{', '.join(data.class_names)}: only the new model is scored")  # fmt: skip
    else:
        note = "there was no model before: only the new model is scored"
    models.append(("after", load_checkpoint(after_path)))
    for name, ck in models:
        engine = Engine(ck, device="cpu", threads=threads)
        reports[name] = evaluate(engine, frames(), checkpoint_label=name, data_label=str(run_dir), progress=progress,
                                 cancel=cancel)  # fmt: skip
    return {"frames": len(samples), "classes": list(data.class_names), **reports, "note": note}


def format_comparison(result: dict[str, Any]) -> str:
    """A plain-text table: class, IoU before, IoU after, change."""
    rows = [f"{'class':16s} {'before':>7s} {'after':>7s} {'change':>7s}"]
    before = (result.get("before") or {}).get("per_class_iou", {})
    after = result["after"]["per_class_iou"]

    def f(v):
        return "   –   " if v is None else f"{v:7.3f}"

    for name in result["classes"]:
        b, a = before.get(name), after.get(name)
        change = f"{a - b:+7.3f}" if a is not None and b is not None else "       "
        rows.append(f"{name[:16]:16s} {f(b)} {f(a)} {change}")
    mb = (result.get("before") or {}).get("miou")
    rows.append(f"{'mean IoU':16s} {f(mb)} {f(result['after']['miou'])}")
    text = "\n".join(rows) + f"\n(on the {result['frames']} labelled frame(s) the run held out for validation)"
    if result["frames"] < 5:
        text += "\nFew frames: these numbers move a lot with one frame more or less."
    if result.get("note"):
        text += f"\nNote: {result['note']}."
    return text
