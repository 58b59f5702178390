"""Screenshot of the wizard's Schedule page proposing the fine-tuning defaults (docs/wizard.md).

    xvfb-run -s "-screen 0 1600x1000x24" python tools/screenshots/wizard_finetune.py docs/images/wizard_schedule_finetune.png \\
        -c assets/rock_fragments.pt --data "../shared/data/rocks/cvat_annotations_segmentation mask 1.1.zip" \\
        --images ../shared/data/rocks

Opens the wizard as the main window would with CKPT in the viewer, checks the data, keeps the viewer's
model as the start and shows the Schedule page with Advanced open. Nothing is trained.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from _qt import run_until
from PySide6.QtWidgets import QApplication


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Screenshot of the Schedule page when fine-tuning.")
    ap.add_argument("out", help="PNG to write")
    ap.add_argument("-c", "--checkpoint", required=True, help="the model 'open in the viewer'")
    ap.add_argument("--data", required=True, help="a labelled dataset")
    ap.add_argument("--images", help="photos folder for an export without photos (CVAT)")
    args = ap.parse_args(argv)
    app = QApplication.instance() or QApplication(sys.argv[:1])  # noqa: F841 - must exist before widgets
    from segtool.gui.wizard import TrainingWizard

    wiz = TrainingWizard(args.checkpoint, Path(tempfile.mkdtemp(prefix="segtool_wizshot_")) / "runs")
    wiz.model_page.prefer_viewer = True  # as label mode's "Train on my labels" opens it
    wiz.resize(1000, 860)
    wiz.show()
    wiz.data_page.set_path(args.data, args.images)
    if not run_until(lambda: wiz.data_page.check is not None and wiz.data_page.check.ok, 180):
        print(f"the dataset is not ready: {wiz.data_page.problems.text()}", file=sys.stderr)
        return 1
    wiz.next()
    wiz.next()
    sp = wiz.schedule_page
    sp.device.setCurrentIndex(sp.device.findData("cpu"))
    run_until(lambda: sp.speed is not None, 180)
    sp.toggle.setChecked(True)
    run_until(lambda: False, 0.5)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    wiz.grab().save(args.out)
    print(f"saved {args.out}")
    wiz.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
