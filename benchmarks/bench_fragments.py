"""Fragment extraction + measurement per 1080p frame, as a share of the model's own time on the CPU.

    python benchmarks/bench_fragments.py [-c assets/rock_fragments.pt] [--image PHOTO] [--repeats 5] [--threads 1]

The photo (default: the seed's quarry photo) is resized to 1920x1080. Timed separately, each the
median of --repeats runs after one warm-up:
  model:     Engine.predict_one(frame, confidence=True)  (network at the checkpoint's resize_short,
             class ids and confidence brought back to 1920x1080)
  fragments: analyse_prediction on that prediction (split, measure every fragment, distribution, fits)
Prints the load average: on a shared machine the absolute numbers move, the ratio much less.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-c", "--checkpoint", default=str(REPO / "assets" / "rock_fragments.pt"))
    ap.add_argument(
        "--image", default=str(REPO.parent / "shared" / "data" / "rocks" / "val" / "images" / "4.jpeg")
    )
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--interior", help="force distance-transform splitting with this class")
    a = ap.parse_args()

    from segtool.core.engine import Engine
    from segtool.core.fragments import FragmentSettings, FragmentSpec, analyse_prediction

    rgb = np.asarray(Image.open(a.image).convert("RGB").resize((1920, 1080), Image.BICUBIC))
    eng = Engine(a.checkpoint, device="cpu", threads=a.threads)
    spec = FragmentSpec.from_checkpoint(eng.checkpoint.fragments, eng.class_names, interior=a.interior)
    settings = FragmentSettings()
    pred = eng.predict_one(rgb, confidence=True)
    analyse_prediction(pred.mask, pred.confidence, spec, settings)
    tm, tf = [], []
    for _ in range(a.repeats):
        t0 = time.perf_counter()
        pred = eng.predict_one(rgb, confidence=True)
        t1 = time.perf_counter()
        res = analyse_prediction(pred.mask, pred.confidence, spec, settings)
        t2 = time.perf_counter()
        tm.append(t1 - t0)
        tf.append(t2 - t1)
    m, f = statistics.median(tm), statistics.median(tf)
    print(
        f"checkpoint {Path(a.checkpoint).name} ({spec.method}), 1920x1080, network at resize_short "
        f"{eng.resize_short}, {a.threads} thread(s), load average {os.getloadavg()[0]:.1f}"
    )
    print(f"fragments found: {len(res.table)} ({int(res.table.use.sum())} counted)")
    print(f"model     {m * 1000:7.0f} ms  (median of {a.repeats})")
    print(f"fragments {f * 1000:7.0f} ms  = {f / m:.0%} of the model's time")


if __name__ == "__main__":
    main()
