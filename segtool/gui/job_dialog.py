"""What the export dialog and the export queue share: a background job (a QThread in `self.job`) that the
dialog starts, cancels, and waits for when the window closes, and the widgets around it (output folder,
Start / Cancel-Close / Open buttons, one status line)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QLineEdit, QPushButton


class JobDialogMixin:
    """Lifecycle of a dialog's background job.

    The dialog has `out` (a line edit), `start_btn`, `cancel_btn`, `open_btn`, and says things through
    `_say` (its status line). `_inputs()` lists the widgets locked while a job runs. The job is a QThread
    with `cancel()` and the signals `progress`, `done`, `failed` (message) and `finished`; `_launch`
    connects them to the dialog's `_progress` and `_done` and to the shared `_failed` / `_finished`.
    """

    CANCELLING = "Cancelling…"
    job = None
    exit_code: int | None = None
    error: str | None = None

    def running(self) -> bool:
        return self.job is not None and self.job.isRunning()

    def cancel(self) -> None:
        if self.job is not None:
            self.job.cancel()
            self._say(self.CANCELLING)

    def shutdown(self, timeout_ms: int = 15000) -> None:
        """Cancel a running job and wait for its thread (the window is closing)."""
        if self.job is not None:
            self.job.cancel()
            self.job.wait(timeout_ms)

    def _cancel_or_close(self) -> None:
        if self.running():
            self.cancel()
        else:
            self.close()

    def _say(self, text: str) -> None:  # pragma: no cover - each dialog says it where it shows status
        raise NotImplementedError

    def _inputs(self) -> list:
        """Widgets that are locked while the job runs (the Start button at least)."""
        return [self.start_btn]

    def _output_folder(self) -> str | None:
        """The output folder typed or chosen, or None (and the dialog says what to do)."""
        out = self.out.text().strip()
        if not out:
            self._say("Choose an output folder first.")
            return None
        return out

    def _output_row(self, out_dir: str) -> QHBoxLayout:
        """The output folder field (`self.out`) with its Browse… button, as a row to add to the form."""
        self.out = QLineEdit(out_dir)
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(self.out, 1)
        row.addWidget(browse)
        return row

    def _browse(self) -> None:
        d = QFileDialog.getExistingDirectory(self, "Output folder", self.out.text())
        if d:
            self.out.setText(d)

    def _launch(self, job, status: str) -> None:
        """Start `job` (its signals connected here), lock the inputs and say `status`."""
        self.exit_code = self.error = None
        self.job = job
        job.progress.connect(self._progress)
        job.done.connect(self._done)
        job.failed.connect(self._failed)
        job.finished.connect(self._finished)
        for w in self._inputs():
            w.setEnabled(False)
        self.open_btn.setVisible(False)
        self.cancel_btn.setText("Cancel")
        self._say(status)
        job.start()

    # --- job signals (GUI thread) ------------------------------------------------------------------

    def _failed(self, message: str) -> None:
        self.exit_code, self.error = 2, message
        self._say(f"Export failed: {message}")

    def _finished(self) -> None:
        for w in self._inputs():
            w.setEnabled(True)
        self.start_btn.setText("Export again")
        self.cancel_btn.setText("Close")
        self.open_btn.setVisible(Path(self.out.text()).is_dir())

    def closeEvent(self, event) -> None:  # noqa: N802
        # Closing the dialog does not stop a running job silently: it keeps running (the window cancels
        # it on exit) and the viewer can be used meanwhile. Hide instead of destroying, so the thread
        # object outlives the dialog.
        event.ignore()
        self.hide()
