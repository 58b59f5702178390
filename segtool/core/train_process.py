"""Run `training.trainer.train()` in a child process and read its progress as plain dicts (no Qt).

Why a child process: a crash in native code, the system's out-of-memory killer or a hung GPU driver
takes down the process it happens in. In a child, the app survives and can say what happened and how
to continue (`last.pt` is written every epoch and on cancel, so Resume loses at most one epoch).

Protocol (the child is `python -m segtool.core.train_process`):

- parent → child, stdin: first line `{"config": {...TrainConfig...}, "resume": bool, "threads": N}`,
  then `cancel` lines. End of stdin (the app quit or died) also cancels: the trainer finishes its step,
  writes `last.pt` and the child exits.
- child → parent, stdout: one JSON object per line, each with an "event" key:
  `start` (RunInfo fields), `epoch_start` {epoch, epochs}, `batch` (BatchProgress fields + memory),
  `val_progress` {done, total}, `epoch_end` (EpochSummary fields), `message` {text},
  `download` {done, total, url}, `end` {stopped, epochs_done, best_miou, best_epoch, seconds, run_dir},
  `error` {kind: "input" | "crash", message, traceback}. Anything else a library prints goes to stderr.

    proc = TrainProcess(cfg).start()
    while proc.running:
        for ev in proc.poll(): ...      # never blocks
    outcome = proc.outcome()            # finished / cancelled / error / died, with a message

Why one file past 400 lines: both ends of the child-process protocol (the parent's TrainProcess and
the child's main) are here, so the JSON-lines events and the stdin commands are read and written in
one place and cannot drift apart.
"""

from __future__ import annotations

import collections
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
BATCH_EVENT_INTERVAL_S = 0.2  # at most 5 batch events a second (the last step of an epoch always goes)


@dataclass(frozen=True)
class TrainOutcome:
    """How a child ended. kind: "finished", "cancelled", "error" (bad input, out of memory: the message
    says what to change) or "died" (killed, crashed: `last.pt` of the last epoch is still there)."""

    kind: str
    message: str
    details: str = ""
    warnings: tuple[str, ...] = ()  # a finished run whose model never predicts a class (training.diagnose)
    error_type: str = ""  # for "error": the exception's class name, e.g. PretrainedWeightsUnavailable
    user_error: bool = False  # for "error": bad input the user can change (no traceback is worth showing)


class TrainProcess:
    """One training run in a child process.

    Args:
        config: `TrainConfig.to_dict()` (plain types).
        resume: continue the run in `config["output"]` from its last.pt.
        threads: torch CPU threads in the child (default: one core fewer than the machine, so the
            window and the viewer keep a core).
    """

    def __init__(self, config: dict[str, Any], *, resume: bool = False, threads: int | None = None) -> None:
        self.config = dict(config)
        self.resume = resume
        from segtool.models.device import default_cpu_threads

        self.threads = threads or default_cpu_threads()
        self._proc: subprocess.Popen | None = None
        self._events: queue.Queue[dict] = queue.Queue()
        self._stderr: collections.deque[str] = collections.deque(maxlen=60)
        self._readers: list[threading.Thread] = []
        self._final: dict | None = None  # the child's last `end` or `error` event
        self.cancel_requested = False

    def start(self) -> TrainProcess:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), *filter(None, [env.get("PYTHONPATH")])])
        env["PYTHONUNBUFFERED"] = "1"
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "segtool.core.train_process"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            text=True,
            encoding="utf-8",
            errors="replace",
            bufsize=1,
        )
        self._send(json.dumps({"config": self.config, "resume": self.resume, "threads": self.threads}))
        for target, stream in (
            (self._read_events, self._proc.stdout),
            (self._read_stderr, self._proc.stderr),
        ):
            t = threading.Thread(target=target, args=(stream,), name="train-process-reader", daemon=True)
            t.start()
            self._readers.append(t)
        return self

    # -- talking to the child ----------------------------------------------------------------------

    def _send(self, line: str) -> None:
        try:
            assert self._proc is not None and self._proc.stdin is not None
            self._proc.stdin.write(line + "\n")
            self._proc.stdin.flush()
        except (OSError, ValueError):
            pass  # the child is gone; outcome() says how it ended

    def _read_events(self, stream) -> None:
        for line in stream:
            try:
                ev = json.loads(line)
            except ValueError:
                self._stderr.append(line.rstrip())
                continue
            if isinstance(ev, dict) and "event" in ev:
                if ev["event"] in ("end", "error"):
                    self._final = ev
                self._events.put(ev)

    def _read_stderr(self, stream) -> None:
        for line in stream:
            self._stderr.append(line.rstrip())

    def poll(self) -> list[dict]:
        """Events received since the last call (never blocks)."""
        out = []
        while True:
            try:
                out.append(self._events.get_nowait())
            except queue.Empty:
                return out

    def cancel(self) -> None:
        """Ask the run to stop after its current step; it writes last.pt, then sends `end`."""
        self.cancel_requested = True
        self._send("cancel")

    def kill(self) -> None:
        """Stop the child at once (last.pt stays at the last finished epoch)."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()

    @property
    def running(self) -> bool:
        """True until the child has exited and everything it sent has been read."""
        if self._proc is None:
            return False
        return self._proc.poll() is None or any(t.is_alive() for t in self._readers)

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the child to exit and its output to be read; True if it did within `timeout`."""
        if self._proc is None:
            return True
        try:
            self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return False
        for t in self._readers:
            t.join(5)
        return True

    def shutdown(self, grace_s: float = 20.0) -> None:
        """Cancel, wait up to `grace_s` for last.pt to be written, then kill. Leaves no process behind."""
        if self._proc is None:
            return
        if self._proc.poll() is None:
            self.cancel()
            if not self.wait(grace_s):
                self.kill()
        self.wait(10)
        for s in (self._proc.stdin, self._proc.stdout, self._proc.stderr):
            try:
                if s is not None:
                    s.close()
            except OSError:
                pass

    def outcome(self) -> TrainOutcome | None:
        """How the run ended, or None while it runs."""
        if self.running:
            return None
        tail = "\n".join(self._stderr)
        ev = self._final
        if ev is not None and ev["event"] == "end":
            if ev.get("stopped"):
                return TrainOutcome(
                    "cancelled",
                    f"Stopped after {ev.get('epochs_done', 0)} epoch(s); last.pt saved — Resume continues it.",
                )
            return finished_outcome(ev.get("epochs_done", 0), self.config.get("output", ""))
        if ev is not None and ev["event"] == "error":
            return TrainOutcome(
                "error",
                ev.get("message", "training failed"),
                ev.get("traceback", "") or tail,
                error_type=ev.get("error_type", ""),
                user_error=ev.get("kind") == "input",
            )
        code = self._proc.returncode if self._proc is not None else None
        return TrainOutcome("died", explain_exit(code, self.config.get("output", "")), tail)


