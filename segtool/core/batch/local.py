"""Run a batch on this machine: one source after another in this process, or N worker processes.

Workers are started with `spawn` (a fresh interpreter: no forked CUDA context, no forked torch
thread pool), build their own Engine once, and take sources from a shared queue until it is empty.
One worker per GPU (`devices=["cuda:0", "cuda:1"]`), or N CPU workers that divide the CPU threads
between them. Only this process writes batch.json; workers send events (start, progress, done).

    state = BatchState.create(out, items, command="predict", settings=...)
    run_batch(state, items, out, EngineSpec(ckpt), ExportOptions(), workers=2, progress=print)
"""

from __future__ import annotations

import multiprocessing as mp
import os
import queue
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from segtool.core.batch.expand import BatchItem
from segtool.core.batch.runner import EngineSpec, Outcome, export_one, probe
from segtool.core.batch.state import BatchState
from segtool.core.errors import UserInputError
from segtool.core.export import ExportOptions
from segtool.models.device import cpu_count


@dataclass
class BatchProgress:
    """Frames over all sources this run works on, for one overall bar and an ETA."""

    done: int  # frames of this run's sources that are on disk (resumed ones included)
    total: int | None  # frames of this run's sources, when every count is known
    written: int  # frames written by this run
    fps: float  # frames written per second by this run
    running: list[str]  # sources being worked on now
    sources_done: int
    sources_total: int
    per_source: dict[str, int] = field(default_factory=dict)  # frames on disk of each source begun

    def of(self, name: str) -> tuple[int, int | None]:
        """(frames on disk, frames expected) of one source, for a per-source bar."""
        return self.per_source.get(name, 0), self.expected.get(name)

    expected: dict[str, int | None] = field(default_factory=dict)

    @property
    def eta_s(self) -> float | None:
        if self.total is None or self.fps <= 0:
            return None
        return max(0.0, (self.total - self.done) / self.fps)


@dataclass
class _Tally:
    expected: dict[str, int | None]
    pos: dict[str, int] = field(default_factory=dict)
    written: dict[str, int] = field(default_factory=dict)
    running: list[str] = field(default_factory=list)
    finished: int = 0
    t0: float = field(default_factory=time.perf_counter)

    def source(self, name: str, done: int, todo: int | None) -> None:
        full = self.expected.get(name)
        skip = (full - todo) if (full is not None and todo is not None) else 0
        self.pos[name] = skip + done
        self.written[name] = done

    def snapshot(self) -> BatchProgress:
        known = list(self.expected.values())
        total = None if any(v is None for v in known) else sum(known)  # type: ignore[arg-type]
        written = sum(self.written.values())
        el = time.perf_counter() - self.t0
        return BatchProgress(
            sum(self.pos.values()),
            total,
            written,
            written / el if el > 0 else 0.0,
            list(self.running),
            self.finished,
            len(self.expected),
            dict(self.pos),
            dict(self.expected),
        )


