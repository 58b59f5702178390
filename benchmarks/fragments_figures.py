"""The figures in docs/fragments.md.

    python benchmarks/fragments_figures.py QUARRY_OUT GRAVEL_MODEL_OUT docs/images/

QUARRY_OUT: `segtool fragments <copy of rocks/val/images/4.jpeg> -c assets/rock_fragments.pt --overlay`
with its scale file beside it, a line along the frame's front bar assumed 1 m:
`save_scale(photo, from_line((882, 737), (1205, 724), 1000))` (segtool.core.fragments.scale; the points
read back from the magenta line of the earlier figure); GRAVEL_MODEL_OUT: `segtool fragments` with
`--instances` on a folder holding the two gravel hold-out images (6_P1060355_0, 7_P1060359_3). Writes
fragments_quarry.jpg (overlay + the scale line), fragments_quarry_curves.png, fragments_gravel.jpg
(photo | labels' outlines | model's outlines).
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def outlines(rgb: np.ndarray, lab: np.ndarray, color=(255, 230, 0)) -> np.ndarray:
    from skimage.segmentation import find_boundaries

    img = rgb.copy()
    img[find_boundaries(lab, mode="inner")] = color
    return img


def main() -> None:
    quarry, gravel, dst = (Path(a) for a in sys.argv[1:4])
    ov = Image.open(next((quarry / "overlays").glob("*.jpg"))).convert("RGB")
    d = ImageDraw.Draw(ov)
    rec = json.loads((quarry / "frames.jsonl").read_text().splitlines()[0])
    sc = json.loads(Path(rec["scale_file"]).read_text())  # the scale file the run used
    (x0, y0), (x1, y1) = sc["reference"]["points"]
    d.line([(x0, y0), (x1, y1)], fill=(255, 0, 255), width=5)
    d.text(
        (x0, y1 + 12),
        f"{sc['reference']['length_mm']:.0f} mm = {sc['reference']['length_px']:.0f} px",
        fill=(255, 0, 255),
    )
    ov.thumbnail((960, 960))
    ov.save(dst / "fragments_quarry.jpg", quality=82)
    shutil.copy(quarry / "curves.png", dst / "fragments_quarry_curves.png")
    img_dir = REPO.parent / "shared" / "data" / "rocks_dense" / "gravel"
    name = "6_P1060355_0"
    rgb = np.asarray(Image.open(img_dir / "images" / f"{name}.jpg").convert("RGB"))
    gt = np.asarray(Image.open(img_dir / "instances" / f"{name}.png")).astype(np.int32)
    pred = np.asarray(Image.open(gravel / "instances" / f"{name}.png")).astype(np.int32)
    fig = np.concatenate([rgb, outlines(rgb, gt), outlines(rgb, pred)], 1)
    Image.fromarray(fig).resize((fig.shape[1] * 320 // fig.shape[0], 320)).save(
        dst / "fragments_gravel.jpg", quality=82
    )


if __name__ == "__main__":
    main()
