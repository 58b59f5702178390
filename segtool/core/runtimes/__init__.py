"""Runtimes that run the network: PyTorch, OpenVINO, ONNX Runtime — one interface (`base.Backend`).

`auto` picks, for the device: PyTorch on CUDA and MPS; on the CPU the fastest installed runtime as measured
on a 2-core laptop-class CPU (docs/runtimes.md): OpenVINO, then ONNX Runtime, then PyTorch.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import torch

from segtool.base.errors import UserInputError
from segtool.core.runtimes.base import LABELS, RUNTIMES, Backend
from segtool.models.checkpoint import Checkpoint

__all__ = [
    "RUNTIMES",
    "LABELS",
    "Backend",
    "installed_runtimes",
    "resolve_runtime",
    "open_backend",
    "CPU_PREFERENCE",
]

CPU_PREFERENCE = ("openvino", "onnxruntime", "torch")
_MODULES = {"torch": "torch", "openvino": "openvino", "onnxruntime": "onnxruntime"}
INSTALL_HINT = (
    "pip install onnx onnxruntime openvino (they are segtool dependencies; reinstall segtool to get them)"
)


def installed_runtimes() -> list[str]:
    """Runtimes importable here, in CPU preference order."""
    return [r for r in CPU_PREFERENCE if importlib.util.find_spec(_MODULES[r]) is not None]


def requested_runtime(name: str | None) -> str:
    """`name`, with `auto` (or nothing) replaced by $SEGTOOL_RUNTIME when that is set: a site or a test suite
    can pin the runtime for every command without passing --runtime each time."""
    name = (name or "auto").strip().lower()
    if name == "auto":
        env = os.environ.get("SEGTOOL_RUNTIME", "").strip().lower()
        if env:
            if env not in RUNTIMES:
                raise UserInputError(
                    f"SEGTOOL_RUNTIME={env!r} is not a runtime; use one of {', '.join(RUNTIMES)} or unset it"
                )
            return env
    return name


def resolve_runtime(name: str, device: torch.device, *, onnx_model: bool = False) -> str:
    """Turn --runtime auto|torch|openvino|onnxruntime into the runtime to use on `device`.

    Raises:
        UserInputError: unknown name, a runtime that is not installed, or one that cannot run this model here.
    """
    name = requested_runtime(name)
    if name not in RUNTIMES:
        raise UserInputError(f"unknown runtime {name!r}; use one of {', '.join(RUNTIMES)}")
    have = installed_runtimes()
    if name == "auto":
        if device.type != "cpu":
            if onnx_model:
                if device.type == "cuda" and "onnxruntime" in have:
                    return "onnxruntime"
                raise UserInputError(
                    f"an exported .onnx model cannot run on {device} here; use --device cpu, "
                    "or give the .pt checkpoint to run it with PyTorch on the GPU"
                )
            return "torch"  # PyTorch with cuDNN / Metal is the fast path on GPUs
        for r in CPU_PREFERENCE:
            if r in have and not (onnx_model and r == "torch"):
                return r
        raise UserInputError(f"no runtime that reads .onnx models is installed; {INSTALL_HINT}")
    if name not in have:
        raise UserInputError(
            f"--runtime {name}: {LABELS[name]} is not installed here; {INSTALL_HINT}, or use --runtime auto"
        )
    if name == "torch" and onnx_model:
        raise UserInputError(
            "--runtime torch needs the .pt checkpoint (PyTorch cannot run an exported .onnx model); "
            "use --runtime openvino or onnxruntime, or give the .pt file"
        )
    return name


def open_backend(
    runtime: str,
    checkpoint: Checkpoint,
    *,
    onnx_path: Path | None,
    device: torch.device,
    precision: str,
    autocast_dtype: torch.dtype | None,
    threads: int,
    int8: bool = False,
) -> Backend:
    """Build the backend `runtime` (already resolved) for a checkpoint (exported to ONNX through the cache when
    needed) or for an exported model (`onnx_path`)."""
    if runtime == "torch":
        from segtool.core.runtimes.torch_rt import TorchBackend

        return TorchBackend(checkpoint, device, autocast_dtype)
    from segtool.core.runtimes.cache import cached_onnx, openvino_cache_dir

    path = onnx_path if onnx_path is not None else cached_onnx(checkpoint)
    if runtime == "onnxruntime":
        from segtool.core.runtimes.onnx_rt import OnnxRuntimeBackend

        if precision not in ("auto", "fp32"):
            raise UserInputError(
                f"--precision {precision} is not available with ONNX Runtime; use auto or fp32"
            )
        return OnnxRuntimeBackend(
            path, device, threads, "int8 convolutions, fp32 elsewhere" if int8 else "fp32"
        )
    from segtool.core.runtimes.openvino_rt import OpenVINOBackend

    backend = OpenVINOBackend(path, device, threads, precision, openvino_cache_dir(path))
    if int8:
        backend.label = backend.label.replace(
            f", {backend.precision}", f", int8 convolutions, {backend.precision} elsewhere"
        )
    return backend