def plan_workers(
    spec: EngineSpec, workers: int = 1, devices: Sequence[str] | None = None
) -> list[EngineSpec]:
    """The engine of each worker: one per device in `devices`, else `workers` copies of `spec` with the
    CPU threads (`spec.threads`, default all cores) divided between them, at least one each."""
    if devices:
        return [spec.on(d.strip(), spec.threads) for d in devices]
    if workers < 1:
        raise UserInputError(f"--workers {workers}: use 1 or more")
    if workers == 1:
        return [spec]
    threads = max(1, (spec.threads or cpu_count()) // workers)
    return [spec.on(spec.device, threads) for _ in range(workers)]


def cap_workers(requested: int, sources: int, cores: int | None = None) -> tuple[int, str | None]:
    """CPU worker processes worth starting: no more than the sources left (an idle worker only costs a
    process and a model in memory) and the cores this process may use (more would share them and run no
    faster). Returns (count, a note saying why it was capped, or None)."""
    cores = cpu_count() if cores is None else cores
    n = max(1, min(requested, sources, cores))
    if n == requested:
        return n, None
    why = [
        f"{sources} source(s) to run" if sources <= n else "",
        f"{cores} CPU core(s)" if cores <= n else "",
    ]  # the binding limits
    return n, f"--workers {requested}: starting {n} worker(s) ({' and '.join(w for w in why if w)})"


def prepare(
    state: BatchState,
    items: Sequence[BatchItem],
    opts: ExportOptions,
    on_state: Callable[[Any], None] | None = None,
) -> tuple[list[BatchItem], dict[str, int | None]]:
    """Sources left to run, and their frame counts. Complete sources are skipped when resuming; a
    source that cannot even be opened is recorded as failed here, before any worker starts."""
    todo: list[BatchItem] = []
    expected: dict[str, int | None] = {}
    for it in items:
        s = state.get(it.name)
        if opts.resume and s.state == "complete" and (Path(state.out) / it.name / "summary.json").exists():
            continue
        try:
            expected[it.name] = probe(it, opts)
        except Exception as e:  # noqa: BLE001 - recorded; the batch goes on
            msg = str(e) if isinstance(e, UserInputError) else f"{type(e).__name__}: {e}"
            state.update(it.name, state="failed", message=msg, frames_written=0, attempts=s.attempts + 1)
            if on_state is not None:
                on_state(s)
            continue
        state.update(it.name, state="pending", frames_expected=expected[it.name], message="")
        todo.append(it)
    return todo, expected


def _record(state: BatchState, o: Outcome, worker: str, on_state: Callable[[Any], None] | None) -> None:
    s = state.update(o.name, worker=worker, **o.fields())
    if on_state is not None:
        on_state(s)


def run_batch(
    state: BatchState,
    items: Sequence[BatchItem],
    spec: EngineSpec,
    opts: ExportOptions,
    *,
    workers: int = 1,
    devices: Sequence[str] | None = None,
    checkpoint_label: str = "",
    progress: Callable[[BatchProgress], None] | None = None,
    on_state: Callable[[Any], None] | None = None,
    cancel: threading.Event | None = None,
    engine: Any | None = None,
    model: Any | None = None,
    note: Callable[[str], None] | None = None,
) -> BatchState:
    """Run `items` (their state in `state`), writing `state.out/<name>/` and batch.json.

    Args:
        workers: CPU worker processes (1 = this process).
        devices: one worker process per device (overrides `workers`).
        progress: called with a `BatchProgress` as frames are written (this thread).
        on_state: called with a source's `SourceState` when it ends.
        cancel: set it to stop; running sources end as partial (resumable), the rest stay pending.
        engine: an Engine already built (this-process runs only; the app passes none).
        model: the `ModelFile` the caller opened and validated: a run in this process builds its Engine
            from it without reading the file again. Worker processes open the file themselves (a spawned
            process shares no memory: sending the weights through a pipe costs what reading them does,
            and the page cache makes that read cheap) and refuse it if it changed since (`EngineSpec.stamp`).
        note: called with a line for the user when `workers` is capped (default: printed on stderr).

    Returns:
        `state`, updated. `state.problems()` lists partial and failed sources.
    """
    todo, expected = prepare(state, items, opts, on_state)
    tally = _Tally(expected)
    if todo and not devices and workers > 1:
        workers, why = cap_workers(workers, len(todo))
        if why:
            (note or _note)(why)
    specs = plan_workers(spec, workers, devices)
    if (
        todo and devices and len(specs) > len(todo)
    ):  # a device with no source to run would only load the model
        (note or _note)(
            f"--devices: {len(specs)} given, {len(todo)} source(s) to run; starting {len(todo)} worker(s)"
        )
        specs = specs[: len(todo)]
    if not todo:
        return state
    if len(specs) == 1 and not devices:
        _run_here(
            state, todo, specs[0], opts, tally, checkpoint_label, progress, on_state, cancel, engine, model
        )
    else:
        _run_processes(state, todo, specs, opts, tally, checkpoint_label, progress, on_state, cancel)
    return state


def _note(message: str) -> None:
    print(f"segtool: note: {message}", file=sys.stderr)


def _run_here(state, todo, spec, opts, tally, label, progress, on_state, cancel, engine, model=None) -> None:
    engine = engine or spec.build(model)
    worker = f"{os.uname().nodename}:{os.getpid()} {engine.device_label}"
    for it in todo:
        if cancel is not None and cancel.is_set():
            break
        s = state.update(it.name, state="running", attempts=state.get(it.name).attempts + 1, worker=worker)
        tally.running = [it.name]

        def on_progress(name, done, todo_n, fps):
            tally.source(name, done, todo_n)
            if progress is not None:
                progress(tally.snapshot())

        o = export_one(
            it, engine, state.out, opts, checkpoint_label=label, progress=on_progress, cancel=cancel
        )
        tally.running, tally.finished = [], tally.finished + 1
        if o.state == "complete":
            tally.source(it.name, o.frames_written, o.frames_expected)
        _record(state, o, s.worker, on_state)
        if progress is not None:
            progress(tally.snapshot())
        if o.cancelled or o.fatal:
            break


# --- worker processes --------------------------------------------------------------------------


def _exit_with_parent(parent: int) -> None:
    """A worker whose parent was killed (SIGKILL leaves no time to stop it) exits instead of writing on
    into the batch's folders beside a resumed run."""
    while True:
        time.sleep(0.5)
        if os.getppid() != parent:
            os._exit(3)


def _worker(
    wid: int, spec: dict, out: str, opts: dict, label: str, tasks, events, cancel, parent: int
) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the parent decides
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True).start()
    try:
        engine = EngineSpec(**spec).build()
    except BaseException as e:  # noqa: BLE001 - reported to the parent, which stops the batch
        events.put(("fatal", wid, f"worker {wid} could not load the model on {spec['device']}: {e}"))
        return
    worker = f"{os.uname().nodename}:{os.getpid()} {engine.device_label}"
    options = ExportOptions(**opts)
    while not cancel.is_set():
        try:
            item = tasks.get(timeout=0.2)
        except queue.Empty:
            continue
        if item is None:
            break
        events.put(("start", wid, item.name, worker))
        last = [0.0]

        def on_progress(name, done, todo_n, fps, _last=last):
            now = time.monotonic()
            if now - _last[0] >= 0.25 or done == todo_n:
                _last[0] = now
                events.put(("progress", wid, name, done, todo_n))

        o = export_one(
            item, engine, out, options, checkpoint_label=label, progress=on_progress, cancel=cancel
        )
        events.put(("done", wid, asdict(o)))