def finished_outcome(epochs_done: int, run_dir: str) -> TrainOutcome:
    """A run that ended normally: "finished", with the best model's warnings (read from report.json)
    so that a model predicting background everywhere does not read as a success."""
    from segtool.core.runs import read_report
    from segtool.training.diagnose import warning_lines

    warnings = tuple(warning_lines((read_report(run_dir) or {}).get("warnings") or [])) if run_dir else ()
    if warnings:
        return TrainOutcome(
            "finished",
            f"Finished {epochs_done} epoch(s), but the model is not useful yet — "
            "see the warning on the Results page.",
            warnings=warnings,
        )
    return TrainOutcome("finished", f"Finished {epochs_done} epoch(s).")


def explain_exit(code: int | None, run_dir: str) -> str:
    """Plain words for a child that vanished without saying why, and how to continue."""
    if code is not None and code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        why = f"the training process was killed ({name})"
        if -code == getattr(signal, "SIGKILL", 9):
            why += " — on Linux this is usually the system running out of memory"
    else:
        why = f"the training process stopped unexpectedly (exit code {code})"
    return (
        f"Training stopped: {why}. The app is unaffected. {run_dir}/last.pt holds the last finished epoch: "
        "press Resume to continue from it. If memory ran out, start a new run with a smaller batch size or crop "
        "size (Schedule ▸ Advanced), or close other programs."
    )


# --------------------------------------------------------------------------------------------------
# The child side


def memory_in_use(device: str) -> str:
    """What the run occupies: GPU memory on CUDA, the process's resident memory otherwise."""
    import torch

    if device.startswith("cuda") and torch.cuda.is_available():
        dev = torch.device(device)
        return (
            f"{torch.cuda.memory_allocated(dev) / 2**30:.2f} GiB GPU "
            f"(peak {torch.cuda.max_memory_allocated(dev) / 2**30:.2f})"
        )
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        rss = pages * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError, AttributeError):
        import resource  # not on Windows; /proc is Linux only

        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * (1 if sys.platform == "darwin" else 1024)
    return f"{rss / 2**30:.2f} GiB RAM"


def _json_safe(obj: Any) -> Any:
    return json.loads(json.dumps(obj, default=str))


def _child_events(emit):
    from segtool.training.events import TrainingEvents

    class _Forward(TrainingEvents):
        def __init__(self) -> None:
            self.device = "cpu"
            self.last_batch = 0.0

        def on_train_start(self, info) -> None:
            self.device = info.device
            emit({"event": "start", **asdict(info)})

        def on_epoch_start(self, epoch, epochs) -> None:
            emit({"event": "epoch_start", "epoch": epoch, "epochs": epochs})

        def on_batch_end(self, p) -> None:
            now = time.monotonic()
            if p.step == p.steps or now - self.last_batch >= BATCH_EVENT_INTERVAL_S:
                self.last_batch = now
                emit({"event": "batch", **asdict(p), "memory": memory_in_use(self.device)})

        def on_validation_progress(self, done, total) -> None:
            emit({"event": "val_progress", "done": done, "total": total})

        def on_epoch_end(self, s) -> None:
            emit({"event": "epoch_end", **_json_safe(asdict(s)), "memory": memory_in_use(self.device)})

        def on_message(self, text) -> None:
            emit({"event": "message", "text": str(text)})

        def on_train_end(self, r) -> None:
            emit(
                {
                    "event": "end",
                    "stopped": r.stopped,
                    "epochs_done": r.epochs_done,
                    "best_miou": r.best_miou,
                    "best_epoch": r.best_epoch,
                    "seconds": r.seconds,
                    "run_dir": str(r.run_dir),
                }
            )

    return _Forward()


