"""Wizard page 1 — Data: pick (or drop) a folder or zip, read the validation report in plain words,
choose the split. Errors block Next; warnings do not."""

from __future__ import annotations

import html
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWizardPage,
)

from segtool.gui.wizard.fragment_split import EDGE, OUTLINE_FORMS, SplitChoice
from segtool.gui.wizard.jobs import DataCheck, DataCheckJob, stop_thread
from segtool.gui.wizard.wording import in_app_words
from segtool.models.checkpoint import splits_by_centres


class DataPage(QWizardPage):
    """Dataset, optional image folder (CVAT exports), split; the report of `check_run_data`."""

    def __init__(self, state, parent=None) -> None:
        super().__init__(parent)
        self.state = state  # the wizard's shared settings (see TrainingWizard)
        self.setTitle("1 · Data")
        self.setSubTitle(
            "Choose the labelled photos to learn from: a folder or a .zip (you can drop it here)."
        )
        self.setAcceptDrops(True)
        self.check: DataCheck | None = None
        self.job: DataCheckJob | None = None
        self._old_jobs: list[DataCheckJob] = []
        self._started_cfg: dict | None = None

        self.path = QLineEdit(
            placeholderText="folder or .zip with images and masks (CVAT, VOC, labelme, CamVid …)"
        )
        self.images = QLineEdit(
            placeholderText="only for annotation exports without photos (CVAT): the photos folder"
        )
        self.class_file = QLineEdit(
            placeholderText="only for data without labelmap.txt / classes.json: the class file"
        )
        cls_btn = QPushButton("Browse…")
        cls_btn.clicked.connect(self._choose_classes)
        folder_btn, zip_btn, img_btn = QPushButton("Folder…"), QPushButton("Zip…"), QPushButton("Browse…")
        folder_btn.clicked.connect(self._choose_folder)
        zip_btn.clicked.connect(self._choose_zip)
        img_btn.clicked.connect(self._choose_images)
        for box in (self.path, self.images, self.class_file):
            box.editingFinished.connect(lambda: self.start_check(force=False))
        self.path.returnPressed.connect(self.start_check)  # Enter re-checks, e.g. after fixing files

        self.own_split = QRadioButton("Use the dataset's own train / validation split")
        self.random_split = QRadioButton("Random split, the same every time for a given seed:")
        group = QButtonGroup(self)
        group.addButton(self.own_split)
        group.addButton(self.random_split)
        self.random_split.setChecked(True)
        self.val_fraction = QDoubleSpinBox(
            decimals=2, minimum=0.05, maximum=0.5, singleStep=0.05, value=0.2, suffix=" for validation"
        )
        self.seed = QSpinBox(minimum=0, maximum=99999, prefix="seed ")
        for w in (self.val_fraction, self.seed):
            w.editingFinished.connect(lambda: self.start_check(force=False))
        # choosing between the data's own split and a random one re-counts train/val
        self.random_split.toggled.connect(lambda _checked: self.start_check(force=False))
        # Sparse exports (a few objects painted, the rest saved as background): that class's pixels are
        # read as unknown, so the unpainted objects are not taught as background.
        self.unknown = QCheckBox("Unpainted pixels are unknown, not this class:")
        self.unknown.setToolTip(
            "For labels where only some objects were painted and everything else was saved as "
            "one class (usually background): those pixels are then neither trained on nor "
            "scored. Paint some real background in label mode too."
        )
        self.unknown_class = QComboBox()
        self.unknown_class.setEnabled(False)
        self.unknown.toggled.connect(self.unknown_class.setEnabled)
        self.unknown.toggled.connect(lambda _checked: self.start_check(force=False))
        self.unknown_class.activated.connect(lambda _i: self.start_check(force=False))
        # Outlined fragments (instance PNGs, COCO): edge split or the learned centre split (--fragment-classes).
        # Proposed as the viewer's model splits, the usual start; the Model page says so when they differ.
        self.split = SplitChoice(splits_by_centres(_viewer_fragments(state)))
        self.split.hide()  # until the check has found outlined fragments
        # the class table gains or loses rock_centre: check again
        self.split.centres.toggled.connect(lambda _checked: self.start_check(force=False))

        grid = QGridLayout()
        grid.addWidget(QLabel("Dataset"), 0, 0)
        grid.addWidget(self.path, 0, 1)
        grid.addWidget(folder_btn, 0, 2)
        grid.addWidget(zip_btn, 0, 3)
        grid.addWidget(QLabel("Photos"), 1, 0)
        grid.addWidget(self.images, 1, 1)
        grid.addWidget(img_btn, 1, 2)
        grid.addWidget(QLabel("Classes"), 2, 0)
        grid.addWidget(self.class_file, 2, 1)
        grid.addWidget(cls_btn, 2, 2)
        split = QHBoxLayout()
        split.addWidget(self.random_split)
        split.addWidget(self.val_fraction)
        split.addWidget(self.seed)
        split.addStretch(1)

        self.busy = QProgressBar()
        self.busy.hide()
        self.summary = QLabel("Drop a folder or a .zip here, or use Folder… / Zip…")
        self.summary.setWordWrap(True)
        self.summary.setTextFormat(Qt.TextFormat.RichText)
        self.classes = QTableWidget(0, 4)
        self.classes.setHorizontalHeaderLabels(["Class", "Colour", "Share of pixels", "In images"])
        self.classes.horizontalHeaderItem(2).setToolTip("share of the labelled (painted) pixels")
        # Columns as wide as their header and cells: a header cut to "re of labelled pi:" says nothing.
        self.classes.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.classes.verticalHeader().hide()
        self.classes.horizontalHeader().setStretchLastSection(True)
        self.classes.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.classes.setMaximumHeight(170)
        self.problems = QLabel("")
        self.problems.setWordWrap(True)
        self.problems.setTextFormat(Qt.TextFormat.RichText)
        self.problems.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.problems.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)

        lay = QVBoxLayout(self)
        lay.addLayout(grid)
        lay.addWidget(self.own_split)
        lay.addLayout(split)
        unknown_row = QHBoxLayout()
        unknown_row.addWidget(self.unknown)
        unknown_row.addWidget(self.unknown_class)
        unknown_row.addStretch(1)
        lay.addLayout(unknown_row)
        lay.addWidget(self.split)
        lay.addWidget(self.busy)
        lay.addWidget(self.summary)
        lay.addWidget(self.classes)
        lay.addWidget(self.problems, 1)

    # --- choosing ---------------------------------------------------------------------------------

    def _start_folder(self, current: str) -> str:
        """Where a file dialog opens: the field's own path, else beside the dataset, else the home folder —
        never the folder the app was started from (the install folder)."""
        for p in (current.strip(), self.path.text().strip()):
            if p:
                path = Path(p).expanduser()
                return str(path if path.is_dir() else path.parent)
        return str(Path.home())

    def _choose_folder(self) -> None:
        p = QFileDialog.getExistingDirectory(self, "Dataset folder", self._start_folder(self.path.text()))
        if p:
            self.set_path(p)

    def _choose_zip(self) -> None:
        p, _ = QFileDialog.getOpenFileName(
            self, "Dataset zip", self._start_folder(self.path.text()), "Zip archives (*.zip)"
        )
        if p:
            self.set_path(p)

    def _choose_images(self) -> None:
        p = QFileDialog.getExistingDirectory(self, "Photos folder", self._start_folder(self.images.text()))
        if p:
            self.images.setText(p)
            self.start_check()

    def _choose_classes(self) -> None:
        p, _ = QFileDialog.getOpenFileName(
            self,
            "Class file",
            self._start_folder(self.class_file.text()),
            "Class files (*.txt *.json);;All files (*)",
        )
        if p:
            self.class_file.setText(p)
            self.start_check()

    def set_path(self, path: str | Path, images: str | Path | None = None) -> None:
        """Set the dataset (and photos folder) and validate it in the background."""
        self.path.setText(str(path))
        if images is not None:
            self.images.setText(str(images))
        self.start_check()

    def dragEnterEvent(self, event) -> None:  # noqa: N802
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if paths:
            self.set_path(paths[0])

    # --- checking ---------------------------------------------------------------------------------

    def data_config(self) -> dict:
        """The TrainConfig fields this page decides."""
        return {
            "data": self.path.text().strip(),
            "images": self.images.text().strip() or None,
            "classes": self.class_file.text().strip() or None,
            "val_fraction": round(self.val_fraction.value(), 4),
            "seed": self.seed.value(),
            # the data's own split unless the user picked the random one over it
            "random_split": bool(
                self.check is not None and self.check.own_split and self.random_split.isChecked()
            ),
            "unknown_classes": [self.unknown_class.currentText()]
            if self.unknown.isChecked() and self.unknown_class.currentText()
            else [],
            # read only for outlined fragments; validatePage records "edge" for any other data
            "fragment_classes": self.split.value(),
        }

    def start_check(self, force: bool = True) -> None:
        """Validate the data in the background (`force=False`: only when the settings changed)."""
        cfg = self.data_config()
        busy = self.job is not None and self.job.isRunning()
        if not cfg["data"] or (not force and cfg == self._started_cfg and (self.check is not None or busy)):
            return  # editingFinished fires again when focus leaves a box (e.g. on Next): nothing changed
        self._started_cfg = cfg
        if self.job is not None:
            self.job.requestInterruption()
            self._old_jobs.append(self.job)
        self.check = None
        self.state.check = None  # the other pages must not use the report of the previous data
        self.completeChanged.emit()
        self.summary.setText(f"Checking {html.escape(Path(cfg['data']).name)} — reading every mask once…")
        self.problems.setText("")
        self.classes.setRowCount(0)
        self.busy.setRange(0, 0)
        self.busy.show()
        self.job = DataCheckJob(cfg, self)
        self.job.progress.connect(self._progress)
        self.job.done.connect(self._checked)
        self.job.failed.connect(self._failed)
        self.job.start()

    def _current(self, token: int) -> bool:
        """False for a result of a job replaced since (the user changed the settings)."""
        return self.job is not None and token == self.job.token

    def _progress(self, token: int, done: int, total: int) -> None:
        if self._current(token):
            self.busy.setRange(0, max(1, total))
            self.busy.setValue(done)

    def _failed(self, token: int, message: str) -> None:
        if not self._current(token):
            return
        self.busy.hide()
        self.split.hide()
        self.summary.setText("<b style='color:#b00020'>This dataset cannot be read.</b>")
        self.problems.setText(f"<p style='color:#b00020'>✗ {html.escape(in_app_words(message))}</p>")

    def _checked(self, token: int, check: DataCheck) -> None:
        if not self._current(token):
            return  # a result for settings the user has changed since
        self.busy.hide()
        self.check = check
        self.state.check = check
        forced = bool(self._started_cfg and self._started_cfg.get("random_split"))
        if not forced:
            self.own_split.setChecked(check.own_split)
            self.random_split.setChecked(not check.own_split)
        self.own_split.setEnabled(check.own_split)
        self.own_split.setToolTip(
            "" if check.own_split else "this dataset has no train/val folders or ImageSets lists"
        )
        self.random_split.setToolTip(
            "replaces the split this dataset names (train/ and val/ folders or ImageSets lists)"
            if check.own_split
            else ""
        )
        rep = check.reports[0]
        c = rep["counts"]
        verdict = (
            "<b style='color:#1b7f3a'>✓ Ready to train.</b>"
            if check.ok
            else f"<b style='color:#b00020'>✗ {len(check.errors)} problem(s) must be fixed before training.</b>"
        )
        self.summary.setText(
            f"{verdict} {c.get('pairs', 0)} photos matched with their masks "
            f"({check.form} layout) — {check.train} for training, {check.val} for validation. "
            f"<br><small>{html.escape(check.split_note)}</small>"
        )
        self._fill_classes(rep["classes"])
        self.split.setVisible(check.form in OUTLINE_FORMS)
        parts = [f"<p style='color:#b00020'>✗ {html.escape(in_app_words(e))}</p>" for e in check.errors]
        parts += [f"<p style='color:#8a5a00'>! {html.escape(in_app_words(w))}</p>" for w in check.warnings]
        if not parts:
            parts = ["<p>No problems found.</p>"]
        self.problems.setText("".join(parts))
        self.completeChanged.emit()

    def _fill_classes(self, classes: list[dict]) -> None:
        names = [c["name"] for c in classes]
        current = self.unknown_class.currentText()
        self.unknown_class.blockSignals(True)
        self.unknown_class.clear()
        self.unknown_class.addItems(names)
        pick = (
            current
            if current in names
            else next((n for n in names if n.lower() == "background"), names[0] if names else "")
        )
        self.unknown_class.setCurrentText(pick)
        self.unknown_class.blockSignals(False)
        self.classes.setRowCount(len(classes))
        for row, c in enumerate(classes):
            swatch = QTableWidgetItem("")
            swatch.setBackground(QColor(*c["color"]))
            share = QTableWidgetItem(
                f"{100 * c['share']:.2f} %"
                if c["pixels"]
                else "none — drawn along outlined fragments"
                if c.get("derived")
                else "none — add labels or remove the class"
            )
            share.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            for col, item in enumerate(
                (QTableWidgetItem(c["name"]), swatch, share, QTableWidgetItem(str(c["images"])))
            ):
                self.classes.setItem(row, col, item)
        self.classes.resizeColumnsToContents()

    # --- QWizardPage ------------------------------------------------------------------------------

    def isComplete(self) -> bool:  # noqa: N802 - errors block Next, warnings do not
        return self.check is not None and self.check.ok

    def validatePage(self) -> bool:  # noqa: N802
        cfg = self.data_config()
        if self.check is None or self.check.form not in OUTLINE_FORMS:
            cfg["fragment_classes"] = EDGE  # the run's config.json says what was trained: no unused choice
        self.state.config.update(cfg)
        if hasattr(self.state, "remember_data"):
            self.state.remember_data(cfg["data"], cfg["images"])
        return True

    def shutdown(self) -> None:
        for job in [*self._old_jobs, self.job]:
            stop_thread(job)


def _viewer_fragments(state) -> dict | None:
    """The `fragments` entry of the model open in the viewer (the usual start), or None."""
    from segtool.gui.wizard.model_page import checkpoint_network

    net = checkpoint_network(getattr(state, "viewer_checkpoint", None))
    return net.get("fragments") if net else None
