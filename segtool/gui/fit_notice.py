"""The side panel's line on how sure the model is on the footage shown (`segtool.core.confidence`)."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QLabel, QWidget

from segtool.core.confidence import ConfidenceMeter


class FitNotice(QLabel):
    """Mean model confidence on the current footage beside the model's own (from its validation images);
    amber with advice when it is low."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.meter = ConfidenceMeter()
        self.setWordWrap(True)
        self.hide()

    def reset(self) -> None:
        """A new source: forget the frames seen (the model's reference stays)."""
        self.meter.reset()
        self.hide()

    def set_reference(self, reference: dict[str, Any] | None) -> None:
        """A new model: its checkpoint's `confidence_reference` (None: the generic threshold)."""
        self.meter.set_reference(reference)
        self.hide()

    def add(self, confidence, num_classes: int) -> None:
        self.meter.add(confidence, num_classes)
        text = self.meter.text()
        self.setStyleSheet(
            "QLabel { background: #fff4d6; color: #3a2c00; border: 1px solid #e0b84a; padding: 4px; }"
            if self.meter.unsure
            else "QLabel { color: palette(mid); }"
        )
        self.setText(text)
        self.setVisible(bool(text))
