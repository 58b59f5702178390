"""Multi-process training under `torchrun --nproc_per_node N -m segtool train …`.

torchrun sets RANK, LOCAL_RANK and WORLD_SIZE; `setup()` joins the process group (NCCL on CUDA, gloo on
CPU). Each process trains on its share of every epoch's batches; the model is wrapped in
DistributedDataParallel (gradients averaged) with SyncBatchNorm on GPUs (PyTorch's SyncBatchNorm runs
only on accelerators; on CPU each process keeps its own BatchNorm statistics). Losses and confusion
matrices are summed across processes, so every rank reports the same numbers. Only rank 0 writes files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def env_info() -> DistInfo:
    """What torchrun (or any launcher using its variables) asked for; world size 1 without one."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    return DistInfo(int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0")), world)


def setup(device: torch.device) -> DistInfo:
    """Join the process group when launched by torchrun (idempotent; no-op for one process)."""
    info = env_info()
    if not info.enabled:
        if dist.is_available() and dist.is_initialized():
            return DistInfo(dist.get_rank(), dist.get_rank(), dist.get_world_size())
        return info
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(backend=backend)
    return info


def current() -> DistInfo:
    """The running process group's rank and size (world size 1 when none)."""
    if dist.is_available() and dist.is_initialized():
        return DistInfo(
            dist.get_rank(), int(os.environ.get("LOCAL_RANK", dist.get_rank())), dist.get_world_size()
        )
    return DistInfo()


def cleanup() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def all_reduce_sum(t: torch.Tensor) -> torch.Tensor:
    """Sum a tensor over all processes in place (a no-op for one process); returns it."""
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t


def reduce_device(device: torch.device) -> torch.device:
    """Where collective tensors must live: NCCL needs CUDA tensors, gloo takes CPU ones."""
    if dist.is_available() and dist.is_initialized() and dist.get_backend() == "nccl":
        return device
    return torch.device("cpu")


def broadcast_flag(flag: bool, device: torch.device) -> bool:
    """True on every rank if it is True on any (e.g. a cancel seen by rank 0 stops all of them)."""
    t = torch.tensor([1 if flag else 0], device=reduce_device(device))
    return bool(all_reduce_sum(t).item())


def shard(indices: list[int], info: DistInfo, batch_size: int) -> list[int]:
    """This rank's part of an epoch: whole global batches only, interleaved across ranks
    (rank r gets items r, r+W, r+2W, …), so every process runs the same number of steps."""
    per_step = batch_size * info.world_size
    usable = (len(indices) // per_step) * per_step
    return indices[:usable][info.rank :: info.world_size]
