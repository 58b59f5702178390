"""Did training on my labels help? Per-class IoU of the model before and after, on the run's own
validation frames (the labelled frames the run held out), for label mode's "Train on my labels", and the
verdict that decides whether the viewer switches to the new model.

Two sources, same result dict: a run trained with `--init CKPT` records the start model's scores on its
validation frames in report.json (`"start"`), read by `comparison_from_report`; a run without them is
scored here by `compare_on_run`. Qt-free: the app runs it in a background thread when a run started from
label mode finishes.
"""

from __future__ import annotations

import json
import math
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from segtool.base.errors import UserInputError
from segtool.core.engine import Engine
from segtool.core.evaluate import LabelledFrames, evaluate
from segtool.models.checkpoint import Checkpoint, load_checkpoint
from segtool.training.config import TrainConfig
from segtool.training.rundata import open_run_data


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
        raise UserInputError(
            f"{run_dir}: the run held out no validation frames, so there is nothing to compare on; "
            "label more frames (a fifth of them are held out)"
        )

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
            note = (
                f"the model before has classes {', '.join(ck.class_names)}, the labels "
                f"{', '.join(data.class_names)}: only the new model is scored"
            )
    else:
        note = "there was no model before: only the new model is scored"
    models.append(("after", load_checkpoint(after_path)))
    for name, ck in models:
        engine = Engine(ck, device="cpu", threads=threads)
        reports[name] = evaluate(
            engine, frames(), checkpoint_label=name, data_label=str(run_dir), progress=progress, cancel=cancel
        )
    return {"frames": len(samples), "classes": list(data.class_names), **reports, "note": note}


def comparison_from_report(run_dir: str | os.PathLike) -> dict[str, Any] | None:
    """The before/after comparison as `compare_on_run` returns it, read from the run's report.json when
    training recorded the start model's scores there (`"start"`: checkpoint, miou, pixel_accuracy,
    per_class_iou, images — written with `--init CKPT`); None when it did not (or the file is unreadable)."""
    try:
        report = json.loads((Path(run_dir) / "report.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    start = report.get("start") if isinstance(report, dict) else None
    if not isinstance(start, dict) or not isinstance(start.get("per_class_iou"), dict) or "miou" not in start:
        return None
    after = {k: v for k, v in report.items() if k not in ("start", "warnings")}
    if not isinstance(after.get("per_class_iou"), dict):
        return None
    frames = start.get("images", report.get("images"))
    return {
        "frames": int(frames) if isinstance(frames, int) else 0,
        "classes": list(after["per_class_iou"]),
        "before": start,
        "after": after,
        "note": "",
        "from": "report.json",
    }


def _same_file(a: Any, b: Any) -> bool:
    try:
        return Path(str(a)).resolve() == Path(str(b)).resolve()
    except (OSError, ValueError):
        return False


def comparison_for_run(
    run_dir: str | os.PathLike,
    before: Checkpoint | str | os.PathLike | None,
    *,
    before_path: str | os.PathLike | None = None,
    **kwargs: Any,
) -> dict[str, Any]:
    """report.json's recorded comparison when the run has one for the same model (`before_path`, or
    `before` when it is a path: the run may have started from another checkpoint than the one to compare
    with), with no second scoring of the same frames; else `compare_on_run(run_dir, before, **kwargs)`."""
    path = before_path if before_path is not None else (None if isinstance(before, Checkpoint) else before)
    recorded = comparison_from_report(run_dir) if before is not None and path is not None else None
    if recorded is not None and not _same_file(recorded["before"].get("checkpoint"), path):
        recorded = None
    return recorded if recorded is not None else compare_on_run(run_dir, before, **kwargs)


@dataclass(frozen=True)
class Verdict:
    """Is the new model at least as good as the one it would replace in the viewer?

    Attributes:
        better: True = at least as good (switch), False = worse (keep the old one unless the user
            chooses the new one), None = no score to compare (no old model, other classes, no mIoU).
        before, after: the mean IoUs compared (None when missing).
        frames: how many held-out labelled frames they were measured on.
        worst: (class, IoU before, IoU after) of the class that lost most, or None.
    """

    better: bool | None
    before: float | None
    after: float | None
    frames: int
    worst: tuple[str, float, float] | None

    def text(self, few: bool = True) -> str:
        """One sentence with both scores and the frame count, for the dialog and the Results page; `few`:
        add that under 5 frames the numbers are shaky (the dialog's table says it already)."""
        if self.after is None:
            return "The new model could not be scored on the held-out frames."
        few = (
            " — few frames: one frame more or less moves these numbers a lot"
            if few and self.frames < 5
            else ""
        )
        if self.before is None:
            return f"New model: mean IoU {self.after:.3f} on {self.frames} held-out labelled frame(s){few}."
        s = (
            f"Mean IoU on {self.frames} held-out labelled frame(s): old model {self.before:.3f}, "
            f"new model {self.after:.3f}{few}."
        )
        if self.worst is not None and self.worst[2] < self.worst[1]:
            s += f" Largest loss: {self.worst[0]} {self.worst[1]:.3f} → {self.worst[2]:.3f}."
        return s


def _finite(v: Any) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) else None


def verdict(result: dict[str, Any]) -> Verdict:
    """The switch decision for a comparison (`compare_on_run` / `comparison_from_report`): the new model
    is at least as good when its mean IoU on the same held-out frames is not lower than the old one's."""
    before, after = result.get("before"), result.get("after") or {}
    a = _finite(after.get("miou"))
    b = _finite(before.get("miou")) if before else None
    worst = None
    if before:
        pb, pa = before.get("per_class_iou") or {}, after.get("per_class_iou") or {}
        drops = [(n, _finite(pb.get(n)), _finite(pa.get(n))) for n in result.get("classes", pa)]
        drops = [(n, x, y) for n, x, y in drops if x is not None and y is not None]
        if drops:
            worst = min(drops, key=lambda d: d[2] - d[1])
    better = None if a is None or b is None else a >= b
    return Verdict(better, b, a, int(result.get("frames") or 0), worst)


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
    text = (
        "\n".join(rows) + f"\n(on the {result['frames']} labelled frame(s) the run held out for validation)"
    )
    if result["frames"] < 5:
        text += "\nFew frames: these numbers move a lot with one frame more or less."
    if result.get("note"):
        text += f"\nNote: {result['note']}."
    return text
