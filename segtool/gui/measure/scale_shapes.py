"""The scale tool's shapes and size dialogs: a line, a box (corner to corner) or a circle (centre to
rim) on the picture, and the known size the user types for it (kept out of scale_tool.py, which holds
the scale in force and where it is saved)."""

from __future__ import annotations

import math

from PySide6.QtCore import QLineF, QRectF, Qt
from PySide6.QtGui import QColor, QPen
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QGraphicsEllipseItem,
    QGraphicsLineItem,
    QGraphicsRectItem,
    QGraphicsScene,
    QInputDialog,
    QLabel,
    QWidget,
)

from segtool.core.fragments.scale import Scale, from_box, from_circle, from_line

KINDS = ("line", "box", "circle")
HINTS = {
    "line": "Drag a line along something of known length",
    "box": "Drag a box around a scale object, corner to corner",
    "circle": "Drag from the centre of a round scale object to its rim",
}

Point = tuple[float, float]


def shape_rect(kind: str, p0: Point, p1: Point) -> QRectF:
    """The rectangle a box (corners p0, p1) or a circle (centre p0, rim point p1) fills."""
    if kind == "circle":
        r = math.dist(p0, p1)
        return QRectF(p0[0] - r, p0[1] - r, 2 * r, 2 * r)
    return QRectF(min(p0[0], p1[0]), min(p0[1], p1[1]), abs(p1[0] - p0[0]), abs(p1[1] - p0[1]))


class Shape:
    """One line, box or circle on the canvas (only the item of the current kind is shown); the pen is
    cosmetic, so it keeps its width at any zoom."""

    def __init__(self, scene: QGraphicsScene, color: QColor, dashed: bool = False) -> None:
        pen = QPen(color, 2)
        pen.setCosmetic(True)
        if dashed:
            pen.setStyle(Qt.PenStyle.DashLine)
        self.items = {
            "line": QGraphicsLineItem(),
            "box": QGraphicsRectItem(),
            "circle": QGraphicsEllipseItem(),
        }
        for item in self.items.values():
            item.setPen(pen)
            item.setZValue(4)
            item.hide()
            scene.addItem(item)
        self.kind: str | None = None  # the kind shown, None when hidden

    def show(self, kind: str, p0: Point, p1: Point, tooltip: str = "") -> None:
        self.hide()
        item = self.items[kind]
        if kind == "line":
            item.setLine(QLineF(*p0, *p1))
        else:
            item.setRect(shape_rect(kind, p0, p1))
        item.setToolTip(tooltip)
        item.show()
        self.kind = kind

    def hide(self) -> None:
        for item in self.items.values():
            item.hide()
        self.kind = None


def reference_text(sc: Scale) -> str:
    """What the scale's reference is, in words (tooltip and dock)."""
    if sc.kind == "box" and sc.length_mm:
        h = sc.height_mm if sc.height_mm is not None else sc.length_mm
        return f"box {sc.length_mm:g} × {h:g} mm"
    if sc.kind == "circle" and sc.length_mm:
        return f"circle {sc.length_mm:g} mm across"
    if sc.kind == "line" and sc.length_mm:
        return f"line {sc.length_mm:g} mm"
    return "typed in" if sc.note == "typed in the Measure panel" else "given"


class BoxSizeDialog(QDialog):
    """Width and height of the box's scale object in mm; the height may be left at "same as width"."""

    def __init__(self, parent: QWidget | None, w_px: float, h_px: float) -> None:
        super().__init__(parent)
        self.setWindowTitle("Scale")
        form = QFormLayout(self)
        form.addRow(
            QLabel(f"The box is {w_px:.0f} × {h_px:.0f} px. Real size of the object it is drawn around:")
        )
        self.width = QDoubleSpinBox()
        self.height = QDoubleSpinBox()
        for box in (self.width, self.height):
            box.setRange(0.0, 1e7)
            box.setDecimals(2)
            box.setSuffix(" mm")
        self.width.setMinimum(0.001)
        self.width.setValue(100.0)
        self.height.setSpecialValueText("same as width")  # shown at the minimum, 0
        self.height.setValue(0.0)
        self.height.setToolTip("Leave at 'same as width' for a square object")
        form.addRow("Width (left–right):", self.width)
        form.addRow("Height (top–bottom):", self.height)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def sizes(self) -> tuple[float, float | None]:
        h = self.height.value()
        return self.width.value(), (h if h > 0 else None)


def ask_scale(parent: QWidget, kind: str, p0: Point, p1: Point) -> Scale | None:
    """Ask the known size of the drawn shape and make the scale (None: cancelled). A shape too small to
    measure raises the core's UserInputError before anything is asked."""
    {"line": from_line, "box": from_box, "circle": from_circle}[kind](p0, p1, 1.0)  # the shape's own checks
    if kind == "box":
        dlg = BoxSizeDialog(parent, abs(p1[0] - p0[0]), abs(p1[1] - p0[1]))
        if dlg.exec() != QDialog.DialogCode.Accepted:
            return None
        return from_box(p0, p1, *dlg.sizes())
    if kind == "circle":
        d_px = 2 * math.dist(p0, p1)
        mm, ok = QInputDialog.getDouble(
            parent, "Scale", f"Diameter of the round object ({d_px:.1f} px) in mm:", 100.0, 0.001, 1e7, 2
        )
        return from_circle(p0, p1, mm) if ok else None
    px = math.dist(p0, p1)
    mm, ok = QInputDialog.getDouble(
        parent, "Scale", f"Length of the line ({px:.1f} px) in mm:", 100.0, 0.001, 1e7, 2
    )
    return from_line(p0, p1, mm) if ok else None
