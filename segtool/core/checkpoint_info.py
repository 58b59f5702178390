"""A checkpoint described as plain data: what `segtool info` prints and the app shows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from models.checkpoint import Checkpoint, load_checkpoint


def describe(path: str | Path, ckpt: Checkpoint | None = None) -> dict[str, Any]:
    """Model config, parameter count, classes with colours, preprocessing and training record of a checkpoint
    (or of an exported `.onnx` model: then also an "onnx" entry with its export and INT8 record).

    Args:
        path: the checkpoint file.
        ckpt: the checkpoint already loaded from `path` (saves reading the file twice).
    """
    from segtool.core.onnx_export import is_onnx_path

    if is_onnx_path(path):
        return describe_onnx(path)
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


def describe_onnx(path: str | Path) -> dict[str, Any]:
    """`describe` for a model written by `segtool export-onnx`: the checkpoint fields from its metadata, plus
    "onnx": opset, exporter versions, INT8 record (kept or rejected, with the measured change) and the
    runtimes installed here that can run it."""
    import onnx

    from segtool.core.onnx_export import checkpoint_from_metadata, read_metadata
    from segtool.core.runtimes import installed_runtimes

    meta = read_metadata(path)
    ck = checkpoint_from_metadata(meta)
    model = onnx.load(str(path), load_external_data=False)
    params = 0
    for init in model.graph.initializer:
        n = 1
        for d in init.dims:
            n *= int(d)
        params += n if len(init.dims) >= 1 and init.data_type in (onnx.TensorProto.FLOAT, onnx.TensorProto.INT8) else 0
    return {
        "path": str(path),
        "size_mb": round(Path(path).stat().st_size / 1e6, 1),
        "model": ck.config.to_dict(),
        "parameters": params,
        "classes": ck.classes,
        "ignore_index": ck.ignore_index,
        "preprocess": ck.preprocess,
        "train": ck.train,
        "onnx": {
            "export": meta.get("export"),
            "opset": max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=None),
            "int8": meta.get("int8"),
            "runtimes": [r for r in installed_runtimes() if r != "torch"],
        },
    }
