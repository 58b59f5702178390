"""The label layer on the picture: the labels drawn over the frame with their own opacity, and the mouse
and keys of label mode (brush, eraser, polygon, region fill, fragment outline) in image pixels.

It sits on the viewer's `ImageCanvas` as one more pixmap item above the picture, so zoom and pan act on
both alike; mouse positions are mapped to scene coordinates, which are image pixels at any zoom.
In label mode the left button paints, the middle button (or Shift+left) pans, the wheel zooms and
Ctrl+wheel (or [ and ]) changes the brush size.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PySide6.QtCore import QEvent, QObject, QPointF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QPainterPath, QPen, QPixmap
from PySide6.QtWidgets import QGraphicsEllipseItem, QGraphicsPathItem, QGraphicsPixmapItem, QGraphicsView

from segtool.core.label_edit import UNKNOWN
from segtool.gui.canvas import to_qimage

TOOLS = {
    "brush": ("Brush", "B"),
    "eraser": ("Eraser (paints unknown)", "E"),
    "polygon": ("Polygon fill", "P"),
    "region": ("Region fill (superpixels)", "R"),
    "outline": ("Outline a fragment", "O"),
    "grabcut": ("GrabCut: a box, then strokes", "G"),
    "scissors": ("Intelligent scissors", "I"),
    "fragment": ("Click a fragment (fragment model)", "C"),
    "sam": ("SAM click (your ONNX files; optional)", "A"),
}


def label_rgba(
    mask: np.ndarray, palette: np.ndarray, opacity: float, instances: np.ndarray | None = None
) -> np.ndarray:
    """H x W x 4 uint8: class colours at `opacity`, unknown pixels fully transparent, the edges of painted
    areas light grey and fragment outlines (where the instance id changes) opaque white."""
    lut = np.zeros((256, 4), np.uint8)
    k = min(len(palette), UNKNOWN)
    lut[:k, :3] = palette[:k]
    lut[:k, 3] = int(round(255 * max(0.0, min(1.0, opacity))))
    out = lut[mask]
    # Edges of what was painted (between classes, and against unknown) in light grey, so a dark class such
    # as a black background stays visible; fragment outlines (instance changes) in opaque white.
    edge = np.zeros(mask.shape, bool)
    edge[:, 1:] |= mask[:, 1:] != mask[:, :-1]
    edge[1:, :] |= mask[1:, :] != mask[:-1, :]
    out[edge] = (220, 220, 220, 220)
    if instances is not None and instances.any():
        ie = np.zeros(mask.shape, bool)
        ie[:, 1:] |= instances[:, 1:] != instances[:, :-1]
        ie[1:, :] |= instances[1:, :] != instances[:-1, :]
        out[ie] = (255, 255, 255, 255)
    return out


class LabelLayer(QObject):
    """Label drawing and label-mode input on an `ImageCanvas`.

    Signals:
        pressed(x, y, button): left press in image pixels (tools start here).
        moved(x, y): the mouse moved with the left button down.
        released(x, y): left release.
        doubleClicked(x, y): closes a polygon / outline.
        hover(x, y): the pointer moved (brush cursor, status).
        key(int): a label-mode key the window would otherwise take (digits, [ ], Enter, Esc, tool letters).
        brushWheel(int): Ctrl+wheel steps.
    """

    pressed = Signal(float, float)
    moved = Signal(float, float)
    released = Signal(float, float)
    doubleClicked = Signal(float, float)
    hover = Signal(float, float)
    key = Signal(int)
    brushWheel = Signal(int)

    KEYS = {
        Qt.Key.Key_BracketLeft,
        Qt.Key.Key_BracketRight,
        Qt.Key.Key_Return,
        Qt.Key.Key_Enter,
        Qt.Key.Key_Escape,
        Qt.Key.Key_B,
        Qt.Key.Key_E,
        Qt.Key.Key_P,
        Qt.Key.Key_R,
        Qt.Key.Key_O,
        Qt.Key.Key_G,
        Qt.Key.Key_I,
        Qt.Key.Key_C,
        Qt.Key.Key_A,
        *(getattr(Qt.Key, f"Key_{d}") for d in range(10)),
    }

    def __init__(self, canvas: QGraphicsView) -> None:
        super().__init__(canvas)
        self.canvas = canvas
        self.item = QGraphicsPixmapItem()
        self.item.setZValue(1)
        canvas.scene().addItem(self.item)
        self.cursor = QGraphicsEllipseItem()
        self.cursor.setPen(QPen(QColor(255, 255, 255), 0))
        self.cursor.setZValue(3)
        self.cursor.hide()
        canvas.scene().addItem(self.cursor)
        self.path = QGraphicsPathItem()
        self.path.setPen(QPen(QColor(255, 230, 0), 0))
        self.path.setBrush(QBrush(QColor(255, 230, 0, 40)))
        self.path.setZValue(2)
        canvas.scene().addItem(self.path)
        self.active = False
        self._panning: QPointF | None = None
        self._drag_mode = canvas.dragMode()
        self.accepts_key: Callable[[int], bool] = lambda k: True

    # --- drawing ---------------------------------------------------------------------------------

    def show_labels(
        self,
        mask: np.ndarray | None,
        palette: np.ndarray | None,
        opacity: float,
        instances: np.ndarray | None = None,
    ) -> None:
        if mask is None or palette is None or not self.active:
            self.item.setPixmap(QPixmap())
            return
        self.item.setPixmap(QPixmap.fromImage(to_qimage(label_rgba(mask, palette, opacity, instances))))

    def show_cursor(self, x: float, y: float, radius: float | None) -> None:
        if radius is None or not self.active:
            self.cursor.hide()
            return
        self.cursor.setRect(x - radius, y - radius, 2 * radius, 2 * radius)
        self.cursor.show()

    def show_path(self, points: list[tuple[float, float]], closed: bool = False) -> None:
        p = QPainterPath()
        if points:
            p.moveTo(*points[0])
            for pt in points[1:]:
                p.lineTo(*pt)
            if closed:
                p.closeSubpath()
        self.path.setPath(p)

    # --- mode ------------------------------------------------------------------------------------

    def set_active(self, on: bool) -> None:
        if on == self.active:
            return
        self.active = on
        vp = self.canvas.viewport()
        if on:
            self._drag_mode = self.canvas.dragMode()
            self.canvas.setDragMode(QGraphicsView.DragMode.NoDrag)
            vp.installEventFilter(self)
            self.canvas.installEventFilter(self)
            vp.setMouseTracking(True)
            vp.setCursor(Qt.CursorShape.CrossCursor)
        else:
            self.canvas.setDragMode(self._drag_mode)
            vp.removeEventFilter(self)
            self.canvas.removeEventFilter(self)
            vp.unsetCursor()
            self.item.setPixmap(QPixmap())
            self.cursor.hide()
            self.show_path([])

    def _scene(self, event) -> QPointF:
        return self.canvas.mapToScene(event.position().toPoint())

    def eventFilter(self, obj, event) -> bool:  # noqa: N802 (Qt naming)
        t = event.type()
        if obj is self.canvas:
            if (
                t == QEvent.Type.ShortcutOverride
                and event.key() in self.KEYS
                and self.accepts_key(event.key())
            ):
                event.accept()  # the key goes to the canvas as a key press, not to a window shortcut
                return True
            if t == QEvent.Type.KeyPress and event.key() in self.KEYS and self.accepts_key(event.key()):
                self.key.emit(int(event.key()))
                return True
            return False
        if t == QEvent.Type.MouseButtonPress:
            pan = event.button() == Qt.MouseButton.MiddleButton or (
                event.button() == Qt.MouseButton.LeftButton
                and event.modifiers() & Qt.KeyboardModifier.ShiftModifier
            )
            if pan:
                self._panning = event.position()
                return True
            if event.button() == Qt.MouseButton.LeftButton:
                self.canvas.setFocus()
                p = self._scene(event)
                self.pressed.emit(p.x(), p.y())
                return True
        elif t == QEvent.Type.MouseMove:
            if self._panning is not None:
                d = event.position() - self._panning
                self._panning = event.position()
                self.canvas.horizontalScrollBar().setValue(
                    self.canvas.horizontalScrollBar().value() - int(d.x())
                )
                self.canvas.verticalScrollBar().setValue(self.canvas.verticalScrollBar().value() - int(d.y()))
                return True
            p = self._scene(event)
            self.hover.emit(p.x(), p.y())
            if event.buttons() & Qt.MouseButton.LeftButton:
                self.moved.emit(p.x(), p.y())
            return True
        elif t == QEvent.Type.MouseButtonRelease:
            if self._panning is not None:
                self._panning = None
                return True
            if event.button() == Qt.MouseButton.LeftButton:
                p = self._scene(event)
                self.released.emit(p.x(), p.y())
                return True
        elif t == QEvent.Type.MouseButtonDblClick and event.button() == Qt.MouseButton.LeftButton:
            p = self._scene(event)
            self.doubleClicked.emit(p.x(), p.y())
            return True  # no fit-to-window while labelling
        elif t == QEvent.Type.Wheel and event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            steps = event.angleDelta().y() / 120.0
            if steps:
                self.brushWheel.emit(1 if steps > 0 else -1)
            return True
        return False
