"""The viewer's worker thread: a thin Qt adapter around `segtool.core.viewer.ViewerSession`.

The session (Qt-free, see `segtool.core.viewer` for who owns what) holds the Engine, the open Source,
the playback position, the settings and the stats; this QThread runs its command loop. In: the
public methods below turn GUI calls into session commands (each returns at once). Out: the session's
events become queued signals, results are read with `take_result()`, numbers with `stats`.

View settings are kept here as one immutable `ViewSettings` snapshot, changed only on the GUI thread
and sent with every Play and ShowFrame (and alone as ApplySettings when changed mid-play).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from PySide6.QtCore import QThread, Signal

from segtool.core import viewer
from segtool.core.checkpoint_info import describe
from segtool.core.viewer import (
    STILL_FPS,
    EngineInfo,
    LiveStats,
    SourceInfo,
    ViewResult,
    ViewSettings,
    paced_frames,
)
from segtool.models.checkpoint import Checkpoint
from segtool.models.device import default_cpu_threads

__all__ = [
    "STILL_FPS",
    "EngineInfo",
    "LiveStats",
    "SourceInfo",
    "ViewResult",
    "ViewSettings",
    "ViewerWorker",
    "app_cpu_threads",
    "describe_checkpoint",
    "paced_frames",
]


def app_cpu_threads() -> int:
    """Torch CPU threads for the app's engines: `default_cpu_threads()`, one core fewer than the machine
    has (the app always has other busy threads: decoding, painting)."""
    return default_cpu_threads()


def describe_checkpoint(path: str | Path, ck: Checkpoint) -> dict[str, Any]:
    """`segtool.core.checkpoint_info.describe` of an already loaded checkpoint (the file is read once)."""
    from segtool.core.model_file import from_checkpoint

    return describe(from_checkpoint(ck, path))


class _SignalEvents(viewer.SessionEvents):
    """Session events as the worker's signals (queued to the GUI thread, from whichever thread)."""

    def __init__(self, worker: ViewerWorker) -> None:
        self.w = worker

    def engine_ready(self, info: EngineInfo) -> None:
        self.w.engineReady.emit(info)

    def source_opened(self, info: SourceInfo) -> None:
        self.w.sourceOpened.emit(info)

    def result_ready(self) -> None:
        self.w.resultReady.emit()

    def playback_ended(self, reason: str, last_index: int) -> None:
        self.w.playbackEnded.emit(reason, last_index)

    def failed(self, title: str, message: str) -> None:
        self.w.failed.emit(title, message)

    def busy(self, text: str) -> None:
        self.w.busy.emit(text)


class ViewerWorker(QThread):
    """Runs the viewer's `ViewerSession` off the GUI thread.

    Signals (delivered queued to the GUI thread):
        engineReady(EngineInfo) (its `checkpoint` is the loaded Checkpoint, to share),
        sourceOpened(SourceInfo), resultReady() (call `take_result`),
        playbackEnded(reason, last_index) with reason "end", "stopped" or "paused",
        failed(title, message): a user-facing error; the worker keeps running.
    """

    engineReady = Signal(object)
    sourceOpened = Signal(object)
    resultReady = Signal()
    playbackEnded = Signal(str, int)
    failed = Signal(str, str)
    busy = Signal(str)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("segtool-viewer-worker")
        self.session = viewer.ViewerSession(_SignalEvents(self), threads=app_cpu_threads())
        self._settings = ViewSettings()  # GUI thread only; the session gets copies with commands

    # --- GUI-thread API: each call only queues a command -------------------------------------------

    def load_checkpoint(
        self, path: str, device: str = "auto", precision: str = "auto", runtime: str = "auto"
    ) -> None:
        self.session.submit(viewer.LoadCheckpoint(str(path), device, precision, runtime))

    def set_device(self, device: str, precision: str, runtime: str = "auto") -> None:
        self.session.submit(viewer.SetDevice(device, precision, runtime))

    def open_source(self, spec: str) -> None:
        self.session.submit(viewer.OpenSource(str(spec)))

    def show_frame(self, index: int) -> None:
        """Show frame `index` (stops playback)."""
        self.session.submit(viewer.ShowFrame(int(index), self._settings))

    def play(self, start: int) -> None:
        self.session.submit(viewer.Play(int(start), self._settings))

    def pause(self) -> None:
        self.session.submit(viewer.Pause())

    def shutdown(self, timeout_ms: int = 15000) -> bool:
        """Stop playback, close the source, end the thread; True when the thread has finished."""
        self.requestInterruption()
        self.session.submit(viewer.Stop())
        return self.wait(timeout_ms) if self.isRunning() else True

    def take_result(self) -> ViewResult | None:
        """The newest result not yet taken (GUI thread)."""
        return self.session.take_result()

    @property
    def stats(self) -> LiveStats:
        """A copy of the live numbers (inference fps, latency, drops)."""
        return self.session.stats()

    # --- view settings (GUI thread): a new snapshot each change ------------------------------------

    @property
    def settings(self) -> ViewSettings:
        return self._settings

    def update_settings(self, **changes: Any) -> None:
        """Replace fields of the settings snapshot; a running playback uses it from its next frame."""
        self._settings = dataclasses.replace(self._settings, **changes)
        self.session.submit(viewer.ApplySettings(self._settings))

    speed = property(lambda self: self._settings.speed, lambda self, v: self.update_settings(speed=float(v)))
    loop = property(lambda self: self._settings.loop, lambda self, v: self.update_settings(loop=bool(v)))
    confidence = property(
        lambda self: self._settings.confidence, lambda self, v: self.update_settings(confidence=bool(v))
    )

    # --- worker thread -----------------------------------------------------------------------------

    def run(self) -> None:  # noqa: D102 - QThread entry point
        self.session.run(self.isInterruptionRequested)
