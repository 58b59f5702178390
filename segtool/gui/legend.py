"""The class legend: one row per class with a visibility check box, its colour, its share of the
current frame and its validation IoU from training."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QIcon, QPixmap
from PySide6.QtWidgets import QHeaderView, QTreeWidget, QTreeWidgetItem, QWidget


def color_icon(rgb: Sequence[int] | None, size: int = 14) -> QIcon:
    """A square swatch of one class colour."""
    pix = QPixmap(size, size)
    pix.fill(QColor(*[int(c) for c in rgb]) if rgb is not None else QColor(0, 0, 0, 0))
    return QIcon(pix)


HIDDEN_BY_DEFAULT = {"background", "_background_", "void", "unlabelled", "unlabeled"}


class ClassLegend(QTreeWidget):
    """Classes of the loaded model. Unticking a class hides it in the view (not in exports).

    Signals:
        visibilityChanged(list[bool]): one flag per class id.
    """

    visibilityChanged = Signal(list)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setColumnCount(3)
        self.setHeaderLabels(["Class", "In frame", "Val IoU"])
        self.setRootIsDecorated(False)
        self.setUniformRowHeights(True)
        self.setAlternatingRowColors(True)
        header = self.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        self.setToolTip(
            "Untick a class to hide its colour in the view. Exported masks contain every class; exported overlays "
            "follow these ticks and the opacity."
        )
        self.itemChanged.connect(self._changed)

    def set_classes(self, names: Sequence[str], palette: np.ndarray, iou: dict | None = None) -> None:
        """Fill the legend. A class keeps its tick from the previous model of the same name; a new class
        named background (or void, unlabelled) starts hidden: coloured black at the saved opacity it would
        darken the whole picture ("Use this model" once showed a nearly black frame)."""
        before = {
            self.topLevelItem(i).text(0): self.topLevelItem(i).checkState(0)
            for i in range(self.topLevelItemCount())
        }
        self.blockSignals(True)
        self.clear()
        for i, name in enumerate(names):
            item = QTreeWidgetItem([name, "–", ""])
            item.setIcon(0, color_icon(palette[i]))
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            default = Qt.CheckState.Unchecked if name.lower() in HIDDEN_BY_DEFAULT else Qt.CheckState.Checked
            item.setCheckState(0, before.get(name, default))
            v = (iou or {}).get(name)
            item.setText(2, f"{v:.3f}" if isinstance(v, float) else "–")
            item.setTextAlignment(1, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            item.setTextAlignment(2, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            item.setToolTip(0, f"class id {i}, colour RGB {tuple(int(c) for c in palette[i])}")
            self.addTopLevelItem(item)
        self.blockSignals(False)

    def set_shares(self, shares: np.ndarray | None) -> None:
        """Show each class's fraction of the current frame (None: unknown)."""
        self.blockSignals(True)  # text changes emit itemChanged, which is for the check boxes only
        for i in range(self.topLevelItemCount()):
            share = None if shares is None or i >= len(shares) else float(shares[i])
            self.topLevelItem(i).setText(1, "–" if share is None else f"{100 * share:.1f} %")
        self.blockSignals(False)

    def visible(self) -> list[bool]:
        return [
            self.topLevelItem(i).checkState(0) == Qt.CheckState.Checked
            for i in range(self.topLevelItemCount())
        ]

    def set_visible(self, index: int, shown: bool) -> None:
        """Tick or untick class `index` (as a click would)."""
        self.topLevelItem(index).setCheckState(0, Qt.CheckState.Checked if shown else Qt.CheckState.Unchecked)

    def _changed(self, item: QTreeWidgetItem, column: int) -> None:
        if column == 0:
            self.visibilityChanged.emit(self.visible())