def _run_processes(state, todo, specs, opts, tally, label, progress, on_state, cancel) -> None:
    ctx = mp.get_context("spawn")
    tasks, events, stop = ctx.Queue(), ctx.Queue(), ctx.Event()
    for it in todo:
        tasks.put(it)
    for _ in specs:
        tasks.put(None)
    procs = [
        ctx.Process(
            target=_worker,
            name=f"segtool-batch-{w}",
            daemon=True,
            args=(w, asdict(sp), str(state.out), asdict(opts), label, tasks, events, stop, os.getpid()),
        )
        for w, sp in enumerate(specs)
    ]
    for p in procs:
        p.start()
    current: dict[int, str] = {}  # worker -> source it runs
    workers_of: dict[int, str] = {}
    fatal: str | None = None
    left = len(todo)
    try:
        while left > 0:
            if cancel is not None and cancel.is_set():
                stop.set()
            try:
                ev = events.get(timeout=0.3)
            except queue.Empty:
                for w, p in enumerate(procs):
                    if not p.is_alive() and w in current:  # died mid-source (killed, out of memory)
                        name = current.pop(w)
                        _record(
                            state,
                            Outcome(
                                name,
                                "failed",
                                message=f"worker process died (exit code {p.exitcode}) while exporting it; --resume retries it",
                            ),
                            workers_of.get(w, ""),
                            on_state,
                        )
                        tally.finished += 1
                        left -= 1
                if all(not p.is_alive() for p in procs) and events.empty():
                    break  # nobody left to run the rest: they stay pending
                continue
            kind, w = ev[0], ev[1]
            if kind == "fatal":
                fatal = ev[2]
                stop.set()
            elif kind == "start":
                name, worker = ev[2], ev[3]
                current[w], workers_of[w] = name, worker
                state.update(name, state="running", attempts=state.get(name).attempts + 1, worker=worker)
                tally.running = sorted(current.values())
            elif kind == "progress":
                tally.source(ev[2], ev[3], ev[4])
            elif kind == "done":
                o = Outcome(**ev[2])
                current.pop(w, None)
                tally.running = sorted(current.values())
                tally.finished += 1
                left -= 1
                if o.state == "complete":
                    tally.source(o.name, o.frames_written, o.frames_expected)
                _record(state, o, workers_of.get(w, ""), on_state)
                if o.fatal:
                    fatal = o.message
                    stop.set()
            if progress is not None and kind in ("progress", "done"):
                progress(tally.snapshot())
    finally:
        stop.set()
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():
                p.terminate()
                p.join(5)
        for w, name in current.items():  # never reported back: resumable from its folder
            if state.get(name).state == "running":
                _record(
                    state,
                    Outcome(name, "partial", message="interrupted (the batch was stopped while it ran)"),
                    workers_of.get(w, ""),
                    on_state,
                )
    if fatal is not None:
        raise UserInputError(fatal)
