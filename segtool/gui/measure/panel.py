"""The Measure dock's widgets: what the frame's fragments measure, the size under the pointer, the
passing curve of the frame with its Rosin–Rammler and Swebrec fits, D50/D80 over time (pyqtgraph), the
tool buttons and the settings. It only shows what the hub gives it; it computes nothing."""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QActionGroup
from PySide6.QtWidgets import (
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QMenu,
    QPushButton,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from segtool.base.errors import UserInputError
from segtool.core.fragments.analyse import FragmentSpec, FrameFragments
from segtool.core.fragments.distribution import Distribution
from segtool.core.fragments.fits import MIN_POINTS, rosin_rammler, swebrec
from segtool.gui.measure.settings_box import SettingsBox

SCALE_KINDS = {
    "line": "Line along a known length",
    "box": "Box around a scale object",
    "circle": "Circle over a round object",
}


def fmt_size(v: float | None, unit: str) -> str:
    """A size as the panel writes it (tests compare with this)."""
    if v is None or not math.isfinite(v):
        return "–"
    return f"{v:.1f} {unit}"


def _wrapping(text: str = "") -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    label.setTextFormat(Qt.TextFormat.PlainText)
    return label


class _SizeAxis(pg.AxisItem):
    """A log size axis labelled 1, 2, 5, 10, 20, 50… (pyqtgraph's default writes 2·10¹ and crowds them)."""

    def logTickStrings(self, values, scale, spacing):  # noqa: N802 (pyqtgraph naming)
        out = []
        for v in values:
            x = 10 ** (v * scale)
            lead = x / 10 ** math.floor(math.log10(x)) if x > 0 else 0
            out.append(f"{x:g}" if any(abs(lead - m) < 1e-6 for m in (1, 2, 5)) else "")
        return out


class _PlotTabs(QTabWidget):
    """The plots' tabs, asking for a modest height: the dock's scroll area sizes the panel to its preferred
    height (the wrapped labels make it height-for-width), and pyqtgraph's 480-px preferred plot made the
    panel taller than the default window. The tabs still take all the room the dock has."""

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt naming)
        return QSize(super().sizeHint().width(), self.minimumSizeHint().height())


