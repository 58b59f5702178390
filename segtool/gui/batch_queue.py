"""Export a queue of videos from the app: the `segtool predict A B C… -o OUT` batch, in the background.

`BatchJob` (a QThread) builds its own Engine and runs `segtool.core.batch.local.run_batch` — the same
function as the CLI — so OUT holds `<name>/` per video and `batch.json`. The dialog is not modal: the
viewer stays usable while the queue runs, with a bar per video and one overall.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QThread, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDialog,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from segtool.base.errors import UserInputError
from segtool.core.batch import BatchItem, BatchState, expand_sources, unique_names
from segtool.core.batch.expand import VIDEO_EXTENSIONS
from segtool.core.batch.local import BatchProgress, run_batch
from segtool.core.batch.runner import EngineSpec
from segtool.core.export import ExportOptions
from segtool.gui.job_dialog import JobDialogMixin
from segtool.gui.workers import app_cpu_threads

STATE_TEXT = {
    "pending": "waiting",
    "running": "running",
    "complete": "done",
    "partial": "partial",
    "failed": "failed",
}


@dataclass(frozen=True)
class BatchRequest:
    """Plain values only: the job shares nothing with the viewer."""

    items: tuple[BatchItem, ...]
    checkpoint: str
    out: str
    options: ExportOptions
    device: str = "auto"
    precision: str = "auto"
    loaded: Any = None  # the viewer's ModelFile (read-only): the weights on screen, not re-read
    runtime: str = "auto"


class BatchJob(QThread):
    """Runs a queue. Signals: progress(BatchProgress), source_done(name, state, message, frames),
    done(exit code: 0 all complete, 1 some partial/failed, 130 cancelled), failed(message)."""

    progress = Signal(object)
    source_done = Signal(str, str, str, int)
    done = Signal(int)
    failed = Signal(str)

    def __init__(self, request: BatchRequest, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("segtool-batch")
        self.request = request
        self.cancel_event = threading.Event()
        self.state: BatchState | None = None

    def cancel(self) -> None:
        self.cancel_event.set()

    def run(self) -> None:  # noqa: D102
        r = self.request
        try:
            settings = {
                "checkpoint": str(Path(r.checkpoint).resolve()),
                "tta": None,
                "tile": 1024,
                **r.options.selection(),
            }
            self.state = BatchState.create(
                r.out,
                r.items,
                command="predict",
                settings=settings,
                resume=r.options.resume,
                overwrite=r.options.overwrite,
            )
            spec = EngineSpec(
                r.checkpoint, r.device, r.precision, threads=app_cpu_threads(), runtime=r.runtime
            )
            engine = None
            if r.loaded is not None:  # the viewer's ModelFile: not read again
                from segtool.core.engine import Engine

                engine = Engine(
                    r.loaded,
                    device=r.device,
                    precision=r.precision,
                    threads=app_cpu_threads(),
                    runtime=r.runtime,
                )
            run_batch(
                self.state,
                r.items,
                spec,
                r.options,
                engine=engine,
                checkpoint_label=r.checkpoint,
                progress=self.progress.emit,
                on_state=lambda s: self.source_done.emit(s.name, s.state, s.message, s.frames_written),
                cancel=self.cancel_event,
            )
            if self.cancel_event.is_set():
                self.done.emit(130)
            else:
                self.done.emit(0 if self.state.complete else 1)
        except UserInputError as e:
            self.failed.emit(str(e))
        except Exception as e:  # noqa: BLE001 - a failed batch must never take the window down
            self.failed.emit(f"{type(e).__name__}: {e}")


class BatchQueueDialog(JobDialogMixin, QDialog):
    """A queue of videos (or folders of them) exported one after another into OUT/<name>/."""

    COLS = ("Source", "Output", "Progress", "State")

    def __init__(
        self,
        checkpoint: str,
        device: str,
        precision: str,
        out_dir: str,
        sources: list[str] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export a queue of videos")
        self.setModal(False)
        self.checkpoint, self.device, self.precision = checkpoint, device, precision
        self.loaded: Any = None  # the opened ModelFile to use instead of reading `checkpoint` again
        self.runtime = "auto"
        self.job: BatchJob | None = None
        self.exit_code: int | None = None
        self.error: str | None = None
        self.specs: list[str] = []
        self._bars: dict[str, QProgressBar] = {}
        self._rows: dict[str, int] = {}

        self.table = QTableWidget(0, len(self.COLS))
        self.table.setHorizontalHeaderLabels(self.COLS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        h = self.table.horizontalHeader()
        h.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for c in (1, 2, 3):
            h.setSectionResizeMode(c, QHeaderView.ResizeMode.ResizeToContents)
        self.add_files_btn = QPushButton("Add videos…")
        self.add_folder_btn = QPushButton("Add folder…")
        self.remove_btn = QPushButton("Remove")
        self.add_files_btn.clicked.connect(self._choose_files)
        self.add_folder_btn.clicked.connect(self._choose_folder)
        self.remove_btn.clicked.connect(self.remove_selected)
        edit_row = QHBoxLayout()
        for b in (self.add_files_btn, self.add_folder_btn, self.remove_btn):
            edit_row.addWidget(b)
        edit_row.addStretch(1)

        out_row = self._output_row(out_dir)
        self.format = QComboBox()
        self.format.addItem("PNG files (<name>/masks/000000.png …)", "png")
        self.format.addItem("One lossless FFV1 video per source (<name>/masks.mkv)", "ffv1")
        self.overlay = QCheckBox("overlay.mp4 per video")
        self.existing = QComboBox()
        self.existing.addItem("Stop if the folder holds a batch", "refuse")
        self.existing.addItem("Continue an earlier batch (finished videos are skipped)", "resume")
        self.existing.addItem("Replace an earlier batch", "overwrite")
        form = QFormLayout()
        form.addRow("Output folder", out_row)
        form.addRow("Masks", self.format)
        form.addRow("Overlay", self.overlay)
        form.addRow("Existing batch", self.existing)

        self.overall = QProgressBar()
        self.overall.setRange(0, 1)
        self.overall.setValue(0)
        self.status = QLabel(f"model: {Path(checkpoint).name}. Add videos or a folder, then Export.")
        self.status.setWordWrap(True)
        self.start_btn = QPushButton("Export all")
        self.start_btn.setDefault(True)
        self.cancel_btn = QPushButton("Close")
        self.open_btn = QPushButton("Open folder")
        self.open_btn.setVisible(False)
        self.start_btn.clicked.connect(self.start)
        self.cancel_btn.clicked.connect(self._cancel_or_close)
        self.open_btn.clicked.connect(lambda: QDesktopServices.openUrl(QUrl.fromLocalFile(self.out.text())))
        buttons = QHBoxLayout()
        buttons.addWidget(self.open_btn)
        buttons.addStretch(1)
        buttons.addWidget(self.start_btn)
        buttons.addWidget(self.cancel_btn)
        lay = QVBoxLayout(self)
        lay.addWidget(self.table, 1)
        lay.addLayout(edit_row)
        lay.addLayout(form)
        lay.addWidget(QLabel("Overall"))
        lay.addWidget(self.overall)
        lay.addWidget(self.status)
        lay.addLayout(buttons)
        self.resize(760, 480)
        if sources:
            self.add_sources(sources)

    def set_model(
        self, path: str | Path, loaded: Any, device: str, precision: str, runtime: str = "auto"
    ) -> None:
        """Use this model for the next run (the window calls it with the model on screen)."""
        self.checkpoint, self.loaded, self.device, self.precision = str(path), loaded, device, precision
        self.runtime = runtime
        if not self.running() and self.job is None:
            self.status.setText(f"model: {Path(path).name}. Add videos or a folder, then Export.")

    # --- the queue ---------------------------------------------------------------------------------

    def add_sources(self, paths: list[str]) -> None:
        """Add files or folders (a folder adds each video in it); bad ones are refused with a message."""
        problems = []
        for p in paths:
            try:
                items, _ = expand_sources([p])
            except UserInputError as e:
                problems.append(str(e))
                continue
            known = set(self.specs)
            self.specs += [it.source for it in items if it.source not in known]
        self._refill()
        if problems:
            self.status.setText("Not added: " + "; ".join(problems))

    def remove_selected(self) -> None:
        rows = sorted({i.row() for i in self.table.selectedIndexes()}, reverse=True)
        for r in rows:
            del self.specs[r]
        self._refill()

    def items(self) -> list[BatchItem]:
        return [BatchItem(s, n) for s, n in zip(self.specs, unique_names(self.specs))]

    def _refill(self) -> None:
        self.table.setRowCount(0)
        self._bars.clear()
        self._rows.clear()
        for r, it in enumerate(self.items()):
            self.table.insertRow(r)
            src = QTableWidgetItem(Path(it.source).name if "://" not in it.source else it.source)
            src.setToolTip(it.source)
            self.table.setItem(r, 0, src)
            self.table.setItem(r, 1, QTableWidgetItem(f"{it.name}/"))
            bar = QProgressBar()
            bar.setRange(0, 1)
            bar.setValue(0)
            self.table.setCellWidget(r, 2, bar)
            self.table.setItem(r, 3, QTableWidgetItem(STATE_TEXT["pending"]))
            self._bars[it.name], self._rows[it.name] = bar, r
        self.start_btn.setEnabled(bool(self.specs) and not self.running())

    # --- run ---------------------------------------------------------------------------------------

    def options(self) -> ExportOptions:
        existing = self.existing.currentData()
        return ExportOptions(
            format=str(self.format.currentData()),
            overlay=self.overlay.isChecked(),
            resume=existing == "resume",
            overwrite=existing == "overwrite",
        )

    def start(self) -> None:
        if self.running() or not self.specs:
            return
        out = self._output_folder()
        if out is None:
            return
        self._refill()
        req = BatchRequest(
            tuple(self.items()),
            self.checkpoint,
            out,
            self.options(),
            self.device,
            self.precision,
            self.loaded,
            self.runtime,
        )
        job = BatchJob(req, self)
        job.source_done.connect(self._source_done)
        self._launch(job, "Loading the model and opening the videos…")

    CANCELLING = "Cancelling… (the video being written stays resumable)"

    def _say(self, text: str) -> None:
        self.status.setText(text)

    def _inputs(self) -> list:
        return [self.start_btn, self.add_files_btn, self.add_folder_btn, self.remove_btn]

    def _choose_files(self) -> None:
        pattern = " ".join(f"*{e}" for e in VIDEO_EXTENSIONS)
        files, _ = QFileDialog.getOpenFileNames(self, "Add videos", "", f"Videos ({pattern});;All files (*)")
        if files:
            self.add_sources(files)

    def _choose_folder(self) -> None:
        d = QFileDialog.getExistingDirectory(self, "Add a folder of videos")
        if d:
            self.add_sources([d])

    # --- job signals (GUI thread) ------------------------------------------------------------------

    def _set_state(self, name: str, text: str, tip: str = "") -> None:
        r = self._rows.get(name)
        if r is not None:
            item = QTableWidgetItem(text)
            item.setToolTip(tip)
            self.table.setItem(r, 3, item)

    def _progress(self, p: BatchProgress) -> None:
        for name in p.per_source:
            bar = self._bars.get(name)
            done, expected = p.of(name)
            if bar is not None and expected:
                bar.setRange(0, expected)
                bar.setValue(min(done, expected))
        for name in p.running:
            self._set_state(name, STATE_TEXT["running"])
        if p.total:
            self.overall.setRange(0, p.total)
            self.overall.setValue(min(p.done, p.total))
        eta = f", about {p.eta_s:.0f} s left" if p.eta_s is not None else ""
        now = f" · now: {', '.join(p.running)}" if p.running else ""
        self.status.setText(
            f"Video {min(p.sources_done + 1, p.sources_total)} of {p.sources_total} to run{now} · "
            f"{p.fps:.1f} frames/s{eta}"
        )

    def _source_done(self, name: str, state: str, message: str, frames: int) -> None:
        self._set_state(
            name, STATE_TEXT.get(state, state), message
        )  # the reason: tooltip and the final status
        bar = self._bars.get(name)
        if bar is not None and state == "complete":
            bar.setRange(0, max(1, frames))
            bar.setValue(max(1, frames))

    def _done(self, code: int) -> None:
        self.exit_code = code
        st = self.job.state if self.job is not None else None
        if st is not None:  # sources that failed before they began (unreadable) are shown too
            for s in st.sources:
                if s.state in ("failed", "partial"):
                    self._source_done(s.name, s.state, s.message, s.frames_written)
        c = st.counts() if st is not None else {}
        counts = ", ".join(f"{n} {STATE_TEXT[k]}" for k, n in c.items() if n)
        if code == 0:
            self.overall.setValue(self.overall.maximum())
            self.status.setText(f"Finished: every video was written ({counts}) in {self.out.text()}")
        elif code == 130:
            self.status.setText(f"Cancelled ({counts}). Choose “Continue an earlier batch” to finish it.")
        else:
            why = "\n".join(f"{s.name}: {s.message}" for s in (st.problems() if st is not None else []))
            self.status.setText(
                f"Finished with problems ({counts}); batch.json in {self.out.text()} lists them.\n{why}".strip()
            )
