"""A checkpoint described as plain data: what `segtool info` prints and the app shows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from models.checkpoint import Checkpoint, load_checkpoint


def describe(path: str | Path, ckpt: Checkpoint | None = None) -> dict[str, Any]:
    """Model config, parameter count, classes with colours, preprocessing and training record of a checkpoint.

    Args:
        path: the checkpoint file.
        ckpt: the checkpoint already loaded from `path` (saves reading the file twice).
    """
    if ckpt is None:
        ckpt = load_checkpoint(path)
    params = sum(int(v.numel()) for k, v in ckpt.state_dict.items() if not k.endswith(("running_mean", "running_var", "num_batches_tracked")))
    return {
        "path": str(path),
        "size_mb": round(Path(path).stat().st_size / 1e6, 1),
        "model": ckpt.config.to_dict(),
        "parameters": params,
        "classes": ckpt.classes,
        "ignore_index": ckpt.ignore_index,
        "preprocess": ckpt.preprocess,
        "train": ckpt.train,
    }
