"""One source of a batch: open it, export it into OUT/<name>/ with `run_export`, say how it ended.

Shared by the local runners (this process or worker processes), the Ray tasks and the app's queue,
so a source ends the same way whoever runs it. Plain values in and out (they cross process and
machine boundaries).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from segtool.core.batch.expand import BatchItem
from segtool.core.errors import UserInputError
from segtool.core.export import SUMMARY, ExportOptions, expected_frames, run_export

# (source name, frames written in this run, frames this run will write or None, frames/s)
SourceProgress = Callable[[str, int, "int | None", float], None]


@dataclass(frozen=True)
class EngineSpec:
    """How a worker builds its own Engine (an Engine is not shared between threads or processes).

    `checkpoint` is the model file's path (a shipped name already resolved); `stamp` is its (size, mtime)
    when the batch validated it, so a worker process that reads the file itself refuses one that was
    replaced meanwhile instead of mixing two models in one batch.
    """

    checkpoint: str
    device: str = "auto"
    precision: str = "auto"
    tta: str | None = None
    tile: int = 1024
    threads: int | None = None
    runtime: str = "auto"  # auto, torch, openvino, onnxruntime (docs/runtimes.md)
    stamp: tuple[int, int] | None = None  # the file's (size, mtime_ns) when validated; None: not checked

    def build(self, model=None):
        """An Engine for this spec. `model`: the `ModelFile` the batch already opened (this process only:
        the file is not read again); without it the file is opened here and checked against `stamp`."""
        from segtool.core.engine import Engine
        from segtool.core.model_file import open_model

        if model is None:
            model = open_model(self.checkpoint)
            if self.stamp is not None and model.stamp != tuple(self.stamp):
                raise UserInputError(
                    f"{model.path} changed since the batch checked it (replaced or edited); rerun the batch "
                    "(--resume keeps what was written) so that every source uses the same model"
                )
        return Engine(
            model,
            device=self.device,
            precision=self.precision,
            tta=self.tta,
            tile=self.tile,
            threads=self.threads,
            runtime=self.runtime,
        )

    def on(self, device: str, threads: int | None) -> EngineSpec:
        return replace(self, device=device, threads=threads)


@dataclass
class Outcome:
    """How one source ended; fields match `SourceState`."""

    name: str
    state: str  # complete | partial | failed (| partial with cancelled=True)
    frames_written: int = 0
    frames_expected: int | None = None
    seconds: float = 0.0
    message: str = ""
    cancelled: bool = False
    fatal: bool = False  # not the source's fault (disk full, engine broken): stop the batch

    def fields(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("name", "cancelled", "fatal"):
            d.pop(k)
        return d


def probe(item: BatchItem, opts: ExportOptions) -> int | None:
    """Frames the export of `item` will write (None when unknown: live sources).

    Raises:
        UserInputError: the source cannot be opened (missing, not a video, no decodable frame).
    """
    from segtool.core.sources import open_source

    with open_source(item.source) as src:
        return expected_frames(src, opts)


@contextlib.contextmanager
def linked_event(batch_cancel: Any | None) -> Iterator[threading.Event]:
    """A fresh threading.Event for one source that is set when `batch_cancel` (threading or
    multiprocessing Event) is. The pipeline sets its own event when it stops for any reason; that
    must end this source only, never the whole batch."""
    ev = threading.Event()
    if batch_cancel is None:
        yield ev
        return
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            if batch_cancel.wait(0.2):
                ev.set()
                return

    t = threading.Thread(target=watch, name="segtool-batch-cancel", daemon=True)
    t.start()
    try:
        yield ev
    finally:
        done.set()
        t.join(1.0)


def export_one(
    item: BatchItem,
    engine,
    out_root: str | Path,
    opts: ExportOptions,
    *,
    checkpoint_label: str = "",
    progress: SourceProgress | None = None,
    cancel: Any | None = None,
) -> Outcome:
    """Export one source of a batch into `out_root/<item.name>/`; never raises for the source's faults.

    `opts.resume` continues the source's folder when it holds an export; a folder with nothing to
    resume (the batch stopped before the source began, or before its first output was recorded) is
    started afresh — the batch made that folder, so nothing of the user's is replaced.
    """
    from segtool.core.sources import open_source

    out = Path(out_root) / item.name
    t0 = time.perf_counter()
    try:
        src = open_source(item.source)
    except UserInputError as e:
        return Outcome(item.name, "failed", message=str(e), seconds=round(time.perf_counter() - t0, 3))
    except Exception as e:  # noqa: BLE001 - an unreadable source is recorded, the batch goes on
        return Outcome(
            item.name,
            "failed",
            message=f"{type(e).__name__}: {e}",
            seconds=round(time.perf_counter() - t0, 3),
        )

    def on_progress(p) -> None:
        if progress is not None:
            progress(item.name, p.done, p.expected, p.fps)

    with src, linked_event(cancel) as ev:
        expected = expected_frames(src, opts)
        try:
            try:
                result = run_export(
                    src, engine, out, opts, checkpoint_label=checkpoint_label, progress=on_progress, cancel=ev
                )
            except UserInputError:
                if not (opts.resume and not (out / SUMMARY).exists()):
                    raise
                fresh = ExportOptions(**{**asdict(opts), "resume": False})
                result = run_export(
                    src,
                    engine,
                    out,
                    fresh,
                    checkpoint_label=checkpoint_label,
                    progress=on_progress,
                    cancel=ev,
                )
        except UserInputError as e:  # e.g. --format ffv1 for a folder of images: this source only
            msg = str(e)
            return Outcome(
                item.name,
                "failed",
                0,
                expected,
                round(time.perf_counter() - t0, 3),
                msg,
                fatal="disk full" in msg,
            )
        except Exception as e:  # noqa: BLE001
            return Outcome(
                item.name,
                "failed",
                0,
                expected,
                round(time.perf_counter() - t0, 3),
                f"{type(e).__name__}: {e}",
            )
    s = result.summary
    code = result.exit_code
    written, seconds = int(s.get("frames_written") or 0), float(s.get("seconds") or 0.0)
    if code == 0:
        return Outcome(item.name, "complete", written, expected, seconds)
    if code == 1:
        return Outcome(
            item.name, "partial", written, expected, seconds, s.get("stopped", "the source broke off")
        )
    if code == 130:
        return Outcome(
            item.name,
            "partial",
            written,
            expected,
            seconds,
            "cancelled; --resume continues it",
            cancelled=True,
        )
    msg = s.get("stopped") or "stopped by an error"
    fatal = "disk full" in msg  # the next source would hit the same full disk
    return Outcome(item.name, "failed", written, expected, seconds, msg, fatal=fatal)
