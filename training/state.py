"""Resume state as plain types and tensors (loadable with `torch.load(weights_only=True)`), and the run's
history table."""

from __future__ import annotations

import csv
import io
import os
import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

from segtool.base.atomic import atomic_write, describe_write_error
from segtool.base.errors import UserInputError
from segtool.training.config import TrainConfig

HISTORY_FIELDS = ("epoch", "train_loss", "val_loss", "miou", "pixel_accuracy", "lr", "seconds")


def rng_state() -> dict[str, Any]:
    """Python, NumPy, torch CPU and CUDA generator states. NumPy's key array becomes a tensor and
    Python's state stays a tuple of ints, both of which the safe unpickler accepts."""
    name, keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": {
            "name": name,
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    n = state["numpy"]
    np.random.set_state(
        (n["name"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached_gaussian"])
    )
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        cuda = state["cuda"]
        if len(cuda) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda)


def write_history(path: str | os.PathLike, rows: list[dict[str, Any]]) -> None:
    """history.csv, rewritten whole each epoch (atomically), so a resumed run never duplicates rows."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=HISTORY_FIELDS, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in HISTORY_FIELDS})
    write_text_atomic(path, buf.getvalue())


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write a text file of the run folder atomically (`models.atomic`).

    Raises:
        UserInputError: it could not be written (full disk, read-only folder), naming the file and the fix.
    """
    try:
        atomic_write(path, text)
    except OSError as e:
        raise UserInputError(describe_write_error(path, e)) from e


def checkpoint_bytes(model: torch.nn.Module) -> int:
    """About how many bytes last.pt (weights + optimizer momentum) and best.pt (weights) take together."""
    weights = sum(t.numel() * t.element_size() for t in model.state_dict().values())
    return 3 * weights + (1 << 20)


def prepare_run_dir(run_dir: str | os.PathLike, model: torch.nn.Module) -> None:
    """Create the run folder and check, before any training, that it is writable and has room for the
    checkpoints (a full disk found only at the end of the first epoch wastes that epoch).

    Raises:
        UserInputError: not creatable / writable, or too little free space; names the folder and the fix.
    """
    run_dir = Path(run_dir)
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        atomic_write(run_dir / ".segtool-write-test", b"", fsync=False)
        (run_dir / ".segtool-write-test").unlink()
    except OSError as e:
        raise UserInputError(describe_write_error(run_dir, e)) from e
    need = checkpoint_bytes(model)
    free = shutil.disk_usage(run_dir).free
    if free < need:
        raise UserInputError(
            f"not enough free space in {run_dir}: {free / 1e6:.0f} MB free, the checkpoints (last.pt, best.pt) "
            f"need about {need / 1e6:.0f} MB; free some space or choose another run folder with -o"
        )


RUNTIME_OPTIONS = ("device", "workers")  # the only settings a resume may change


def resume_config(given: TrainConfig, run_dir: Path) -> tuple[TrainConfig, bool]:
    """The saved settings (runtime options from `given`) and whether there is a last.pt to continue.

    last.pt is only ever replaced whole (models.atomic), so whatever is there is the last complete
    save; a run killed before its first save has config.json only and starts again from scratch.
    """
    if not (run_dir / "config.json").exists():
        raise UserInputError(
            f"--resume: {run_dir} holds no run to continue (no config.json / last.pt); start one without --resume"
        )
    saved = TrainConfig.load(run_dir / "config.json")
    for name in RUNTIME_OPTIONS:
        setattr(saved, name, getattr(given, name))
    saved.output = str(run_dir)
    return saved, (run_dir / "last.pt").exists()
