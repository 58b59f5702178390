"""Render label mode with a fragment model: a few fragments outlined, one outline being drawn (docs).

    xvfb-run -s "-screen 0 1600x1000x24" python tools/screenshots/label_fragments.py docs/images/label_fragments.png \\
        --source ../shared/data/rocks_dense/gravel/images/1_P1060330_1.jpg -c assets/rock_fragments.pt \\
        --outlines ../shared/data/rocks_dense/gravel/instances/1_P1060330_1.png -n 8 --shrink 1200

The outlines are traced from the largest fragments of a ground-truth instance PNG (what a user would
click around) and closed with the outline tool, as Enter closes it in the app; the label set goes to a
temporary folder. Settings go to a temporary file.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
from _qt import open_window, run_until
from PIL import Image
from PySide6.QtWidgets import QApplication
from skimage.measure import approximate_polygon, find_contours


def _outline(inst: np.ndarray, k: int) -> list[tuple[float, float]]:
    """The outer contour of fragment k as (x, y) corners, a few pixels apart (clicks of a user)."""
    c = max(find_contours(np.pad(inst == k, 1).astype(float), 0.5), key=len) - 1
    return [(float(x), float(y)) for y, x in approximate_polygon(c, tolerance=1.5)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Save a screenshot of label mode labelling fragments.")
    ap.add_argument("out", help="PNG file to write")
    ap.add_argument("--source", required=True, help="a picture")
    ap.add_argument("-c", "--checkpoint", required=True, help="a fragment model")
    ap.add_argument("--outlines", required=True, help="an instance PNG of the picture (fragments to outline)")
    ap.add_argument("-n", type=int, default=8, help="fragments to outline (the largest)")
    ap.add_argument("--size", default="1500x960", help="window size WxH")
    ap.add_argument("--shrink", type=int, help="save W pixels wide, 256 colours (small PNG for the docs)")
    args = ap.parse_args(argv)

    app = QApplication.instance() or QApplication(sys.argv[:1])  # noqa: F841 (kept alive until the end)
    tmp = Path(tempfile.mkdtemp(prefix="segtool_shot_"))
    src = tmp / Path(args.source).name
    shutil.copyfile(args.source, src)
    win = open_window(tmp, args.size, 0)
    win.open_checkpoint(args.checkpoint)
    win.open_source(str(src))
    if not run_until(
        lambda: win.engine_info is not None and win.current is not None and win.current.mask is not None, 120
    ):
        print(f"could not load: {win.last_error}", file=sys.stderr)
        return 1
    hub = win.labels
    hub.new_label_set(tmp / "labels")
    hub.set_active(True)
    if not run_until(lambda: hub.editor is not None, 60):
        print("label mode did not start", file=sys.stderr)
        return 1
    inst = np.asarray(Image.open(args.outlines)).astype(np.int64)
    ids, areas = np.unique(inst[inst > 0], return_counts=True)
    biggest = [int(k) for k in ids[np.argsort(-areas)][: args.n + 1]]
    hub.set_tool("outline")
    for k in biggest[:-1]:
        hub._poly = _outline(inst, k)  # the corners a user clicks; Enter closes (close_polygon)
        hub.close_polygon()
    hub.panel.classes.setCurrentRow(1)  # rock
    hub.set_tool("outline")  # one more outline half drawn, as the user sees it while clicking
    hub._poly = _outline(inst, biggest[-1])[:-4]
    hub._redraw()
    hub.layer.show_path(hub._poly)
    hub._update_state()
    run_until(lambda: False, 1.0)
    pix = win.grab()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    ok = pix.save(args.out)
    hub.editor.mark_saved()  # nothing of the temporary label set is wanted
    win.close()
    if ok and args.shrink:
        im = Image.open(args.out).convert("RGB")
        im = im.resize((args.shrink, round(im.height * args.shrink / im.width)), Image.Resampling.LANCZOS)
        im.quantize(256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.FLOYDSTEINBERG).save(
            args.out, optimize=True
        )
    print(f"saved {args.out}" if ok else f"could not save {args.out}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
