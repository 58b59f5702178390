"""Resume state as plain types and tensors (loadable with `torch.load(weights_only=True)`), and the run's
history table."""

from __future__ import annotations

import csv
import io
import os
import random
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

HISTORY_FIELDS = ("epoch", "train_loss", "val_loss", "miou", "pixel_accuracy", "lr", "seconds")


def rng_state() -> dict[str, Any]:
    """Python, NumPy, torch CPU and CUDA generator states. NumPy's key array becomes a tensor and
    Python's state stays a tuple of ints, both of which the safe unpickler accepts."""
    name, keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": {"name": name, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
        "torch": torch.get_rng_state(),
    }  # fmt: skip
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    n = state["numpy"]
    np.random.set_state((n["name"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached_gaussian"]))
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
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
