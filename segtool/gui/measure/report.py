"""'Export report…' of the Measure panel: the same report as `segtool fragments` for the open source,
made by the CLI itself in a child process (watched by a thread), into a new folder so nothing the user
made is replaced. 'PDF report' then writes report.pdf into that folder with `segtool report` (same
child-process pattern), the same PDF the CLI writes."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path
from types import SimpleNamespace

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QFileDialog, QMessageBox

from segtool.core.fragments.analyse import FragmentSettings
from segtool.core.runs import unused_path
from segtool.gui.measure.panel import fmt_size


def new_report_folder(parent: str | Path, source: str) -> Path:
    """`<parent>/<source name>_fragments`, or `…_2`, `…_3` when taken (never an existing folder)."""
    stem = Path(str(source).rstrip("/")).stem or "source"
    return unused_path(Path(parent) / f"{stem}_fragments", "_")


def describe_report(res, source: str) -> str:
    """What the report dialog says: where, which files, the overall D50/D80."""
    files = sorted(p.name for p in Path(res.out).iterdir())
    ov, unit = res.summary.get("overall") or {}, res.summary.get("unit", "px")
    by_area = ov.get("by_area") or {}
    return (
        f"Measured {res.frames_done} frame(s) of {Path(source).name} into {res.out}\n"
        f"Files: {', '.join(files)}\n"
        f"Overall: {ov.get('fragments', 0)} fragments, D50 {fmt_size(by_area.get('D50'), unit)}, "
        f"D80 {fmt_size(by_area.get('D80'), unit)} (by area), sizes in {unit}"
    )


class ReportRunner(QObject):
    """One report at a time; `done(result or error text)` arrives on the GUI thread."""

    done = Signal(object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._thread: threading.Thread | None = None
        self.cancel = threading.Event()

    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(
        self, source: str, out: str | Path, checkpoint: str, settings: FragmentSettings, device: str = "auto"
    ) -> None:
        """`segtool fragments` in a child process (its own engine and threads: a second engine in this
        process beside the viewer's hung or crashed now and then in tests), watched by a thread."""
        cmd = [
            sys.executable,
            "-m",
            "segtool",
            "fragments",
            str(source),
            "-c",
            str(checkpoint),
            "-o",
            str(out),
            "--overlay",
            "--device",
            device,
            "-q",
            "--min-size",
            str(settings.min_size_px),
            "--min-distance",
            str(settings.min_distance),
            "--fit-basis",
            settings.fit_basis,
        ]
        if settings.include_border:
            cmd.append("--include-border")
        self.cancel.clear()

        def job() -> None:
            try:
                proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            except OSError as e:
                self.done.emit(f"cannot start segtool fragments: {e}")
                return
            while proc.poll() is None:
                if self.cancel.wait(0.2):
                    proc.terminate()  # the CLI keeps what it measured (--resume continues it)
                    break
            err = proc.communicate()[1] or ""
            summary = Path(out) / "summary.json"
            if not summary.is_file():
                self.done.emit(
                    err.strip()[-2000:]
                    or f"segtool fragments stopped (exit code {proc.returncode}) without a report"
                )
                return
            doc = json.loads(summary.read_text(encoding="utf-8"))
            self.done.emit(
                SimpleNamespace(
                    out=Path(out), summary=doc, frames_done=doc.get("frames", 0), exit_code=proc.returncode
                )
            )

        self._thread = threading.Thread(target=job, name="measure-report", daemon=True)
        self._thread.start()

    def shutdown(self, timeout_s: float = 30.0) -> None:
        """Stop a report being written (what was measured is kept) and wait for its thread."""
        self.cancel.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout_s)


