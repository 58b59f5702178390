"""Run a batch on a Ray cluster: one Ray task per source, outputs on a path every node sees.

Ray's batch-inference pattern: each task declares its resources (a GPU, or N CPUs), builds its
Engine once per Ray worker process (cached), writes `OUT/<name>/` with the same `export_one` as a
local run, and returns the source's `Outcome`. Ray retries a task whose worker process died
(`retries`); a source that fails on its own (broken file) is not retried, it is recorded. Only the
driver (this process) writes batch.json.

Ray is optional (`pip install segtool[cluster]`); this module is imported only for `--ray`.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from segtool.core.batch.expand import BatchItem
from segtool.core.batch.local import BatchProgress, _Tally, prepare
from segtool.core.batch.runner import EngineSpec, Outcome, export_one
from segtool.core.batch.state import BatchState
from segtool.core.errors import UserInputError
from segtool.core.export import ExportOptions

INSTALL_HINT = (
    "--ray needs Ray: pip install 'segtool[cluster]' (or pip install 'ray>=2.9'), or run without --ray"
)

_ENGINES: dict[tuple, Any] = {}  # per Ray worker process: model loaded once, reused by later tasks


def import_ray():
    """Ray, or a UserInputError (exit 2) that says how to install it."""
    try:
        import ray
    except ImportError as e:
        raise UserInputError(INSTALL_HINT) from e
    return ray


def _export_task(item: dict, spec: dict, out: str, opts: dict, label: str) -> dict:
    """Body of one Ray task (runs on a cluster node)."""
    key = tuple(sorted(spec.items()))
    engine = _ENGINES.get(key)
    if engine is None:
        engine = _ENGINES[key] = EngineSpec(**spec).build()
    o = export_one(BatchItem(**item), engine, out, ExportOptions(**opts), checkpoint_label=label)
    return {**asdict(o), "worker": f"{socket.gethostname()}:{os.getpid()} {engine.device_label}"}


def task_resources(spec: EngineSpec, gpus_in_cluster: float) -> tuple[float, float, EngineSpec]:
    """(num_cpus, num_gpus, spec for the task). A GPU task takes one GPU and one CPU; a CPU task takes
    `spec.threads` CPUs (default 1) and runs that many model threads, so Ray packs tasks without
    oversubscribing a node."""
    wants_gpu = spec.device.startswith("cuda") or (spec.device == "auto" and gpus_in_cluster > 0)
    if wants_gpu:
        return 1, 1, spec.on("cuda" if spec.device == "auto" else spec.device.split(":")[0], spec.threads)
    threads = spec.threads or 1
    return threads, 0, spec.on("cpu" if spec.device == "auto" else spec.device, threads)


def run_batch_ray(
    state: BatchState,
    items: Sequence[BatchItem],
    spec: EngineSpec,
    opts: ExportOptions,
    *,
    address: str | None = None,
    retries: int = 1,
    checkpoint_label: str = "",
    progress: Callable[[BatchProgress], None] | None = None,
    on_state: Callable[[Any], None] | None = None,
    cancel: threading.Event | None = None,
    init_kwargs: dict[str, Any] | None = None,
) -> BatchState:
    """Run `items` as Ray tasks; same contract as `segtool.core.batch.local.run_batch`.

    Args:
        address: a Ray cluster (`ray://host:10001`, `host:6379`, `auto`); None: RAY_ADDRESS, else a
            local Ray started for this run (and stopped after it).
        retries: times Ray reruns a task whose worker died (node lost, out of memory).
        init_kwargs: extra `ray.init` arguments (tests pin num_cpus).
    """
    ray = import_ray()
    out = Path(state.out).absolute()
    # no stamp check on a cluster: another node may hold its own copy of the file (another mtime, same model)
    spec = EngineSpec(**{**asdict(spec), "checkpoint": str(Path(spec.checkpoint).absolute()), "stamp": None})
    todo, expected = prepare(state, items, opts, on_state)
    if not todo:
        return state
    started_here = not ray.is_initialized()
    if started_here:
        try:
            ray.init(address=address, include_dashboard=False, log_to_driver=False, **(init_kwargs or {}))
        except (ConnectionError, ValueError, RuntimeError) as e:
            raise UserInputError(
                f"--ray {address or ''}: cannot reach a Ray cluster ({e}); check the address or start one with `ray start --head`"
            ) from e
    try:
        num_cpus, num_gpus, task_spec = task_resources(spec, ray.cluster_resources().get("GPU", 0))
        remote = ray.remote(_export_task).options(
            num_cpus=num_cpus, num_gpus=num_gpus, max_retries=max(0, retries), retry_exceptions=False
        )
        tally = _Tally(expected)
        refs: dict[Any, str] = {}
        for it in todo:
            ref = remote.remote(asdict(it), asdict(task_spec), str(out), asdict(opts), checkpoint_label)
            refs[ref] = it.name
            state.update(
                it.name, state="pending", message="queued on Ray", attempts=state.get(it.name).attempts + 1
            )
        tally.running = sorted(refs.values())
        while refs:
            if cancel is not None and cancel.is_set():
                for ref, name in refs.items():
                    ray.cancel(ref, force=True)
                    _record(
                        state,
                        Outcome(name, "partial", message="cancelled; --resume continues it"),
                        "",
                        on_state,
                    )
                break
            done, _ = ray.wait(list(refs), num_returns=1, timeout=0.5)
            for ref in done:
                name = refs.pop(ref)
                worker = ""
                try:
                    r = ray.get(ref)
                    worker = r.pop("worker", "")
                    o = Outcome(**r)
                except Exception as e:  # noqa: BLE001 - RayTaskError, WorkerCrashedError, …: recorded per source
                    o = Outcome(
                        name,
                        "failed",
                        message=f"Ray task failed after up to {retries + 1} attempt(s): {type(e).__name__}: {e}",
                    )
                tally.finished += 1
                tally.running = sorted(refs.values())
                tally.pos[name] = tally.written[name] = o.frames_written  # Ray reports a source when it ends
                _record(state, o, worker, on_state)
                if progress is not None:
                    progress(tally.snapshot())
    finally:
        if started_here:
            ray.shutdown()
    return state


def _record(state: BatchState, o: Outcome, worker: str, on_state) -> None:
    s = state.update(o.name, worker=worker, **o.fields())
    if on_state is not None:
        on_state(s)
