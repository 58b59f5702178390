"""Label mode's teaching loop: suggested frames, "Train on my labels", and the before/after comparison
when that run finishes (a mixin of `LabelHub`)."""

from __future__ import annotations

import threading
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QInputDialog, QMessageBox


class TeachingActions:
    """Suggest frames, train on the label set, compare the models; mixed into `LabelHub`."""

    def suggest_frames(self) -> None:
        w = self.window
        if w.source is None or w.source.is_live or w.checkpoint_path is None:
            w.show_error("Nothing to rank", "Open a model (Ctrl+O) and a video or folder first.")
            return
        n, ok = QInputDialog.getInt(w, "Suggest frames", "How many frames to suggest:", 10, 1, 200)
        if ok:
            # the model file the viewer already opened (not read again)
            info = w.engine_info
            model = info.model if info is not None else None
            self.strip.start(w.source.spec, model if info is not None else str(w.checkpoint_path), n,
                             every=max(1, (w.source.frames or 1) // 200))  # fmt: skip

    def _open_suggestion(self, index: int) -> None:
        if not self.confirm_leave():
            return
        if not self.active:
            self.set_active(True)
        self.window.seek(index)

    def train_on_labels(self) -> None:
        if self.labelset is None:
            self.window.show_error("No label set", "Label some frames first (Label ▸ New label set…).")
            return
        if not self.save():
            return
        hub = getattr(self.window, "training", None)
        if hub is None:
            return
        info = self.window.engine_info
        self._before = getattr(info, "checkpoint", None)
        wizard = hub.open_wizard()
        wizard.data_page.set_path(str(self.labelset.root))
        if not getattr(wizard, "_label_mode_connected", False):
            wizard._label_mode_connected = True
            wizard.runEnded.connect(lambda outcome, w=wizard: self._run_ended(w, outcome))

    def _run_ended(self, wizard, outcome) -> None:
        """A run started from label mode finished: score the model before and after on the run's
        validation frames (background thread), then show the new model in the viewer."""
        if getattr(outcome, "kind", "") != "finished" or wizard.run is None:
            return
        self.compare_and_switch(wizard.run.run_dir)

    def compare_and_switch(self, run_dir: str | Path) -> None:
        from segtool.core.before_after import compare_on_run

        run_dir, before = Path(run_dir), self._before
        self.window.statusBar().showMessage("Scoring the model before and after on your held-out labelled frames…")

        def work() -> None:
            try:
                self.comparisonReady.emit(run_dir, compare_on_run(run_dir, before))
            except Exception as e:  # noqa: BLE001 - shown to the user
                self.comparisonReady.emit(run_dir, str(e) or type(e).__name__)

        self._cmp_thread = threading.Thread(target=work, name="segtool-before-after", daemon=True)
        self._cmp_thread.start()

    def _comparison_ready(self, run_dir: Path, result) -> None:
        from segtool.core.before_after import format_comparison

        best = run_dir / "best.pt"
        if best.is_file():
            self.window.open_checkpoint(str(best))  # the viewer switches to the new model
        if isinstance(result, str):
            self.window.show_error("Could not compare the models", result)
            return
        self.last_comparison = result
        text = format_comparison(result)
        box = QMessageBox(QMessageBox.Icon.Information, "Before and after training on your labels", "", parent=self.window)
        box.setText("<b>Per-class IoU on your held-out labelled frames</b> (the viewer now shows the new model)")
        box.setInformativeText(f"<pre>{text}</pre>")
        box.setWindowModality(Qt.WindowModality.NonModal)
        box.show()
        self.comparison_box = box
