"""Fold the training child's events (`segtool.core.train_process`) into what a progress view shows:
curves, the last evaluation, epoch/step, overall fraction, ETA, device and memory. No Qt."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from segtool.core.runs import read_history


@dataclass
class TrainProgress:
    """The state of one run as its events arrive; `update(event)` for each.

    Attributes:
        phase: "starting", "downloading", "training", "validating" or "ended".
        losses: (epoch as a fraction, training loss) per reported step, for the loss curve.
        epochs_rows: per finished epoch: epoch, train_loss, val_loss, miou, pixel_accuracy.
        last_metrics: the last validation report (per_class_iou, miou, confusion_matrix …).
        messages: notes from the trainer (initialisation, class weights, dataset warnings).
    """

    phase: str = "starting"
    run_dir: str = ""
    classes: list[str] = field(default_factory=list)
    device: str = ""
    memory: str = ""
    epochs: int = 0
    steps: int = 0
    start_epoch: int = 0
    epoch: int = 0
    step: int = 0
    images_per_s: float = 0.0
    val_done: int = 0
    val_total: int = 0
    download: tuple[int, int | None] | None = None
    losses: list[tuple[float, float]] = field(default_factory=list)
    epochs_rows: list[dict[str, Any]] = field(default_factory=list)
    last_metrics: dict[str, Any] = field(default_factory=dict)
    messages: list[str] = field(default_factory=list)
    _t_first: float | None = None
    _f_first: float = 0.0

    def update(self, ev: dict[str, Any], now: float | None = None) -> None:
        """Apply one event from the child."""
        now = time.monotonic() if now is None else now
        kind = ev.get("event")
        if kind == "download":
            self.phase, self.download = "downloading", (int(ev.get("done") or 0), ev.get("total"))
        elif kind == "start":
            self.phase = "training"
            self.run_dir, self.classes, self.device = ev["run_dir"], list(ev["classes"]), ev["device"]
            self.epochs, self.steps, self.start_epoch = ev["epochs"], ev["steps_per_epoch"], ev["start_epoch"]
            self.epoch = self.start_epoch
            if self.start_epoch and not self.epochs_rows:  # resumed: the curves start with the earlier epochs
                self.epochs_rows = [
                    dict(r, epoch=int(r["epoch"])) for r in read_history(self.run_dir) if r.get("epoch")
                ]
        elif kind == "epoch_start":
            self.phase, self.epoch, self.step = "training", ev["epoch"], 0
        elif kind == "batch":
            self.phase = "training"
            self.epoch, self.step, self.steps = ev["epoch"], ev["step"], ev["steps"]
            self.images_per_s, self.memory = ev.get("images_per_s", 0.0), ev.get("memory", self.memory)
            self.losses.append((ev["epoch"] - 1 + ev["step"] / max(1, ev["steps"]), float(ev["loss"])))
            if self._t_first is None:
                self._t_first, self._f_first = now, self.fraction()
        elif kind == "val_progress":
            self.phase, self.val_done, self.val_total = "validating", ev["done"], ev["total"]
        elif kind == "epoch_end":
            m = ev.get("metrics") or {}
            row = {
                "epoch": ev["epoch"],
                "train_loss": ev["train_loss"],
                "val_loss": ev.get("val_loss"),
                "miou": m.get("miou"),
                "pixel_accuracy": m.get("pixel_accuracy"),
            }
            self.epochs_rows = [r for r in self.epochs_rows if r["epoch"] != ev["epoch"]] + [row]
            if m:
                self.last_metrics = m
            self.memory = ev.get("memory", self.memory)
            self.step = self.steps
        elif kind == "message":
            self.messages.append(ev["text"])
        elif kind in ("end", "error"):
            self.phase = "ended"

    def fraction(self) -> float:
        """Share of all steps done (validation counted as part of its epoch)."""
        if not self.epochs or not self.steps:
            return 0.0
        done = (max(self.epoch, 1) - 1) * self.steps + self.step
        return min(1.0, done / (self.epochs * self.steps))

    def eta_s(self, now: float | None = None) -> float | None:
        """Seconds left, from the pace since the first step of this session (validations included)."""
        now = time.monotonic() if now is None else now
        if self._t_first is None:
            return None
        f = self.fraction()
        gained = f - self._f_first
        if gained <= 0 or now <= self._t_first:
            return None
        return (now - self._t_first) * (1.0 - f) / gained

    @property
    def best_miou(self) -> float | None:
        vals = [r["miou"] for r in self.epochs_rows if r.get("miou") is not None]
        return max(vals) if vals else None


def format_duration(seconds: float | None) -> str:
    """ "1 h 05 min", "12 min", "40 s"; "—" when unknown."""
    if seconds is None:
        return "—"
    s = int(round(seconds))
    if s >= 3600:
        return f"{s // 3600} h {s % 3600 // 60:02d} min"
    if s >= 60:
        return f"{round(s / 60)} min"
    return f"{s} s"
