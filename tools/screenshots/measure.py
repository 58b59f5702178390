"""Render the main window with the Measure panel on a picture and a box or line scale reference (docs).

    xvfb-run -s "-screen 0 1600x1000x24" python tools/screenshots/measure.py docs/images/measure_panel_box_scale.png \\
        --source ../shared/data/rocks/val/images/4.jpeg -c assets/rock_fragments.pt \\
        --box 869,521,1206,742 --width-mm 1000 --hover 778,356 --shrink 1200
    ... measure.py docs/images/measure_panel.png --source ... -c ... --line 882,737,1205,724 --width-mm 1000

The picture is copied into a temporary folder and the box scale saved beside the copy (the sidecar the
app loads), so nothing is written next to the original. Settings go to a temporary file. `--shrink W`
scales the capture to W pixels wide and stores it with 256 colours (a photo in the window makes a full
RGB PNG of 1.5 MB; the outline colours survive the octree palette, a median-cut one turned cyan green).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from _qt import open_window, run_until
from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication

from segtool.core.fragments.scale import from_box, from_line, save_scale


def _floats(text: str, n: int) -> list[float]:
    v = [float(x) for x in text.split(",")]
    if len(v) != n:
        raise SystemExit(f"expected {n} comma-separated numbers, got {text!r}")
    return v


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description="Save a screenshot of the Measure panel with a box or line scale."
    )
    ap.add_argument("out", help="PNG file to write")
    ap.add_argument("--source", required=True, help="a picture")
    ap.add_argument("-c", "--checkpoint", required=True)
    ref = ap.add_mutually_exclusive_group(required=True)
    ref.add_argument("--box", help="x0,y0,x1,y1 of the scale box in image pixels")
    ref.add_argument("--line", help="x0,y0,x1,y1 of the scale line in image pixels (its length: --width-mm)")
    ap.add_argument("--width-mm", type=float, required=True, help="the box's width or the line's length")
    ap.add_argument("--height-mm", type=float, help="default: same as the width")
    ap.add_argument("--hover", help="x,y in image pixels to point at (a rock's size in the dock)")
    ap.add_argument("--opacity", type=int, default=0)
    ap.add_argument("--size", default="1500x960", help="window size WxH")
    ap.add_argument("--shrink", type=int, help="save W pixels wide, 256 colours (small PNG for the docs)")
    args = ap.parse_args(argv)

    app = QApplication.instance() or QApplication(sys.argv[:1])  # noqa: F841 (kept alive until the end)
    tmp = Path(tempfile.mkdtemp(prefix="segtool_shot_"))
    src = tmp / Path(args.source).name
    shutil.copyfile(args.source, src)
    x0, y0, x1, y1 = _floats(args.box or args.line, 4)
    if args.box:
        save_scale(src, from_box((x0, y0), (x1, y1), args.width_mm, args.height_mm))
    else:
        save_scale(src, from_line((x0, y0), (x1, y1), args.width_mm))
    win = open_window(tmp, args.size, args.opacity)
    win.open_checkpoint(args.checkpoint)
    win.open_source(str(src))
    if not run_until(
        lambda: win.engine_info is not None and win.current is not None and win.current.mask is not None, 120
    ):
        print(f"could not load: {win.last_error}", file=sys.stderr)
        return 1
    hub = win.measure
    hub.set_active(True)
    if not run_until(lambda: hub.current is not None and hub.scale_tool.scale is not None, 120):
        print("the Measure panel measured nothing", file=sys.stderr)
        return 1
    run_until(lambda: False, 0.5)  # the dock's layout settles and the view fits the picture
    if args.hover:
        hx, hy = _floats(args.hover, 2)
        vp = win.canvas.viewport()
        at = QPointF(win.canvas.mapFromScene(QPointF(hx, hy)))
        # A plain pointer move, as the window gets it from the mouse (no button held).
        move = QMouseEvent(
            QEvent.Type.MouseMove,
            at,
            vp.mapToGlobal(at),
            Qt.MouseButton.NoButton,
            Qt.MouseButton.NoButton,
            Qt.KeyboardModifier.NoModifier,
        )
        QApplication.sendEvent(vp, move)
        run_until(lambda: hub.panel.hover.text().startswith("Fragment"), 5)
    run_until(lambda: False, 0.5)
    pix = win.grab()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    ok = pix.save(args.out)
    win.close()
    if ok and args.shrink:
        from PIL import Image

        im = Image.open(args.out).convert("RGB")
        im = im.resize((args.shrink, round(im.height * args.shrink / im.width)), Image.Resampling.LANCZOS)
        im.quantize(256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.FLOYDSTEINBERG).save(
            args.out, optimize=True
        )
    print(f"saved {args.out}" if ok else f"could not save {args.out}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
