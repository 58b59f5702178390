"""Exported models cached by content: a checkpoint is converted to ONNX once per weights and export policy.

Key = SHA-256 of the model config, every weight tensor (name, dtype, shape, bytes) and `EXPORT_POLICY`
(opset and the dynamic N×H×W input policy). Classes and preprocessing are not in the key: they do not change
the graph. Files live in `<segtool cache>/runtimes/<key>/` (the cache folder `segtool demo` uses):
`model.onnx`, and `openvino/` where OpenVINO keeps its compiled blobs.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch

from models.checkpoint import Checkpoint

conversions = 0  # ONNX exports done by this process (tests check that a second Engine does not convert again)


def runtime_cache_root() -> Path:
    from segtool.demo import cache_dir

    return cache_dir() / "runtimes"


def checkpoint_key(ck: Checkpoint) -> str:
    from segtool.core.onnx_export import EXPORT_POLICY

    h = hashlib.sha256()
    h.update(EXPORT_POLICY.encode())
    h.update(json.dumps(ck.config.to_dict(), sort_keys=True).encode())
    for name in sorted(ck.state_dict):
        t = ck.state_dict[name].detach().cpu().contiguous().reshape(-1)  # 0-d tensors cannot be viewed as bytes
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()[:32]


def file_key(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return "onnx-" + h.hexdigest()[:32]


def cached_onnx(ck: Checkpoint) -> Path:
    """The checkpoint's ONNX export in the cache, exporting it the first time."""
    global conversions
    from segtool.core.onnx_export import export_onnx

    folder = runtime_cache_root() / checkpoint_key(ck)
    path = folder / "model.onnx"
    if path.is_file():
        return path
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        from models.errors import UserInputError

        raise UserInputError(f"cannot create the runtime cache {folder}: {e.strerror or e}; set SEGTOOL_CACHE to a writable folder") from e
    export_onnx(ck, path)  # atomic: a second process racing here renames an identical file over it
    conversions += 1
    return path


def openvino_cache_dir(onnx_path: Path) -> Path | None:
    """Where OpenVINO keeps compiled blobs of `onnx_path`: beside a cached export, or under its file hash."""
    root = runtime_cache_root()
    if onnx_path.parent.parent == root:
        folder = onnx_path.parent / "openvino"
    else:
        folder = root / file_key(onnx_path) / "openvino"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None  # no cache: OpenVINO compiles on every start, still correct
    return folder
