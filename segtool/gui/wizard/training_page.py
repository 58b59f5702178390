"""Wizard page 4 — Training: live loss and validation-mIoU curves, per-class IoU of the last evaluation,
epoch progress, ETA, device and memory; Cancel (keeps the last checkpoint) and Resume."""

from __future__ import annotations

import html

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWizardPage,
)

from segtool.core.train_progress import format_duration
from segtool.gui.wizard.wording import in_app_words

pg.setConfigOptions(antialias=True, background="w", foreground="k")


def class_iou_plot(title: str) -> pg.PlotWidget:
    w = pg.PlotWidget(title=title)
    w.setYRange(0, 1)
    w.setMouseEnabled(x=False, y=False)
    w.hideButtons()
    return w


def set_class_bars(plot: pg.PlotWidget, names: list[str], values: list[float | None], colors=None) -> None:
    """Bars of per-class IoU; a class absent from labels and predictions gets no bar (and "n/p")."""
    plot.clear()
    xs = list(range(len(names)))
    heights = [v if v is not None else 0.0 for v in values]
    brushes = [pg.mkBrush(*c) for c in colors] if colors else [pg.mkBrush(70, 130, 180)] * len(names)
    plot.addItem(pg.BarGraphItem(x=xs, height=heights, width=0.7, brushes=brushes, pen=pg.mkPen("k")))
    for x, v in zip(xs, values):
        t = pg.TextItem("n/p" if v is None else f"{v:.2f}", anchor=(0.5, 1.0), color="k")
        t.setPos(x, (v or 0.0) + 0.02)
        plot.addItem(t)
    plot.getAxis("bottom").setTicks([[(x, n) for x, n in zip(xs, names)]])
    plot.setYRange(0, 1.1)


def failure_sentence(outcome) -> str:
    """A failed start in plain words, naming the app's buttons (never a traceback or a CLI option)."""
    if outcome.error_type == "PretrainedWeightsUnavailable":
        return (
            "The pretrained weights could not be downloaded — this computer seems to be offline. "
            "Press Choose another start: the model open in the viewer, From scratch, or a weights file "
            "copied from a computer with internet (Local file…)."
        )
    if outcome.user_error:
        text = in_app_words(outcome.message)
        return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")
    return f"Training failed: {in_app_words(outcome.message)}"


