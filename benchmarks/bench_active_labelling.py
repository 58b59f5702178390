"""Simulated annotator: does labelling the frames segtool suggests teach more than other frames? And do
scribbles teach as much as full masks?

On real conveyor-ore tiles (../shared/data/rocks_dense/conveyor: background = belt, rock = rock + clump,
unlabelled = unknown), in one run and with the same training budget for every arm:

1. The built-in demo rock model (synthetic rock fields, assets/demo_rocks.pt) is fine-tuned on a few tiles:
   the "model trained on a few frames" a user starts from.
2. K more tiles are chosen from the pool (a) by `segtool.core.suggest` (the model's uncertainty, spread
   apart), (b) evenly spaced, (c) at random; each is "labelled" from the ground truth, and the start
   model is fine-tuned on start + K with the same epochs. Validation IoU on held-out tiles is reported.
3. Scribbles against full masks: the same N tiles, labelled either fully or with a few strokes per class
   per tile (the rest unknown, as label mode saves it), trained from the same start with the same budget.

Usage: python benchmarks/bench_active_labelling.py [--k 16] [--epochs 6] [--seed 0] [--out DIR]
Prints a table; results are kept in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from segtool.core.engine import Engine  # noqa: E402
from segtool.core.sources import open_source  # noqa: E402
from segtool.core.suggest import pick_diverse, score_frames  # noqa: E402
from segtool.training.config import TrainConfig  # noqa: E402
from segtool.training.trainer import train  # noqa: E402

DATA = REPO.parent / "shared" / "data" / "rocks_dense" / "conveyor"
CLASSES = [{"name": "background", "color": [0, 0, 0]}, {"name": "rock", "color": [250, 50, 83]}]


def load_tiles() -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(name, rgb, mask) with belt → 0, rock and clump → 1, unlabelled → 255."""
    lut = np.full(256, 255, np.uint8)
    lut[1], lut[2], lut[3] = 0, 1, 1
    out = []
    for p in sorted((DATA / "images").glob("*.png")):
        rgb = np.asarray(Image.open(p).convert("RGB"))
        sem = np.asarray(Image.open(DATA / "semantic" / p.name))
        out.append((p.stem, rgb, lut[sem]))
    return out


def scribbles(
    mask: np.ndarray, rng: np.random.Generator, per_class: int = 3, radius: int = 5, length: int = 24
) -> np.ndarray:
    """A few short strokes per class, inside that class (what an annotator paints in label mode)."""
    from scipy.ndimage import binary_erosion

    out = np.full(mask.shape, 255, np.uint8)
    yy, xx = np.mgrid[: mask.shape[0], : mask.shape[1]]
    for c in (0, 1):
        inside = binary_erosion(mask == c, iterations=radius)
        ys, xs = np.nonzero(inside)
        if ys.size == 0:
            continue
        for _ in range(per_class):
            i = rng.integers(ys.size)
            ang = rng.uniform(0, np.pi)
            for t in np.linspace(-length / 2, length / 2, 9):
                cy, cx = ys[i] + t * np.sin(ang), xs[i] + t * np.cos(ang)
                disc = (yy - cy) ** 2 + (xx - cx) ** 2 <= radius**2
                out[disc & (mask == c)] = c
    return out


def write_set(root: Path, items: list[tuple[str, np.ndarray, np.ndarray]]) -> Path:
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "masks").mkdir(parents=True, exist_ok=True)
    (root / "classes.json").write_text(json.dumps(CLASSES))
    for name, rgb, mask in items:
        Image.fromarray(rgb).save(root / "images" / f"{name}.png")
        Image.fromarray(mask).save(root / "masks" / f"{name}.png")
    return root


def run(name: str, data: Path, val: Path, out: Path, epochs: int, init: str, seed: int) -> dict:
    cfg = TrainConfig(
        data=str(data),
        val=str(val),
        output=str(out / name),
        backbone="mobilenet_v3_large",
        width_mult=0.5,
        aspp_channels=64,
        init=init,
        epochs=epochs,
        repeat=8,
        batch_size=8,
        crop_size=160,
        eval_size=192,
        scale_min=0.75,
        scale_max=1.5,
        optimizer="adamw",
        lr=5e-4,
        select_best="last",
        device="cpu",
        aux_weight=0.0,
        workers=0,
        seed=seed,
    )
    t0 = time.perf_counter()
    train(cfg)
    report = json.loads((out / name / "report.json").read_text())
    return {
        "arm": name,
        "rock_iou": report["per_class_iou"]["rock"],
        "miou": report["miou"],
        "s": time.perf_counter() - t0,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--start", type=int, default=8, help="tiles of the start model")
    ap.add_argument("--k", type=int, default=16, help="tiles added by each arm")
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    if not DATA.is_dir():
        print(f"skipped: {DATA} not found")
        return 0
    tiles = load_tiles()
    val = tiles[::5]
    pool = [t for i, t in enumerate(tiles) if i % 5]
    start = pool[:: len(pool) // args.start][: args.start]
    rest = [t for t in pool if t not in start]
    tmp = Path(args.out or tempfile.mkdtemp(prefix="segtool_active_"))
    val_dir = write_set(tmp / "val", val)
    demo = REPO / "assets" / "demo_rocks.pt"
    rows = [run("start", write_set(tmp / "d_start", start), val_dir, tmp, args.epochs, str(demo), args.seed)]
    base = str(tmp / "start" / "last.pt")

    # (a) suggestions: score the pool with the start model, pick K uncertain, spread tiles
    pool_dir = write_set(tmp / "pool", rest)
    engine = Engine(base, device="cpu")
    with open_source(str(pool_dir / "images")) as src:
        scores = score_frames(src, engine, every=1)
    picks = pick_diverse(scores, args.k, min_gap=1)
    by_name = {t[0]: t for t in rest}
    chosen = {"suggested": [by_name[Path(p.name).stem] for p in picks]}
    chosen["evenly spaced"] = rest[:: max(1, len(rest) // args.k)][: args.k]
    chosen["random"] = random.Random(args.seed).sample(rest, args.k)
    for arm, extra in chosen.items():
        d = write_set(tmp / f"d_{arm.replace(' ', '_')}", start + extra)
        rows.append(run(arm, d, val_dir, tmp, args.epochs, base, args.seed))

    # scribbles vs full masks on the same tiles, from the same start
    rng = np.random.default_rng(args.seed)
    same = start + chosen["evenly spaced"]
    strokes = [(n, rgb, scribbles(m, rng)) for n, rgb, m in same]
    painted = np.mean([(m != 255).mean() for _, _, m in strokes])
    rows.append(
        run("full masks", write_set(tmp / "d_full", same), val_dir, tmp, args.epochs, base, args.seed)
    )
    rows.append(
        run("scribbles", write_set(tmp / "d_scrib", strokes), val_dir, tmp, args.epochs, base, args.seed)
    )

    print(
        f"conveyor tiles: start {len(start)}, pool {len(rest)}, val {len(val)}; K = {args.k}; "
        f"{args.epochs} epochs × repeat 8 each; scribbles label {100 * painted:.1f} % of pixels"
    )
    print(f"{'arm':16s} {'rock IoU':>9s} {'mIoU':>7s} {'time s':>7s}")
    for r in rows:
        print(f"{r['arm']:16s} {r['rock_iou']:9.3f} {r['miou']:7.3f} {r['s']:7.0f}")
    print("suggested tiles:", ", ".join(Path(p.name).stem for p in picks))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
