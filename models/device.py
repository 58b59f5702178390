"""Device, precision and CPU-count choices, shared by inference (segtool.core.engine), training
(training.trainer) and the app: `auto` (cuda > mps > cpu) or a named device, with clear errors."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch

from segtool.base.errors import UserInputError

PRECISIONS = ("auto", "fp32", "fp16", "bf16")
MAX_LOADER_WORKERS = 4  # more data-loading processes rarely help a single-GPU DeepLab run and cost memory


def resolve_device(name: str = "auto", *, local_rank: int | None = None) -> torch.device:
    """Turn `auto`, `cpu`, `cuda`, `cuda:N` or `mps` into a usable torch.device.

    Args:
        name: what --device takes.
        local_rank: under torchrun, this process's GPU: `auto` and a bare `cuda` mean `cuda:local_rank`
            (otherwise the current CUDA device, and cuda:0 for a bare `cuda`).

    Raises:
        UserInputError: the device does not exist here; the message says what is available.
    """
    name = (name or "auto").strip().lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", torch.cuda.current_device() if local_rank is None else local_rank)
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "mps":
        if not _mps_available():
            raise UserInputError(
                "--device mps: Apple's Metal GPU is not available here (it needs an Apple-silicon Mac); use --device cpu"
            )
        return torch.device("mps")
    if name == "cuda" or name.startswith("cuda:"):
        if not torch.cuda.is_available():
            why = (
                "this PyTorch has no CUDA support"
                if torch.version.cuda is None
                else "no NVIDIA GPU or driver was found"
            )
            raise UserInputError(f"--device {name}: CUDA is not available ({why}); use --device cpu or auto")
        index = (local_rank or 0) if name == "cuda" else _index(name)
        count = torch.cuda.device_count()
        if index >= count:
            raise UserInputError(
                f"--device {name}: there {'is' if count == 1 else 'are'} only {count} GPU(s) (cuda:0…cuda:{count - 1})"
            )
        return torch.device("cuda", index)
    raise UserInputError(f"unknown device {name!r}; use auto, cpu, cuda, cuda:N or mps")


def _index(name: str) -> int:
    try:
        return int(name.split(":", 1)[1])
    except ValueError as e:
        raise UserInputError(f"--device {name}: write the GPU number as cuda:0, cuda:1, …") from e


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend and backend.is_available())


def resolve_precision(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype, or None for plain float32. `auto` = bf16 on CUDA where supported, else fp16;
    float32 on CPU and MPS (autocast there is rarely faster for convolutions). Training's `amp` flag is
    `auto` (on) or `fp32` (--no-amp)."""
    if precision not in PRECISIONS:
        raise UserInputError(f"unknown precision {precision!r}; use one of {', '.join(PRECISIONS)}")
    if precision == "fp32" or (precision == "auto" and device.type != "cuda"):
        return None
    if precision == "auto":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "cpu" and precision == "fp16":
        raise UserInputError("fp16 is not supported on the CPU; use fp32 or bf16")
    return torch.bfloat16 if precision == "bf16" else torch.float16


def cpu_count() -> int:
    """The cores this process may run on (its affinity mask under taskset, cgroups or a batch
    scheduler), not the machine's total."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # macOS and Windows have no affinity mask
        return max(1, os.cpu_count() or 1)


def default_cpu_threads() -> int:
    """Torch CPU threads for a model (predict, the app's engines, a training child process): all cores
    but one. The pipeline's decode and writer threads (or the app's window) need a core too. With every
    core given to torch's OpenMP pool beside them, its threads wait on each other: measured on 2 cores,
    the demo model fell from 21.6 to 1.7 frames/s in `predict` and a 34 ms model to 250-3,000 ms a frame
    in the app."""
    return max(1, cpu_count() - 1)


def default_loader_workers() -> int:
    """Data-loading processes for training (CLI and wizard alike): one core stays with the process that
    runs the model, the others load and augment images, at most `MAX_LOADER_WORKERS`; 0 (load in the
    main process) on a single core."""
    return min(MAX_LOADER_WORKERS, cpu_count() - 1)


@dataclass(frozen=True)
class DeviceChoice:
    key: str  # what --device takes
    label: str  # what a person reads


def list_devices() -> list[DeviceChoice]:
    """Devices present on this machine, for the app's device menus."""
    out = [DeviceChoice("auto", "Auto"), DeviceChoice("cpu", "CPU")]
    if torch.cuda.is_available():
        out += [
            DeviceChoice(f"cuda:{i}", f"GPU {i}: {torch.cuda.get_device_name(i)}")
            for i in range(torch.cuda.device_count())
        ]
    if _mps_available():
        out.append(DeviceChoice("mps", "Apple GPU (MPS)"))
    return out


def describe_device(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    if device.type == "cpu":
        n = torch.get_num_threads()
        return f"cpu ({n} thread{'s' if n != 1 else ''})"
    return str(device)
