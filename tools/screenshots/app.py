"""Render the main window with a source and a model into a PNG (for the docs).

    xvfb-run -s "-screen 0 1600x1000x24" python tools/screenshots/app.py docs/images/app.png \\
        --source clip.mp4 -c model.pt --frame 40

With `--export` the Export dialog is opened over the window and the whole screen is captured.
Settings go to a temporary file, so the user's own settings are neither used nor changed.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from _qt import open_window, run_until
from PySide6.QtWidgets import QApplication


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Save a screenshot of the segtool window.")
    ap.add_argument("out", help="PNG file to write")
    ap.add_argument("--source", required=True)
    ap.add_argument("-c", "--checkpoint", required=True)
    ap.add_argument("--frame", type=int, default=0)
    ap.add_argument("--mode", default="overlay", choices=["overlay", "mask", "side", "outlines"])
    ap.add_argument("--opacity", type=int, default=50)
    ap.add_argument("--size", default="1400x860", help="window size WxH")
    ap.add_argument("--hide", default="", help="comma-separated class names to untick in the legend")
    ap.add_argument(
        "--export", action="store_true", help="also open the Export dialog and capture the screen"
    )
    args = ap.parse_args(argv)

    app = QApplication.instance() or QApplication(sys.argv[:1])
    tmp = Path(tempfile.mkdtemp(prefix="segtool_shot_"))
    win = open_window(tmp, args.size, args.opacity)
    w, h = (int(v) for v in args.size.split("x"))
    win.panel.set_mode_key(args.mode)
    win.open_checkpoint(args.checkpoint)
    win.open_source(args.source)
    if not run_until(lambda: win.engine_info is not None and win.current is not None, 120):
        print(f"could not load: {win.last_error}", file=sys.stderr)
        return 1
    win.seek(args.frame)
    if not run_until(lambda: win.current.index == args.frame and win.current.mask is not None, 120):
        print(f"frame {args.frame} not shown: {win.last_error}", file=sys.stderr)
        return 1
    names = [n.strip() for n in args.hide.split(",") if n.strip()]
    for i, name in enumerate(win.engine_info.class_names):
        if name in names:
            win.panel.legend.set_visible(i, False)
    if args.export:
        dlg = win.open_export_dialog()
        if dlg is not None:
            dlg.out.setText(str(Path.home() / "exports" / "clip_masks"))
            dlg.overlay.setChecked(True)
            dlg.move(
                win.x() + 40, win.y() + h - dlg.sizeHint().height() - 50
            )  # over the frame, the mask stays visible
    run_until(lambda: False, 0.5)
    if args.export:
        pix = app.primaryScreen().grabWindow(0, 0, 0, w, h)
    else:
        pix = win.grab()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    ok = pix.save(args.out)
    win.close()
    print(f"saved {args.out} ({pix.width()}x{pix.height()})" if ok else f"could not save {args.out}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
