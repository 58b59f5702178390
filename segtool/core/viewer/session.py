"""`ViewerSession`: the viewer's source, engine, playback position, settings and stats, owned by one
thread. See `segtool.core.viewer` for the threads, the commands and where new features plug in."""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import MappingProxyType

import numpy as np

from segtool.base.errors import UserInputError
from segtool.core.checkpoint_info import describe
from segtool.core.engine import Engine
from segtool.core.errors import SourceInterrupted
from segtool.core.frame import Frame, Prediction
from segtool.core.model_file import ModelFile, open_model
from segtool.core.overlay import coverage
from segtool.core.pipeline import Progress, run_pipeline
from segtool.core.sources import Source, open_source
from segtool.core.viewer.boxes import Inbox, Mailbox
from segtool.core.viewer.messages import (
    TITLES,
    ApplySettings,
    Command,
    EngineInfo,
    LiveStats,
    LoadCheckpoint,
    OpenSource,
    Pause,
    Play,
    SessionEvents,
    SetDevice,
    ShowFrame,
    SourceInfo,
    Stop,
    ViewResult,
    ViewSettings,
    frozen,
)
from segtool.core.viewer.pacing import paced_frames
from segtool.models.checkpoint import Checkpoint

log = logging.getLogger(__name__)


class _PlayMeter:
    """Inference rate and latency of one playback. Created by the session thread before the pipeline
    starts, then used only by the pipeline's writer thread, which publishes copies."""

    def __init__(self, publish: Callable[..., None], fps: float) -> None:
        self._publish, self._fps, self._t_last = publish, fps, None

    def on_result(self) -> None:
        now = time.perf_counter()
        if self._t_last is not None:
            rate = 1.0 / max(now - self._t_last, 1e-6)
            self._fps = rate if self._fps == 0 else 0.8 * self._fps + 0.2 * rate
        self._t_last = now

    def on_progress(self, p: Progress) -> None:
        self._publish(inference_fps=self._fps, latency_s=p.latency_s, dropped=p.dropped)


class _FramesOnly:
    """Stands in for the Engine before a checkpoint is loaded, so a video still plays (without masks)."""

    def predict(self, frames: list[np.ndarray], confidence: bool = False) -> list[Prediction]:
        return [Prediction(None) for _ in frames]  # type: ignore[arg-type]


