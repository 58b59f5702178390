"""The one pipeline both the CLI and the app use: decode thread → inference → writer thread.

- Bounded queues between the stages, so memory stays flat however long the source is.
- Policy `every` (files): each selected frame exactly once, in order. Policy `latest` (live): the
  decoder keeps only the newest frame; frames the engine had no time for are dropped and counted.
- A cancel event stops every stage; a progress callback reports frames, fps and drops.
- The writer thread owns the sinks (files) and calls `on_result` (the app's display hook).
- Errors in any stage end the run cleanly: sinks are closed (`complete=False` unless the source was
  exhausted), and the result says what happened.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from segtool.base.errors import UserInputError
from segtool.core.engine import Engine
from segtool.core.errors import SourceInterrupted
from segtool.core.frame import Frame, Prediction
from segtool.core.sinks import Sink

POLICIES = ("every", "latest")
_END = object()  # end-of-stream marker


@dataclass
class Progress:
    """Reported after every written frame."""

    done: int  # frames written in this run
    expected: int | None  # frames this run will write, when known
    fps: float  # frames written per second in this run
    dropped: int  # frames dropped by the `latest` policy
    index: int  # index of the frame just written
    latency_s: float  # decode-to-written time of that frame


@dataclass
class RunResult:
    frames_written: int = 0
    dropped: int = 0
    seconds: float = 0.0
    complete: bool = False  # the source was exhausted and every frame written
    cancelled: bool = False
    interrupted: SourceInterrupted | None = None  # the source broke mid-way (exit code 1)
    error: BaseException | None = None  # any other failure (bad input → exit code 2)
    last_index: int = -1
    # decode-to-written seconds of the most recent frames (bounded: a camera may run for days)
    latencies: deque[float] = field(default_factory=lambda: deque(maxlen=4096), repr=False)

    @property
    def fps(self) -> float:
        return self.frames_written / self.seconds if self.seconds > 0 else 0.0


class _LatestSlot:
    """A one-frame mailbox: `put` replaces an unread frame (counted as dropped). The end marker (or an
    error) never replaces a frame: it is delivered after the last one."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item: object | None = None
        self._has = False
        self._final: object | None = None
        self.dropped = 0

    def put(self, item: object) -> None:
        with self._cond:
            if item is _END or isinstance(item, BaseException):
                self._final = item
            else:
                if self._has:
                    self.dropped += 1
                self._item, self._has = item, True
            self._cond.notify()

    def get(self, timeout: float) -> object:
        with self._cond:
            if not self._cond.wait_for(lambda: self._has or self._final is not None, timeout=timeout):
                raise queue.Empty
            if self._has:
                self._has = False
                return self._item
            return self._final


def _put(q: queue.Queue, item: object, cancel: threading.Event) -> bool:
    """Blocking put that gives up when cancelled (so no thread hangs on a full queue)."""
    while not cancel.is_set():
        try:
            q.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


