"""Label mode's "Click a fragment" for the docs: a fragment model open on a photo, the largest fragments it
sees labelled by one click each (through the tool's own click handler), the status bar saying what happened.

    xvfb-run -s "-screen 0 1600x1000x24" python tools/screenshots/label_click_fragment.py \\
        docs/images/label_click_fragment.jpg --source ../shared/data/rocks/val/images/4.jpeg \\
        -c assets/rock_fragments.pt -n 8 --skip 6

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

from segtool.core.click_fragment import split_prediction


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Screenshot of click-a-fragment in label mode.")
    ap.add_argument("out")
    ap.add_argument("--source", required=True, help="a picture")
    ap.add_argument("-c", "--checkpoint", required=True, help="a fragment model")
    ap.add_argument("-n", type=int, default=6, help="fragments to click (the largest not on the border)")
    ap.add_argument(
        "--skip", type=int, default=0, help="pass over this many of the largest first (merged rocks)"
    )
    ap.add_argument("--size", default="1500x960")
    args = ap.parse_args(argv)

    _app = QApplication.instance() or QApplication(sys.argv[:1])  # kept alive while the window runs
    tmp = Path(tempfile.mkdtemp(prefix="segtool_shot_"))
    win = open_window(tmp, args.size, 0)
    win.open_checkpoint(args.checkpoint)
    win.open_source(args.source)
    if not run_until(
        lambda: win.engine_info is not None and win.current is not None and win.current.mask is not None, 120
    ):
        print(f"could not load: {win.last_error}", file=sys.stderr)
        return 1
    hub = win.labels
    hub.new_label_set(tmp / "labels")
    hub.set_active(True)
    run_until(lambda: hub.editor is not None and hub.result is not None and hub.result.mask is not None, 60)
    win.canvas.fit()
    hub.set_tool("fragment")
    # Where to click: the deepest point of each of the largest fragments the model sees (a user's clicks).
    frags = split_prediction(hub.result.mask, 1, 2)
    ids, areas = np.unique(frags[frags > 0], return_counts=True)
    border = set(np.unique(np.concatenate([frags[0], frags[-1], frags[:, 0], frags[:, -1]])).tolist())
    import cv2

    done = 0
    for k in ids[np.argsort(-areas)][args.skip :]:
        if int(k) in border or done >= args.n:
            continue
        d = cv2.distanceTransform((frags == k).astype(np.uint8), cv2.DIST_L2, 5)
        y, x = np.unravel_index(int(np.argmax(d)), d.shape)
        hub.clicker.click(float(x), float(y))
        run_until(lambda n=done: hub.editor.instances is not None and int(hub.editor.instances.max()) > n, 60)
        done += 1
    hub.dock.raise_()
    run_until(lambda: False, 0.8)
    pix = win.grab()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    tmp_png = tmp / "shot.png"
    ok = pix.save(str(tmp_png))
    if ok:
        Image.open(tmp_png).convert("RGB").save(args.out, quality=88)  # a photo: JPEG is a tenth of the PNG
    hub.editor.mark_saved()
    win.close()
    print(
        f"saved {args.out} ({pix.width()}x{pix.height()}, {done} fragments clicked)"
        if ok
        else f"could not save {args.out}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