class ViewerSession:
    """The viewer's state and the code that changes it; Qt-free.

    Args:
        events: told about engines, sources, results, the end of a playback and errors.
        threads: torch CPU threads for the Engine (None: the Engine's default).
        connect_timeout_s: how long opening a camera or stream may take.
    """

    def __init__(
        self,
        events: SessionEvents | None = None,
        *,
        threads: int | None = None,
        connect_timeout_s: float = 5.0,
    ) -> None:
        self.events = events or SessionEvents()
        self.threads, self.connect_timeout_s = threads, connect_timeout_s
        self._inbox = Inbox()
        self._mail = Mailbox()
        self._stats_lock = threading.Lock()
        self._stats = LiveStats()
        # Owned by the session thread (the one in `run` / `handle`):
        self._engine: Engine | None = None
        self._model: ModelFile | None = None
        self._source: Source | None = None
        self._spec: str | None = None
        self._source_id = 0
        self._live_used = False
        self._last_infer_s = 0.0

    # --- any thread --------------------------------------------------------------------------------

    def submit(self, command: Command) -> None:
        """Queue a command for the session thread and return at once (interrupts a playback, except
        ApplySettings, which only replaces the settings snapshot)."""
        self._inbox.put(command)

    def take_result(self) -> ViewResult | None:
        """The newest result not yet taken."""
        return self._mail.take()

    def last_result(self) -> ViewResult | None:
        """The newest result posted, taken or not: the last (frame, prediction) pair."""
        return self._mail.last()

    def stats(self) -> LiveStats:
        """A copy of the current numbers."""
        with self._stats_lock:
            s = self._stats
        return dataclasses.replace(s, display_dropped=self._mail.drops())

    def settings(self) -> ViewSettings:
        """The newest settings snapshot received."""
        return self._inbox.settings()

    # --- the session thread ------------------------------------------------------------------------

    @property
    def checkpoint(self) -> Checkpoint | None:
        return self._model.checkpoint if self._model is not None else None

    def run(self, interrupted: Callable[[], bool] = lambda: False, poll_s: float = 0.2) -> None:
        """Handle commands until Stop (or `interrupted()`), then close the source and free the engine."""
        try:
            while not interrupted():
                cmd = self._inbox.get(poll_s)
                if isinstance(cmd, Stop):
                    break
                if cmd is not None:
                    self._handle(cmd)
        finally:
            self.close()

    def close(self) -> None:
        self._close_source()
        self._engine = None

    def handle(self, cmd: Command) -> None:
        """Run one command now, on the calling thread, which must be the session thread (use it instead of
        `run()` to drive a session synchronously, as the tests do). Its settings apply first. A failure
        is reported through `events.failed` (the session keeps going)."""
        self._inbox.adopt(cmd)
        self._handle(cmd)

    def _handle(self, cmd: Command) -> None:
        # Settings a queued command carried were adopted when it arrived (`submit`): adopting them
        # again here could replace a newer ApplySettings.
        try:
            match cmd:
                case LoadCheckpoint(path, device, precision, runtime):
                    self._load(path, device, precision, runtime)
                case SetDevice(device, precision, runtime):
                    self._set_device(device, precision, runtime)
                case OpenSource(spec):
                    self._open(spec)
                case ShowFrame(index):
                    self._show(index)
                case Play(start):
                    self._play(start)
                case Pause() | ApplySettings() | Stop():
                    pass  # Pause has cancelled the playback on arrival; ApplySettings applied on arrival
                case _:
                    raise TypeError(f"not a viewer command: {cmd!r}")
        except SourceInterrupted as e:
            self.events.failed("The source stopped", str(e))
        except UserInputError as e:
            self.events.failed(TITLES.get(type(cmd), "Error"), str(e))
        except Exception as e:  # noqa: BLE001 - a bug must not end the session; show it instead
            log.exception("viewer session: %s failed", type(cmd).__name__)
            self.events.failed(TITLES.get(type(cmd), "Error"), f"{type(e).__name__}: {e}")

    def _load(self, path: str, device: str, precision: str, runtime: str = "auto") -> None:
        self.events.busy(f"Loading {Path(path).name}…")
        self._engine = None  # free the old model before building the new one
        model = open_model(path)  # the only read of this file in the viewer (a shipped name resolves here)
        engine = Engine(model, device=device, precision=precision, threads=self.threads, runtime=runtime)
        self._model, self._engine = model, engine
        self.events.engine_ready(self._engine_info())

    def _set_device(self, device: str, precision: str, runtime: str = "auto") -> None:
        if self._model is None:
            return
        self.events.busy(f"Moving the model to {device}…")
        self._engine = None
        self._engine = Engine(
            self._model, device=device, precision=precision, threads=self.threads, runtime=runtime
        )
        self.events.engine_ready(self._engine_info())

    def _engine_info(self) -> EngineInfo:
        e, m = self._engine, self._model
        assert e is not None and m is not None
        return EngineInfo(
            str(m.path), describe(m), list(e.class_names), frozen(e.palette), e.device_label, m.checkpoint, m
        )

    def _open(self, spec: str) -> None:
        self.events.busy(f"Opening {spec}…")
        self._close_source()
        src = open_source(spec, connect_timeout_s=self.connect_timeout_s, frame_threads=False)
        self._source, self._spec, self._live_used = src, spec, False
        self._source_id += 1
        n = src.frames_expected  # counting an MKV's packets happens here, not on the caller's thread
        names = src.names
        self.events.source_opened(
            SourceInfo(
                self._source_id,
                spec,
                src.kind,
                src.description,
                src.is_live,
                src.fps,
                n,
                [str(x) for x in names] if names is not None else None,
            )
        )

    def _close_source(self) -> None:
        if self._source is not None:
            self._source.close()
            self._source = None

    def _show(self, index: int) -> None:
        src = self._source
        if src is None or src.is_live:
            return
        n = src.frames_expected or 1
        frame: Frame = src.read(max(0, min(index, n - 1)))
        engine = self._engine
        make = self._result_maker(self._source_id, engine.num_classes if engine is not None else 0)
        if engine is None or self._last_infer_s > 0.1:
            # No model, or a slow one: show the picture now; its mask follows.
            self._post(make(frame, None, None, False))
        if engine is None or self._inbox.has_newer(ignore_pause=True):
            return
        t0 = time.perf_counter()
        pred = engine.predict([frame.rgb], confidence=self._inbox.settings().confidence)[0]
        self._last_infer_s = time.perf_counter() - t0
        self._post(make(frame, pred, self._last_infer_s, False))

    def _play(self, start: int) -> None:
        src = self._source
        if src is None or self._inbox.has_newer():
            return
        if src.is_live and self._live_used:  # a camera or stream can be read once: reconnect
            self._close_source()
            src = self._source = open_source(
                self._spec, connect_timeout_s=self.connect_timeout_s, frame_threads=False
            )  # type: ignore[arg-type]
        if src.is_live:
            self._live_used, start = True, 0
        cancel = self._inbox.start_playback()
        if cancel is None:
            return
        engine = self._engine
        with self._stats_lock:
            fps = self._stats.inference_fps
            self._stats = dataclasses.replace(self._stats, dropped=0)
        meter = _PlayMeter(self._publish, fps)
        make = self._result_maker(self._source_id, engine.num_classes if engine is not None else 0)

        def on_result(frame: Frame, pred: Prediction) -> None:  # pipeline writer thread
            self._post(make(frame, pred, None, True))
            meter.on_result()

        try:
            res = run_pipeline(
                paced_frames(src, start, cancel, self._inbox.settings),
                engine or _FramesOnly(),  # type: ignore[arg-type]
                on_result=on_result,
                progress=meter.on_progress,
                policy="latest",
                pace=False,
                cancel=cancel,
                confidence=self._inbox.settings().confidence and engine is not None,
            )
        finally:
            self._inbox.end_playback()
        if res.error is not None:
            self.events.playback_ended("stopped", res.last_index)
            raise res.error
        if res.interrupted is not None:
            self.events.playback_ended("stopped", res.last_index)
            raise res.interrupted
        # The pacer ends its iteration when cancelled, which the pipeline may take for the end of the
        # source: a cancelled playback is "paused", never "end" (the window would stop a newer one).
        self.events.playback_ended(
            "end" if res.complete and not cancel.is_set() else "paused", res.last_index
        )

    def _publish(self, **changes) -> None:
        with self._stats_lock:
            self._stats = dataclasses.replace(self._stats, **changes)

    def _result_maker(
        self, source_id: int, num_classes: int
    ) -> Callable[[Frame, Prediction | None, float | None, bool], ViewResult]:
        """Builds results from plain values captured now, so the writer thread never reads session state."""
        settings = self._inbox.settings

        def make(frame: Frame, pred: Prediction | None, latency: float | None, playing: bool) -> ViewResult:
            mask = pred.mask if pred is not None else None
            rgb, m = frozen(frame.rgb), frozen(mask)
            conf = frozen(pred.confidence) if pred is not None else None
            analysis = {}
            if m is not None:
                f, p = Frame(frame.index, frame.pts_s, rgb, frame.name), Prediction(m, conf)
                for name, fn in settings().analyses:
                    try:
                        analysis[name] = fn(f, p)
                    except Exception as e:  # noqa: BLE001 - a broken analysis must not stop playback
                        log.exception("viewer analysis %r failed", name)
                        analysis[name] = e
            cov = coverage(m, num_classes) if m is not None and num_classes else None
            return ViewResult(
                source_id,
                frame.index,
                frame.pts_s,
                frame.name,
                rgb,
                m,
                conf,
                cov,
                latency,
                playing,
                time.perf_counter(),
                MappingProxyType(analysis),
            )

        return make

    def _post(self, r: ViewResult) -> None:
        if self._mail.post(r):
            self.events.result_ready()
