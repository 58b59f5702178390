"""Label mode's teaching loop: suggested frames, "Train on my labels", and the before/after comparison
when that run finishes (a mixin of `LabelHub`)."""

from __future__ import annotations

import html
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
            self.strip.start(
                w.source.spec,
                model if info is not None else str(w.checkpoint_path),
                n,
                every=max(1, (w.source.frames or 1) // 200),
                model_path=info.path if info is not None else str(w.checkpoint_path),
            )

    def _viewer_changed(self, model_path: str | None = None, source_spec: str | None = None) -> None:
        """A model or source was opened: suggestions ranked by another model, or on other footage, are
        cleared (a device change reloads the same model and keeps them)."""
        made = self.strip.made_for
        if made is None:
            return
        if (model_path is not None and str(model_path) != made[0]) or (
            source_spec is not None and str(source_spec) != made[1]
        ):
            self.strip.clear()

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
        self._before_path = getattr(info, "path", None)
        wizard = hub.open_wizard()
        wizard.model_page.prefer_viewer = True  # correct the viewer's model (fine-tuning defaults follow)
        wizard.data_page.set_path(str(self.labelset.root))
        if not getattr(wizard, "_label_mode_connected", False):
            wizard._label_mode_connected = True
            wizard.runEnded.connect(lambda outcome, w=wizard: self._run_ended(w, outcome))

    def _run_ended(self, wizard, outcome) -> None:
        """A run started from label mode finished: score the model before and after on the run's
        validation frames (background thread); the viewer switches only to a model at least as good."""
        if getattr(outcome, "kind", "") != "finished" or wizard.run is None:
            return
        self._cmp_wizard = wizard
        self.compare_and_switch(wizard.run.run_dir)

    def compare_and_switch(self, run_dir: str | Path) -> None:
        from segtool.core.before_after import comparison_for_run

        run_dir, before, before_path = Path(run_dir), self._before, getattr(self, "_before_path", None)
        self.window.statusBar().showMessage(
            "Scoring the model before and after on your held-out labelled frames…"
        )

        def work() -> None:
            try:
                self.comparisonReady.emit(
                    run_dir, comparison_for_run(run_dir, before, before_path=before_path)
                )
            except Exception as e:  # noqa: BLE001 - shown to the user
                self.comparisonReady.emit(run_dir, str(e) or type(e).__name__)

        self._cmp_thread = threading.Thread(target=work, name="segtool-before-after", daemon=True)
        self._cmp_thread.start()

    def _comparison_ready(self, run_dir: Path, result) -> None:
        """Switch to the new model when it is at least as good as the old one on the held-out frames (or
        there was no old one to lose); otherwise ask, showing both scores, with "keep the old one" the
        default. A kept old model is said in amber on the wizard's Results page."""
        from segtool.core.before_after import format_comparison, verdict

        best = run_dir / "best.pt"
        if isinstance(result, str):
            self.window.show_error(
                "Could not compare the models",
                f"{result}\n\nThe viewer keeps the model it had; the new one is " + str(best),
            )
            self._tell_results_page(
                f"The viewer keeps the model it had: the new one could not be compared with it ({result}).",
                kept=True,
            )
            return
        self.last_comparison = result
        v = self.last_verdict = verdict(result)
        table = format_comparison(result)
        info = self.window.engine_info
        old = Path(info.path).name if info is not None else "the old model"
        if v.better or (v.before is None and self._before is None):
            self._switch_to(best, v, table)
            return
        box = QMessageBox(
            QMessageBox.Icon.Warning if v.better is False else QMessageBox.Icon.Question,
            "The new model is worse" if v.better is False else "Switch to the new model?",
            "",
            parent=self.window,
        )
        if v.better is False:
            box.setText(
                f"<b>The new model scored lower than the one in the viewer.</b><br>{html.escape(v.text(few=False))}"
            )
        else:
            box.setText(
                "<b>The new model could not be compared with the one in the viewer</b> "
                f"({html.escape(result.get('note') or 'no score for the old model')}).<br>{html.escape(v.text(few=False))}"
            )
        box.setInformativeText(f"<pre>{html.escape(table)}</pre>")
        keep = box.addButton("Keep the old model", QMessageBox.ButtonRole.RejectRole)
        use = box.addButton("Use the new model anyway", QMessageBox.ButtonRole.AcceptRole)
        box.setDefaultButton(keep)
        box.setEscapeButton(keep)
        box.setWindowModality(Qt.WindowModality.WindowModal)

        def answered(button) -> None:
            if button is use:
                self._switch_to(best, v, table)
            else:
                why = (
                    "it scored lower" if v.better is False else "the two could not be compared"
                ) + f": {v.text()}"
                self.window.statusBar().showMessage(
                    f"Kept {old} in the viewer; the new model is {best}", 15000
                )
                self._tell_results_page(
                    f"<b>The viewer keeps the old model</b> ({html.escape(old)}): "
                    f"the new one {html.escape(why)} <b>Use this model</b> loads the new one "
                    "anyway.",
                    kept=True,
                )

        box.buttonClicked.connect(answered)
        box.show()
        self.comparison_box = box

    def _switch_to(self, best: Path, v, table: str) -> None:
        if best.is_file():
            self.window.open_checkpoint(str(best))  # the viewer switches to the new model
        self._tell_results_page(f"The viewer now shows the new model. {html.escape(v.text())}", kept=False)
        box = QMessageBox(
            QMessageBox.Icon.Information, "Before and after training on your labels", "", parent=self.window
        )
        box.setText(
            "<b>Per-class IoU on your held-out labelled frames</b> (the viewer now shows the new model)"
        )
        box.setInformativeText(f"<pre>{html.escape(table)}</pre>")
        box.setWindowModality(Qt.WindowModality.NonModal)
        box.show()
        self.comparison_box = box

    def _tell_results_page(self, text: str, *, kept: bool) -> None:
        wizard = getattr(self, "_cmp_wizard", None)
        page = getattr(wizard, "results_page", None)
        if page is not None:
            page.show_comparison_note(text, warn=kept)
