"""Exported models cached by content: a checkpoint is converted to ONNX once per weights and export policy.

Key = SHA-256 of the model config, every weight tensor (name, dtype, shape, bytes) and `EXPORT_POLICY`
(opset and the dynamic N×H×W input policy). Classes and preprocessing are not in the key: they do not change
the graph. Files live in `<segtool cache>/runtimes/<key>/` (the cache folder `segtool demo` uses):
`model.onnx`, `entry.json` (its size and SHA-256, written before the model is renamed into place), and
`openvino/` where OpenVINO keeps its compiled blobs.

An entry is verified before use: a `model.onnx` whose size or hash differs from `entry.json` (a disk
error, a truncated copy, an edited file) or that has no record is rebuilt, with a note naming the folder.
A killed conversion leaves hidden `.model….tmp.onnx` files; they are removed when their process is gone
(same machine) or when they are older than `STALE_S` (a cache shared between machines).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import socket
import sys
import time
from pathlib import Path

import torch

from segtool.models.checkpoint import Checkpoint

conversions = 0  # ONNX exports done by this process (tests check that a second Engine does not convert again)
RECORD = "entry.json"
RECORD_FORMAT = "segtool-runtime-cache"
STALE_S = 6 * 3600  # a temporary file this old is left over (a conversion takes minutes, not hours)
# `.model.<pid>@<host>.tmp.onnx` (ours) and `.<name>.<random>.tmp.onnx` inside it (export_onnx's own temporary)
_OWNER = re.compile(r"\.model\.(\d+)@([^/]+?)\.tmp\.onnx")


def note(message: str) -> None:
    """A note on stderr (the CLI's and the app's terminal): the cache never changes silently."""
    print(f"segtool: note: {message}", file=sys.stderr)


def runtime_cache_root() -> Path:
    from segtool.base.paths import cache_dir

    return cache_dir() / "runtimes"


def checkpoint_key(ck: Checkpoint) -> str:
    from segtool.core.onnx_export import EXPORT_POLICY

    h = hashlib.sha256()
    h.update(EXPORT_POLICY.encode())
    h.update(json.dumps(ck.config.to_dict(), sort_keys=True).encode())
    for name in sorted(ck.state_dict):
        t = (
            ck.state_dict[name].detach().cpu().contiguous().reshape(-1)
        )  # 0-d tensors cannot be viewed as bytes
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
    """The checkpoint's ONNX export in the cache, exporting it the first time (and again when the entry is
    damaged: see the module docstring)."""
    global conversions
    from segtool.core.onnx_export import export_onnx

    folder = runtime_cache_root() / checkpoint_key(ck)
    path = folder / "model.onnx"
    clean_stale_temporaries(runtime_cache_root())
    if path.is_file():
        problem = verify_entry(folder)
        if problem is None:
            return path
        note(f"rebuilding the runtime cache entry {folder}: {problem}")
        _discard(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        from segtool.base.errors import UserInputError

        raise UserInputError(
            f"cannot create the runtime cache {folder}: {e.strerror or e}; set SEGTOOL_CACHE to a writable folder"
        ) from e
    tmp = folder / f".model.{os.getpid()}@{socket.gethostname()}.tmp.onnx"
    try:
        export_onnx(ck, tmp)
        _write_record(folder, tmp)
        os.replace(tmp, path)  # a second process racing here renames an identical file over it
    finally:
        tmp.unlink(missing_ok=True)
    conversions += 1
    return path


def _digest(path: Path) -> tuple[int, str]:
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
            size += len(block)
    return size, h.hexdigest()


def _write_record(folder: Path, model: Path) -> None:
    from segtool.base.atomic import atomic_write

    size, sha = _digest(model)
    doc = {"format": RECORD_FORMAT, "version": 1, "file": "model.onnx", "size": size, "sha256": sha}
    atomic_write(folder / RECORD, json.dumps(doc, indent=2) + "\n")


def verify_entry(folder: Path) -> str | None:
    """None when `folder/model.onnx` is what `entry.json` recorded at write; else what is wrong, in words."""
    path = folder / "model.onnx"
    try:
        rec = json.loads((folder / RECORD).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return f"{RECORD} is missing (a conversion was killed, or an older segtool made it)"
    except (OSError, ValueError) as e:
        return f"{RECORD} is unreadable ({e})"
    if (
        not isinstance(rec, dict)
        or rec.get("format") != RECORD_FORMAT
        or not isinstance(rec.get("size"), int)
        or not isinstance(rec.get("sha256"), str)
    ):
        return f"{RECORD} is not a cache record"
    try:
        size = path.stat().st_size
        if size != rec["size"]:
            return f"model.onnx has {size} bytes, {rec['size']} were written (truncated or replaced)"
        if _digest(path)[1] != rec["sha256"]:
            return "model.onnx differs from what was written (its SHA-256 changed)"
    except OSError as e:
        return f"model.onnx is unreadable ({e.strerror or e})"
    return None


def _discard(folder: Path) -> None:
    """Remove a damaged entry's model, record and compiled blobs (made from the damaged model)."""
    for name in ("model.onnx", RECORD):
        try:
            (folder / name).unlink(missing_ok=True)
        except OSError as e:
            from segtool.base.errors import UserInputError

            raise UserInputError(
                f"the runtime cache entry {folder} is damaged and cannot be removed ({e.strerror or e}); "
                "delete that folder by hand"
            ) from e
    shutil.rmtree(folder / "openvino", ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, another user's
        return True
    return True


def clean_stale_temporaries(root: Path, *, now: float | None = None) -> list[Path]:
    """Remove the temporary files killed conversions left under `root/<key>/`; returns what was removed.

    A file named for a process of this machine that no longer runs is removed at once; any other
    (an older segtool's, another machine's) only when older than `STALE_S`, so a conversion in progress
    elsewhere is never touched."""
    now = time.time() if now is None else now
    removed: list[Path] = []
    try:
        entries = [e for e in root.iterdir() if e.is_dir()]
    except OSError:
        return removed
    host = socket.gethostname()
    for entry in entries:
        try:
            temps = [
                p for p in entry.iterdir() if p.name.startswith(".") and ".tmp" in p.name and p.is_file()
            ]
        except OSError:
            continue
        for p in temps:
            m = _OWNER.search(p.name)
            try:
                dead = m is not None and m.group(2) == host and not _alive(int(m.group(1)))
                if dead or now - p.stat().st_mtime > STALE_S:
                    p.unlink()
                    removed.append(p)
            except OSError:
                continue  # gone meanwhile, or not ours to remove
    if removed:
        note(f"removed {len(removed)} temporary file(s) left by an interrupted model conversion in {root}")
    return removed


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