def run_pipeline(
    frames: Iterator[Frame],
    engine: Engine,
    *,
    sinks: Sink | None = None,
    on_result: Callable[[Frame, Prediction], None] | None = None,
    policy: str = "every",
    batch_size: int = 1,
    expected: int | None = None,
    cancel: threading.Event | None = None,
    progress: Callable[[Progress], None] | None = None,
    pace: bool = False,
    confidence: bool = False,
    queue_size: int = 8,
) -> RunResult:
    """Segment every frame `frames` yields and hand the results to `sinks` and `on_result`.

    Args:
        frames: an iterator from `Source.frames(...)`; it is consumed in a decode thread.
        engine: the model; used only by the calling thread.
        sinks: already opened; written by the writer thread; not closed here (the caller decides
            whether the run was complete).
        on_result: called in the writer thread with each frame and its prediction (copies are the
            callee's business; the arrays are not reused by the pipeline).
        policy: "every" or "latest".
        batch_size: frames per forward pass (policy "every" only).
        expected: frames this run should produce, for progress.
        cancel: set it to stop; the result then has `cancelled=True`.
        progress: called in the writer thread after each frame.
        pace: release frames at their timestamps (plays a file like a live source; for the app).
        confidence: ask the engine for confidence maps.
        queue_size: bound of the decode and write queues.
    """
    if policy not in POLICIES:
        raise UserInputError(f"unknown policy {policy!r}; use every or latest")
    cancel = cancel or threading.Event()
    batch_size = 1 if policy == "latest" else max(1, int(batch_size))
    inbox: queue.Queue | _LatestSlot = (
        _LatestSlot() if policy == "latest" else queue.Queue(maxsize=queue_size)
    )
    outbox: queue.Queue = queue.Queue(maxsize=queue_size)
    result = RunResult()
    failures: list[BaseException] = []
    t0 = time.perf_counter()

    def decode() -> None:
        first_pts, wall0 = None, None
        try:
            for frame in frames:
                if cancel.is_set():
                    break
                if pace and frame.pts_s is not None:
                    if first_pts is None:
                        first_pts, wall0 = frame.pts_s, time.perf_counter()
                    delay = (frame.pts_s - first_pts) - (time.perf_counter() - wall0)
                    if delay > 0 and cancel.wait(delay):
                        break
                item = (frame, time.perf_counter())
                if isinstance(inbox, _LatestSlot):
                    inbox.put(item)
                elif not _put(inbox, item, cancel):
                    break
        except BaseException as e:  # noqa: BLE001 - handed to the inference loop
            if isinstance(inbox, _LatestSlot):
                inbox.put(e)
            else:
                _put(inbox, e, cancel)
            return
        finally:
            close = getattr(frames, "close", None)
            if close is not None:
                close()  # release the decoder in the thread that used it
        if isinstance(inbox, _LatestSlot):
            inbox.put(_END)
        else:
            _put(inbox, _END, cancel)

    def write() -> None:
        try:
            while True:
                item = outbox.get()
                if item is _END:
                    return
                frame, pred, t_in = item
                if sinks is not None:
                    sinks.write(frame, pred)
                if on_result is not None:
                    on_result(frame, pred)
                result.frames_written += 1
                result.last_index = frame.index
                latency = time.perf_counter() - t_in
                result.latencies.append(latency)
                if progress is not None:
                    elapsed = time.perf_counter() - t0
                    dropped = inbox.dropped if isinstance(inbox, _LatestSlot) else 0
                    progress(
                        Progress(
                            result.frames_written,
                            expected,
                            result.frames_written / max(elapsed, 1e-9),
                            dropped,
                            frame.index,
                            latency,
                        )
                    )
        except BaseException as e:  # noqa: BLE001 - reported in the result
            failures.append(e)
            cancel.set()
            while outbox.get() is not _END:  # drain so the inference loop never blocks on a full queue
                pass

    decoder = threading.Thread(target=decode, name="segtool-decode", daemon=True)
    writer = threading.Thread(target=write, name="segtool-write", daemon=True)
    decoder.start()
    writer.start()
    source_done = False
    try:
        while not cancel.is_set() and not source_done:
            batch: list[tuple[Frame, float]] = []
            while len(batch) < batch_size:
                try:
                    item = inbox.get(timeout=0.1)
                except queue.Empty:
                    if cancel.is_set() or (batch and policy == "latest"):
                        break
                    continue
                if item is _END:
                    source_done = True
                    break
                if isinstance(item, BaseException):
                    if isinstance(item, SourceInterrupted):
                        result.interrupted = item
                    else:
                        failures.append(item)
                    source_done = True
                    break
                batch.append(item)  # type: ignore[arg-type]
            if not batch:
                continue
            preds = engine.predict([f.rgb for f, _ in batch], confidence=confidence)
            for (frame, t_in), pred in zip(batch, preds):
                if not _put(outbox, (frame, pred, t_in), cancel):
                    break
    except BaseException as e:  # noqa: BLE001 - engine failure (e.g. out of memory) or Ctrl-C
        failures.append(e)
        cancel.set()
    finally:
        outbox.put(_END)
        writer.join()
        if not source_done:
            cancel.set()
        decoder.join(timeout=5.0)
    result.seconds = time.perf_counter() - t0
    result.dropped = inbox.dropped if isinstance(inbox, _LatestSlot) else 0
    result.error = failures[0] if failures else None
    result.cancelled = cancel.is_set() and result.error is None and not source_done
    result.complete = source_done and result.interrupted is None and result.error is None
    if isinstance(result.error, KeyboardInterrupt):
        raise result.error
    return result