class TrainingPage(QWizardPage):
    """Shows the wizard's `TrainingRun`; enabled Next once a best.pt exists and the run has ended."""

    def __init__(self, state, parent=None) -> None:
        super().__init__(parent)
        self.state = state
        self.setTitle("4 · Training")
        self.setSubTitle(
            "You can close this window and keep working; progress stays in the main window's status bar."
        )
        self.headline = QLabel("Starting…")
        self.headline.setTextFormat(Qt.TextFormat.RichText)
        self.headline.setWordWrap(True)  # a long failure is a sentence on two lines, not cut mid-word
        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        self.details = QLabel("")
        self.loss_plot = pg.PlotWidget(title="Loss")
        self.loss_plot.addLegend(offset=(-10, 10))
        self.loss_plot.setLabel("bottom", "epoch")
        self.step_curve = self.loss_plot.plot(pen=pg.mkPen((160, 160, 160)), name="training (steps)")
        self.train_curve = self.loss_plot.plot(
            pen=pg.mkPen((31, 119, 180), width=2), symbol="o", symbolSize=5, name="training"
        )
        self.val_curve = self.loss_plot.plot(
            pen=pg.mkPen((255, 127, 14), width=2), symbol="o", symbolSize=5, name="validation"
        )
        self.miou_plot = pg.PlotWidget(title="Validation mIoU")
        self.miou_plot.setLabel("bottom", "epoch")
        self.miou_plot.setYRange(0, 1)
        self.miou_curve = self.miou_plot.plot(pen=pg.mkPen((44, 160, 44), width=2), symbol="o", symbolSize=6)
        self.class_plot = class_iou_plot("IoU per class (last evaluation)")
        self.log = QPlainTextEdit(readOnly=True)
        self.log.setMaximumBlockCount(500)
        self.log.setMaximumHeight(90)
        self.cancel_btn = QPushButton("Cancel (keeps the last checkpoint)")
        self.resume_btn = QPushButton("Resume")
        self.another_btn = QPushButton("Choose another start")
        self.another_btn.setToolTip("Back to the Model page; the data and schedule you chose are kept")
        self.another_btn.hide()
        self.cancel_btn.clicked.connect(self.cancel)
        self.resume_btn.clicked.connect(self.resume)
        self.another_btn.clicked.connect(lambda: self.state.choose_another_start())
        self._shown_lines = 0

        plots = QGridLayout()
        plots.addWidget(self.loss_plot, 0, 0)
        plots.addWidget(self.miou_plot, 0, 1)
        plots.addWidget(self.class_plot, 1, 0, 1, 2)
        buttons = QHBoxLayout()
        buttons.addWidget(self.cancel_btn)
        buttons.addWidget(self.resume_btn)
        buttons.addWidget(self.another_btn)
        buttons.addStretch(1)
        lay = QVBoxLayout(self)
        lay.addWidget(self.headline)
        lay.addWidget(self.bar)
        lay.addWidget(self.details)
        lay.addLayout(plots, 1)
        lay.addWidget(self.log)
        lay.addLayout(buttons)

    def initializePage(self) -> None:  # noqa: N802
        run = self.state.run
        if run is not None:
            run.changed.connect(self.refresh, Qt.ConnectionType.UniqueConnection)
            run.ended.connect(self._ended, Qt.ConnectionType.UniqueConnection)
        self._shown_lines = 0
        self.log.clear()
        self.another_btn.setVisible(
            run is not None and run.outcome is not None and run.outcome.kind == "error"
        )
        self.refresh()

    def cancel(self) -> None:
        if self.state.run is not None and self.state.run.running:
            self.state.run.cancel()
            self.cancel_btn.setEnabled(False)
            self.headline.setText("<b>Stopping after the current step…</b> (saving last.pt)")

    def resume(self) -> None:
        if self.state.run is not None and self.state.run.can_resume:
            self.state.run.start(resume=True)
            self.refresh()
            self.completeChanged.emit()

    def _ended(self, outcome) -> None:
        color = {"finished": "#1b7f3a", "cancelled": "#8a5a00"}.get(outcome.kind, "#b00020")
        if outcome.warnings:
            color = "#8a5a00"  # finished, but the model is useless: not green
            for line in outcome.warnings:
                self.log.appendPlainText(f"Warning: {line}")
        message = failure_sentence(outcome) if outcome.kind == "error" else outcome.message
        self.headline.setText(f"<b style='color:{color}'>{html.escape(message)}</b>")
        self.another_btn.setVisible(outcome.kind == "error")
        if outcome.kind in ("error", "died"):
            self.log.appendPlainText(message)
            if outcome.details and not outcome.user_error:  # a crash: the details help a bug report
                self.log.appendPlainText(outcome.details.strip()[-3000:])
        self.refresh(keep_headline=True)
        self.completeChanged.emit()

    def refresh(self, keep_headline: bool = False) -> None:
        run = self.state.run
        if run is None:
            return
        p = run.progress
        running = run.running
        self.cancel_btn.setEnabled(running and not (run.proc and run.proc.cancel_requested))
        self.resume_btn.setEnabled(run.can_resume)
        self.bar.setValue(int(1000 * p.fraction()))
        if running and not keep_headline:
            if p.phase == "downloading" and p.download:
                done, total = p.download
                size = f"{done / 2**20:.0f} of {total / 2**20:.0f} MB" if total else f"{done / 2**20:.0f} MB"
                self.headline.setText(f"<b>Downloading pretrained weights</b> — {size}")
                if total:
                    self.bar.setValue(int(1000 * done / total))
            elif p.phase == "starting" or not p.epochs or not p.steps:  # never "Epoch 0 of 0 — step 0 / 0"
                self.headline.setText("<b>Starting</b> — reading the dataset and building the model…")
            elif p.phase == "validating":
                self.headline.setText(
                    f"<b>Epoch {p.epoch} of {p.epochs}</b> — validating {p.val_done} / {p.val_total} photos"
                )
            else:
                self.headline.setText(f"<b>Epoch {p.epoch} of {p.epochs}</b> — step {p.step} / {p.steps}")
        best = f"best mIoU {p.best_miou:.3f}" if p.best_miou is not None else "no validation yet"
        self.details.setText(
            f"Time left ≈ {format_duration(p.eta_s()) if running else '—'} · {best} · device {p.device or '…'} · "
            f"memory {p.memory or '…'} · {p.images_per_s:.1f} photos/s"
        )
        if p.losses:
            xs, ys = zip(*p.losses)
            self.step_curve.setData(list(xs), list(ys))
        rows = p.epochs_rows
        self.train_curve.setData([r["epoch"] for r in rows], [r["train_loss"] for r in rows])
        val = [r for r in rows if r.get("val_loss") is not None]
        self.val_curve.setData([r["epoch"] for r in val], [r["val_loss"] for r in val])
        mi = [r for r in rows if r.get("miou") is not None]
        self.miou_curve.setData([r["epoch"] for r in mi], [r["miou"] for r in mi])
        per_class = p.last_metrics.get("per_class_iou") or {}
        if per_class and getattr(self, "_bars_for", None) is not p.last_metrics:
            self._bars_for = p.last_metrics
            colors = self.state.check.colors if self.state.check is not None else None
            set_class_bars(self.class_plot, list(per_class), list(per_class.values()), colors)
        for line in p.messages[self._shown_lines :]:
            self.log.appendPlainText(line)
        self._shown_lines = len(p.messages)
        self.state.progress_changed()

    def isComplete(self) -> bool:  # noqa: N802 - results once the run ended with a model to show
        run = self.state.run
        return run is not None and not run.running and (run.run_dir / "best.pt").exists()
