"""The training wizard: Data → Model → Schedule → Training → Results.

The wizard drives the same `training.trainer.train()` as `segtool train`, in a child process
(`TrainingRun`), so nothing is trained on the GUI thread and a crash or out-of-memory in training
cannot take the window down. The wizard is also the pages' shared state (`config`, `check`, `run`).
Closing it while training only hides it: the run continues and the main window shows its progress.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QWidget, QWizard

from segtool.core.runs import default_runs_dir
from segtool.gui.wizard.bridge import TrainingRun
from segtool.gui.wizard.data_page import DataPage
from segtool.gui.wizard.jobs import DataCheck
from segtool.gui.wizard.model_page import ModelPage
from segtool.gui.wizard.results_page import ResultsPage
from segtool.gui.wizard.schedule_page import SchedulePage
from segtool.gui.wizard.training_page import TrainingPage

LAST_DATA, LAST_IMAGES = "wizard/last_data", "wizard/last_images"


class TrainingWizard(QWizard):
    """Train a model from labelled photos.

    Args:
        viewer_checkpoint: the checkpoint open in the viewer (offered as a starting point), or None.
        runs_dir: where new runs are created (default `segtool.core.runs.default_runs_dir()`).
        settings: the app's `AppSettings`: the last dataset is remembered there and offered again.

    Signals:
        useModel(path): "Use this model" — load this checkpoint into the viewer.
        progressChanged(): the run's progress changed (for the main window's status bar).
        runEnded(outcome): the training process ended (finished, cancelled, error, died).
        statusMessage(text): a short note for the status bar.
    """

    useModel = Signal(str)
    progressChanged = Signal()
    runEnded = Signal(object)
    statusMessage = Signal(str)

    def __init__(
        self,
        viewer_checkpoint: str | Path | None = None,
        runs_dir: str | Path | None = None,
        parent: QWidget | None = None,
        settings=None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Train a model")
        self.setWizardStyle(QWizard.WizardStyle.ClassicStyle)
        self.setOption(QWizard.WizardOption.NoBackButtonOnLastPage, True)
        self.setButtonText(QWizard.WizardButton.CommitButton, "Start training")
        self.setButtonText(QWizard.WizardButton.CancelButton, "Close")
        self.resize(980, 760)
        self.viewer_checkpoint = str(viewer_checkpoint) if viewer_checkpoint else None
        self.runs_dir = Path(runs_dir) if runs_dir else default_runs_dir()
        self.config: dict[str, Any] = {}
        self.check: DataCheck | None = None
        self.run: TrainingRun | None = None
        self._ended_runs: list[
            TrainingRun
        ] = []  # runs replaced by "Choose another start" (kept alive for Qt)
        self.data_page = DataPage(self)
        self.model_page = ModelPage(self)
        self.schedule_page = SchedulePage(self)
        self.schedule_page.setCommitPage(True)  # no way Back once training started
        self.training_page = TrainingPage(self)
        self.results_page = ResultsPage(self)
        for page in (
            self.data_page,
            self.model_page,
            self.schedule_page,
            self.training_page,
            self.results_page,
        ):
            self.addPage(page)
        self.settings = settings
        last = settings.get(LAST_DATA, "") if settings is not None else ""
        if last and Path(last).exists():
            images = settings.get(LAST_IMAGES, "") or None
            self.data_page.set_path(last, images if images and Path(images).exists() else None)

    # --- shared state used by the pages -----------------------------------------------------------

    def start_training(self, config: dict[str, Any], *, resume: bool = False) -> TrainingRun:
        """Start the run (in a child process) that the Training page shows."""
        self.config = dict(config)
        self.run = TrainingRun(self.config, self)
        self.run.ended.connect(self.runEnded)
        self.run.ended.connect(lambda o: self.statusMessage.emit(o.message))
        self.run.start(resume=resume)
        self.progress_changed()
        return self.run

    def choose_another_start(self) -> None:
        """After a failed start (e.g. offline): back to the Model page with every page as it was.
        The Schedule page is a commit page, so Back cannot go there; restart and step forward instead."""
        if self.training:
            return
        if self.run is not None:
            self.run.shutdown()
            self._ended_runs.append(self.run)
        self.run = None
        keep = dict(self.config)
        self.restart()
        self.config = keep
        self.next()  # Data page → Model page; the data check is kept, nothing is re-read

    def remember_data(self, data: str, images: str | None) -> None:
        """Keep the dataset for the next time the wizard opens."""
        if self.settings is not None and data:
            self.settings.set(LAST_DATA, data)
            self.settings.set(LAST_IMAGES, images or "")

    def use_model(self, path: str) -> None:
        self.useModel.emit(path)

    def status(self, text: str) -> None:
        self.statusMessage.emit(text)

    def progress_changed(self) -> None:
        self.progressChanged.emit()

    @property
    def training(self) -> bool:
        return self.run is not None and self.run.running

    # --- closing ----------------------------------------------------------------------------------

    def reject(self) -> None:
        """Close: while training, only hide (the run continues; Train ▸ Show training brings it back)."""
        if self.training:
            self.hide()
            return
        self.shutdown(wait_run=False)
        super().reject()

    def shutdown(self, wait_run: bool = True) -> None:
        """Stop the pages' background jobs; with `wait_run`, also stop the training child (last.pt saved)."""
        self.data_page.shutdown()
        self.schedule_page.shutdown()
        self.results_page.shutdown()
        if wait_run and self.run is not None:
            self.run.shutdown()
