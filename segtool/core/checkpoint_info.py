"""A model file described as plain data: what `segtool info` prints and the app shows."""

from __future__ import annotations

import os
from typing import Any

from segtool.core.model_file import ModelFile, open_model

_NOT_WEIGHTS = ("running_mean", "running_var", "num_batches_tracked")


def describe(model: ModelFile | str | os.PathLike) -> dict[str, Any]:
    """Model config, parameter count, classes with colours, preprocessing and training record of a model
    file; an exported `.onnx` model also gets an "onnx" entry with its export and INT8 record.

    Args:
        model: a `ModelFile` already opened (not read again), or what `open_model` takes (a path or a
            shipped model's name).
    """
    mf = open_model(model)
    ck = mf.checkpoint
    if mf.is_onnx:
        params = mf.onnx_parameters
    else:
        params = sum(int(v.numel()) for k, v in ck.state_dict.items() if not k.endswith(_NOT_WEIGHTS))
    out = {
        "path": str(mf.path),
        "size_mb": round(mf.stamp[0] / 1e6, 1),
        "model": ck.config.to_dict(),
        "parameters": params,
        "classes": ck.classes,
        "ignore_index": ck.ignore_index,
        "preprocess": ck.preprocess,
        "fragments": ck.fragments,
        "confidence_reference": ck.confidence_reference,
        "train": ck.train,
    }
    if mf.shipped:
        out["shipped"] = mf.name
    if mf.is_onnx:
        from segtool.core.runtimes import installed_runtimes

        meta = mf.onnx_metadata or {}
        out["onnx"] = {
            "export": meta.get("export"),
            "opset": mf.onnx_opset,
            "int8": meta.get("int8"),
            "runtimes": [r for r in installed_runtimes() if r != "torch"],
        }
    return out
