"""The viewer's worker thread: it owns the Engine and the open Source, so the GUI thread never waits.

Threads and what they own:

- GUI thread: widgets, painting, settings. Talks to the worker only through `ViewerWorker`'s public
  methods (they append a command and return at once) and reads results with `take_result()`.
- `ViewerWorker` (a QThread): runs commands one at a time: load a checkpoint (builds the `Engine`),
  open a source, show frame N (random access + one prediction), play. Playing is
  `run_pipeline(policy="latest")`, so inference runs here too; the Engine and the Source are used by
  no other thread (the pipeline's decode thread only iterates its own `frames()` iterator).
- The pipeline's decode thread (a Python thread): iterates `paced_frames` (release at timestamps /
  speed, loop) and keeps only the newest frame, counting drops.
- The pipeline's writer thread: copies each (frame, mask) pair into a read-only `ViewResult` and
  posts it into a one-result mailbox. The GUI is told by a queued signal; if it has not taken the
  previous result yet, the new one replaces it (a display drop) — so nothing queues up, memory stays
  flat, and a mask is only ever shown with the frame it was computed from.

Any new command interrupts a running playback (its cancel event is set), so a seek or a source switch
takes effect within one frame.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QThread, Signal

from models.checkpoint import Checkpoint, load_checkpoint
from models.errors import UserInputError
from segtool.core.checkpoint_info import describe
from segtool.core.device import default_cpu_threads
from segtool.core.engine import Engine
from segtool.core.errors import SourceInterrupted
from segtool.core.frame import Frame, Prediction
from segtool.core.onnx_export import is_onnx_path
from segtool.core.overlay import coverage
from segtool.core.pipeline import Progress, run_pipeline
from segtool.core.sources import Source, open_source

log = logging.getLogger(__name__)

STILL_FPS = 1.0  # playing a folder or image is a slideshow: one picture per second at speed 1


def app_cpu_threads() -> int:
    """Torch CPU threads for the app's engines: `default_cpu_threads()`, one core fewer than the machine
    has (the app always has other busy threads: decoding, painting)."""
    return default_cpu_threads()


def _frozen(a: np.ndarray | None) -> np.ndarray | None:
    """A private, read-only copy: the GUI thread gets data no other thread can still write."""
    if a is None:
        return None
    c = np.array(a, copy=True, order="C")
    c.setflags(write=False)
    return c


@dataclass(frozen=True)
class ViewResult:
    """One frame for the viewer, with the mask computed from exactly this frame (or no mask yet)."""

    source_id: int
    index: int
    pts_s: float | None
    name: str | None
    rgb: np.ndarray
    mask: np.ndarray | None = None
    confidence: np.ndarray | None = None
    coverage: np.ndarray | None = None
    latency_s: float | None = None
    playing: bool = False
    t_made: float = 0.0  # perf_counter when the worker posted it (for the lag measurement)


@dataclass(frozen=True)
class SourceInfo:
    """What the window needs to know about the opened source."""

    source_id: int
    spec: str
    kind: str
    description: str
    is_live: bool
    fps: float | None
    frames: int | None
    names: list[str] | None


@dataclass(frozen=True)
class EngineInfo:
    """The loaded model, described for the side panel and the legend."""

    path: str
    description: dict[str, Any]
    class_names: list[str]
    palette: np.ndarray
    device_label: str


@dataclass
class LiveStats:
    """Numbers for the status bar, written by the worker's threads, read by the GUI timer."""

    inference_fps: float = 0.0
    latency_s: float = 0.0
    dropped: int = 0  # frames the model had no time for (policy latest)
    display_dropped: int = 0  # results replaced before the GUI took them


def describe_checkpoint(path: str | Path, ck: Checkpoint) -> dict[str, Any]:
    """`segtool.core.checkpoint_info.describe` of an already loaded checkpoint (the file is read once)."""
    return describe(path, ck)


class _FramesOnly:
    """Stands in for the Engine before a checkpoint is loaded, so a video still plays (without masks)."""

    def predict(self, frames: list[np.ndarray], confidence: bool = False) -> list[Prediction]:
        return [Prediction(None) for _ in frames]  # type: ignore[arg-type]


def paced_frames(
    source: Source,
    start: int,
    cancel: threading.Event,
    speed: Callable[[], float],
    loop: Callable[[], bool],
) -> Iterator[Frame]:
    """Frames of `source` from `start`, released at their timestamps divided by the playback speed.

    Live sources are not paced (they arrive in real time). Stills (no timestamps) advance at
    `STILL_FPS`. With `loop()` true, a file starts again at frame 0 when it ends. The speed may change
    while playing: the clock is re-anchored at the frame where it changed, so there is no jump.
    Runs in the pipeline's decode thread, which also closes it.
    """
    it: Iterator[Frame] | None = None
    try:
        while True:
            it = source.frames(start)
            anchor: tuple[float, float, float] | None = None  # (wall, media time, speed)
            for frame in it:
                if not source.is_live:
                    t = frame.pts_s if frame.pts_s is not None else frame.index / STILL_FPS
                    s = max(0.05, float(speed()))
                    now = time.perf_counter()
                    if anchor is None or anchor[2] != s or t < anchor[1]:
                        anchor = (now, t, s)
                    delay = anchor[0] + (t - anchor[1]) / s - now
                    if delay > 0 and cancel.wait(delay):
                        return
                    if delay < -0.5:  # decoding fell far behind (busy CPU): restart the clock, no burst
                        anchor = (time.perf_counter(), t, s)
                if cancel.is_set():
                    return
                yield frame
            it.close()  # type: ignore[attr-defined]
            it = None
            if source.is_live or not loop():
                return
            start = 0
    finally:
        if it is not None:
            it.close()  # type: ignore[attr-defined]


