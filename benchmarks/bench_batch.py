"""Batch throughput: one worker against several on this machine, and the Ray run's overhead.

Builds a batch of COPIES copies of the real CamVid clip, then runs the whole `segtool predict FOLDER`
command (a subprocess: start-up, model loads and process spawns included, as a user sees it) with:
  w1       one worker, the default threads (cores - 1)
  w1-tN    one worker using every core (--threads N)
  wK       K worker processes, the cores divided between them (--workers K)
  ray      the same batch as Ray tasks on a local Ray started for the run (--ray --threads 1)
and prints frames/s over the batch and the ratios against w1. The masks of every run are compared
with w1's (they must be identical).

Usage: python benchmarks/bench_batch.py [--copies 4] [--frames 101] [--resize 240] [--workers 2] [--ray] [--no-all-cores]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from segtool.models import load_checkpoint, save_checkpoint  # noqa: E402
from tests.helpers import make_small_checkpoint  # noqa: E402

CLIP = REPO.parent / "shared" / "data" / "clips" / "camvid_0016E5_val_15fps.mp4"


def run(folder: Path, ckpt: Path, out: Path, frames: int, extra: list[str]) -> tuple[float, int]:
    argv = [
        sys.executable,
        "-m",
        "segtool",
        "predict",
        str(folder),
        "-c",
        str(ckpt),
        "-o",
        str(out),
        "-q",
        "--end",
        str(frames),
        "--device",
        "cpu",
        *extra,
    ]
    env = dict(os.environ, PYTHONPATH=str(REPO))
    t0 = time.perf_counter()
    res = subprocess.run(argv, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if res.returncode != 0:
        raise SystemExit(f"{' '.join(extra) or 'w1'} failed ({res.returncode}): {res.stderr[-2000:]}")
    doc = json.loads((out / "batch.json").read_text())
    return wall, sum(s["frames_written"] for s in doc["sources"])


def differing(a: Path, b: Path) -> float | None:
    """Share of mask pixels that differ between two batch outputs (None: not the same files)."""
    fa = sorted(a.rglob("masks/*.png"))
    fb = sorted(b.rglob("masks/*.png"))
    if [p.relative_to(a) for p in fa] != [p.relative_to(b) for p in fb]:
        return None
    diff = total = 0
    for x, y in zip(fa, fb):
        ma, mb = np.asarray(Image.open(x)), np.asarray(Image.open(y))
        diff += int((ma != mb).sum())
        total += ma.size
    return diff / max(total, 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--copies", type=int, default=4)
    ap.add_argument("--frames", type=int, default=101, help="frames per source (--end)")
    ap.add_argument("--resize", type=int, default=240, help="model input shorter side")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--ray", action="store_true", help="also time --ray on a local Ray")
    ap.add_argument(
        "--no-all-cores", action="store_true", help="skip w1-tN (on a busy machine it can take 10x longer)"
    )
    args = ap.parse_args()
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        ckpt, _ = make_small_checkpoint(tmp / "small.pt")
        ck = load_checkpoint(ckpt)
        ckpt = save_checkpoint(
            dataclasses.replace(ck, preprocess=dict(ck.preprocess, resize_short=args.resize)),
            tmp / "bench.pt",
        )
        folder = tmp / "videos"
        folder.mkdir()
        for i in range(args.copies):
            shutil.copy(CLIP, folder / f"clip{i}.mp4")
        configs = [
            ("w1", []),
            (f"w1-t{cores}", ["--threads", str(cores)]),
            (f"w{args.workers}", ["--workers", str(args.workers)]),
        ]
        if args.no_all_cores:
            del configs[1]
        if args.ray:
            configs.append(("ray", ["--ray", "--threads", "1"]))
        print(
            f"{args.copies} x {args.frames} frames, mobilenet_v3_large at {args.resize} px, {cores} cores, "
            f"load average before: {os.getloadavg()[0]:.1f}"
        )
        results = {}
        for name, extra in configs:
            out = tmp / f"out_{name}"
            wall, n = run(folder, ckpt, out, args.frames, extra)
            results[name] = (wall, n, out)
            d = 0.0 if name == "w1" else differing(out, results["w1"][2])
            # Another model-thread count changes float sums, and the argmax at near-ties with them.
            ok = (
                "masks identical to w1"
                if d == 0
                else (
                    "OTHER FILES than w1" if d is None else f"{100 * d:.4f} % of mask pixels differ from w1"
                )
            )
            print(f"{name:>8}: {n} frames in {wall:6.1f} s = {n / wall:5.2f} frames/s  ({ok})")
        base = results["w1"][1] / results["w1"][0]
        for name, (wall, n, _) in results.items():
            print(f"{name:>8}: {n / wall / base:4.2f} x w1")
        if "ray" in results:
            print(
                f"ray overhead against w1: {results['ray'][0] - results['w1'][0]:+.1f} s wall "
                f"({results['ray'][0] / results['w1'][0]:.2f} x)"
            )
        print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
