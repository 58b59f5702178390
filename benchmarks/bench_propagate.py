"""Masks that follow the video: propagated labels against the truth 1, 2, 5, 10 frames ahead, on real footage.

The CamVid clip (../shared/data/clips/camvid_0016E5_val_15fps.mp4, 101 frames, 480x360, 15 fps) has
ground truth for every frame (camvid/valannot/0016E5_*.png, frame i = i-th file in sorted order; class 11
= unlabelled, ignored). From each start frame t (every `--stride`-th frame) the truth of frame t is
propagated with `segtool.core.propagate.propagate_frames` (frames decoded by the project's video source,
as `segtool propagate` reads them) and compared with the truth of frame t+d, against copying the truth of
frame t forward unchanged.

Three numbers per distance:
- propagated, unknown = wrong: unknown (255) pixels count as misses of their true class — the honest
  figure for "how much of the frame is right";
- propagated, known pixels only: the quality of what propagation does label, with its coverage;
- copy: the truth of frame t as the mask of frame t+d.

mIoU is over the classes present in the truth or the masks (summed confusion over all start frames).
No CamVid model is shipped or trained here, so "the model alone" is not measured by this script.

Usage: python benchmarks/bench_propagate.py [--stride 5] [--method dis|farneback]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from segtool.core.propagate import UNKNOWN, propagate_frames  # noqa: E402
from segtool.core.sources import open_source  # noqa: E402

DATA = Path(os.environ.get("SEGTOOL_SHARED_DATA", REPO.parent / "shared" / "data"))
CLIP = DATA / "clips" / "camvid_0016E5_val_15fps.mp4"
ANNOT = DATA / "camvid" / "valannot"
NC, VOID = 11, 11
DISTANCES = (1, 2, 5, 10)


def confusion(truth: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """(NC) x (NC+1) counts: rows = true class, columns = predicted class, last column = unknown."""
    keep = truth != VOID
    t, p = truth[keep].astype(np.int64), pred[keep].astype(np.int64)
    p = np.where(p == UNKNOWN, NC, p)
    return np.bincount(t * (NC + 1) + p, minlength=NC * (NC + 1)).reshape(NC, NC + 1)


def miou(cm: np.ndarray, known_only: bool = False) -> float:
    """Mean IoU over classes present; unknown predictions count as misses unless `known_only`."""
    c = cm[:, :NC] if known_only else cm
    tp = np.diag(c[:, :NC]).astype(float)
    fn = c.sum(1) - tp
    fp = c[:, :NC].sum(0) - tp
    denom = tp + fn + fp
    present = denom > 0
    return float((tp[present] / denom[present]).mean())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stride", type=int, default=5, help="start a propagation every N frames (default 5)")
    ap.add_argument("--method", default="dis", choices=("dis", "farneback"))
    args = ap.parse_args()
    if not CLIP.is_file() or not ANNOT.is_dir():
        print(f"skipped: {CLIP} or {ANNOT} is absent")
        return 0
    truth = [np.asarray(Image.open(p)) for p in sorted(ANNOT.glob("0016E5_*.png"))]
    with open_source(CLIP) as src:
        frames = list(src.frames())
    assert len(frames) == len(truth), (len(frames), len(truth))
    far = max(DISTANCES)
    cms = {(k, d): np.zeros((NC, NC + 1), np.int64) for k in ("prop", "copy") for d in DISTANCES}
    starts = range(0, len(frames) - far, args.stride)
    t0, steps = time.perf_counter(), 0
    for t in starts:
        start = truth[t].copy()
        start[start == VOID] = UNKNOWN
        for p in propagate_frames(frames[t : t + far + 1], start, method=args.method):
            steps += 1
            d = p.index - t
            if d in DISTANCES:
                cms["prop", d] += confusion(truth[p.index], p.mask)
                cms["copy", d] += confusion(truth[p.index], start)
    per_step = (time.perf_counter() - t0) / max(1, steps)
    print(
        f"CamVid 0016E5 clip, {len(frames)} frames 480x360 at 15 fps; {len(starts)} start frames (every {args.stride}), "
        f"flow {args.method}; {1000 * per_step:.0f} ms per propagated frame"
    )
    print(
        f"{'ahead':>5} | {'propagated mIoU':>15} | {'known only':>10} | {'coverage':>8} | {'copy mIoU':>9} | better"
    )
    for d in DISTANCES:
        pc, cc = cms["prop", d], cms["copy", d]
        cov = 1 - pc[:, NC].sum() / pc.sum()
        a, k, c = miou(pc), miou(pc, known_only=True), miou(cc)
        print(
            f"{d:>5} | {100 * a:>15.1f} | {100 * k:>10.1f} | {100 * cov:>7.1f}% | {100 * c:>9.1f} | "
            f"{'propagation' if a > c else 'COPY'}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
