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

from models import BACKBONES, build_deeplabv3


def time_forward(model: torch.nn.Module, x: torch.Tensor, repeats: int) -> float:
    """Median seconds of one forward pass (after one warm-up)."""
    times = []
    with torch.inference_mode():
        model(x)
        for _ in range(repeats):
            if x.is_cuda:
                torch.cuda.synchronize()
            t = time.perf_counter()
            model(x)
            if x.is_cuda:
                torch.cuda.synchronize()
            times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--strides", default="16,8")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"{platform.processor() or 'cpu'}, {torch.get_num_threads()} threads"
    print(f"device: {name}; torch {torch.__version__}; input 1x3x{args.size}x{args.size}; median of {args.repeats}")
    x = torch.randn(1, 3, args.size, args.size, device=device)
    rows = []
    for os_ in [int(s) for s in args.strides.split(",")]:
        for backbone in BACKBONES:
            torch.manual_seed(0)
            model = build_deeplabv3(backbone=backbone, num_classes=2, output_stride=os_, aux_head=False).eval().to(device)
            params = sum(p.numel() for p in model.parameters())
            rows.append((backbone, os_, params, time_forward(model, x, args.repeats)))
            print(f"  measured {backbone} OS{os_}", flush=True)
    base = next((t for b, o, _, t in rows if b == "resnet50" and o == 16), rows[0][3])
    print("\n| backbone | output stride | parameters (M) | forward (ms) | time / resnet50 OS16 |")
    print("|---|---|---|---|---|")
    for b, o, p, t in rows:
        print(f"| {b} | {o} | {p / 1e6:.1f} | {t * 1000:.0f} | {t / base:.2f} |")


if __name__ == "__main__":
    main()
