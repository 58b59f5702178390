"""Label mode's GrabCut and intelligent scissors for the docs, on a real quarry photo: one rock labelled by a
GrabCut box, a second outline being traced with the scissors (the path snapping to the rock's edge).

    xvfb-run -s "-screen 0 1600x1000x24" python tools/screenshots/label_smart.py docs/images/label_smart.jpg \\
        --photo ../shared/data/rocks/val/images/4.jpeg

Settings and the label set go to a temporary folder.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from _qt import open_window, run_until
from PySide6.QtWidgets import QApplication


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Screenshot of GrabCut and scissors in label mode.")
    ap.add_argument("out")
    ap.add_argument("--photo", required=True)
    ap.add_argument("--box", default="410,250,630,410", help="GrabCut box x0,y0,x1,y1 (image pixels)")
    ap.add_argument("--clicks", default="400,620;515,700;400,796", help="scissors clicks x,y;x,y;…")
    ap.add_argument("--pointer", default="300,700", help="where the pointer is (the live path's end)")
    ap.add_argument("--size", default="1500x960")
    args = ap.parse_args(argv)

    _app = QApplication.instance() or QApplication(sys.argv[:1])  # kept alive while the window runs
    tmp = Path(tempfile.mkdtemp(prefix="segtool_shot_"))
    win = open_window(tmp, args.size, 50)
    win.open_source(args.photo)
    if not run_until(lambda: win.current is not None, 120):
        print(f"could not load: {win.last_error}", file=sys.stderr)
        return 1
    hub = win.labels
    hub.new_label_set(tmp / "rock_labels", ["background", "rock"])
    hub.set_active(True)
    run_until(lambda: hub.editor is not None, 60)
    win.canvas.fit()
    hub.panel.classes.setCurrentRow(1)
    hub.set_tool("grabcut")
    x0, y0, x1, y1 = (float(v) for v in args.box.split(","))
    hub.smart.press(x0, y0)
    hub.smart.release(x1, y1)
    run_until(lambda: (hub.editor.mask == 1).any(), 120)
    hub.set_tool("scissors")
    for pt in args.clicks.split(";"):
        hub.smart.press(*(float(v) for v in pt.split(",")))
    hub.smart.hover(*(float(v) for v in args.pointer.split(",")))
    hub.dock.raise_()
    run_until(lambda: False, 0.8)
    pix = win.grab()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    ok = pix.save(args.out)
    hub.smart.cancel()
    win.close()
    print(f"saved {args.out} ({pix.width()}x{pix.height()})" if ok else f"could not save {args.out}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
