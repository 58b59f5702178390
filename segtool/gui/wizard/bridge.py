"""`TrainingRun`: the window's handle on a training child process.

The child (`segtool.core.train_process`) does all the work; this object only polls its events with a
QTimer on the GUI thread (reading a queue filled by a reader thread: it never blocks), folds them into
a `TrainProgress`, and emits Qt signals. If the child dies, `ended` carries an outcome that says so
and how to continue; the window is never affected.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from segtool.core.train_process import TrainOutcome, TrainProcess
from segtool.core.train_progress import TrainProgress

POLL_MS = 100


class TrainingRun(QObject):
    """Start, watch, cancel and resume one run.

    Signals:
        changed(): new progress (read `progress`).
        ended(TrainOutcome): the child exited (finished, cancelled, error or died).
    """

    changed = Signal()
    ended = Signal(object)

    def __init__(self, config: dict[str, Any], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.config = dict(config)
        self.progress = TrainProgress()
        self.outcome: TrainOutcome | None = None
        self.proc: TrainProcess | None = None
        self._timer = QTimer(self, interval=POLL_MS)
        self._timer.timeout.connect(self._poll)

    @property
    def run_dir(self) -> Path:
        return Path(self.config["output"])

    @property
    def running(self) -> bool:
        return self.proc is not None and self.outcome is None

    @property
    def can_resume(self) -> bool:
        return (
            not self.running
            and (self.run_dir / "last.pt").exists()
            and (self.outcome is None or self.outcome.kind != "finished")
        )

    def start(self, *, resume: bool = False) -> None:
        """Start the child (a fresh run, or with `resume` the continuation of `run_dir`)."""
        if self.running:
            return
        self.outcome = None
        keep = self.progress.epochs_rows if resume else []
        self.progress = TrainProgress(epochs_rows=list(keep))
        self.proc = TrainProcess(self.config, resume=resume).start()
        self._timer.start()
        self.changed.emit()

    def cancel(self) -> None:
        if self.running and self.proc is not None:
            self.proc.cancel()

    def _poll(self) -> None:
        if self.proc is None:
            return
        events = self.proc.poll()
        for ev in events:
            self.progress.update(ev)
        if events:
            self.changed.emit()
        if not self.proc.running:
            for ev in self.proc.poll():  # whatever arrived between the two checks
                self.progress.update(ev)
            self._timer.stop()
            self.proc.wait(5)
            self.outcome = self.proc.outcome()
            self.progress.phase = "ended"
            self.changed.emit()
            self.ended.emit(self.outcome)

    def shutdown(self, grace_s: float = 30.0) -> None:
        """Stop the child (cancel → last.pt written; kill after `grace_s`) and wait for it."""
        self._timer.stop()
        if self.proc is not None:
            self.proc.shutdown(grace_s)
