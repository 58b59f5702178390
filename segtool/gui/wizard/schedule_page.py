"""Wizard page 3 — Schedule: presets with their epochs, crop and an estimated time on the chosen device
(measured: two training steps timed in the background), an Advanced panel, the device and run folder.
Next starts the training.

Starting from a checkpoint (fine-tuning), the page proposes the measured fine-tuning defaults of
`training.finetune` (frozen backbone, AdamW 0.001, 10 epochs, batch 4, 8 crops an epoch) as its own
preset, and every one of those settings the user leaves as proposed goes to the run as `auto`, so the
run chooses it exactly as `segtool train --init CKPT` does and config.json says which were chosen."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
    QWizardPage,
)

from segtool.core.runs import new_run_dir
from segtool.core.train_progress import format_duration
from segtool.gui.wizard.jobs import StepTimeJob, stop_thread
from segtool.gui.wizard.presets import (
    FINETUNE,
    FINETUNE_NOTE,
    PRESETS,
    SCHEDULE_AUTO,
    estimate_seconds,
    finetune_repeat,
    repeat_for,
)
from segtool.models.device import default_loader_workers
from segtool.training.config import INITS
from segtool.training.finetune import FINETUNE_DEFAULTS, FINETUNE_LR


class SchedulePage(QWizardPage):
    """Presets, Advanced settings, device, run folder."""

    def __init__(self, state, parent=None) -> None:
        super().__init__(parent)
        self.state = state
        self.setTitle("3 · Schedule")
        self.setSubTitle("How long to train. Next starts training; you can keep using the viewer meanwhile.")
        self.speed: dict | None = None
        self.job: StepTimeJob | None = None
        self._old_jobs: list[StepTimeJob] = []
        self._applying = False

        self.device = QComboBox()
        self.preset_group = QButtonGroup(self)
        self.preset_buttons: dict[str, QRadioButton] = {}
        presets = QGroupBox("Preset")
        pl = QVBoxLayout(presets)
        for key, p in PRESETS.items():
            b = QRadioButton(p.label)
            b.toggled.connect(lambda on, k=key: on and self.apply_preset(k))
            self.preset_group.addButton(b)
            self.preset_buttons[key] = b
            pl.addWidget(b)
        self.finetune = QRadioButton(FINETUNE.label)
        self.finetune.toggled.connect(lambda on: on and self.apply_finetune())
        self.preset_group.addButton(self.finetune)
        pl.insertWidget(0, self.finetune)
        self.finetune.hide()
        self.finetune_note = QLabel("")
        self.finetune_note.setWordWrap(True)
        self.finetune_note.setStyleSheet("color: palette(mid);")
        self.finetune_note.hide()
        pl.insertWidget(1, self.finetune_note)
        self.custom = QRadioButton("Custom (Advanced settings below)")
        self.preset_group.addButton(self.custom)
        pl.addWidget(self.custom)
        self.estimate_note = QLabel("")
        self.estimate_note.setWordWrap(True)
        self.estimate_note.setStyleSheet("color: palette(mid);")
        pl.addWidget(self.estimate_note)

        self.toggle = QToolButton(text="Advanced ▸", checkable=True)
        self.toggle.setAutoRaise(True)
        self.advanced = QWidget()
        self.toggle.toggled.connect(self._show_advanced)
        self.epochs = QSpinBox(minimum=1, maximum=1000)
        self.repeat = QSpinBox(minimum=1, maximum=1000)
        self.crop = QSpinBox(minimum=32, maximum=2048, singleStep=32, suffix=" px")
        self.batch = QSpinBox(minimum=1, maximum=256)
        self.optimizer = QComboBox()
        self.optimizer.addItem("SGD (momentum 0.9)", "sgd")
        self.optimizer.addItem("AdamW", "adamw")
        self.lr = QDoubleSpinBox(
            decimals=5, minimum=0.0, maximum=1.0, singleStep=0.001, specialValueText="default"
        )
        self.weight_decay = QDoubleSpinBox(
            decimals=5, minimum=0.0, maximum=0.1, singleStep=0.0001, value=1e-4
        )
        self.class_weights = QComboBox()
        for label, key in (
            ("none", "none"),
            ("log (rare classes count more)", "log"),
            ("median frequency", "median"),
        ):
            self.class_weights.addItem(label, key)
        self.flip = QCheckBox("random left-right flips", checked=True)
        self.jitter = QCheckBox("random colour changes (light, camera)")
        self.scale_min = QDoubleSpinBox(decimals=2, minimum=0.1, maximum=4.0, singleStep=0.1, value=0.5)
        self.scale_max = QDoubleSpinBox(decimals=2, minimum=0.1, maximum=4.0, singleStep=0.1, value=2.0)
        self.aux = QDoubleSpinBox(decimals=2, minimum=0.0, maximum=2.0, singleStep=0.1, value=0.4)
        self.freeze = QCheckBox("keep the backbone as it is (only the last layers learn)")
        self.freeze.setToolTip(
            "For a start from a trained model: the part that recognises textures and shapes stays "
            "as trained, so a few labelled photos cannot spoil it."
        )
        grid = QGridLayout(self.advanced)
        rows = [
            ("Epochs", self.epochs, "Repeat photos per epoch", self.repeat),
            ("Crop", self.crop, "Batch size", self.batch),
            ("Optimizer", self.optimizer, "Learning rate", self.lr),
            ("Weight decay", self.weight_decay, "Class weights", self.class_weights),
            ("Scale from", self.scale_min, "to", self.scale_max),
            ("Auxiliary loss", self.aux, "", self.flip),
        ]
        for r, (a, wa, b, wb) in enumerate(rows):
            grid.addWidget(QLabel(a), r, 0)
            grid.addWidget(wa, r, 1)
            grid.addWidget(QLabel(b), r, 2)
            grid.addWidget(wb, r, 3)
        grid.addWidget(self.jitter, len(rows), 3)
        grid.addWidget(self.freeze, len(rows) + 1, 1, 1, 3)
        self.advanced.hide()
        self._fine: bool | None = None  # the start is a checkpoint (fine-tuning); None before the first visit
        self._auto: set[str] = set()  # SCHEDULE_AUTO settings still as the fine-tuning preset proposed them
        for w in (
            self.epochs,
            self.repeat,
            self.crop,
            self.batch,
            self.lr,
            self.weight_decay,
            self.scale_min,
            self.scale_max,
            self.aux,
        ):
            w.valueChanged.connect(self._edited)
        for w in (self.optimizer, self.class_weights):
            w.currentIndexChanged.connect(self._edited)
        for w in (self.flip, self.jitter, self.freeze):
            w.toggled.connect(self._edited)
        # A setting the user changes is theirs from then on (no longer chosen by the run).
        for name, w, sig in (
            ("epochs", self.epochs, "valueChanged"),
            ("repeat", self.repeat, "valueChanged"),
            ("batch_size", self.batch, "valueChanged"),
            ("lr", self.lr, "valueChanged"),
            ("optimizer", self.optimizer, "currentIndexChanged"),
            ("freeze_backbone", self.freeze, "toggled"),
        ):
            getattr(w, sig).connect(lambda *_, n=name: self._user_set(n))
        self.device.currentIndexChanged.connect(self._measure)

        self.out = QLineEdit()
        out_btn = QPushButton("Change…")
        out_btn.clicked.connect(self._choose_out)
        form = QFormLayout()
        form.addRow("Device", self.device)
        row = QHBoxLayout()
        row.addWidget(self.out, 1)
        row.addWidget(out_btn)
        form.addRow("Save the run in", row)

        # Said before Start, not 15 s after it: this start downloads weights and needs internet.
        self.download_note = QLabel("")
        self.download_note.setWordWrap(True)
        self.download_note.setStyleSheet("color: #8a5a00;")
        self.download_note.hide()

        lay = QVBoxLayout(self)
        lay.addWidget(self.download_note)
        lay.addLayout(form)
        lay.addWidget(presets)
        lay.addWidget(self.toggle)
        lay.addWidget(self.advanced)
        lay.addStretch(1)

    # --- filling ----------------------------------------------------------------------------------

    def initializePage(self) -> None:  # noqa: N802
        from segtool.models.device import list_devices

        if not self.device.count():
            for d in list_devices():
                self.device.addItem(d.label, d.key)
        cfg = self.state.config
        download = self.state.model_page.needs_download() if hasattr(self.state, "model_page") else False
        self.download_note.setVisible(download)
        if download:
            from segtool.gui.wizard.model_page import download_mb

            mb = download_mb(cfg.get("backbone", ""), cfg.get("init", "imagenet"))
            size = f"{mb:.0f} MB, " if mb else ""
            self.download_note.setText(
                f"Start training first downloads the {'ImageNet' if cfg.get('init') == 'imagenet' else 'COCO'} "
                f"weights for {cfg.get('backbone')} ({size}needs internet). Offline? Go Back and choose another start."
            )
        label = f"{Path(cfg.get('data', 'data')).stem[:20]}_{cfg.get('backbone', '')}"
        self.out.setText(str(new_run_dir(self.state.runs_dir, label)))
        fine = self.fine_tuning()
        if fine != self._fine:  # first visit, or the start changed between a checkpoint and not
            self._set_mode(fine)
        elif self.finetune.isChecked():
            self.apply_finetune()
        elif not self.custom.isChecked():
            self.apply_preset(self._preset_key() or "quick")
        self._measure()

    def fine_tuning(self) -> bool:
        """The start chosen on the Model page is a segtool checkpoint."""
        return str(self.state.config.get("init", "scratch")) not in INITS

    def _set_mode(self, fine: bool) -> None:
        """Propose the fine-tuning defaults for a checkpoint start, today's defaults otherwise."""
        self._fine = fine
        self.finetune.setVisible(fine)
        self.finetune_note.setVisible(fine)
        self.freeze.setEnabled(self.state.config.get("init", "scratch") != "scratch")
        if fine:
            self.finetune_note.setText(FINETUNE_NOTE)
            if self.finetune.isChecked():
                self.apply_finetune()
            else:
                self.finetune.setChecked(True)
            return
        self._auto.clear()
        self._applying = True
        try:  # today's defaults (TrainConfig's)
            self.optimizer.setCurrentIndex(self.optimizer.findData("sgd"))
            self.lr.setValue(0.0)
            self.freeze.setChecked(False)
        finally:
            self._applying = False
        if self.preset_buttons["quick"].isChecked():
            self.apply_preset("quick")
        else:
            self.preset_buttons["quick"].setChecked(True)

    def _preset_key(self) -> str | None:
        return next((k for k, b in self.preset_buttons.items() if b.isChecked()), None)

    def apply_preset(self, key: str) -> None:
        """Fill the Advanced fields from a preset (crop never above the input size)."""
        p = PRESETS[key]
        check = self.state.check
        n_train = check.train if check is not None else 100
        crop = min(p.crop, int(self.state.config.get("eval_size") or p.crop))
        self._applying = True
        try:
            self.epochs.setValue(p.epochs)
            self.crop.setValue(crop)
            self.batch.setValue(p.batch)
            self.repeat.setValue(repeat_for(n_train, p.batch))
        finally:
            self._applying = False
        self._auto -= {"epochs", "batch_size", "repeat"}  # the preset's, not the fine-tuning defaults
        self._update_labels()

    def apply_finetune(self) -> None:
        """Fill the Advanced fields with the fine-tuning defaults; all of them are then the run's choice."""
        check = self.state.check
        n_train = check.train if check is not None else 100
        self._applying = True
        try:
            self.epochs.setValue(FINETUNE.epochs)
            self.crop.setValue(min(FINETUNE.crop, int(self.state.config.get("eval_size") or FINETUNE.crop)))
            self.batch.setValue(FINETUNE.batch)
            self.repeat.setValue(finetune_repeat(n_train))
            self.optimizer.setCurrentIndex(self.optimizer.findData(FINETUNE_DEFAULTS["optimizer"]))
            self.freeze.setChecked(bool(FINETUNE_DEFAULTS["freeze_backbone"]) and self.freeze.isEnabled())
            self.lr.setValue(FINETUNE_LR[(self.optimizer.currentData(), self.freeze.isChecked())])
        finally:
            self._applying = False
        self._auto = set(SCHEDULE_AUTO)
        self._update_labels()

    def _user_set(self, name: str) -> None:
        if self._applying:
            return
        self._auto.discard(name)
        if self._fine and "lr" in self._auto and name in ("optimizer", "freeze_backbone"):
            # the learning rate left to the run follows the optimiser and the frozen backbone, as in the run
            self._applying = True
            try:
                self.lr.setValue(FINETUNE_LR[(self.optimizer.currentData(), self.freeze.isChecked())])
            finally:
                self._applying = False

    def _edited(self) -> None:
        if not self._applying:
            self.custom.setChecked(True)
            self._update_labels()

    def _show_advanced(self, on: bool) -> None:
        self.advanced.setVisible(on)
        self.toggle.setText("Advanced ▾" if on else "Advanced ▸")

    def _choose_out(self) -> None:
        p = QFileDialog.getExistingDirectory(
            self, "Folder for the run (a new, empty folder)", str(self.state.runs_dir)
        )
        if p:
            self.out.setText(p)

    # --- time estimates ---------------------------------------------------------------------------

    def _measure(self) -> None:
        """Time two training steps of this network on this device, in the background."""
        if self.job is not None:
            self.job.requestInterruption()
            self._old_jobs.append(self.job)
        self.speed = None
        cfg = self.state.config
        device = self.device.currentData() or "auto"
        probe = 256 if device.startswith("cuda") else 128
        net = {
            k: cfg[k] for k in ("width_mult", "aspp_channels", "decoder") if k in cfg
        }  # a checkpoint start's network
        self.job = StepTimeJob(
            cfg.get("backbone", "resnet50"),
            int(cfg.get("output_stride", 16)),
            device,
            probe,
            self,
            network=net,
        )
        self.job.done.connect(self._measured)
        self.job.failed.connect(self._not_measured)
        self.job.start()
        self._update_labels()

    def _measured(self, token: int, speed: dict) -> None:
        if self.job is not None and token == self.job.token:
            self.speed = speed
            self._update_labels()

    def _not_measured(self, token: int, message: str) -> None:
        if self.job is not None and token == self.job.token:
            self.estimate_note.setText(f"No time estimate: {message}")

    def _update_labels(self) -> None:
        check, cfg = self.state.check, self.state.config
        n_train, n_val = (check.train, check.val) if check is not None else (100, 20)
        eval_size = int(cfg.get("eval_size") or 520)
        for key, p in PRESETS.items():
            crop = min(p.crop, eval_size)
            text = f"{p.label} — {p.epochs} epochs · crop {crop} px · {p.note}"
            if self.speed:
                secs = estimate_seconds(
                    self.speed["s_per_px"],
                    epochs=p.epochs,
                    crop=crop,
                    batch=p.batch,
                    n_train=n_train,
                    repeat=repeat_for(n_train, p.batch),
                    n_val=n_val,
                    eval_size=eval_size,
                )
                text += f" · ≈ {format_duration(secs)}"
            self.preset_buttons[key].setText(text)
        crop = min(FINETUNE.crop, eval_size)
        text = f"{FINETUNE.label} — {FINETUNE.epochs} epochs · crop {crop} px · {FINETUNE.note}"
        if self.speed:
            secs = estimate_seconds(
                self.speed["s_per_px"],
                epochs=FINETUNE.epochs,
                crop=crop,
                batch=FINETUNE.batch,
                n_train=n_train,
                repeat=finetune_repeat(n_train),
                n_val=n_val,
                eval_size=eval_size,
            )
            text += f" · ≈ {format_duration(secs)}"
        self.finetune.setText(text)
        if self.speed:
            secs = estimate_seconds(
                self.speed["s_per_px"],
                epochs=self.epochs.value(),
                crop=self.crop.value(),
                batch=self.batch.value(),
                n_train=n_train,
                repeat=self.repeat.value(),
                n_val=n_val,
                eval_size=eval_size,
            )
            self.custom.setText(
                f"Custom — {self.epochs.value()} epochs · crop {self.crop.value()} px · ≈ {format_duration(secs)}"
            )
            self.estimate_note.setText(
                f"Times are estimates from 2 training steps of {self.speed['backbone']} timed just now on "
                f"{self.speed['device']} ({self.speed['crop']} px crops), for {n_train} training and {n_val} validation "
                "photos; other programs running at the same time make training slower."
            )
        else:
            self.estimate_note.setText("Measuring the speed of this computer for the time estimates…")

    # --- QWizardPage ------------------------------------------------------------------------------

    def auto_options(self) -> list[str]:
        """TrainConfig.auto for the run: the fine-tuning settings still as proposed (a checkpoint start
        only), with the Model page's input size when that is the checkpoint's own."""
        model = [a for a in self.state.config.get("auto", []) if a == "eval_size"]
        return model + [a for a in SCHEDULE_AUTO if a in self._auto] if self._fine else []

    def schedule_config(self) -> dict:
        """The TrainConfig fields this page decides."""
        return {
            "freeze_backbone": self.freeze.isChecked() and self.freeze.isEnabled(),
            "auto": self.auto_options(),
            "epochs": self.epochs.value(),
            "repeat": self.repeat.value(),
            "crop_size": self.crop.value(),
            "batch_size": self.batch.value(),
            "optimizer": self.optimizer.currentData(),
            "lr": self.lr.value(),
            "weight_decay": self.weight_decay.value(),
            "class_weights": self.class_weights.currentData(),
            "hflip": self.flip.isChecked(),
            "color_jitter": self.jitter.isChecked(),
            "scale_min": self.scale_min.value(),
            "scale_max": self.scale_max.value(),
            "aux_weight": self.aux.value(),
            "device": self.device.currentData() or "auto",
            "output": self.out.text().strip(),
            "workers": default_loader_workers(),
        }

    def validatePage(self) -> bool:  # noqa: N802 - Next = start training
        from segtool.base.errors import UserInputError
        from segtool.training.config import TrainConfig

        cfg = {**self.state.config, **self.schedule_config()}
        try:
            TrainConfig.from_dict(cfg).validate()
            if (Path(cfg["output"]) / "last.pt").exists():
                raise UserInputError(f"{cfg['output']} already holds a run; choose another folder")
        except UserInputError as e:
            from segtool.gui.wizard.wording import in_app_words

            QMessageBox.warning(self, "Cannot start training", in_app_words(str(e)))
            return False
        self.state.config = cfg
        self.shutdown()
        self.state.start_training(cfg)
        return True

    def shutdown(self) -> None:
        for job in [*self._old_jobs, self.job]:
            stop_thread(job)
