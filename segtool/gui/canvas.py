"""The picture area: shows a numpy RGB image with zoom (wheel), pan (drag) and fit-to-window."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPixmap
from PySide6.QtWidgets import QGraphicsPixmapItem, QGraphicsScene, QGraphicsView, QWidget


def to_qimage(rgb: np.ndarray) -> QImage:
    """Copy an H x W x 3 uint8 RGB (or H x W x 4 RGBA: overlay layers) array into a QImage that owns its
    pixels (never a view of numpy memory, which another thread or the garbage collector could change
    under it)."""
    rgb = np.ascontiguousarray(rgb, np.uint8)
    h, w, c = rgb.shape
    fmt = QImage.Format.Format_RGBA8888 if c == 4 else QImage.Format.Format_RGB888
    return QImage(rgb.data, w, h, c * w, fmt).copy()


def qimage_to_array(img: QImage) -> np.ndarray:
    """H x W x 3 uint8 RGB copy of a QImage (tests and screenshots)."""
    img = img.convertToFormat(QImage.Format.Format_RGB888)
    w, h, bpl = img.width(), img.height(), img.bytesPerLine()
    buf = np.frombuffer(img.constBits(), np.uint8, count=bpl * h).reshape(h, bpl)
    return buf[:, : 3 * w].reshape(h, w, 3).copy()


class ImageCanvas(QGraphicsView):
    """Zoomable, pannable image view.

    Wheel zooms around the mouse, dragging pans, double-click (or `fit()`) fits the picture to the
    window. While in fit mode the picture follows window resizes and size changes of the source.
    """

    zoomChanged = Signal(float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._scene = QGraphicsScene(self)
        self._item = QGraphicsPixmapItem()
        self._item.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        self._scene.addItem(self._item)
        self.setScene(self._scene)
        self.setBackgroundBrush(QColor(38, 38, 40))
        self.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.setFrameShape(QGraphicsView.Shape.NoFrame)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self._fit = True
        self._image: QImage | None = None
        self.placeholder = ""

    # --- content -----------------------------------------------------------------------------------

    def set_image(self, rgb: np.ndarray) -> None:
        """Show `rgb` (copied). Keeps the zoom and pan unless in fit mode."""
        img = to_qimage(rgb)
        resized = self._image is None or self._image.size() != img.size()
        self._image = img
        self._item.setPixmap(QPixmap.fromImage(img))
        if resized:
            self._scene.setSceneRect(QRectF(0, 0, img.width(), img.height()))
        if resized or self._fit:
            self._apply_fit()
        self.viewport().update()

    def clear(self) -> None:
        self._image = None
        self._item.setPixmap(QPixmap())
        self.viewport().update()

    def image(self) -> QImage | None:
        """The picture currently shown, at its own resolution."""
        return self._image

    # --- zoom --------------------------------------------------------------------------------------

    def fit(self) -> None:
        self._fit = True
        self._apply_fit()

    def zoom_100(self) -> None:
        self._fit = False
        self.resetTransform()
        self.zoomChanged.emit(1.0)

    def zoom_by(self, factor: float) -> None:
        z = self.zoom() * factor
        if 0.05 <= z <= 40:
            self._fit = False
            self.scale(factor, factor)
            self.zoomChanged.emit(self.zoom())

    def zoom(self) -> float:
        return float(self.transform().m11())

    def _apply_fit(self) -> None:
        if self._image is None:
            return
        self.fitInView(self._item, Qt.AspectRatioMode.KeepAspectRatio)
        self.zoomChanged.emit(self.zoom())

    # --- events ------------------------------------------------------------------------------------

    def wheelEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        steps = event.angleDelta().y() / 120.0
        if steps:
            self.zoom_by(1.25**steps)

    def mouseDoubleClickEvent(self, event) -> None:  # noqa: N802
        self.fit()

    def resizeEvent(self, event) -> None:  # noqa: N802
        super().resizeEvent(event)
        if self._fit:
            self._apply_fit()

    def drawForeground(self, painter: QPainter, rect) -> None:  # noqa: N802
        if self._image is None and self.placeholder:
            # Drawn in viewport coordinates so the help text stays centred and unscaled.
            painter.save()
            painter.resetTransform()
            painter.setPen(QColor(200, 200, 200))
            f = painter.font()
            f.setPointSizeF(f.pointSizeF() * 1.2)
            painter.setFont(f)
            r = self.viewport().rect().adjusted(40, 40, -40, -40)
            painter.drawText(r, Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self.placeholder)
            painter.restore()
