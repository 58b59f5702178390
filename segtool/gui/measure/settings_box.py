"""The Measure dock's fragment settings: the CLI's --min-size, --include-border and --min-distance as
three compact rows. It only edits a FragmentSettings; the hub re-measures and passes the same settings
to the report. Kept in the user's settings file (the window's AppSettings, passed in: this package does
not import segtool.gui.settings)."""

from __future__ import annotations

import dataclasses

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QCheckBox, QFormLayout, QGroupBox, QSpinBox, QWidget

from segtool.base.errors import UserInputError
from segtool.core.fragments.analyse import FragmentSettings

KEYS = {
    "min_size_px": ("measure/min_size_px", int),
    "include_border": ("measure/include_border", bool),
    "min_distance": ("measure/min_distance", int),
}
DISTANCE_WITH_EDGES = (
    "This model has an edge class: touching rocks are split along its edges, "
    "so the split distance is not used."
)
DISTANCE_TIP = (
    "Splitting by distance transform (models without an edge class): seeds closer than this "
    "are merged — larger merges more, smaller cuts more (CLI --min-distance)."
)


class SettingsBox(QGroupBox):
    """`changed` is emitted when the user changes a setting (not when they are set from code)."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Settings", parent)
        form = QFormLayout(self)
        form.setContentsMargins(6, 4, 6, 4)
        self.min_size = QSpinBox()
        self.min_size.setRange(0, 10_000_000)
        self.min_size.setSuffix(" px")
        self.min_size.setToolTip(
            "Pieces with a smaller area (in pixels of the frame) are fines: outlined grey, "
            "counted apart, not in the distribution; 0 keeps all (CLI --min-size)"
        )
        self.border = QCheckBox("count fragments cut by the border")
        self.border.setToolTip(
            "Their sizes are lower bounds (part is outside the picture), so by default they are "
            "left out of the distribution (CLI --include-border)"
        )
        self.distance = QSpinBox()
        self.distance.setRange(1, 1000)
        self.distance.setSuffix(" px")
        self.distance.setToolTip(DISTANCE_TIP)
        for box in (self.min_size, self.distance):
            box.setKeyboardTracking(False)  # one re-measure when the number is entered, not per digit
            box.valueChanged.connect(lambda _v: self.changed.emit())
        self.border.toggled.connect(lambda _v: self.changed.emit())
        form.addRow("Fines under:", self.min_size)
        form.addRow("Border:", self.border)
        form.addRow("Split distance:", self.distance)
        self.set_settings(FragmentSettings())

    def settings(self, base: FragmentSettings) -> FragmentSettings:
        """`base` with the values shown here."""
        return dataclasses.replace(
            base,
            min_size_px=self.min_size.value(),
            include_border=self.border.isChecked(),
            min_distance=self.distance.value(),
        )

    def set_settings(self, s: FragmentSettings) -> None:
        for w in (self.min_size, self.border, self.distance):
            w.blockSignals(True)
        self.min_size.setValue(s.min_size_px)
        self.border.setChecked(s.include_border)
        self.distance.setValue(s.min_distance)
        for w in (self.min_size, self.border, self.distance):
            w.blockSignals(False)

    def set_edges(self, has_edge: bool) -> None:
        """A model with an edge class splits along its edges: the distance is not used, and says why."""
        self.distance.setEnabled(not has_edge)
        self.distance.setToolTip(DISTANCE_WITH_EDGES if has_edge else DISTANCE_TIP)


def load_settings(store, base: FragmentSettings | None = None) -> FragmentSettings:
    """The settings kept in `store` (an AppSettings; None: `base`, default FragmentSettings()); a value
    out of range gives `base`, since a hand-edited settings file must not stop the panel."""
    base = base if base is not None else FragmentSettings()
    if store is None:
        return base
    values = {f: store.get(key, getattr(base, f), kind) for f, (key, kind) in KEYS.items()}
    s = dataclasses.replace(base, **values)
    try:
        return s.validate()
    except UserInputError:  # a hand-edited value out of range: the defaults
        return base


def save_settings(store, s: FragmentSettings) -> None:
    if store is not None:
        for f, (key, _kind) in KEYS.items():
            store.set(key, getattr(s, f))