def _download_pretrained(cfg, emit) -> None:
    """Fetch torchvision weights into torch's cache with progress events, so the trainer finds them there.

    Any failure is left to the trainer, whose message says how to continue offline (a local file)."""
    if cfg.init not in ("imagenet", "coco") or cfg.weights_file:
        return
    import hashlib
    import urllib.request

    import torch

    from segtool.base.atomic import atomic_writer
    from segtool.models.pretrained import weights_entry

    try:
        url = weights_entry(cfg.backbone, cfg.init).url
    except Exception:  # noqa: BLE001 - the trainer reports a bad backbone/source with its own message
        return
    dest = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(url)
    if dest.exists():
        return
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        # the file appears under its cache name only complete and with the right hash (models.atomic)
        with urllib.request.urlopen(url, timeout=30) as r, atomic_writer(dest) as f:
            total = int(r.headers.get("Content-Length") or 0) or None
            done, sha, last = 0, hashlib.sha256(), 0.0
            while chunk := r.read(1 << 20):
                f.write(chunk)
                sha.update(chunk)
                done += len(chunk)
                if time.monotonic() - last > 0.2:
                    last = time.monotonic()
                    emit({"event": "download", "done": done, "total": total, "url": url})
            prefix = torch.hub.HASH_REGEX.search(dest.name)
            if prefix and not sha.hexdigest().startswith(prefix.group(1)):
                raise OSError("the downloaded file is damaged (hash mismatch)")
        emit({"event": "download", "done": done, "total": total or done, "url": url})
    except OSError as e:
        reason = getattr(e, "reason", e)  # URLError wraps the socket error; its strerror is the sentence
        emit({"event": "message", "text": f"download failed: {getattr(reason, 'strerror', None) or reason}"})


def child_main() -> int:
    """Entry point of the child process (see the module docstring for the protocol)."""
    out = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8", buffering=1)
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # stray prints must not corrupt the event stream
    lock = threading.Lock()

    def emit(ev: dict) -> None:
        with lock:
            out.write(json.dumps(ev) + "\n")
            out.flush()

    # The watcher thread below blocks reading stdin, holding that file's lock. A DataLoader worker is a
    # fork, and multiprocessing closes `sys.stdin` first thing in the fork: with the watcher's file, the
    # fork would wait forever for a lock no thread of it holds (training hung at its first batch
    # whenever --workers was 1 or more). So the watcher reads its own file, and sys.stdin is /dev/null.
    commands = os.fdopen(os.dup(sys.stdin.fileno()), "r", encoding="utf-8")
    sys.stdin = open(os.devnull, encoding="utf-8")  # noqa: SIM115 - stays open for the process's life
    first = commands.readline()
    try:
        req = json.loads(first)
    except ValueError:
        emit(
            {
                "event": "error",
                "kind": "crash",
                "message": "the app sent no training settings",
                "traceback": first,
            }
        )
        return 2
    cancel = threading.Event()

    def watch_stdin() -> None:  # a "cancel" line, or the app going away (end of stdin), stops the run
        for line in commands:
            if line.strip() == "cancel":
                break
        cancel.set()

    threading.Thread(target=watch_stdin, daemon=True).start()
    try:
        import torch

        torch.set_num_threads(int(req.get("threads") or 1))
        from segtool.training.config import TrainConfig
        from segtool.training.trainer import train

        cfg = TrainConfig.from_dict(req["config"])
        _download_pretrained(cfg, emit)
        train(cfg, resume=bool(req.get("resume")), events=_child_events(emit), cancel=cancel)
    except KeyboardInterrupt:  # Ctrl-C in the terminal that started the app: last.pt was written
        emit(
            {
                "event": "end",
                "stopped": "interrupted",
                "epochs_done": None,
                "best_miou": None,
                "best_epoch": None,
                "seconds": None,
                "run_dir": req["config"].get("output"),
            }
        )
        return 130
    except Exception as e:  # noqa: BLE001 - every failure is reported to the app, never a silent exit
        import traceback

        user = any(
            c.__name__ == "UserInputError" for c in type(e).__mro__
        )  # also PretrainedWeightsUnavailable
        kind = "input" if user else "crash"
        msg = str(e) if user else f"training failed: {type(e).__name__}: {e}"
        if isinstance(e, MemoryError):
            msg = (
                "out of memory (RAM) — start a new run with a smaller batch size or crop size; "
                "last.pt holds the last finished epoch"
            )
        emit(
            {
                "event": "error",
                "kind": kind,
                "message": msg,
                "traceback": traceback.format_exc(),
                "error_type": type(e).__name__,
            }
        )
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(child_main())
