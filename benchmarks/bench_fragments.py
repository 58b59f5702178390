"""Fragment extraction + measurement per 1080p frame, as a share of the model's own time on the CPU.

    python benchmarks/bench_fragments.py [-c assets/rock_fragments.pt] [--image PHOTO] [--repeats 5] [--threads 1]
    python benchmarks/bench_fragments.py -c OLD.pt -c NEW.pt --runtime openvino --rounds 3   # side by side
    python benchmarks/bench_fragments.py -c EDGE.pt -c CENTRE.pt --flood distance --flood hybrid  # floods

With several -c, the models are timed in turn (round-robin, --rounds times) in one process, and each
model's total (model + fragments) is printed as a ratio to the first one's: the ratio is what to read on
a shared machine. --clock cpu times the process's CPU time (all its threads) instead of the wall clock:
steadier while other work loads the machine. --threads bounds the network's runtime and OpenCV.
With --flood (repeatable), a centre-split checkpoint is timed once per flood of the centre split
(segtool.core.fragments.split.CENTRE_FLOODS), each its own row: every flood splits the same
predictions, so the rows share the network's time.

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
    ap.add_argument(
        "-c", "--checkpoint", action="append", help="default: assets/rock_fragments.pt; repeatable"
    )
    ap.add_argument(
        "--image", default=str(REPO.parent / "shared" / "data" / "rocks" / "val" / "images" / "4.jpeg")
    )
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--interior", help="force distance-transform splitting with this class")
    ap.add_argument("--runtime", default="auto", help="auto, torch, openvino, onnxruntime")
    ap.add_argument("--rounds", type=int, default=1, help="with several -c: alternate this many times")
    ap.add_argument(
        "--clock",
        choices=("wall", "cpu"),
        default="wall",
        help="wall: elapsed time; cpu: the process's CPU time, all threads (steadier on a loaded machine)",
    )
    ap.add_argument(
        "--flood",
        action="append",
        help="centre-split checkpoints: time with this flood (repeatable; default: the default flood)",
    )
    a = ap.parse_args()
    paths = a.checkpoint or [str(REPO / "assets" / "rock_fragments.pt")]

    from segtool.core.engine import Engine
    from segtool.core.fragments import FragmentSettings, FragmentSpec, analyse_prediction
    from segtool.core.fragments import split as split_mod

    floods = a.flood or [split_mod.CENTRE_FLOOD]
    if bad := [f for f in floods if f not in split_mod.CENTRE_FLOODS]:
        sys.exit(f"--flood {bad[0]}: not one of {', '.join(split_mod.CENTRE_FLOODS)}")

    import cv2

    cv2.setNumThreads(a.threads)  # the splits' OpenCV calls too: "one thread" means one thread
    rgb = np.asarray(Image.open(a.image).convert("RGB").resize((1920, 1080), Image.BICUBIC))
    settings = FragmentSettings()
    runs = []
    for path in paths:
        eng = Engine(path, device="cpu", threads=a.threads, runtime=a.runtime)
        spec = FragmentSpec.from_checkpoint(eng.checkpoint.fragments, eng.class_names, interior=a.interior)
        pred = eng.predict_one(rgb, confidence=True)  # warm-up (a runtime compiles on the first frame)
        run_floods = floods if spec.centre_id is not None else [None]
        for flood in run_floods:
            if flood:
                split_mod.CENTRE_FLOOD = flood  # split_classes reads it at call time
            analyse_prediction(pred.mask, pred.confidence, spec, settings)
        runs.append({"path": path, "eng": eng, "spec": spec, "tm": [], "tf": {f: [] for f in run_floods}})
    clock = time.process_time if a.clock == "cpu" else time.perf_counter
    res = {}
    for _ in range(max(1, a.rounds)):
        for r in runs:
            for _ in range(a.repeats):
                t0 = clock()
                pred = r["eng"].predict_one(rgb, confidence=True)
                r["tm"].append(clock() - t0)
                # every flood splits the same prediction: they share the network's time
                for flood, times in r["tf"].items():
                    if flood:
                        split_mod.CENTRE_FLOOD = flood
                    t1 = clock()
                    res[r["path"], flood] = analyse_prediction(
                        pred.mask, pred.confidence, r["spec"], settings
                    )
                    times.append(clock() - t1)
    print(f"1920x1080, {a.threads} thread(s), {a.clock} clock, load average {os.getloadavg()[0]:.1f}")
    base = None
    for r in runs:
        m = statistics.median(r["tm"])
        for flood, times in r["tf"].items():
            f = statistics.median(times)
            total = m + f
            base = base or total
            eng, out = r["eng"], res[r["path"], flood]
            name = f", flood {flood}" if flood else ""
            print(
                f"{r['path']} ({r['spec'].method}{name}, {eng.runtime}, network at resize_short "
                f"{eng.resize_short}): {len(out.table)} fragments ({int(out.table.use.sum())} counted)"
            )
            print(f"  model     {m * 1000:7.0f} ms  (median of {len(r['tm'])})")
            print(f"  fragments {f * 1000:7.0f} ms  = {f / m:.0%} of the model's time")
            print(f"  total     {total * 1000:7.0f} ms  = {total / base:.2f}x the first model")


if __name__ == "__main__":
    main()
