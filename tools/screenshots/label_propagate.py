"""Label mode's "Follow the video" for the docs: the CamVid clip's ground truth of one frame saved as if
painted, propagated to the next frames in the app, and a propagated frame shown for review.

    xvfb-run -s "-screen 0 1600x1000x24" python tools/screenshots/label_propagate.py docs/images/label_propagate.png \\
        --clip ../shared/data/clips/camvid_0016E5_val_15fps.mp4 --annot ../shared/data/camvid/valannot

Settings and the label set go to a temporary folder.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
from _qt import open_window, run_until
from PIL import Image
from PySide6.QtWidgets import QApplication

CAMVID = [
    ("sky", (128, 128, 128)),
    ("building", (128, 0, 0)),
    ("pole", (192, 192, 128)),
    ("road", (128, 64, 128)),
    ("pavement", (60, 40, 222)),
    ("tree", (128, 128, 0)),
    ("sign", (192, 128, 128)),
    ("fence", (64, 64, 128)),
    ("car", (64, 0, 128)),
    ("pedestrian", (64, 64, 0)),
    ("bicyclist", (0, 128, 192)),
]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Screenshot of label-mode propagation.")
    ap.add_argument("out")
    ap.add_argument("--clip", required=True)
    ap.add_argument("--annot", required=True, help="camvid/valannot (frame i = i-th 0016E5 PNG)")
    ap.add_argument("--at", type=int, default=40)
    ap.add_argument("-n", type=int, default=10)
    ap.add_argument("--show", type=int, default=48, help="the propagated frame to show")
    ap.add_argument("--size", default="1500x960")
    args = ap.parse_args(argv)

    from segtool.core.labelset import LabelSet
    from segtool.core.sources import open_source

    _app = QApplication.instance() or QApplication(sys.argv[:1])  # kept alive while the window runs
    tmp = Path(tempfile.mkdtemp(prefix="segtool_shot_"))
    win = open_window(tmp, args.size, 50)
    win.open_source(args.clip)
    if not run_until(lambda: win.current is not None, 120):
        print(f"could not load: {win.last_error}", file=sys.stderr)
        return 1
    truth = np.asarray(Image.open(sorted(Path(args.annot).glob("0016E5_*.png"))[args.at])).copy()
    truth[truth == 11] = 255  # CamVid's unlabelled = unknown
    ls = LabelSet.create(tmp / "street_labels", [{"name": n, "color": list(c)} for n, c in CAMVID])
    with open_source(args.clip) as src:
        f = src.read(args.at)
    ls.save(f.rgb, truth, source=win.source.spec, frame=args.at, pts_s=f.pts_s)  # as if painted by hand
    hub = win.labels
    hub.open_label_set(ls.root)
    hub.set_active(True)
    win.seek(args.at)
    if not run_until(
        lambda: hub.result is not None and hub.result.index == args.at and hub.editor is not None, 60
    ):
        return 1
    hub.propagation.box.n.setValue(args.n)
    hub.propagation.start()
    run_until(lambda: not hub.propagation.running, 300)
    win.seek(args.show)
    run_until(lambda: hub.result is not None and hub.result.index == args.show and hub.editor is not None, 60)
    hub.dock.raise_()
    run_until(lambda: False, 0.3)
    hub.dock.widget().ensureWidgetVisible(
        hub.propagation.box, 0, 0
    )  # the panel scrolls: show "Follow the video"
    run_until(lambda: False, 0.8)
    pix = win.grab()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    ok = pix.save(args.out)
    print(hub.propagation.last_message)
    win.close()
    print(f"saved {args.out} ({pix.width()}x{pix.height()})" if ok else f"could not save {args.out}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
