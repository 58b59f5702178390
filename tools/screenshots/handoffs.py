"""Render label mode's hand-offs for the docs (issue 19): the first save of a photo folder (the folder
proposed beside the photos, the stroke still on screen after saving) and the "new model is worse" dialog
after "Train on my labels", with its cancel path (Keep the old model).

    xvfb-run -s "-screen 0 1600x1000x24" python tools/screenshots/handoffs.py docs/images \\
        --photos ../shared/data/rocks_dense/gravel/images -c assets/rock_fragments.pt

Needs a real X server (Xvfb): the dialogs are separate windows, grabbed from the screen. The photos are
copied into a temporary folder (the label set is made beside the copy). The "new" model of the swap
dialog is the start model with its rock logit raised (`--worse`): a deliberately worse model, so the
dialog shows what a failed retraining looks like without minutes of training; the scores in it are real
(both models scored on the held-out labelled photo).
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import sys
import tempfile
from pathlib import Path

from _qt import open_window, run_until
from PySide6.QtCore import QPointF, Qt, QTimer
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QFileDialog

SHRINK = 0  # --shrink: width of the saved PNGs (256 colours), 0 = as grabbed


def grab_screen(out: Path, w: int, h: int) -> None:
    """The screen's top-left w×h (the window at 0,0 and any dialog over it)."""
    QApplication.primaryScreen().grabWindow(0, 0, 0, w, h).save(str(out))
    if SHRINK:
        from PIL import Image

        im = Image.open(out).convert("RGB")
        im = im.resize((SHRINK, round(im.height * SHRINK / im.width)), Image.Resampling.LANCZOS)
        im.quantize(256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.FLOYDSTEINBERG).save(
            out, optimize=True
        )
    print(f"saved {out}")


def worse_checkpoint(src: str, out: Path, rock: int, push: float) -> Path:
    import torch

    from segtool.models.checkpoint import load_checkpoint, save_checkpoint

    ck = load_checkpoint(src)
    n = len(ck.class_names)
    sd = dict(ck.state_dict)
    key = [k for k in sd if k.startswith("classifier.") and k.endswith(".bias") and sd[k].numel() == n][-1]
    bias = sd[key].clone()
    bias[rock] += push
    sd[key] = bias.to(torch.float32)
    return save_checkpoint(dataclasses.replace(ck, state_dict=sd), out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", help="folder for the PNGs")
    ap.add_argument("--photos", required=True, help="a folder of at least 6 photos")
    ap.add_argument("-c", "--checkpoint", required=True)
    ap.add_argument("--size", default="1280x800")
    ap.add_argument(
        "--shrink", type=int, default=0, help="save W pixels wide, 256 colours (small PNGs for the docs)"
    )
    ap.add_argument("--worse", type=float, default=4.0, help="added to the rock logit of the 'new' model")
    args = ap.parse_args(argv)
    global SHRINK
    SHRINK = args.shrink
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    w, h = (int(v) for v in args.size.split("x"))

    app = QApplication.instance() or QApplication(sys.argv[:1])  # noqa: F841
    tmp = Path(tempfile.mkdtemp(prefix="segtool_shot_"))
    photos = tmp / "gravel"
    photos.mkdir()
    for p in sorted(Path(args.photos).iterdir())[:6]:
        shutil.copyfile(p, photos / p.name)
    win = open_window(tmp, args.size, 40)
    win.open_checkpoint(args.checkpoint)
    win.open_source(str(photos))
    if not run_until(
        lambda: win.engine_info is not None and win.current is not None and win.current.mask is not None, 120
    ):
        print("could not load the model or the photos", file=sys.stderr)
        return 1
    hub = win.labels
    hub.set_active(True)
    run_until(lambda: hub.editor is not None, 30)
    run_until(lambda: False, 0.5)
    rock = hub.class_names.index("rock") if "rock" in hub.class_names else 1

    # --- first save: a stroke, Ctrl+S, the proposed folder, the stroke still there ---------------------
    vp = win.canvas.viewport()

    def at(x: float, y: float):
        return win.canvas.mapFromScene(QPointF(x, y))

    r = win.current
    H, W = r.rgb.shape[:2]
    hub.panel.brush.setValue(max(6, W // 80))
    QTest.keyClick(win.canvas, Qt.Key(int(Qt.Key.Key_1) + rock))  # number keys choose the class
    pts = [(W * 0.30 + i * W * 0.02, H * 0.45 + (i % 3) * H * 0.01) for i in range(12)]
    QTest.mousePress(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, at(*pts[0]))
    for p in pts[1:]:
        QTest.mouseMove(vp, at(*p))
    QTest.mouseRelease(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, at(*pts[-1]))
    QTest.keyClick(win.canvas, Qt.Key.Key_1)  # background
    pts = [(W * 0.10 + i * W * 0.015, H * 0.85) for i in range(10)]
    QTest.mousePress(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, at(*pts[0]))
    for p in pts[1:]:
        QTest.mouseMove(vp, at(*p))
    QTest.mouseRelease(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, at(*pts[-1]))
    run_until(lambda: False, 0.5)

    def shoot_dialog() -> None:
        dlg = next(
            (d for d in QApplication.topLevelWidgets() if isinstance(d, QFileDialog) and d.isVisible()), None
        )
        if dlg is None:
            QTimer.singleShot(300, shoot_dialog)
            return
        dlg.move(120, 120)
        QTimer.singleShot(800, lambda: (grab_screen(out / "label_first_save_dialog.png", w, h), dlg.accept()))

    QTimer.singleShot(500, shoot_dialog)
    hub.act_save.trigger()  # Label ▸ Save frame (Ctrl+S); returns when the dialog closed
    if hub.labelset is None:
        print("the first save made no label set", file=sys.stderr)
        return 1
    run_until(lambda: False, 0.8)
    grab_screen(out / "label_first_save_after.png", w, h)
    print(f"label set: {hub.labelset.root}")

    # --- label the six photos with the model's own mask, then compare a worse "new" model -------------
    for i in range(6):
        if i:
            win.seek(i)
        run_until(
            lambda i=i: win.current.index == i and hub.key is not None and win.current.confidence is not None,
            60,
        )
        if i:
            hub.panel.threshold.setValue(0.0)
            hub.start_from_prediction()
        if not hub.save():
            return 1
    from segtool.training.config import TrainConfig

    run = tmp / "run"
    run.mkdir()
    TrainConfig(data=str(hub.labelset.root), output=str(run), init=args.checkpoint).save(run / "config.json")
    worse_checkpoint(args.checkpoint, run / "best.pt", rock, args.worse)
    hub._before = win.engine_info.checkpoint
    hub.compare_and_switch(run)
    if not run_until(lambda: hub.comparison_box is not None and hub.comparison_box.isVisible(), 300):
        print("no comparison dialog", file=sys.stderr)
        return 1
    box = hub.comparison_box
    box.move(200, 150)
    run_until(lambda: False, 0.8)
    grab_screen(out / "label_swap_dialog.png", w, h)
    keep = next(b for b in box.buttons() if b.text() == "Keep the old model")
    QTest.mouseClick(keep, Qt.MouseButton.LeftButton)  # the cancel path
    run_until(lambda: False, 0.8)
    grab_screen(tmp / "label_swap_kept.png", w, h)  # looked at, not in the docs
    print(
        f"verdict: {hub.last_verdict}; viewer: {win.engine_info.path}; status: {win.statusBar().currentMessage()}"
    )
    win.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
