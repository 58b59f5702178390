"""'Export report…' of the Measure panel: the same report as `segtool fragments` for the open source,
made by the CLI's job (`run_fragments`) in a background thread, into a new folder so nothing the user
made is replaced."""

from __future__ import annotations

import threading
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from models.errors import UserInputError
from segtool.core.fragments.analyse import FragmentSettings
from segtool.gui.measure.panel import fmt_size


def new_report_folder(parent: str | Path, source: str) -> Path:
    """`<parent>/<source name>_fragments`, or `…_2`, `…_3` when taken (never an existing folder)."""
    stem = Path(str(source).rstrip("/")).stem or "source"
    base = Path(parent) / f"{stem}_fragments"
    out, n = base, 1
    while out.exists():
        n += 1
        out = base.with_name(f"{base.name}_{n}")
    return out


def describe_report(res, source: str) -> str:
    """What the report dialog says: where, which files, the overall D50/D80."""
    files = sorted(p.name for p in Path(res.out).iterdir())
    ov, unit = res.summary.get("overall") or {}, res.summary.get("unit", "px")
    by_area = ov.get("by_area") or {}
    return (f"Measured {res.frames_done} frame(s) of {Path(source).name} into {res.out}\n"
            f"Files: {', '.join(files)}\n"
            f"Overall: {ov.get('fragments', 0)} fragments, D50 {fmt_size(by_area.get('D50'), unit)}, "
            f"D80 {fmt_size(by_area.get('D80'), unit)} (by area), sizes in {unit}")  # fmt: skip


class ReportRunner(QObject):
    """One report at a time; `done(result or error text)` and `progress(frames)` arrive on the GUI thread."""

    done = Signal(object)
    progress = Signal(int)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._thread: threading.Thread | None = None
        self.cancel = threading.Event()

    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, source: str, out: str | Path, checkpoint: str, settings: FragmentSettings, device: str = "auto") -> None:
        from segtool.core.fragments.job import FragmentsOptions, run_fragments

        opts = FragmentsOptions(checkpoint=checkpoint, settings=settings, overlay=True, device=device)
        self.cancel.clear()

        def job() -> None:
            try:
                res = run_fragments([source], out, opts, cancel=self.cancel, progress=self.progress.emit)
            except UserInputError as e:
                res = str(e)
            except Exception as e:  # noqa: BLE001 - shown to the user, never swallowed
                res = f"{type(e).__name__}: {e}"
            self.done.emit(res)

        self._thread = threading.Thread(target=job, name="measure-report", daemon=True)
        self._thread.start()

    def shutdown(self, timeout_s: float = 30.0) -> None:
        """Stop a report being written (what was measured is kept) and wait for its thread."""
        self.cancel.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout_s)