class ReportExport(QObject):
    """ "Export report…" of one Measure panel: where to, the runner, what the dialog says after; the
    report is made with the panel's settings (`hub.settings`), so it matches what the panel shows."""

    def __init__(self, hub) -> None:
        super().__init__(hub)
        self.hub = hub
        self.runner = ReportRunner(self)
        self.runner.done.connect(self._done)
        self.source = ""
        self.last: object = None  # the last result (or error text)
        self.pdf = PdfReport(hub)

    def export(self) -> None:
        """Run `segtool fragments` on the open source into a new folder inside one the user picks."""
        hub, w = self.hub, self.hub.window
        info, src = w.engine_info, w.source
        if info is None or src is None or hub.problem is not None:
            QMessageBox.information(w, "Export report", hub.problem or "Open a model and a source first.")
            return
        if src.is_live or "://" in src.spec:
            QMessageBox.information(
                w, "Export report", "A camera or stream has no end: export a report from a file or folder."
            )
            return
        if self.runner.running():
            QMessageBox.information(w, "Export report", "A report is being written; wait for it to finish.")
            return
        parent = QFileDialog.getExistingDirectory(w, "Folder to put the fragments report in")
        if parent:
            self.start(src.spec, new_report_folder(parent, src.spec), info.path)

    def start(self, source: str, out: str | Path, checkpoint: str) -> None:
        self.source = source
        btn = self.hub.panel.export_btn
        btn.setEnabled(False)
        btn.setText("Writing report…")
        self.runner.start(source, out, checkpoint, self.hub.settings, self.hub.window.panel.device_key())

    def _done(self, res) -> None:
        self.last = res
        btn, w = self.hub.panel.export_btn, self.hub.window
        btn.setEnabled(True)
        btn.setText("Export report…")
        if self.runner.cancel.is_set():
            return  # the window is closing
        if isinstance(res, str):
            QMessageBox.warning(w, "Report failed", res)
            return
        self.pdf.set_folder(res.out)
        msg = describe_report(res, self.source)
        if res.exit_code != 0:
            QMessageBox.warning(w, "Report incomplete", msg + f"\nStopped early (exit code {res.exit_code}).")
        else:
            QMessageBox.information(w, "Report written", msg)


class PdfReport(QObject):
    """'PDF report': `segtool report FOLDER` on the last exported report's folder, in a child process
    watched by a thread; `done(path or error text)` arrives on the GUI thread."""

    done = Signal(object)

    def __init__(self, hub) -> None:
        super().__init__(hub)
        self.hub = hub
        self.folder: Path | None = None
        self._thread: threading.Thread | None = None
        self._proc: subprocess.Popen | None = None
        self._closing = False
        self.last: object = None
        self.done.connect(self._done)  # the hub connects panel.pdf_btn to write() once the panel exists

    def set_folder(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.hub.panel.pdf_btn.setEnabled(True)

    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def write(self) -> None:
        if self.folder is None or self.running():
            return
        btn = self.hub.panel.pdf_btn
        btn.setEnabled(False)
        btn.setText("Writing PDF…")
        folder = self.folder
        cmd = [sys.executable, "-m", "segtool", "report", str(folder)]

        def job() -> None:
            try:
                self._proc = proc = subprocess.Popen(
                    cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
                )
            except OSError as e:
                self.done.emit(f"cannot start segtool report: {e}")
                return
            out, err = proc.communicate()
            if self._closing:
                return  # the window is closing: no dialog
            pdf = folder / "report.pdf"
            if proc.returncode != 0 or not pdf.is_file():
                self.done.emit(
                    (err or "").strip()[-2000:] or f"segtool report stopped (exit code {proc.returncode})"
                )
                return
            self.done.emit((pdf, out.strip()))

        self._thread = threading.Thread(target=job, name="measure-pdf", daemon=True)
        self._thread.start()

    def _done(self, res) -> None:
        self.last = res
        btn = self.hub.panel.pdf_btn
        btn.setEnabled(True)
        btn.setText("PDF report")
        if isinstance(res, str):
            QMessageBox.warning(self.hub.window, "PDF report failed", res)
        else:
            QMessageBox.information(self.hub.window, "PDF report written", f"{res[0]}\n{res[1]}")

    def shutdown(self, timeout_s: float = 30.0) -> None:
        """Stop a PDF being written (it is written under a temporary name: no half file) and wait for the thread."""
        self._closing = True
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
        if self._thread is not None:
            self._thread.join(timeout=timeout_s)
