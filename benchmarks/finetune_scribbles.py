"""The scribble case of docs/training.md ("Fine-tuning a model"): strokes on 2 gravel photos.

    python benchmarks/finetune_scribbles.py OUT [--photos 1_P1060330_1 2_P1060338_0]

Writes OUT/images/*.jpg, OUT/masks/*.png (class ids; 255 = not painted) and a names-only
OUT/classes.json (background, rock, rock_edge — the classes of assets/rock_fragments.pt), as a
geologist correcting the shipped model would paint them: a short stroke across the middle of some
stones (rock) and strokes over the sand between them (background); the edge class gets no pixels.
The strokes are made from the instance labels of rocks_dense/gravel so that the run is repeatable.
Score the result on the gravel hold-out with `benchmarks/eval_fragments.py -c RUN/best.pt --sets gravel`.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

GRAVEL = Path(__file__).resolve().parents[2] / "shared" / "data" / "rocks_dense" / "gravel"
if not GRAVEL.is_dir():
    GRAVEL = Path("/work/shared/data/rocks_dense/gravel")


def scribble(inst: np.ndarray, *, stones: int = 25, seed: int = 0) -> np.ndarray:
    """Class ids (0 background, 1 rock, 255 unpainted) from instance labels: a 7-px stroke across the
    inside of `stones` stones (chosen at random among those over 400 px) and 7-px strokes every 48 rows
    over sand at least 6 px from any stone."""
    rng = np.random.default_rng(seed)
    out = np.full(inst.shape, 255, np.uint8)
    ids, area = np.unique(inst[inst > 0], return_counts=True)
    big = ids[area >= 400]
    rows = np.arange(inst.shape[0])[:, None]
    for k in rng.choice(big, size=min(stones, len(big)), replace=False):
        inside = ndimage.binary_erosion(inst == k, iterations=4)
        ys = np.nonzero(inside.any(axis=1))[0]
        if len(ys):
            cy = int(np.median(ys))
            out[inside & (np.abs(rows - cy) <= 3)] = 1
    sand = ndimage.binary_erosion(inst == 0, iterations=6)
    out[sand & ((rows % 48) < 7)] = 0
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("--photos", nargs="+", default=["1_P1060330_1", "2_P1060338_0"])
    a = ap.parse_args()
    out = Path(a.out)
    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "masks").mkdir(parents=True, exist_ok=True)
    for i, stem in enumerate(a.photos):
        shutil.copy(GRAVEL / "images" / f"{stem}.jpg", out / "images" / f"{stem}.jpg")
        inst = np.asarray(Image.open(GRAVEL / "instances" / f"{stem}.png")).astype(np.int64)
        m = scribble(inst, seed=i)
        Image.fromarray(m).save(out / "masks" / f"{stem}.png")
        print(
            f"{stem}: rock {100 * (m == 1).mean():.1f} %, background {100 * (m == 0).mean():.1f} %, unpainted {100 * (m == 255).mean():.1f} %"
        )
    (out / "classes.json").write_text(json.dumps(["background", "rock", "rock_edge"]) + "\n")


if __name__ == "__main__":
    main()
