"""The Runs view: every training run (CLI or wizard) in the runs folders, and for the selected ones their
validation curves and per-class IoU overlaid, plus the settings that differ between them — the answer
to "how do the learning rate, image size and optimizer change the result?".

Reading is `segtool.core.runs` (small text files only, never a checkpoint), so it runs on the GUI thread.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QColor, QDesktopServices
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from segtool.core.runs import RunSummary, config_differences, default_runs_dir, list_runs
from segtool.core.train_progress import format_duration

COLUMNS = ("Date", "Run", "Data", "Backbone", "Schedule", "Best mIoU", "Time", "State")


def run_color(i: int) -> QColor:
    return pg.intColor(i, hues=9, values=1, maxValue=220)


def legend_name(i: int, r: RunSummary) -> str:
    """Short legend entries that differ between runs: when it started and the network (the end of a long
    name, "…nnotations_seg_resnet50", was the same for every run of a dataset)."""
    m = re.match(r"\d{4}-(\d\d)-(\d\d)_(\d\d)(\d\d)_(.*?)(-\d+)?$", r.name)
    if m:
        net = str(r.config.get("backbone") or "")
        return f"{i + 1}: {m[1]}-{m[2]} {m[3]}:{m[4]}{m[6] or ''} {net}".rstrip()
    name = r.name if len(r.name) <= 24 else r.name[:11] + "…" + r.name[-12:]
    return f"{i + 1}: {name}"


class _Item(QTableWidgetItem):
    """Sorts by a hidden key (numbers as numbers, dates as time)."""

    def __init__(self, text: str, key) -> None:
        super().__init__(text)
        self.key = key

    def __lt__(self, other) -> bool:
        a, b = self.key, getattr(other, "key", None)
        try:
            return (a is None, a) < (b is None, b)
        except TypeError:
            return str(a) < str(b)


class RunsView(QWidget):
    """Runs table + overlaid curves of the selected runs.

    Args:
        roots: runs folders to list (default: `default_runs_dir()`); "Add folder…" adds more.

    Signals:
        openModel(path): "Open in viewer" — the selected run's best.pt.
    """

    openModel = Signal(str)

    def __init__(self, roots: list[str | Path] | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Training runs")
        self.setWindowFlag(Qt.WindowType.Window)
        self.resize(1200, 760)
        self.roots: list[Path] = [Path(r) for r in (roots or [default_runs_dir()])]
        self.runs: list[RunSummary] = []

        self.where = QLabel()
        self.where.setWordWrap(True)
        add_btn, refresh_btn = QPushButton("Add folder…"), QPushButton("Refresh")
        self.open_btn, folder_btn = QPushButton("Open best model in viewer"), QPushButton("Open run folder")
        add_btn.clicked.connect(self._choose_root)
        refresh_btn.clicked.connect(self.refresh)
        self.open_btn.clicked.connect(self._open_model)
        folder_btn.clicked.connect(self._open_folder)
        close_btn = QPushButton("Close")
        close_btn.clicked.connect(self.close)

        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().hide()
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(
            QHeaderView.ResizeMode.ResizeToContents
        )  # State readable without scrolling
        header.setSectionResizeMode(COLUMNS.index("Run"), QHeaderView.ResizeMode.Stretch)
        self.table.itemSelectionChanged.connect(self.update_plots)

        self.miou_plot = pg.PlotWidget(title="Validation mIoU per epoch")
        self.loss_plot = pg.PlotWidget(title="Validation loss per epoch")
        self.class_plot = pg.PlotWidget(title="IoU per class (best epoch)")
        for w in (self.miou_plot, self.loss_plot):
            w.setLabel("bottom", "epoch")
            w.addLegend(offset=(-10, 10))
        self.miou_plot.setYRange(0, 1)
        self.class_plot.setYRange(0, 1.45)  # room above IoU 1 for the legend: it must not cover the bars
        self.class_plot.getAxis("left").setTicks([[(v / 5, f"{v / 5:.1f}") for v in range(6)]])
        self.class_plot.addLegend(offset=(-10, 10))
        self.diff = QTableWidget(0, 0)
        self.close_btn = close_btn
        self.diff.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.diff_note = QLabel("Select two or more runs (Ctrl/Shift+click) to compare their settings.")

        top = QWidget()
        tl = QVBoxLayout(top)
        tl.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        row.addWidget(self.where, 1)
        for b in (add_btn, refresh_btn, self.open_btn, folder_btn, close_btn):
            row.addWidget(b)
        tl.addLayout(row)
        tl.addWidget(self.table)
        plots = QWidget()
        pl = QHBoxLayout(plots)
        pl.setContentsMargins(0, 0, 0, 0)
        for w in (self.miou_plot, self.loss_plot, self.class_plot):
            pl.addWidget(w)
        bottom = QWidget()
        bl = QVBoxLayout(bottom)
        bl.setContentsMargins(0, 0, 0, 0)
        bl.addWidget(self.diff_note)
        bl.addWidget(self.diff)
        split = QSplitter(Qt.Orientation.Vertical)
        for w in (top, plots, bottom):
            split.addWidget(w)
        split.setSizes([260, 320, 160])
        lay = QVBoxLayout(self)
        lay.addWidget(split)
        self.refresh()

    # --- listing ----------------------------------------------------------------------------------

    def add_root(self, path: str | Path) -> None:
        p = Path(path)
        if p not in self.roots:
            self.roots.append(p)
        self.refresh()

    def _choose_root(self) -> None:
        p = QFileDialog.getExistingDirectory(self, "A runs folder (or one run)", str(self.roots[0]))
        if p:
            self.add_root(p)

    def refresh(self) -> None:
        """Read the runs folders again, keeping the selection."""
        keep = {r.path for r in self.selected_runs()}
        self.runs = list_runs(self.roots)
        self.where.setText(
            "Runs in " + " · ".join(str(r) for r in self.roots) + f" — {len(self.runs)} run(s)"
        )
        self.table.setSortingEnabled(False)
        self.table.setRowCount(len(self.runs))
        for row, r in enumerate(self.runs):
            miou = r.best_miou
            cells = [
                _Item(r.date, r.started),
                _Item(r.name, r.name),
                _Item(r.data, r.data),
                _Item(r.backbone, r.backbone),
                _Item(r.schedule, r.schedule),
                _Item("—" if miou is None else f"{miou:.3f}", miou),
                _Item(format_duration(r.seconds) if r.history else "—", r.seconds),
                _Item(f"{r.state} ({r.epochs_done}/{r.config.get('epochs', '?')} ep)", r.state),
            ]
            cells[1].setData(Qt.ItemDataRole.UserRole, str(r.path))
            cells[1].setToolTip(str(r.path))
            for col, item in enumerate(cells):
                self.table.setItem(row, col, item)
        self.table.setSortingEnabled(True)
        self.table.resizeColumnsToContents()
        self.table.clearSelection()
        mode = self.table.selectionMode()
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.MultiSelection)
        for row in range(self.table.rowCount()):
            if Path(self.table.item(row, 1).data(Qt.ItemDataRole.UserRole)) in keep:
                self.table.selectRow(row)
        self.table.setSelectionMode(mode)
        self.update_plots()

    def select_all(self) -> None:
        self.table.selectAll()

    def selected_runs(self) -> list[RunSummary]:
        if not hasattr(self, "table"):
            return []
        by_path = {str(r.path): r for r in self.runs}
        rows = sorted({i.row() for i in self.table.selectedItems()})
        paths = [self.table.item(row, 1).data(Qt.ItemDataRole.UserRole) for row in rows]
        return [by_path[p] for p in paths if p in by_path]

    # --- comparing --------------------------------------------------------------------------------

    def update_plots(self) -> None:
        runs = self.selected_runs()
        for w in (self.miou_plot, self.loss_plot, self.class_plot):
            w.clear()
        for i, r in enumerate(runs):
            pen = pg.mkPen(run_color(i), width=2)
            mi = [h for h in r.history if h.get("miou") is not None]
            self.miou_plot.plot(
                [h["epoch"] for h in mi],
                [h["miou"] for h in mi],
                pen=pen,
                symbol="o",
                symbolSize=5,
                symbolBrush=run_color(i),
                name=legend_name(i, r),
            )
            vl = [h for h in r.history if h.get("val_loss") is not None]
            self.loss_plot.plot(
                [h["epoch"] for h in vl], [h["val_loss"] for h in vl], pen=pen, name=legend_name(i, r)
            )
        self._class_bars(runs)
        self._differences(runs)

    def _class_bars(self, runs: list[RunSummary]) -> None:
        names: list[str] = []
        for r in runs:
            names += [n for n in r.per_class_iou() if n not in names]
        if not names:
            return
        width = 0.8 / max(1, len(runs))
        for i, r in enumerate(runs):
            per = r.per_class_iou()
            xs = np.arange(len(names)) - 0.4 + width * (i + 0.5)
            hs = [per.get(n) or 0.0 for n in names]  # absent ("not present") classes: no bar
            bars = pg.BarGraphItem(
                x=xs, height=hs, width=width * 0.9, brush=run_color(i), name=legend_name(i, r)
            )
            self.class_plot.addItem(bars)
        self.class_plot.getAxis("bottom").setTicks([[(k, n) for k, n in enumerate(names)]])

    def _differences(self, runs: list[RunSummary]) -> None:
        diffs = config_differences(runs)
        self.diff.clear()
        if len(runs) < 2:
            self.diff_note.setText("Select two or more runs (Ctrl/Shift+click) to compare their settings.")
            self.diff.setRowCount(0)
            self.diff.setColumnCount(0)
            return
        self.diff_note.setText(
            "Settings that differ between the selected runs"
            if diffs
            else "The selected runs have the same settings (apart from data and folders)."
        )
        rows = [*diffs.items(), ("best mIoU", [r.best_miou for r in runs])]
        self.diff.setRowCount(len(rows))
        self.diff.setColumnCount(len(runs))
        self.diff.setHorizontalHeaderLabels([legend_name(i, r) for i, r in enumerate(runs)])
        self.diff.setVerticalHeaderLabels([k for k, _ in rows])
        for row, (_, vals) in enumerate(rows):
            for col, v in enumerate(vals):
                item = QTableWidgetItem(
                    "—"
                    if v is None
                    else f"{v:.3f}"
                    if isinstance(v, float) and row == len(rows) - 1
                    else str(v)
                )
                item.setForeground(run_color(col))
                self.diff.setItem(row, col, item)
        self.diff.resizeColumnsToContents()

    # --- actions ----------------------------------------------------------------------------------

    def _open_model(self) -> None:
        runs = self.selected_runs()
        if runs and runs[0].best_checkpoint is not None:
            self.openModel.emit(str(runs[0].best_checkpoint))

    def _open_folder(self) -> None:
        runs = self.selected_runs()
        if runs:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(runs[0].path)))
