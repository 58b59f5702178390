"""Screenshots of what a first-time user meets in the wizard (docs/wizard.md): the offline path and the
warning for a model that never predicts a labelled class.

    xvfb-run -s "-screen 0 1600x1000x24" python tools/screenshots/first_use.py docs/images \\
        --data "../shared/data/rocks/cvat_annotations_segmentation mask 1.1.zip" --images ../shared/data/rocks

Offline is made real for the child process (an unreachable proxy and an empty torch cache), so the
failure shown is the one a computer without internet gets. The warning comes from a real short run from
scratch on the sparse rock labels (a few minutes on a CPU). Settings and runs go to a temporary folder.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from _qt import run_until
from PySide6.QtWidgets import QApplication


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Screenshots of the wizard's offline path and its warning.")
    ap.add_argument("out", help="folder for the PNGs")
    ap.add_argument("--data", required=True)
    ap.add_argument("--images")
    ap.add_argument("--epochs", type=int, default=2)
    args = ap.parse_args(argv)
    out = Path(args.out)
    tmp = Path(tempfile.mkdtemp(prefix="segtool_firstuse_"))
    os.environ["TORCH_HOME"] = str(tmp / "torch")  # nothing cached
    for var in ("https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY"):
        os.environ[var] = "http://127.0.0.1:9"  # no internet for the training child
    app = QApplication.instance() or QApplication(sys.argv[:1])  # noqa: F841

    from segtool.gui.settings import AppSettings, ini_settings
    from segtool.gui.wizard import TrainingWizard

    def shot(widget, name: str) -> None:
        run_until(lambda: False, 0.5)
        widget.grab().save(str(out / name))
        print(f"saved {out / name}")

    wiz = TrainingWizard(None, tmp / "runs", settings=AppSettings(ini_settings(tmp / "s.ini")))
    wiz.resize(1000, 780)
    wiz.show()
    wiz.data_page.set_path(args.data, args.images)
    if not run_until(lambda: wiz.data_page.check is not None and wiz.data_page.check.ok, 120):
        print(f"the dataset is not ready: {wiz.data_page.problems.text()}", file=sys.stderr)
        return 1
    shot(wiz, "wizard_data_sparse.png")  # the sparse-labels warning instead of "No problems found"
    wiz.next()
    mp = wiz.model_page
    mp.from_pretrained.setChecked(True)  # the user picks the download on purpose (scratch is the default)
    mp.backbone.setCurrentIndex(mp.backbone.findData("mobilenet_v3_large"))
    mp.eval_size.setValue(256)
    shot(wiz, "wizard_model_offline.png")
    wiz.next()
    sp = wiz.schedule_page
    sp.device.setCurrentIndex(sp.device.findData("cpu"))
    run_until(lambda: sp.speed is not None, 120)
    sp.toggle.setChecked(True)
    sp.epochs.setValue(args.epochs)
    sp.crop.setValue(192)
    sp.batch.setValue(2)
    shot(wiz, "wizard_offline_schedule.png")
    wiz.next()
    run_until(lambda: wiz.run.outcome is not None, 300)
    print("offline run:", wiz.run.outcome)
    shot(wiz, "wizard_offline_failed.png")
    wiz.training_page.another_btn.click()
    mp.from_scratch.setChecked(True)
    shot(wiz, "wizard_offline_back.png")
    wiz.next()
    sp.epochs.setValue(args.epochs)
    wiz.next()
    run_until(lambda: wiz.run.outcome is not None, 3600)
    print("scratch run:", wiz.run.outcome)
    shot(wiz, "wizard_training_warning.png")
    wiz.next()
    run_until(lambda: getattr(wiz.results_page, "shown_examples", 0) > 0, 300)
    shot(wiz, "wizard_results_warning.png")
    wiz.shutdown()
    wiz.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
