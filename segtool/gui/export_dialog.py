"""Export from the window: the `segtool predict` job for the current source, in the background.

`ExportJob` (a QThread) opens its own Source and builds its own Engine — neither is thread-safe, so
the viewer's are never shared — from the model file the viewer opened (the window hands over its
ModelFile, so the export uses exactly the weights on screen and the file is not read again), and runs
`segtool.core.export.run_export`, the same function as the CLI. The dialog is not modal: the user
keeps browsing while it runs.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QThread, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from segtool.base.errors import UserInputError
from segtool.core.engine import Engine
from segtool.core.export import ExportOptions, run_export
from segtool.core.model_file import ModelFile
from segtool.core.pipeline import Progress
from segtool.core.sources import open_source
from segtool.gui.job_dialog import JobDialogMixin
from segtool.gui.workers import SourceInfo, app_cpu_threads
from segtool.models.checkpoint import Checkpoint

EXIT_TEXT = {
    0: "Finished: every selected frame was written.",
    1: "The source broke off; what was written is valid.",
    2: "Stopped by an error.",
    130: "Cancelled. Run it again with “Continue an earlier export” to finish it.",
}


@dataclass(frozen=True)
class OverlayView:
    """How the viewer shows the classes now; an overlay export draws the same (what you see is what you export)."""

    alpha: float = 0.5
    visible: tuple[bool, ...] | None = None
    class_names: tuple[str, ...] = ()

    def describe(self) -> str:
        hidden = [
            n
            for i, n in enumerate(self.class_names)
            if self.visible is not None and i < len(self.visible) and not self.visible[i]
        ]
        shown = [n for n in self.class_names if n not in hidden]
        text = f"as in the view: {', '.join(shown) or 'no class'} at {round(100 * self.alpha)} % opacity"
        return text + (f"; {', '.join(hidden)} hidden (the frame shows through)" if hidden else "")


@dataclass(frozen=True)
class ExportRequest:
    """Everything the export job needs. It shares only the viewer's loaded Checkpoint, which nobody
    writes (an Engine copies its weights); the rest are plain values."""

    source: str
    checkpoint: Checkpoint | ModelFile | str  # the viewer's ModelFile: its weights, not the file again
    out: str
    options: ExportOptions
    device: str = "auto"
    precision: str = "auto"
    checkpoint_path: str = ""  # where it was loaded from: shown and written into summary.json
    runtime: str = "auto"


class ExportJob(QThread):
    """Runs one export. Signals: progress(Progress), done(exit_code, summary dict), failed(message)."""

    progress = Signal(object)
    done = Signal(int, dict)
    failed = Signal(str)

    def __init__(self, request: ExportRequest, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("segtool-export")
        self.request = request
        self.cancel_event = threading.Event()

    def cancel(self) -> None:
        self.cancel_event.set()

    def run(self) -> None:  # noqa: D102
        r = self.request
        src = None
        try:
            src = open_source(r.source)
            engine = Engine(
                r.checkpoint,
                device=r.device,
                precision=r.precision,
                threads=app_cpu_threads(),
                runtime=r.runtime,
            )
            if self.cancel_event.is_set():
                return
            result = run_export(
                src,
                engine,
                r.out,
                r.options,
                checkpoint_label=r.checkpoint_path,
                progress=self.progress.emit,
                cancel=self.cancel_event,
            )
            self.done.emit(result.exit_code, dict(result.summary))
        except UserInputError as e:
            self.failed.emit(str(e))
        except Exception as e:  # noqa: BLE001 - a failed export must never take the window down
            self.failed.emit(f"{type(e).__name__}: {e}")
        finally:
            if src is not None:
                src.close()


class ExportDialog(JobDialogMixin, QDialog):
    """Choose the outputs (the `predict` options) and run the export with progress, ETA and Cancel."""

    queue_requested = Signal()  # "Several videos…": the window opens the queue dialog

    def __init__(
        self,
        info: SourceInfo,
        checkpoint: Checkpoint | ModelFile | str,
        device: str,
        precision: str,
        out_dir: str,
        parent: QWidget | None = None,
        *,
        checkpoint_path: str,
        runtime: str = "auto",
        view: Callable[[], OverlayView] | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export masks")
        self.setModal(False)
        self.info, self.checkpoint, self.device, self.precision = info, checkpoint, device, precision
        self.checkpoint_path = checkpoint_path
        self.runtime = runtime
        self.view = view or OverlayView  # the window's current view, asked again at every export
        self.job: ExportJob | None = None
        self.exit_code: int | None = None
        self.summary: dict | None = None
        self.error: str | None = None
        still = info.kind in ("image", "folder")

        head = QLabel(
            f"<b>{info.description}</b><br>model: {Path(checkpoint_path).name} (the one open in the viewer)"
        )
        head.setWordWrap(True)
        out_row = self._output_row(out_dir)
        self.format = QComboBox()
        self.format.addItem("PNG files (masks/000000.png …, pixel = class id)", "png")
        if not still:
            self.format.addItem("One lossless FFV1 video (masks.mkv)", "ffv1")
        self.overlay = QCheckBox(
            "overlays/*.jpg" if still else "overlay.mp4 (H.264, colours blended over the video)"
        )
        self.view_note = QLabel("")
        self.view_note.setWordWrap(True)
        self.view_note.setStyleSheet("color: palette(mid);")
        self.overlay.toggled.connect(self.refresh_view)
        always = QLabel("coverage.csv (share of each class per frame) and summary.json are always written.")
        always.setWordWrap(True)
        n = info.frames or 0
        self.start = QSpinBox()
        self.end = QSpinBox()
        self.every = QSpinBox()
        self.start.setRange(0, max(0, n - 1) if n else 10**9)
        self.end.setRange(0, n if n else 10**9)
        self.end.setSpecialValueText("end")  # 0 = to the end
        self.every.setRange(1, 10**6)
        range_row = QHBoxLayout()
        for label, w in (("from", self.start), ("to (exclusive)", self.end), ("every", self.every)):
            range_row.addWidget(QLabel(label))
            range_row.addWidget(w)
        range_row.addStretch(1)
        self.existing = QComboBox()
        self.existing.addItem("Stop if the folder holds an export", "refuse")
        if not info.is_live:
            self.existing.addItem("Continue an earlier export (resume)", "resume")
        self.existing.addItem("Replace an earlier export", "overwrite")

        form = QFormLayout()
        form.addRow(head)
        form.addRow("Output folder", out_row)
        form.addRow("Masks", self.format)
        form.addRow("Overlay", self.overlay)
        form.addRow("", self.view_note)
        form.addRow("", always)
        if not info.is_live and n > 1:
            form.addRow("Frames", range_row)
        form.addRow("Existing export", self.existing)

        self.bar = QProgressBar()
        self.bar.setRange(0, max(1, n) if n else 0)
        self.bar.setValue(0)
        self.eta = QLabel("Ready.")
        self.eta.setWordWrap(True)
        self.start_btn = QPushButton("Export")
        self.start_btn.setDefault(True)
        self.cancel_btn = QPushButton("Cancel")
        self.open_btn = QPushButton("Open folder")
        self.open_btn.setVisible(False)
        # Many videos: the queue dialog (segtool/gui/batch_queue.py), started with this source in it.
        self.queue_btn = QPushButton("Several videos…")
        self.queue_btn.setToolTip("Export a queue of videos or a folder of them, one output folder each")
        self.queue_btn.clicked.connect(self.queue_requested.emit)
        self.start_btn.clicked.connect(self.start_export)
        self.cancel_btn.clicked.connect(self._cancel_or_close)
        self.open_btn.clicked.connect(lambda: QDesktopServices.openUrl(QUrl.fromLocalFile(self.out.text())))
        buttons = QHBoxLayout()
        buttons.addWidget(self.open_btn)
        buttons.addWidget(self.queue_btn)
        buttons.addStretch(1)
        buttons.addWidget(self.start_btn)
        buttons.addWidget(self.cancel_btn)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(self.bar)
        lay.addWidget(self.eta)
        lay.addLayout(buttons)
        self.refresh_view()
        self.resize(620, self.sizeHint().height())

    def refresh_view(self) -> None:
        """Say how the overlay will look: the view's classes, ticks and opacity, read now."""
        v = self.view()
        self.view_note.setText(
            f"Overlay colours {v.describe()}."
            if self.overlay.isChecked()
            else "Masks hold every class; an overlay would follow the view's ticks and opacity."
        )

    # --- actions -----------------------------------------------------------------------------------

    def options(self) -> ExportOptions:
        existing = self.existing.currentData()
        view = self.view()
        return ExportOptions(
            overlay_alpha=view.alpha,
            overlay_visible=view.visible,
            format=str(self.format.currentData()),
            overlay=self.overlay.isChecked(),
            start=self.start.value(),
            end=self.end.value() or None,
            every=self.every.value(),
            resume=existing == "resume",
            overwrite=existing == "overwrite",
        )

    def start_export(self) -> None:
        if self.running():
            return
        out = self._output_folder()
        if out is None:
            return
        self.refresh_view()
        try:
            opts = self.options()  # checks the frame selection (e.g. "to" not after "from")
        except UserInputError as e:
            self._say(str(e))
            return
        req = ExportRequest(
            self.info.spec,
            self.checkpoint,
            out,
            opts,
            self.device,
            self.precision,
            self.checkpoint_path,
            self.runtime,
        )
        self.summary = None
        self._t0 = time.perf_counter()
        self.bar.setValue(0)
        self._launch(ExportJob(req, self), "Loading the model and opening the source…")

    def _say(self, text: str) -> None:
        self.eta.setText(text)

    # --- job signals (GUI thread) ------------------------------------------------------------------

    def _progress(self, p: Progress) -> None:
        if p.expected:
            self.bar.setRange(0, p.expected)
            self.bar.setValue(p.done)
            left = (p.expected - p.done) / p.fps if p.fps > 0 else None
            eta = f", about {left:.0f} s left" if left is not None else ""
            self.eta.setText(f"Frame {p.done} of {p.expected} · {p.fps:.1f} frames/s{eta}")
        else:
            self.eta.setText(f"{p.done} frames · {p.fps:.1f} frames/s (live source: Cancel to stop)")

    def _done(self, code: int, summary: dict) -> None:
        self.exit_code, self.summary = code, summary
        written = summary.get("frames_written")
        if code == 0 and self.bar.maximum() > 0:
            self.bar.setValue(self.bar.maximum())
        text = f"{EXIT_TEXT.get(code, 'Stopped.')} {written} frames in {self.out.text()}"
        if code not in (0, 130) and summary.get("stopped"):
            text += f"\n{summary['stopped']}"
        self.eta.setText(text)
