"""What the export dialog and the export queue share: a background job (a QThread in `self.job`) that the
dialog starts, cancels, and waits for when the window closes."""

from __future__ import annotations


class JobDialogMixin:
    """Lifecycle of a dialog's background job. The dialog sets `self.job` (a QThread with `cancel()`) and
    shows `CANCELLING` (its status text while a cancel takes effect) through `_say_cancelling`."""

    CANCELLING = "Cancelling…"
    job = None

    def running(self) -> bool:
        return self.job is not None and self.job.isRunning()

    def cancel(self) -> None:
        if self.job is not None:
            self.job.cancel()
            self._say_cancelling(self.CANCELLING)

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

    def _say_cancelling(self, text: str) -> None:  # pragma: no cover - each dialog says it where it shows status
        raise NotImplementedError
