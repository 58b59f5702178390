"""The label-mode panel: label set, tools, class, brush size, label opacity, and the actions of the loop
(start from the prediction, save, suggest frames, train on my labels)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QDoubleSpinBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSlider,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from segtool.gui.labeling.layer import TOOLS
from segtool.gui.legend import color_icon


class LabelPanel(QWidget):
    """Controls of label mode (the LabelHub wires them).

    Signals:
        toolChanged(str), classChanged(int), opacityChanged(float), brushChanged(int).
    """

    toolChanged = Signal(str)
    classChanged = Signal(int)
    opacityChanged = Signal(float)
    brushChanged = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.set_label = QLabel(
            "No label set. <i>New…</i> makes one (a folder <code>segtool train</code> reads)."
        )
        self.set_label.setWordWrap(True)
        self.new_btn = QPushButton("New…")
        self.open_btn = QPushButton("Open…")
        self.new_btn.setToolTip("Create a label-set folder for the frames you label (classes from the model)")
        self.open_btn.setToolTip("Continue labelling in an existing label-set folder")
        row = QHBoxLayout()
        row.addWidget(self.new_btn)
        row.addWidget(self.open_btn)
        set_box = QGroupBox("Label set")
        sl = QVBoxLayout(set_box)
        sl.addWidget(self.set_label)
        sl.addLayout(row)

        tools_box = QGroupBox("Tool")
        grid = QGridLayout(tools_box)
        self.tool_group = QButtonGroup(self)
        self.tool_buttons: dict[str, QToolButton] = {}
        for i, (key, (label, shortcut)) in enumerate(TOOLS.items()):
            b = QToolButton(text=f"{label}  ({shortcut})")
            b.setCheckable(True)
            b.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
            b.setSizePolicy(b.sizePolicy().horizontalPolicy().Expanding, b.sizePolicy().verticalPolicy())
            self.tool_group.addButton(b, i)
            self.tool_buttons[key] = b
            b.clicked.connect(lambda _=False, k=key: self.toolChanged.emit(k))
            grid.addWidget(b, i, 0)
        self.tool_buttons["brush"].setChecked(True)
        self.brush = QSpinBox(minimum=1, maximum=400, value=12, suffix=" px")
        self.brush.setToolTip("Brush radius in image pixels: [ and ], or Ctrl+wheel")
        self.brush.valueChanged.connect(self.brushChanged.emit)
        self.superpixel_size = QSpinBox(minimum=4, maximum=200, value=24, suffix=" px")
        self.superpixel_size.setToolTip("Typical size of the regions the region fill paints")
        form = QFormLayout()
        form.addRow("Brush radius", self.brush)
        form.addRow("Region size", self.superpixel_size)
        grid.addLayout(form, len(TOOLS), 0)
        help_ = QLabel(
            "Left: paint · Shift/middle drag: pan · wheel: zoom · polygon/outline: click points, "
            "double-click or Enter closes, Esc cancels"
        )
        help_.setWordWrap(True)
        help_.setStyleSheet("color: gray")
        grid.addWidget(help_, len(TOOLS) + 1, 0)

        cls_box = QGroupBox("Class (number keys)")
        cl = QVBoxLayout(cls_box)
        self.classes = QListWidget()
        self.classes.setMaximumHeight(140)
        self.classes.currentRowChanged.connect(self._row_changed)
        cl.addWidget(self.classes)
        self.class_note = QLabel("")
        self.class_note.setWordWrap(True)
        self.class_note.setStyleSheet("color: gray")
        self.class_note.hide()
        cl.addWidget(self.class_note)

        view_box = QGroupBox("Labels")
        vf = QFormLayout(view_box)
        self.opacity = QSlider(Qt.Orientation.Horizontal, minimum=0, maximum=100, value=60)
        self.opacity.valueChanged.connect(lambda v: self.opacityChanged.emit(v / 100.0))
        vf.addRow("Opacity", self.opacity)
        self.show_prediction = QCheckBox("Show the model's mask under the labels")
        vf.addRow(self.show_prediction)
        self.autosave = QCheckBox("Save automatically on frame change")
        self.autosave.setChecked(True)
        vf.addRow(self.autosave)
        self.threshold = QDoubleSpinBox(minimum=0.0, maximum=0.99, singleStep=0.05, value=0.0, decimals=2)
        self.threshold.setToolTip(
            "Start from the prediction: pixels where the model's confidence is below this stay unknown"
        )
        self.from_pred_btn = QPushButton("Start from the prediction")
        self.from_pred_btn.setToolTip("Fill this frame with the model's mask, to correct it")
        r2 = QHBoxLayout()
        r2.addWidget(self.from_pred_btn, 1)
        r2.addWidget(QLabel("above"))
        r2.addWidget(self.threshold)
        vf.addRow(r2)
        self.undo_btn = QPushButton("Undo")
        self.redo_btn = QPushButton("Redo")
        self.save_btn = QPushButton("Save frame")
        r3 = QHBoxLayout()
        for b in (self.undo_btn, self.redo_btn, self.save_btn):
            r3.addWidget(b)
        vf.addRow(r3)
        self.state = QLabel("")
        self.state.setWordWrap(True)
        vf.addRow(self.state)

        loop_box = QGroupBox("Teach the model")
        ll = QVBoxLayout(loop_box)
        self.suggest_btn = QPushButton("Suggest frames to label…")
        self.suggest_btn.setToolTip("Rank the frames of the video by how unsure the model is")
        self.train_btn = QPushButton("Train on my labels…")
        self.train_btn.setToolTip(
            "Open the training wizard with this label set, starting from the model in the viewer"
        )
        ll.addWidget(self.suggest_btn)
        ll.addWidget(self.train_btn)

        lay = QVBoxLayout(self)
        for w in (set_box, tools_box, cls_box, view_box, loop_box):
            lay.addWidget(w)
        lay.addStretch(1)

    def set_classes(
        self, names: Sequence[str], palette: np.ndarray, ids: Sequence[int] | None = None, note: str = ""
    ) -> None:
        """List the classes `ids` (all by default) of `names`; the number keys pick rows in this order.
        `note` says why a class is not listed (a fragment model's edge class)."""
        ids = list(range(len(names))) if ids is None else list(ids)
        self.classes.blockSignals(True)
        self.classes.clear()
        for row, i in enumerate(ids):
            key = f"{row + 1}  " if row < 9 else ("0  " if row == 9 else "")
            item = QListWidgetItem(color_icon(palette[i]), f"{key}{names[i]}")
            item.setData(Qt.ItemDataRole.UserRole, i)
            self.classes.addItem(item)
        self.classes.blockSignals(False)
        self.class_note.setText(note)
        self.class_note.setVisible(bool(note))
        if ids:
            self.classes.setCurrentRow(min(1, len(ids) - 1))  # row 1: usually the object, not background

    def class_ids(self) -> list[int]:
        """The class id of each row of the class list."""
        return [int(self.classes.item(r).data(Qt.ItemDataRole.UserRole)) for r in range(self.classes.count())]

    def _row_changed(self, row: int) -> None:
        if row >= 0:
            self.classChanged.emit(int(self.classes.item(row).data(Qt.ItemDataRole.UserRole)))

    def set_tool(self, key: str) -> None:
        self.tool_buttons[key].setChecked(True)
