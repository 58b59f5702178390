"""CPU (or GPU) forward time and parameter count of every backbone at 512x512, batch 1.

Prints a table and each model's time as a ratio to resnet50 at output stride 16 measured in the same run.
Usage: python benchmarks/bench_backbones.py [--size 512] [--repeats 5] [--device cpu] [--threads N]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import torch

from segtool.models import BACKBONES, build_deeplabv3


def time_forward(model: torch.nn.Module, x: torch.Tensor, repeats: int, clock=time.perf_counter) -> float:
    """Median seconds of one forward pass (after one warm-up)."""
    times = []
    with torch.inference_mode():
        model(x)
        for _ in range(repeats):
            if x.is_cuda:
                torch.cuda.synchronize()
            t = clock()
            model(x)
            if x.is_cuda:
                torch.cuda.synchronize()
            times.append(clock() - t)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--strides", default="16,8")
    ap.add_argument(
        "--cpu-time",
        action="store_true",
        help="one thread, timed by the thread's CPU clock: robust on a machine shared with other jobs",
    )
    args = ap.parse_args()
    clock = time.perf_counter
    if args.cpu_time:
        torch.set_num_threads(1)
        clock = time.thread_time  # with one intra-op thread the forward runs on this thread
    elif args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    name = (
        torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else f"{platform.processor() or 'cpu'}, {torch.get_num_threads()} threads"
    )
    print(
        f"device: {name}; torch {torch.__version__}; input 1x3x{args.size}x{args.size}; median of {args.repeats}"
        + ("; single-thread CPU time" if args.cpu_time else "; wall time")
    )
    x = torch.randn(1, 3, args.size, args.size, device=device)
    rows = []
    for os_ in [int(s) for s in args.strides.split(",")]:
        for backbone in BACKBONES:
            torch.manual_seed(0)
            model = (
                build_deeplabv3(backbone=backbone, num_classes=2, output_stride=os_, aux_head=False)
                .eval()
                .to(device)
            )
            if device.type in ("cpu", "cuda"):  # as the engine runs it
                model = model.to(memory_format=torch.channels_last)
                x = x.contiguous(memory_format=torch.channels_last)
            params = sum(p.numel() for p in model.parameters())
            rows.append((backbone, os_, params, time_forward(model, x, args.repeats, clock)))
            print(f"  measured {backbone} OS{os_}", flush=True)
    base = next((t for b, o, _, t in rows if b == "resnet50" and o == 16), rows[0][3])
    print("\n| backbone | output stride | parameters (M) | forward (ms) | time / resnet50 OS16 |")
    print("|---|---|---|---|---|")
    for b, o, p, t in rows:
        print(f"| {b} | {o} | {p / 1e6:.1f} | {t * 1000:.0f} | {t / base:.2f} |")


if __name__ == "__main__":
    main()
