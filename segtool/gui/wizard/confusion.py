"""Confusion matrix heatmap with class names: a widget for the Results page and a PNG for the report.

Rows are the label (what the pixel is), columns the prediction; each row is normalised to 100 % so
that a rare class is as readable as a common one, and the cell shows that percentage.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QImage, QPainter
from PySide6.QtWidgets import QSizePolicy, QWidget


def row_normalised(matrix: list[list[int]] | np.ndarray) -> np.ndarray:
    """Each row divided by its sum (rows without pixels stay 0)."""
    m = np.asarray(matrix, np.float64)
    sums = m.sum(axis=1, keepdims=True)
    return np.divide(m, sums, out=np.zeros_like(m), where=sums > 0)


def _cell_color(v: float) -> QColor:
    """White → dark blue."""
    v = float(min(1.0, max(0.0, v)))
    return QColor(int(255 - 222 * v), int(255 - 175 * v), int(255 - 100 * v))


def paint_confusion(p: QPainter, rect: QRectF, matrix, names: list[str], title: str = "") -> None:
    """Draw the heatmap into `rect` (shared by the widget and the PNG export)."""
    p.fillRect(rect, QColor("white"))
    norm = row_normalised(matrix)
    n = len(names)
    if n == 0:
        return
    font = QFont(p.font())
    fm = QFontMetrics(font)
    label_w = max(fm.horizontalAdvance(s) for s in names) + 12
    top = rect.top() + (fm.height() * 2 + 8 if title else 0) + fm.height() + 6
    left = rect.left() + label_w + fm.height() + 4
    size = max(4.0, min((rect.right() - left - 4) / n, (rect.bottom() - top - label_w - 4) / n))
    p.setPen(QColor("black"))
    if title:
        p.drawText(
            QRectF(rect.left(), rect.top(), rect.width(), fm.height() + 4),
            Qt.AlignmentFlag.AlignCenter,
            title,
        )
    p.drawText(
        QRectF(left, top - fm.height() - 4, size * n, fm.height()),
        Qt.AlignmentFlag.AlignCenter,
        "predicted as →",
    )
    p.save()
    p.translate(rect.left() + fm.height(), top + size * n / 2)
    p.rotate(-90)
    p.drawText(
        QRectF(-size * n / 2, -fm.height(), size * n, fm.height()),
        Qt.AlignmentFlag.AlignCenter,
        "labelled as →",
    )
    p.restore()
    for i in range(n):
        y = top + i * size
        p.drawText(
            QRectF(left - label_w, y, label_w - 6, size),
            Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
            names[i],
        )
        for j in range(n):
            v = norm[i, j]
            cell = QRectF(left + j * size, y, size, size)
            p.fillRect(cell, _cell_color(v))
            if size >= fm.horizontalAdvance("100%") + 4:
                p.setPen(QColor("white") if v > 0.5 else QColor("black"))
                p.drawText(cell, Qt.AlignmentFlag.AlignCenter, f"{100 * v:.0f}%")
                p.setPen(QColor("black"))
    p.setPen(QColor(120, 120, 120))
    p.drawRect(QRectF(left, top, size * n, size * n))
    p.setPen(QColor("black"))
    for j in range(n):  # column names, rotated under the matrix
        p.save()
        p.translate(left + (j + 0.5) * size, top + n * size + 4)
        p.rotate(-90)
        p.drawText(
            QRectF(-label_w, -fm.height() / 2, label_w - 2, fm.height()),
            Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
            names[j],
        )
        p.restore()


class ConfusionHeatmap(QWidget):
    """Shows a report's confusion matrix; `set_report(report)`."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.matrix: list[list[int]] = []
        self.names: list[str] = []
        self.setMinimumSize(260, 260)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def set_report(self, report: dict) -> None:
        self.matrix = report.get("confusion_matrix") or []
        self.names = list(report.get("classes") or [])
        self.update()

    def sizeHint(self) -> QSize:  # noqa: N802
        return QSize(360, 360)

    def paintEvent(self, event) -> None:  # noqa: N802
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        paint_confusion(p, QRectF(self.rect()), self.matrix, self.names)
        p.end()


def save_confusion_png(report: dict, path: str | Path, size: int = 900) -> Path:
    """Write the heatmap of `report` as a PNG (for "Export report")."""
    names = list(report.get("classes") or [])
    img = QImage(size, size, QImage.Format.Format_RGB32)
    img.fill(QColor("white"))
    p = QPainter(img)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    miou = report.get("miou")
    title = "Confusion matrix (rows: label, % of the row)" + (
        f" — mIoU {miou:.3f}" if miou is not None else ""
    )
    paint_confusion(
        p, QRectF(10, 10, size - 20, size - 20), report.get("confusion_matrix") or [], names, title
    )
    p.end()
    path = Path(path)
    if not img.save(str(path)):
        raise OSError(f"cannot write {path}")
    return path
