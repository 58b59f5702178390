"""The panel beside the picture: the model (file, backbone, metrics, device, precision), the view
settings (display mode, opacity, confidence shading) and the class legend."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from segtool.core.runtimes import LABELS, installed_runtimes
from segtool.gui.legend import ClassLegend
from segtool.gui.render import MODES
from segtool.models.device import PRECISIONS, list_devices


def dataset_name(path: str) -> str:
    """The dataset's name, not the folder it was trained in on someone else's machine ("/tmp/…/rocks_synth")."""
    p = Path(str(path).rstrip("/\\"))
    return p.stem if p.suffix.lower() == ".zip" else p.name or str(path)


def describe_html(d: dict[str, Any]) -> str:
    """Rich-text summary of a checkpoint description (see `segtool.core.checkpoint_info.describe`)."""
    m = d["model"]
    train = d.get("train") or {}
    metrics = train.get("metrics") or {}
    miou = metrics.get("miou")
    arch = "DeepLabV3+" if m.get("decoder") == "v3plus" else "DeepLabV3"
    size = (d.get("preprocess") or {}).get("resize_short")
    lines = [
        f"<b>{Path(d['path']).name}</b> ({d['size_mb']} MB)",
        f"{arch} · {m['backbone']} · output stride {m['output_stride']}",
        f"{d['parameters'] / 1e6:.1f} M parameters · input {'short side ' + str(size) + ' px' if size else 'full size'}",
        (
            f"validation mIoU <b>{miou:.3f}</b>"
            if isinstance(miou, float)
            else "no validation metrics recorded"
        )
        + (f" · trained on {dataset_name(train['dataset'])}" if train.get("dataset") else ""),
    ]
    return "<br>".join(lines)


class SidePanel(QWidget):
    """Model, view and class controls.

    Signals:
        deviceChanged(device_key, precision, runtime): the user picked another device, precision or runtime.
        viewChanged(): display mode, opacity, class visibility or confidence shading changed.
        confidenceToggled(bool): the view needs (or no longer needs) confidence maps.
    """

    deviceChanged = Signal(str, str, str)
    viewChanged = Signal()
    confidenceToggled = Signal(bool)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        # Model
        self.summary = QLabel(
            "No model loaded.<br>Open a checkpoint (Ctrl+O) or drop a .pt or .onnx file here."
        )
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.device = QComboBox()
        for d in list_devices():
            self.device.addItem(d.label, d.key)
        self.device.setToolTip("Where the model runs. Auto: a CUDA GPU, else Apple MPS, else the CPU.")
        self.precision = QComboBox()
        for p in PRECISIONS:
            self.precision.addItem({"auto": "Auto (fp16/bf16 on GPU)", "fp32": "fp32"}.get(p, p), p)
        self.precision.setToolTip("Numeric precision. Half precision is faster on GPUs; the CPU uses fp32.")
        self.runtime = QComboBox()
        self.runtime.addItem("Auto (fastest installed)", "auto")
        for r in installed_runtimes():
            self.runtime.addItem(LABELS[r], r)
        self.runtime.setToolTip(
            "What runs the network. Auto: PyTorch on a GPU; on the CPU OpenVINO, else ONNX Runtime, "
            "else PyTorch (the first use converts the model once; it is cached)."
        )
        model_box = QGroupBox("Model")
        form = QFormLayout()
        form.addRow(self.summary)
        form.addRow("Device", self.device)
        form.addRow("Precision", self.precision)
        form.addRow("Runtime", self.runtime)
        model_box.setLayout(form)

        # View
        self.mode = QComboBox()
        for key, label in MODES.items():
            self.mode.addItem(label, key)
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setRange(0, 100)
        self.opacity.setValue(50)
        self.opacity_label = QLabel("50 %")
        self.opacity_label.setMinimumWidth(40)
        row = QHBoxLayout()
        row.addWidget(self.opacity, 1)
        row.addWidget(self.opacity_label)
        self.confidence = QCheckBox("Fade colours where the model is unsure")
        self.confidence.setToolTip("Confidence shading: colour strength follows the model's probability.")
        view_box = QGroupBox("View")
        vform = QFormLayout()
        vform.addRow("Display", self.mode)
        vform.addRow("Opacity", row)
        vform.addRow(self.confidence)
        view_box.setLayout(vform)

        # Classes
        self.legend = ClassLegend()
        classes_box = QGroupBox("Classes")
        cl = QVBoxLayout()
        cl.addWidget(self.legend)
        classes_box.setLayout(cl)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(model_box)
        layout.addWidget(view_box)
        layout.addWidget(classes_box, 1)

        self.device.activated.connect(self._device_picked)
        self.precision.activated.connect(self._device_picked)
        self.runtime.activated.connect(self._device_picked)
        self.mode.currentIndexChanged.connect(lambda _: self.viewChanged.emit())
        self.opacity.valueChanged.connect(self._opacity_moved)
        self.legend.visibilityChanged.connect(lambda _: self.viewChanged.emit())
        self.confidence.toggled.connect(self.confidenceToggled.emit)

    # --- state -------------------------------------------------------------------------------------

    def show_model(
        self, description: dict[str, Any], class_names: list[str], palette, device_label: str
    ) -> None:
        self.summary.setText(describe_html(description) + f"<br>running on {device_label}")
        iou = ((description.get("train") or {}).get("metrics") or {}).get("per_class_iou") or {}
        self.legend.set_classes(class_names, palette, iou)

    def device_key(self) -> str:
        return str(self.device.currentData())

    def precision_key(self) -> str:
        return str(self.precision.currentData())

    def runtime_key(self) -> str:
        return str(self.runtime.currentData())

    def set_device_key(self, key: str, precision: str, runtime: str = "auto") -> None:
        i = self.device.findData(key)
        self.device.setCurrentIndex(i if i >= 0 else 0)
        j = self.precision.findData(precision)
        self.precision.setCurrentIndex(j if j >= 0 else 0)
        k = self.runtime.findData(runtime)
        self.runtime.setCurrentIndex(k if k >= 0 else 0)

    def mode_key(self) -> str:
        return str(self.mode.currentData())

    def set_mode_key(self, key: str) -> None:
        i = self.mode.findData(key)
        if i >= 0:
            self.mode.setCurrentIndex(i)

    def alpha(self) -> float:
        return self.opacity.value() / 100.0

    def _opacity_moved(self, v: int) -> None:
        self.opacity_label.setText(f"{v} %")
        self.viewChanged.emit()

    def _device_picked(self, _index: int) -> None:
        self.deviceChanged.emit(self.device_key(), self.precision_key(), self.runtime_key())
