"""Wizard page 5 — Results: per-class IoU (absent classes shown as "not present"), mIoU, pixel accuracy,
the confusion matrix as a heatmap, a few validation photos with prediction vs label; "Use this model"
and "Export report"."""

from __future__ import annotations

import html
import json
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QColor, QDesktopServices, QPixmap
from PySide6.QtWidgets import (
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
    QWizardPage,
)

from segtool.core.overlay import colorize
from segtool.core.runs import read_report
from segtool.gui.canvas import to_qimage
from segtool.gui.wizard.confusion import ConfusionHeatmap, save_confusion_png
from segtool.gui.wizard.jobs import ExamplesJob, stop_thread

THUMB = 150
AMBER = "QLabel { background: #fff4d6; border: 1px solid #e0b84a; border-radius: 4px; padding: 6px; color: #3a2c00; }"
USELESS_PROBLEMS = ("never_predicted", "iou_zero", "predicts_one_class")  # training.diagnose.model_warnings


def label_rgb(ids: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """Colour a label/prediction; ignored pixels (255) grey so they are not mistaken for a class."""
    rgb = colorize(np.where(ids == 255, 0, ids).astype(np.uint8), palette)
    rgb[ids == 255] = (128, 128, 128)
    return rgb


def export_report(report: dict, folder: str | Path, extra: dict | None = None) -> tuple[Path, Path]:
    """Write `report.json` and `confusion_matrix.png` into `folder`."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    js = folder / "report.json"
    js.write_text(json.dumps({**report, **(extra or {})}, indent=2) + "\n", encoding="utf-8")
    return js, save_confusion_png(report, folder / "confusion_matrix.png")


class ResultsPage(QWizardPage):
    """The best epoch's validation report of the run, read from RUN/report.json."""

    def __init__(self, state, parent=None) -> None:
        super().__init__(parent)
        self.state = state
        self.setTitle("5 · Results")
        self.setSubTitle("How well the best epoch's model does on the validation photos.")
        self.report: dict | None = None
        self.job: ExamplesJob | None = None
        self.summary = QLabel("")
        self.summary.setWordWrap(True)
        # A model that never predicts a labelled class: said first, in words, with what to try.
        self.warning = QLabel("")
        self.warning.setWordWrap(True)
        self.warning.setTextFormat(Qt.TextFormat.RichText)
        self.warning.setStyleSheet(AMBER)
        self.warning.hide()
        # Label mode's before/after verdict: amber when the viewer kept the old model, and why.
        self.comparison_note = QLabel("")
        self.comparison_note.setWordWrap(True)
        self.comparison_note.setTextFormat(Qt.TextFormat.RichText)
        self.comparison_note.hide()
        self.table = QTableWidget(0, 3)
        self.table.setHorizontalHeaderLabels(["Class", "IoU", "Share of pixels"])
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.heatmap = ConfusionHeatmap()
        self.examples = QWidget()
        self.examples_grid = QGridLayout(self.examples)
        self.examples_note = QLabel("Predicting a few validation photos…")
        self.use_btn = QPushButton("Use this model")
        self.use_btn.setToolTip("Load best.pt into the viewer")
        self.export_btn = QPushButton("Export report…")
        self.export_btn.setToolTip("report.json + a PNG of the confusion matrix")
        folder_btn = QPushButton("Open run folder")
        self.use_btn.clicked.connect(self.use_model)
        self.export_btn.clicked.connect(self._choose_export)
        folder_btn.clicked.connect(
            lambda: QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.state.config.get("output", ""))))
        )

        top = QHBoxLayout()
        left = QVBoxLayout()
        left.addWidget(self.comparison_note)
        left.addWidget(self.warning)
        left.addWidget(self.summary)
        left.addWidget(self.table, 1)
        top.addLayout(left, 1)
        top.addWidget(self.heatmap, 1)
        buttons = QHBoxLayout()
        buttons.addWidget(self.use_btn)
        buttons.addWidget(self.export_btn)
        buttons.addWidget(folder_btn)
        buttons.addStretch(1)
        lay = QVBoxLayout(self)
        lay.addLayout(top, 3)
        lay.addWidget(QLabel("<b>Validation photos</b> — photo · label · prediction (grey = not labelled)"))
        lay.addWidget(self.examples_note)
        lay.addWidget(self.examples, 2)
        lay.addLayout(buttons)

    @property
    def run_dir(self) -> Path:
        return Path(self.state.config["output"])

    def initializePage(self) -> None:  # noqa: N802
        self.report = read_report(self.run_dir)
        r = self.report
        if r is None:
            self.summary.setText(
                "This run had no validation photos, so there are no scores. The model is best.pt."
            )
            self.table.setRowCount(0)
        else:
            run = self.state.run
            epochs = run.progress.epochs if run is not None else self.state.config.get("epochs", "?")
            fmt = lambda v: "—" if v is None else f"{v:.3f}"  # noqa: E731
            self.summary.setText(
                f"<p style='font-size:14pt'>mIoU <b>{fmt(r.get('miou'))}</b> · pixel accuracy "
                f"<b>{fmt(r.get('pixel_accuracy'))}</b></p><p>best epoch {r.get('epoch', '?')} of {epochs}, scored on "
                f"{r.get('images', '?')} validation photo(s). IoU: the overlap of predicted and labelled area "
                "(1 = perfect).</p>"
            )
            self._fill_table(r)
            self.heatmap.set_report(r)
        self._show_warnings((r or {}).get("warnings") or [])
        self._start_examples()

    def show_comparison_note(self, text: str, *, warn: bool) -> None:
        """Say on this page what the viewer did with the new model (rich text): amber when it kept the old
        one, plain when it switched."""
        self.comparison_note.setStyleSheet(AMBER if warn else "QLabel { padding: 6px; }")
        self.comparison_note.setText(("⚠ " if warn else "") + text)
        self.comparison_note.show()

    def _show_warnings(self, warnings: list[dict]) -> None:
        self.warning.setVisible(bool(warnings))
        if not warnings:
            return

        def cap(t: str) -> str:
            return html.escape(t[:1].upper() + t[1:])

        items = "".join(f"<li>{cap(str(w.get('message', w)))}.</li>" for w in warnings)
        tries: list[str] = []
        for (
            w
        ) in warnings:  # training's own warnings (divergence, worse than the start) may come without advice
            tries += [t for t in w.get("try") or [] if t not in tries]
        useless = all(w.get("problem") in USELESS_PROBLEMS for w in warnings)
        head = (
            "<b>⚠ This model is not useful yet</b> — the scores below look better than the model is."
            if useless
            else "<b>⚠ Training warned about this model</b>"
        )
        advice = (
            (
                "What to try, in a new run (<b>Train…</b> in the main window):"
                f"<ul style='margin:2px'>{''.join(f'<li>{cap(t)}</li>' for t in tries)}</ul>"
            )
            if tries
            else ""
        )
        self.warning.setText(f"{head}<ul style='margin:2px'>{items}</ul>{advice}")

    def _fill_table(self, r: dict) -> None:
        per, share = r.get("per_class_iou") or {}, r.get("pixel_share") or {}
        colors = self.state.check.colors if self.state.check is not None else []
        self.table.setRowCount(len(per))
        for row, (name, iou) in enumerate(per.items()):
            item = QTableWidgetItem(name)
            if row < len(colors):
                item.setData(
                    Qt.ItemDataRole.DecorationRole, QColor(*colors[row])
                )  # a colour swatch beside the name
            cells = (
                item,
                QTableWidgetItem("not present" if iou is None else f"{iou:.3f}"),
                QTableWidgetItem(f"{100 * share.get(name, 0.0):.2f} %"),
            )
            if iou is None:
                cells[1].setToolTip(
                    "neither labelled nor predicted in the validation photos: left out of the mIoU"
                )
            for col, it in enumerate(cells):
                self.table.setItem(row, col, it)
        self.table.resizeColumnsToContents()

    def _start_examples(self) -> None:
        stop_thread(self.job)
        best = self.run_dir / "best.pt"
        if not best.exists():
            self.examples_note.setText("No model to show (best.pt is missing).")
            return
        self.examples_note.setText("Predicting a few validation photos…")
        self.job = ExamplesJob(self.state.config, str(best), count=4, parent=self)
        self.job.done.connect(self._show_examples)
        self.job.failed.connect(self._examples_failed)
        self.job.start()

    def _examples_failed(self, message: str) -> None:
        self.examples_note.setText(f"Could not predict the examples: {html.escape(message)}")

    def _show_examples(self, examples: list, palette: np.ndarray) -> None:
        while self.examples_grid.count():
            w = self.examples_grid.takeAt(0).widget()
            if w is not None:
                w.deleteLater()
        for row, ex in enumerate(examples):
            for col, rgb in enumerate((ex.rgb, label_rgb(ex.label, palette), label_rgb(ex.pred, palette))):
                lbl = QLabel()
                lbl.setPixmap(
                    QPixmap.fromImage(to_qimage(rgb)).scaled(
                        THUMB,
                        THUMB,
                        Qt.AspectRatioMode.KeepAspectRatio,
                        Qt.TransformationMode.SmoothTransformation,
                    )
                )
                lbl.setToolTip(ex.name)
                self.examples_grid.addWidget(lbl, row // 2, (row % 2) * 3 + col)  # two photos per row
        self.examples_note.setText(
            f"{len(examples)} validation photo(s): " + ", ".join(e.name for e in examples)
        )
        self.shown_examples = len(examples)

    def use_model(self) -> None:
        self.state.use_model(str(self.run_dir / "best.pt"))

    def _choose_export(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Export the report into", str(self.run_dir))
        if folder:
            self.export(folder)

    def export(self, folder: str | Path) -> tuple[Path, Path] | None:
        if self.report is None:
            QMessageBox.information(self, "No report", "This run has no validation report to export.")
            return None
        extra = {"run": str(self.run_dir), "config": self.state.config}
        paths = export_report(self.report, folder, extra)
        self.state.status(f"Report written: {paths[0]} and {paths[1].name}")
        return paths

    def shutdown(self) -> None:
        stop_thread(self.job)