class MeasurePanel(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        lay = QVBoxLayout(self)
        self.model_label = _wrapping("No model loaded.")
        self.model_label.setObjectName("measure-model")
        self.summary = _wrapping("")
        self.summary.setObjectName("measure-summary")
        self.scale_label = _wrapping("Scale: none — sizes in pixels.")
        self.hover = _wrapping("Point at a rock to read its size.")
        self.hover.setObjectName("measure-hover")
        for w in (self.model_label, self.summary, self.scale_label):
            lay.addWidget(w)
        row = QHBoxLayout()
        # One button for the three scale shapes: a click draws the chosen one, its arrow chooses.
        self.scale_btn = QToolButton()
        self.scale_btn.setCheckable(True)
        self.scale_btn.setPopupMode(QToolButton.ToolButtonPopupMode.MenuButtonPopup)
        self.scale_btn.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.scale_btn.setToolTip(
            "Draw a reference of known size on the picture, then type its size in mm; "
            "the arrow chooses a line, a box or a circle"
        )
        menu = QMenu(self.scale_btn)
        group = QActionGroup(menu)
        self.kind_actions = {}
        for kind, text in SCALE_KINDS.items():
            a = menu.addAction(text)
            a.setCheckable(True)
            group.addAction(a)
            self.kind_actions[kind] = a
        self.scale_btn.setMenu(menu)
        self.show_kind("line")
        # A known scale typed in (a camera at a fixed height, a scale measured before): no drawing needed.
        self.scale_spin = QDoubleSpinBox()
        self.scale_spin.setObjectName("measure-scale-mm-per-px")
        self.scale_spin.setRange(0.0, 10_000.0)
        self.scale_spin.setDecimals(4)
        self.scale_spin.setSuffix(" mm/px")
        self.scale_spin.setSpecialValueText("type mm/px")  # shown at 0 = no scale
        self.scale_spin.setKeyboardTracking(False)  # applied on Enter or leaving the field, not per digit
        self.scale_spin.setToolTip(
            "Type a known scale in millimetres per pixel and press Enter (saved beside the "
            "picture, like a drawn scale; the CLI's --scale)"
        )
        self.clear_btn = QPushButton("Clear scale")
        self.export_btn = QPushButton("Export report…")
        self.pdf_btn = QPushButton("PDF report")  # enabled once an export is written (gui/measure/report.py)
        self.pdf_btn.setEnabled(False)
        self.pdf_btn.setToolTip(
            "Write report.pdf (curves, places, map, thumbnails) into the last exported report's folder"
        )
        row.addWidget(self.scale_btn)
        row.addWidget(QLabel("or"))
        row.addWidget(self.scale_spin, 1)
        lay.addLayout(row)
        row2 = QHBoxLayout()
        for b in (self.clear_btn, self.export_btn, self.pdf_btn):
            row2.addWidget(b)
        lay.addLayout(row2)
        self.settings_box = SettingsBox()
        lay.addWidget(self.settings_box)
        lay.addWidget(self.hover)

        self.curve_plot = pg.PlotWidget(
            title="Passing (by area), this frame", axisItems={"bottom": _SizeAxis("bottom")}
        )
        self.curve_plot.setLogMode(x=True, y=False)
        self.curve_plot.setYRange(0, 100)
        self.curve_plot.setLabel("left", "% passing")
        self.curve_plot.setMinimumHeight(170)
        self.curve_plot.addLegend(offset=(5, 5), labelTextSize="8pt")
        self.curve = self.curve_plot.plot(
            [], [], pen=pg.mkPen((240, 200, 60), width=2), symbol="o", symbolSize=4, name="measured"
        )
        self.rr_curve = self.curve_plot.plot(
            [], [], pen=pg.mkPen((120, 255, 120), width=1), name="Rosin–Rammler fit"
        )
        self.sw_curve = self.curve_plot.plot(
            [], [], pen=pg.mkPen((230, 140, 255), width=1, style=Qt.PenStyle.DotLine), name="Swebrec fit"
        )
        self.d50_line = pg.InfiniteLine(
            angle=90,
            pen=pg.mkPen((80, 200, 255), style=Qt.PenStyle.DashLine),
            label="D50",
            labelOpts={"position": 0.92, "color": (80, 200, 255)},
        )
        self.d80_line = pg.InfiniteLine(
            angle=90,
            pen=pg.mkPen((255, 110, 80), style=Qt.PenStyle.DashLine),
            label="D80",
            labelOpts={"position": 0.8, "color": (255, 110, 80)},
        )
        for line in (self.d50_line, self.d80_line):
            self.curve_plot.addItem(line)
            line.hide()

        self.time_plot = pg.PlotWidget(title="D50 / D80 over time (frames seen)")
        self.time_plot.setLabel("bottom", "time (s)")
        self.time_plot.addLegend(offset=(5, 5))
        self.time_plot.setMinimumHeight(170)
        self.t50 = self.time_plot.plot([], [], pen=pg.mkPen((80, 200, 255), width=2), name="D50")
        self.t80 = self.time_plot.plot([], [], pen=pg.mkPen((255, 110, 80), width=2), name="D80")
        for plot in (self.curve_plot, self.time_plot):
            # Fixed views: the wheel zoomed the curve into nonsense (y to -1500, x ×1e21) with no way back.
            # The wheel now scrolls the dock; the view follows the data on its own.
            plot.setMouseEnabled(x=False, y=False)
            plot.setMenuEnabled(False)
            plot.hideButtons()
        # The two plots share one place (tabs), so the dock fits the default window without scrolling.
        self.plots = _PlotTabs()
        self.plots.setDocumentMode(True)
        self.plots.addTab(self.curve_plot, "Passing curve")
        self.plots.addTab(self.time_plot, "D50 / D80 over time")
        self.plots.setTabVisible(1, False)
        lay.addWidget(self.plots, 1)

    # --- what the hub shows ----------------------------------------------------------------------

    def show_kind(self, kind: str) -> None:
        """The scale shape a click on the button draws."""
        self.kind_actions[kind].setChecked(True)
        self.scale_btn.setText(f"Draw scale: {kind}")

    def show_curve(self, d: Distribution | None) -> None:
        self._show_fits(d)
        if d is None or d.fragments == 0 or len(d.sieve) == 0:
            self.curve.setData([], [])
            self.d50_line.hide()
            self.d80_line.hide()
            return
        ok = d.sieve > 0
        self.curve.setData(np.asarray(d.sieve[ok], float), np.asarray(d.passing_by_area[ok], float))
        self.curve_plot.setLabel("bottom", f"size ({d.unit}, equivalent diameter)")
        for line, key in ((self.d50_line, "D50"), (self.d80_line, "D80")):
            v = d.d_by_area.get(key)
            if v is not None and v > 0:
                line.show()  # first: a hidden label does not update its text
                line.setPos(math.log10(v))  # the x axis is in log10 units in log mode
                line.label.setFormat(f"{key} {v:.1f}")
                line.label.valueChanged()  # setFormat alone does not redraw the text
            else:
                line.hide()

    def _show_fits(self, d: Distribution | None) -> None:
        """The fitted curves over the measured size range (empty when the core did not fit)."""
        sizes = d.sizes[d.sizes > 0] if d is not None else np.zeros(0)
        x = (
            np.geomspace(sizes.min(), sizes.max(), 60)
            if len(sizes) > 1 and sizes.max() > sizes.min()
            else np.zeros(0)
        )
        rr = d.rosin_rammler if d is not None else {}
        sw = d.swebrec if d is not None else {}
        if len(x) and rr.get("xc") is not None:
            self.rr_curve.setData(x, 100.0 * rosin_rammler(x, rr["xc"], rr["n"]))
        else:
            self.rr_curve.setData([], [])
        if len(x) and sw.get("x50") is not None:
            self.sw_curve.setData(x, 100.0 * swebrec(x, sw["x50"], sw["xmax"], sw["b"]))
        else:
            self.sw_curve.setData([], [])

    def show_scale(self, mm_per_px: float | None) -> None:
        """The scale in force in the typing field (0 = none), without it counting as typed."""
        self.scale_spin.blockSignals(True)
        self.scale_spin.setValue(mm_per_px or 0.0)
        self.scale_spin.blockSignals(False)

    def show_over_time(
        self, t: list[float], d50: list[float], d80: list[float], unit: str, xlabel: str = "time (s)"
    ) -> None:
        self.plots.setTabVisible(1, True)
        self.time_plot.setLabel("bottom", xlabel)
        self.time_plot.setLabel("left", f"size ({unit})")
        self.t50.setData(np.asarray(t, float), np.asarray(d50, float), connect="finite")
        self.t80.setData(np.asarray(t, float), np.asarray(d80, float), connect="finite")

    def hide_over_time(self) -> None:
        self.t50.setData([], [])
        self.t80.setData([], [])
        self.plots.setTabVisible(1, False)


def fragment_row(res: FrameFragments, i: int) -> dict:
    """One fragment's row (as in fragments.csv) from the frame's table."""
    t = res.table
    s = res.mm_per_px or 1.0
    unit = "mm" if res.mm_per_px else "px"
    return {
        "fragment": int(t.fragment[i]),
        "unit": unit,
        "diameter": float(t.diameter_px[i]) * s,
        "feret_min": float(t.feret_min_px[i]) * s,
        "feret_max": float(t.feret_max_px[i]) * s,
        "area": float(t.area_px[i]) * s * s,
        "fines": bool(t.fines[i]),
        "touches_border": bool(t.touches_border[i]),
    }


def describe(row: dict) -> str:
    """The hover text for one fragment (tests compare with this)."""
    u = row["unit"]
    area = f"{row['area']:.0f} px²" if u == "px" else f"{row['area']:.1f} mm²"
    text = (
        f"Fragment {row['fragment']}: equivalent diameter {fmt_size(row['diameter'], u)}, "
        f"Feret min {fmt_size(row['feret_min'], u)}, max {fmt_size(row['feret_max'], u)}, area {area}"
    )
    if row["fines"]:
        text += " — fines (not counted)"
    elif row["touches_border"]:
        text += " — cut by the border (not counted)"
    return text


def model_text(ck) -> tuple[FragmentSpec | None, str | None, str]:
    """(spec, problem, what the dock says) for a loaded Checkpoint (or None): never silent about a model
    that cannot measure fragments, or measures them the rough way."""
    if ck is None:
        problem = "No model loaded: open a model (File ▸ Open model) to measure fragments."
        return None, problem, problem
    try:
        spec = FragmentSpec.from_checkpoint(ck.fragments, list(ck.class_names))
    except UserInputError:
        problem = (
            f"This model does not know rocks (classes: {', '.join(ck.class_names)}): it has no fragments "
            "entry and no class called rock, so there is nothing to measure."
        )
        return None, problem, problem
    if ck.fragments is None:
        return (
            spec,
            None,
            (
                f"This model has no fragments entry: its class {spec.interior!r} is taken as rock and touching "
                "rocks are split by distance transform (no edge class), which merges or cuts some of them."
            ),
        )
    edges = f", edges {spec.edge!r}" if spec.edge else ""
    edges += f", centres {spec.centre!r}" if spec.centre else ""
    return spec, None, f"Fragments: class {spec.interior!r}{edges} ({spec.method})."


def summary_text(res: FrameFragments, min_size_px: int, with_edges: bool) -> str:
    """The dock's numbers for one frame (tests compare with what `analyse_prediction` gives)."""
    d, t = res.distribution, res.table
    border = int((t.touches_border & ~t.fines & ~t.use).sum())
    # No piece under the minimum size: fines (gravel in the gaps, sand) are below what the split resolves,
    # so their share is not measured — never "0.0 %" (issue 19). A share of the pieces that were resolved
    # is a lower bound, and says so.
    if d.fines_share is None:
        fines = "not measured (no piece that small was resolved)"
    else:
        pct = 100 * d.fines_share
        share = "< 0.1 %" if pct < 0.05 else f"{pct:.1f} %"
        fines = (
            f"{d.fines} piece{'s' if d.fines != 1 else ''}, {share} of all fragment area "
            "(only what the split resolved; finer material is not measured)"
        )
    across = (
        f", ≈ {2 * math.sqrt(min_size_px / math.pi) * res.mm_per_px:.2g} mm across"
        if res.mm_per_px and min_size_px
        else ""
    )
    lines = [
        f"Fragments: {d.fragments}" + (f"  (+{border} cut by the border, not counted)" if border else ""),
        f"D50: {fmt_size(d.d_by_area.get('D50'), d.unit)}    D80: {fmt_size(d.d_by_area.get('D80'), d.unit)}  (by area)",
        f"Fines (< {min_size_px} px{across}): {fines}",
        f"Unit: {d.unit}   Rock cover{' (with edges)' if with_edges else ''}: {100 * res.coverage:.0f} %",
    ]
    if d.fragments < 10:
        lines.append(f"Only {d.fragments} fragments: D-values of this frame are rough.")
    lines += fits_text(d)
    return "\n".join(lines)


def _num(v: float | None) -> str:
    return "–" if v is None or not math.isfinite(v) else f"{v:.3g}"


def fits_text(d: Distribution) -> list[str]:
    """The fitted parameters as the dock writes them (tests compare with the core's distribution)."""
    rr, sw = d.rosin_rammler, d.swebrec
    # The core fits nothing under MIN_POINTS distinct sizes; with more, a missing fit did not converge.
    why = "too few fragments to fit" if len(np.unique(d.sizes)) < MIN_POINTS else "the fit did not converge"
    if rr.get("xc") is None and sw.get("x50") is None:
        return [f"Fits (by {d.fit_basis}): {why}"]
    out = [f"Fits to the curve by {d.fit_basis}:"]
    out.append(
        f"  Rosin–Rammler: {why}"
        if rr.get("xc") is None
        else f"  Rosin–Rammler: xc {fmt_size(rr['xc'], d.unit)}, n {_num(rr['n'])}, R² {_num(rr['r2'])}"
    )
    out.append(
        f"  Swebrec: {why}"
        if sw.get("x50") is None
        else f"  Swebrec: x50 {fmt_size(sw['x50'], d.unit)}, xmax {fmt_size(sw['xmax'], d.unit)}, b {_num(sw['b'])}, "
        f"R² {_num(sw['r2'])}"
    )
    return out
