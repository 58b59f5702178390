"""The side panel's line on how sure the model is on the footage shown (`segtool.core.confidence`)."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QWidget

from segtool.core.confidence import LOW, ConfidenceMeter


class FitNotice(QLabel):
    """Mean model confidence on the current footage; amber with advice when it is low."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.meter = ConfidenceMeter()
        self.setWordWrap(True)
        self.hide()

    def reset(self) -> None:
        self.meter.reset()
        self.hide()

    def add(self, confidence, num_classes: int) -> None:
        self.meter.add(confidence, num_classes)
        text = self.meter.text()
        low = self.meter.value is not None and self.meter.value < LOW
        self.setStyleSheet(
            "QLabel { background: #fff4d6; color: #3a2c00; border: 1px solid #e0b84a; padding: 4px; }"
            if low
            else "QLabel { color: palette(mid); }"
        )
        self.setText(text)
        self.setVisible(bool(text))
