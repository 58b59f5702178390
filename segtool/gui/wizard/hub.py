"""The main window's training entry points: a Train menu and toolbar buttons (wizard, Runs view), a
progress indicator in the status bar while a run trains, and "Use this model" → the viewer.

Kept out of main_window.py so the window only has to create it (`TrainingHub(window)`) and call
`shutdown()` when it closes.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QHBoxLayout, QLabel, QMainWindow, QProgressBar, QToolBar, QToolButton, QWidget

from segtool.core.runs import default_runs_dir
from segtool.core.train_progress import format_duration


class TrainingHub(QObject):
    """Owns the training wizard and the Runs view of one main window.

    Args:
        window: the main window; it must have `open_checkpoint(path)` and `checkpoint_path`.
        runs_dir: where runs are kept (default `segtool.core.runs.default_runs_dir()`).
    """

    def __init__(self, window: QMainWindow, runs_dir: str | Path | None = None) -> None:
        super().__init__(window)
        self.window = window
        self.runs_dir = Path(runs_dir) if runs_dir else default_runs_dir()
        self.wizard = None
        self.runs_view = None
        self._old_wizards: list = []

        self.act_train = QAction("&Train a model…", window)
        self.act_train.setShortcut(QKeySequence("Ctrl+T"))
        self.act_train.setStatusTip("Train a model on your labelled photos (runs in the background)")
        self.act_train.triggered.connect(self.open_wizard)
        self.act_runs = QAction("&Runs…", window)
        self.act_runs.setShortcut(QKeySequence("Ctrl+Shift+R"))
        self.act_runs.setStatusTip("Compare training runs: curves, per-class IoU, settings")
        self.act_runs.triggered.connect(self.open_runs)
        bar = window.menuBar()
        menu = bar.addMenu("T&rain")
        help_action = next((a for a in bar.actions() if a.text().replace("&", "") == "Help"), None)
        if help_action is not None:  # Train before Help, where people look for it
            bar.removeAction(menu.menuAction())
            bar.insertMenu(help_action, menu)
        menu.addAction(self.act_train)
        menu.addAction(self.act_runs)
        for a in (self.act_train, self.act_runs):
            window.addAction(a)
        self.act_train.setIconText("Train…")
        self.act_runs.setIconText("Runs")
        tb = window.findChild(QToolBar, "main-toolbar")
        if tb is not None:
            tb.addSeparator()
            tb.addAction(self.act_train)
            tb.addAction(self.act_runs)

        self.status = QWidget()
        sl = QHBoxLayout(self.status)
        sl.setContentsMargins(0, 0, 0, 0)
        self.status_label = QLabel("")
        self.status_bar = QProgressBar(maximumWidth=140, maximumHeight=16)
        self.status_bar.setRange(0, 1000)
        self.status_bar.setTextVisible(False)
        show = QToolButton(text="Show")
        show.setAutoRaise(True)
        show.clicked.connect(self.show_wizard)
        for w in (self.status_label, self.status_bar, show):
            sl.addWidget(w)
        window.statusBar().addPermanentWidget(self.status)
        self.status.hide()

    # --- wizard -----------------------------------------------------------------------------------

    def open_wizard(self):
        """Show the running wizard, or a new one starting from the model open in the viewer."""
        from segtool.gui.wizard.wizard import TrainingWizard

        if self.wizard is None or not (self.wizard.training or self.wizard.isVisible()):
            if self.wizard is not None:
                self._old_wizards.append(self.wizard)
            ck = getattr(self.window, "checkpoint_path", None)
            self.wizard = TrainingWizard(
                ck, self.runs_dir, self.window, settings=getattr(self.window, "settings", None)
            )
            self.wizard.useModel.connect(self.use_model)
            self.wizard.progressChanged.connect(self._progress)
            self.wizard.runEnded.connect(self._ended)
            self.wizard.statusMessage.connect(lambda t: self.window.statusBar().showMessage(t, 10000))
        return self.show_wizard()

    def show_wizard(self):
        """Bring back the current wizard (hidden while it trains, or with the results of a run that ended)."""
        if self.wizard is None:
            return self.open_wizard()
        if not self.wizard.training:
            self.status.hide()  # the outcome is on the wizard's page now
        self.wizard.show()
        self.wizard.raise_()
        self.wizard.activateWindow()
        return self.wizard

    def use_model(self, path: str) -> None:
        self.window.open_checkpoint(path)

    def _progress(self) -> None:
        w = self.wizard
        if w is None or w.run is None or not w.run.running:
            return
        p = w.run.progress
        self.status.show()
        self.status_bar.setVisible(True)
        self.status_bar.setValue(int(1000 * p.fraction()))
        what = f"epoch {p.epoch}/{p.epochs}" if p.epochs else "starting"
        self.status_label.setText(f"Training {what} · ETA {format_duration(p.eta_s())}")

    def _ended(self, outcome) -> None:
        if self.runs_view is not None:
            self.runs_view.refresh()
        if self.wizard is not None and self.wizard.isVisible():
            self.status.hide()
            return
        # The wizard is hidden: say how it ended, and keep "Show" to reach the results or Resume.
        self.status_bar.setVisible(False)
        text = {"finished": "Training finished", "cancelled": "Training stopped"}.get(
            outcome.kind, "Training failed"
        )
        self.status_label.setText(text)
        if outcome.kind in ("error", "died"):
            self.window.show_error("Training stopped", outcome.message)

    # --- runs -------------------------------------------------------------------------------------

    def open_runs(self):
        from segtool.gui.runs_view import RunsView

        if self.runs_view is None:
            self.runs_view = RunsView([self.runs_dir], self.window)
            self.runs_view.openModel.connect(self.use_model)
        else:
            self.runs_view.refresh()
        self.runs_view.show()
        self.runs_view.raise_()
        return self.runs_view

    def shutdown(self) -> None:
        """Stop the wizard's jobs and the training child (it writes last.pt first; Resume continues it)."""
        for w in [*self._old_wizards, self.wizard]:
            if w is not None:
                w.shutdown()
