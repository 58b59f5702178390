"""The seed's sparse rock export, trained as it is against unknown-by-default labels plus background strokes.

The seed's CVAT export paints 2–3 rocks per quarry photo and saves every other pixel (hundreds of
unpainted rocks) as background. Two runs with the same model and budget, both scored on real, densely
labelled rock photos (../shared/data/rocks_dense/rockpiles: every rock outlined, binary masks):

Both start from the built-in demo rock model (synthetic rock fields; what a geologist has on day one).

  (a) as is: `segtool train export.zip --images photos/` (unpainted rocks are taught as background);
  (b) the label-mode route: `segtool labels import-cvat export.zip --unknown-class background` (unpainted
      pixels unknown), plus a few background strokes per photo painted where there is no rock (sky, flat
      ground, the scale frame; the rectangles below were drawn by looking at the photos), then trained.

Usage: python benchmarks/bench_sparse_rocks.py [--epochs 8] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from segtool.core.labelset import LabelSet, import_cvat  # noqa: E402
from segtool.training.config import TrainConfig  # noqa: E402
from segtool.training.trainer import train  # noqa: E402

SHARED = REPO.parent / "shared" / "data"
ROCKS = SHARED / "rocks"
PILES = SHARED / "rocks_dense" / "rockpiles"
# Background strokes, as (x0, y0, x1, y1) on the 800-px-wide view of each 1600-px photo: flat ground,
# sky and the bars of the scale frame — places with no rock.
STROKES = {
    "1": [
        (625, 0, 800, 32),
        (705, 35, 800, 95),
        (12, 348, 22, 530),
        (219, 352, 233, 530),
        (16, 345, 222, 356),
    ],
    "2": [(620, 0, 800, 20), (705, 22, 800, 38)],
    "3": [(545, 14, 800, 60), (286, 211, 400, 217), (284, 214, 292, 303), (399, 214, 409, 303)],
}


def rockpiles_val(root: Path) -> Path:
    """rockpiles as a dataset with the export's class names (background, rocks)."""
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "masks").mkdir(parents=True, exist_ok=True)
    (root / "classes.json").write_text(
        json.dumps([{"name": "background", "color": [0, 0, 0]}, {"name": "rocks", "color": [250, 50, 83]}])
    )
    for p in sorted((PILES / "images").glob("*.jpg")):
        Image.open(p).convert("RGB").save(root / "images" / f"{p.stem}.png")
        Image.open(PILES / "masks" / f"{p.stem}.png").save(root / "masks" / f"{p.stem}.png")
    return root


def add_strokes(ls: LabelSet) -> float:
    """Paint the background rectangles into the label set; returns the share of pixels they cover."""
    shares = []
    for f in ls.frames:
        m = ls.load_mask(f.stem)
        s = m.shape[1] / 800.0
        for x0, y0, x1, y1 in STROKES[f.stem]:
            m[round(y0 * s) : round(y1 * s), round(x0 * s) : round(x1 * s)] = 0
        ls.save(ls.load_image(f.stem), m, source=f.source or f.image)
        shares.append(float((m == 0).mean()))
    return float(np.mean(shares))


def run(
    name: str, data: str, out: Path, val: Path, epochs: int, images: str | None = None, seed: int = 0
) -> dict:
    cfg = TrainConfig(
        data=data,
        images=images,
        val=str(val),
        output=str(out / name),
        backbone="mobilenet_v3_large",
        width_mult=0.5,
        aspp_channels=64,
        init=str(REPO / "assets" / "demo_rocks.pt"),
        epochs=epochs,
        repeat=8,
        batch_size=4,
        crop_size=256,
        eval_size=384,
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
    rep = json.loads((out / name / "report.json").read_text())
    return {
        "arm": name,
        "rock_iou": rep["per_class_iou"]["rocks"],
        "miou": rep["miou"],
        "s": time.perf_counter() - t0,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--out", default=None)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    zips = list(ROCKS.glob("*.zip"))
    if not zips or not PILES.is_dir():
        print("skipped: ../shared/data/rocks or rocks_dense/rockpiles not found")
        return 0
    out = Path(args.out or tempfile.mkdtemp(prefix="segtool_sparse_"))
    val = rockpiles_val(out / "rockpiles")
    images = str(ROCKS / "train" / "images")
    rows = [run("as exported", str(zips[0]), out, val, args.epochs, images=images, seed=args.seed)]
    ls = import_cvat(zips[0], images, out / "labels", unknown_classes=["background"])
    share = add_strokes(ls)
    rows.append(run("unknown + strokes", str(ls.root), out, val, args.epochs, seed=args.seed))
    print(
        f"3 quarry photos, scored on {len(list((val / 'images').glob('*.png')))} rockpiles photos (every rock "
        f"outlined); background strokes cover {100 * share:.1f} % of each photo; {args.epochs} epochs × repeat 8"
    )
    print(f"{'arm':20s} {'rock IoU':>9s} {'mIoU':>7s} {'time s':>7s}")
    for r in rows:
        print(f"{r['arm']:20s} {r['rock_iou']:9.3f} {r['miou']:7.3f} {r['s']:7.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
