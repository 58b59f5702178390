"""Screenshots of the training wizard's pages and the Runs view for docs/wizard.md.

    xvfb-run -s "-screen 0 1600x1000x24" python tools/screenshots/wizard.py docs/images \\
        --data "../shared/data/rocks/cvat_annotations_segmentation mask 1.1.zip" --images ../shared/data/rocks

Trains two short runs (from scratch, mobilenet, small sizes) into a temporary runs folder, so it takes
a few minutes on a CPU. The runs folder and settings are temporary: the user's are never touched.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
from _qt import run_until
from PIL import Image
from PySide6.QtWidgets import QApplication


def _broken_copy(root: Path) -> Path:
    """A tiny dataset with a mask holding an unknown class id and an unreadable mask."""
    rng = np.random.default_rng(0)
    for split, n in (("train", 4), ("val", 1)):
        for i in range(n):
            for sub, arr in (
                ("images", rng.integers(0, 255, (64, 64, 3), np.uint8)),
                ("masks", np.zeros((64, 64), np.uint8)),
            ):
                (root / split / sub).mkdir(parents=True, exist_ok=True)
                Image.fromarray(arr).save(root / split / sub / f"IMG_{i:04d}.png")
    bad = np.zeros((64, 64), np.uint8)
    bad[:8, :8] = 7
    Image.fromarray(bad).save(root / "train" / "masks" / "IMG_0001.png")
    (root / "train" / "masks" / "IMG_0002.png").write_bytes(b"truncated")
    (root / "classes.json").write_text(json.dumps(["background", "rock"]))
    return root


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Screenshots of the training wizard.")
    ap.add_argument("out", help="folder for wizard_*.png")
    ap.add_argument("--data", required=True, help="a labelled dataset (e.g. ../shared/data/rocks)")
    ap.add_argument("--images", help="photos folder for an export without photos (CVAT)")
    ap.add_argument("--epochs", type=int, default=6)
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    app = QApplication.instance() or QApplication(sys.argv[:1])  # noqa: F841 - must exist before widgets
    tmp = Path(tempfile.mkdtemp(prefix="segtool_wizshot_"))
    runs = tmp / "runs"

    from segtool.core.train_process import TrainProcess
    from segtool.gui.runs_view import RunsView
    from segtool.gui.wizard import TrainingWizard

    def shot(widget, name: str) -> None:
        run_until(lambda: False, 0.4)
        widget.grab().save(str(out / name))
        print(f"saved {out / name}")

    wiz = TrainingWizard(None, runs)
    wiz.resize(1000, 780)
    wiz.show()
    wiz.data_page.set_path(_broken_copy(tmp / "broken"))
    run_until(lambda: wiz.data_page.check is not None, 60)
    shot(wiz, "wizard_data_errors.png")
    wiz.data_page.set_path(args.data, args.images)
    if not run_until(lambda: wiz.data_page.check is not None and wiz.data_page.check.ok, 120):
        print(f"the dataset is not ready: {wiz.data_page.problems.text()}", file=sys.stderr)
        return 1
    shot(wiz, "wizard_data.png")
    wiz.next()
    shot(wiz, "wizard_model.png")
    mp = wiz.model_page
    mp.from_scratch.setChecked(True)
    mp.backbone.setCurrentIndex(mp.backbone.findData("mobilenet_v3_large"))
    mp.eval_size.setValue(256)
    wiz.next()
    sp = wiz.schedule_page
    sp.device.setCurrentIndex(sp.device.findData("cpu"))
    run_until(lambda: sp.speed is not None, 120)
    sp.toggle.setChecked(True)
    sp.epochs.setValue(args.epochs)
    sp.crop.setValue(192)
    sp.batch.setValue(4)
    sp.optimizer.setCurrentIndex(sp.optimizer.findData("adamw"))
    sp.lr.setValue(0.001)
    sp.class_weights.setCurrentIndex(sp.class_weights.findData("log"))
    shot(wiz, "wizard_schedule.png")
    wiz.next()
    run = wiz.run
    run_until(
        lambda: len(run.progress.epochs_rows) >= max(2, args.epochs // 2) and run.progress.step >= 1, 1800
    )
    shot(wiz, "wizard_training.png")
    run_until(lambda: run.outcome is not None, 1800)
    print("run 1:", run.outcome)
    wiz.next()
    run_until(lambda: getattr(wiz.results_page, "shown_examples", 0) > 0, 300)
    shot(wiz, "wizard_results.png")

    # a second run with another optimizer and learning rate, for the comparison
    cfg = dict(wiz.config, optimizer="sgd", lr=0.01, output=str(runs / "sgd_lr0.01"))
    p = TrainProcess(cfg).start()
    p.wait()
    p.shutdown()
    print("run 2:", p.outcome())
    view = RunsView([runs])
    view.resize(1300, 800)
    view.show()
    view.select_all()
    shot(view, "wizard_runs.png")
    view.close()
    wiz.shutdown()
    wiz.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