class ViewerWorker(QThread):
    """Owns the Engine and the viewer's Source; runs every prediction off the GUI thread.

    Signals (delivered queued to the GUI thread):
        engineReady(EngineInfo), sourceOpened(SourceInfo), resultReady() (call `take_result`),
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
        self._cond = threading.Condition()
        self._commands: collections.deque[tuple[str, tuple]] = collections.deque()
        self._run_cancel: threading.Event | None = None
        self._mail_lock = threading.Lock()
        self._pending: ViewResult | None = None
        self._notified = False
        # Read by the decode thread while playing; plain attribute writes are atomic in Python.
        self.speed = 1.0
        self.loop = False
        self.confidence = False
        self.stats = LiveStats()
        # Owned by the worker thread only:
        self._engine: Engine | None = None
        self._ckpt: Checkpoint | None = None
        self._ckpt_path: str | None = None
        self._source: Source | None = None
        self._spec: str | None = None
        self._source_id = 0
        self._live_used = False
        self._last_infer_s = 0.0

    # --- GUI-thread API: each call only queues a command -------------------------------------------

    def load_checkpoint(self, path: str, device: str = "auto", precision: str = "auto", runtime: str = "auto") -> None:
        self._command("checkpoint", str(path), device, precision, runtime)

    def set_device(self, device: str, precision: str, runtime: str = "auto") -> None:
        self._command("device", device, precision, runtime)

    def open_source(self, spec: str) -> None:
        self._command("open", str(spec))

    def show_frame(self, index: int) -> None:
        """Show frame `index` (stops playback)."""
        self._command("show", int(index))

    def play(self, start: int) -> None:
        self._command("play", int(start))

    def pause(self) -> None:
        with self._cond:
            if self._run_cancel is not None:
                self._run_cancel.set()

    def shutdown(self, timeout_ms: int = 15000) -> bool:
        """Stop playback, close the source, end the thread; True when the thread has finished."""
        self.requestInterruption()
        self._command("stop")
        return self.wait(timeout_ms) if self.isRunning() else True

    def take_result(self) -> ViewResult | None:
        """The newest result not yet taken (GUI thread)."""
        with self._mail_lock:
            r, self._pending, self._notified = self._pending, None, False
        return r

    def _command(self, kind: str, *args) -> None:
        with self._cond:
            self._commands.append((kind, args))
            if self._run_cancel is not None:
                self._run_cancel.set()  # a new command always pre-empts playback
            self._cond.notify()

    # --- worker thread -----------------------------------------------------------------------------

    def _next(self) -> tuple[str, tuple] | None:
        with self._cond:
            if not self._commands:
                self._cond.wait(0.2)
            if not self._commands:
                return None
            kind, args = self._commands.popleft()
            # A seek superseded by a later seek, play or source switch is skipped (slider drags).
            if kind == "show" and any(k in ("show", "play", "open", "stop") for k, _ in self._commands):
                return None
            return kind, args

    def _has_newer(self) -> bool:
        with self._cond:
            return bool(self._commands)

    def run(self) -> None:  # noqa: D102 - QThread entry point
        try:
            while not self.isInterruptionRequested():
                cmd = self._next()
                if cmd is None:
                    continue
                kind, args = cmd
                if kind == "stop":
                    break
                try:
                    getattr(self, f"_do_{kind}")(*args)
                except SourceInterrupted as e:
                    self.failed.emit("The source stopped", str(e))
                except UserInputError as e:
                    self.failed.emit(_TITLES.get(kind, "Error"), str(e))
                except Exception as e:  # noqa: BLE001 - a bug must not kill the window; show it instead
                    log.exception("viewer worker: %s failed", kind)
                    self.failed.emit(_TITLES.get(kind, "Error"), f"{type(e).__name__}: {e}")
        finally:
            self._close_source()
            self._engine = None

    def _do_checkpoint(self, path: str, device: str, precision: str, runtime: str = "auto") -> None:
        self.busy.emit(f"Loading {Path(path).name}…")
        self._engine = None  # free the old model before building the new one
        # an exported .onnx model is read by the Engine itself (its metadata is the checkpoint, without weights)
        model = path if is_onnx_path(path) else load_checkpoint(path)
        engine = Engine(model, device=device, precision=precision, threads=app_cpu_threads(), runtime=runtime)
        self._ckpt, self._ckpt_path, self._engine = engine.checkpoint, path, engine
        self.engineReady.emit(self._engine_info())

    def _do_device(self, device: str, precision: str, runtime: str = "auto") -> None:
        if self._ckpt is None or self._ckpt_path is None:
            return
        self.busy.emit(f"Moving the model to {device}…")
        self._engine = None
        model = self._ckpt_path if is_onnx_path(self._ckpt_path) else self._ckpt
        self._engine = Engine(model, device=device, precision=precision, threads=app_cpu_threads(), runtime=runtime)
        self.engineReady.emit(self._engine_info())

    def _engine_info(self) -> EngineInfo:
        e = self._engine
        assert e is not None and self._ckpt is not None and self._ckpt_path is not None
        return EngineInfo(
            self._ckpt_path,
            describe_checkpoint(self._ckpt_path, self._ckpt),
            list(e.class_names),
            np.array(e.palette, copy=True),
            e.device_label,
        )

    def _do_open(self, spec: str) -> None:
        self.busy.emit(f"Opening {spec}…")
        self._close_source()
        src = open_source(spec, connect_timeout_s=5.0)
        self._source, self._spec, self._live_used = src, spec, False
        self._source_id += 1
        n = src.frames_expected  # counting an MKV's packets happens here, not on the GUI thread
        names = getattr(src, "names", None)
        self.sourceOpened.emit(
            SourceInfo(self._source_id, spec, src.kind, src.description, src.is_live, src.fps, n,
                       [str(x) for x in names] if names is not None else None)
        )

    def _close_source(self) -> None:
        if self._source is not None:
            self._source.close()
            self._source = None

    def _do_show(self, index: int) -> None:
        src = self._source
        if src is None or src.is_live:
            return
        n = src.frames_expected or 1
        frame: Frame = src.read(max(0, min(index, n - 1)))  # type: ignore[attr-defined]
        engine = self._engine
        if engine is None or self._last_infer_s > 0.1:
            # No model, or a slow one: show the picture now; its mask follows.
            self._post(self._result(frame, None, None, playing=False))
        if engine is None or self._has_newer():
            return
        t0 = time.perf_counter()
        pred = engine.predict([frame.rgb], confidence=self.confidence)[0]
        self._last_infer_s = time.perf_counter() - t0
        self._post(self._result(frame, pred, self._last_infer_s, playing=False))

    def _do_play(self, start: int) -> None:
        src = self._source
        if src is None or self._has_newer():
            return
        if src.is_live and self._live_used:  # a camera or stream can be read once: reconnect
            self._close_source()
            src = self._source = open_source(self._spec, connect_timeout_s=5.0)  # type: ignore[arg-type]
        if src.is_live:
            self._live_used, start = True, 0
        cancel = threading.Event()
        with self._cond:
            if self._commands:
                return
            self._run_cancel = cancel
        self.stats.dropped = 0
        self._ema_t: float | None = None
        engine = self._engine if self._engine is not None else _FramesOnly()
        try:
            frames = paced_frames(src, start, cancel, lambda: self.speed, lambda: self.loop)
            res = run_pipeline(
                frames, engine, on_result=self._on_result, progress=self._on_progress, policy="latest",
                pace=False, cancel=cancel, confidence=self.confidence and self._engine is not None,
            )  # fmt: skip
        finally:
            with self._cond:
                self._run_cancel = None
        if res.error is not None:
            self.playbackEnded.emit("stopped", res.last_index)
            raise res.error
        if res.interrupted is not None:
            self.playbackEnded.emit("stopped", res.last_index)
            raise res.interrupted
        self.playbackEnded.emit("end" if res.complete else "paused", res.last_index)

    # pipeline writer thread
    def _on_result(self, frame: Frame, pred: Prediction) -> None:
        self._post(self._result(frame, pred, None, playing=True))
        now = time.perf_counter()
        if self._ema_t is not None:
            rate = 1.0 / max(now - self._ema_t, 1e-6)
            f = self.stats.inference_fps
            self.stats.inference_fps = rate if f == 0 else 0.8 * f + 0.2 * rate
        self._ema_t = now

    def _on_progress(self, p: Progress) -> None:
        self.stats.latency_s = p.latency_s
        self.stats.dropped = p.dropped

    def _result(self, frame: Frame, pred: Prediction | None, latency: float | None, playing: bool) -> ViewResult:
        mask = pred.mask if pred is not None else None
        cov = coverage(mask, len(self._engine.class_names)) if mask is not None and self._engine else None
        return ViewResult(
            self._source_id, frame.index, frame.pts_s, frame.name, _frozen(frame.rgb), _frozen(mask),
            _frozen(pred.confidence if pred is not None else None), cov, latency, playing, time.perf_counter(),
        )  # fmt: skip

    def _post(self, r: ViewResult) -> None:
        with self._mail_lock:
            if self._pending is not None:
                self.stats.display_dropped += 1
            self._pending = r
            notify, self._notified = not self._notified, True
        if notify:
            self.resultReady.emit()


_TITLES = {
    "checkpoint": "Could not load the checkpoint",
    "device": "Could not use that device",
    "open": "Could not open the source",
    "show": "Could not show that frame",
    "play": "Playback stopped",
}
