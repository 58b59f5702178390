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
No CamVid model is shipped or trained here, so "the model alone" is not measured on CamVid.

`--set synthetic`: the same measurement on a short synthetic rock clip (segtool.demo_footage, the demo's
generator: 480x270, 25 fps, exact labels for every frame, classes background/rock), written as H.264 MP4
by `segtool.demo.write_clip` and decoded by the project's video source like the CamVid clip, plus a fourth
column: the shipped demo model (assets/demo_rocks.pt, `Engine` on the CPU) alone, its prediction of frame
t+d against the truth of t+d — and a fifth: propagation with the model filling unknown pixels (`-c`,
confidence >= 0.9). The clip is a different seed (and so a different world) from the one the demo shows.

Usage: python benchmarks/bench_propagate.py [--set camvid|synthetic] [--stride 5] [--method dis|farneback]
                                            [--frames 80] [--seed 7]
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
    ap.add_argument("--set", dest="data_set", default="camvid", choices=("camvid", "synthetic"))
    ap.add_argument("--stride", type=int, default=5, help="start a propagation every N frames (default 5)")
    ap.add_argument("--method", default="dis", choices=("dis", "farneback"))
    ap.add_argument("--frames", type=int, default=80, help="synthetic clip length (default 80)")
    ap.add_argument("--seed", type=int, default=7, help="synthetic clip seed (default 7; the demo's is 4)")
    ap.add_argument("--ahead", default="1,2,5,10", help="synthetic: frames ahead to score (default 1,2,5,10)")
    args = ap.parse_args()
    if args.data_set == "synthetic":
        return synthetic(args)
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


class _CachedModel:
    """The engine's predictions of the clip's frames, computed once, served to `propagate_frames` by frame."""

    def __init__(self, frames, predictions) -> None:
        self._by_id = {id(f.rgb): p for f, p in zip(frames, predictions)}

    def predict_one(self, rgb, confidence: bool = False):
        return self._by_id[id(rgb)]


def synthetic(args) -> int:
    """Propagation, copying forward and the demo model alone on a generated rock clip with exact labels."""
    import tempfile

    from segtool.core.engine import Engine
    from segtool.demo import ClipSpec, demo_checkpoint, write_clip

    global NC, VOID
    NC, VOID = 2, 254  # background, rock; every pixel is labelled (no void)
    spec = ClipSpec(seed=args.seed, frames=args.frames)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        clip = write_clip(Path(tmp) / "clip.mp4", spec, labels=Path(tmp) / "labels")
        truth = [np.asarray(Image.open(p)) for p in sorted((Path(tmp) / "labels").glob("*.png"))]
        with open_source(clip) as src:
            frames = list(src.frames())
    t_gen = time.perf_counter() - t0
    assert len(frames) == len(truth), (len(frames), len(truth))
    t0 = time.perf_counter()
    engine = Engine(demo_checkpoint(), device="cpu")
    preds = [engine.predict_one(f.rgb, confidence=True) for f in frames]
    t_model = (time.perf_counter() - t0) / len(frames)
    model = _CachedModel(frames, preds)
    distances = tuple(int(x) for x in args.ahead.split(","))
    far = max(distances)
    kinds = ("prop", "copy", "model", "fill")
    cms = {(k, d): np.zeros((NC, NC + 1), np.int64) for k in kinds for d in distances}
    starts = range(0, len(frames) - far, args.stride)
    t0, steps = time.perf_counter(), 0
    for t in starts:
        start = truth[t].copy()
        for p in propagate_frames(frames[t : t + far + 1], start, method=args.method):
            steps += 1
            d = p.index - t
            if d in distances:
                cms["prop", d] += confusion(truth[p.index], p.mask)
                cms["copy", d] += confusion(truth[p.index], start)
                cms["model", d] += confusion(truth[p.index], preds[p.index].mask)
        for p in propagate_frames(frames[t : t + far + 1], start, method=args.method, model=model):
            steps += 1
            d = p.index - t
            if d in distances:
                cms["fill", d] += confusion(truth[p.index], p.mask)
    per_step = (time.perf_counter() - t0) / max(1, steps)
    print(
        f"synthetic rock clip (seed {args.seed}), {len(frames)} frames {spec.width}x{spec.height} at {spec.fps} fps "
        f"(generated + H.264 in {t_gen:.0f} s); {len(starts)} start frames (every {args.stride}), flow {args.method}; "
        f"{1000 * per_step:.0f} ms per propagated frame (model fill from cached predictions); demo model "
        f"{1000 * t_model:.0f} ms per frame ({engine.device_label})"
    )
    print(
        f"{'ahead':>5} | {'propagated mIoU':>15} | {'known only':>10} | {'coverage':>8} | {'copy mIoU':>9} | "
        f"{'model alone':>11} | {'prop+model fill':>15} | best"
    )
    for d in distances:
        pc = cms["prop", d]
        cov = 1 - pc[:, NC].sum() / pc.sum()
        a, k = miou(pc), miou(pc, known_only=True)
        c, m, f = miou(cms["copy", d]), miou(cms["model", d]), miou(cms["fill", d])
        fc = cms["fill", d]
        fcov = 1 - fc[:, NC].sum() / fc.sum()
        best = max((a, "propagation"), (c, "COPY"), (m, "MODEL"), (f, "prop+fill"))[1]
        print(
            f"{d:>5} | {100 * a:>15.1f} | {100 * k:>10.1f} | {100 * cov:>7.1f}% | {100 * c:>9.1f} | "
            f"{100 * m:>11.1f} | {100 * f:>8.1f} ({100 * fcov:.0f}%) | {best}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
