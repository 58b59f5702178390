"""The Measure panel of the main window: rock fragments of the frame on screen.

Kept out of main_window.py (like LabelHub): the window creates `MeasureHub(window)`, passes each shown
result to `on_result` and calls `shutdown()` when it closes.

Threads: the fragments are split and measured, and their outlines drawn, by a per-result analysis
(`ViewSettings.analyses`, "fragments") in the viewer's own threads; the GUI thread only reads the result
(`ViewResult.analysis["fragments"]`), looks up the fragment under the pointer and recomputes the
distribution when only the scale changed (no splitting). "Export report…" runs the CLI's job
(`run_fragments`) in a background thread.

Each analysis result carries the token of the model state it was made with; a result made for an older
model (the model changed while the frame was in flight) is not shown, and the frame is asked for again.

A little over 400 lines: the menu, the model state, the results and the canvas events of one panel; the
parts with their own state or no Qt are apart (panel.py texts and plots, settings_box.py, scale_tool.py
and scale_shapes.py, report.py, outlines.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QAction, QColor, QKeySequence, QPainterPath, QPen, QPixmap
from PySide6.QtWidgets import (
    QDockWidget,
    QGraphicsPathItem,
    QGraphicsPixmapItem,
    QMainWindow,
    QScrollArea,
)

from segtool.core.fragments.analyse import (
    FragmentSettings,
    FragmentSpec,
    FrameFragments,
    analyse_prediction,
    distribution_of,
)
from segtool.gui.canvas import to_qimage
from segtool.gui.measure.outlines import outline_rgba
from segtool.gui.measure.panel import MeasurePanel, describe, fragment_row, model_text, summary_text
from segtool.gui.measure.report import ReportExport
from segtool.gui.measure.scale_shapes import reference_text
from segtool.gui.measure.scale_tool import ScaleTool
from segtool.gui.measure.settings_box import load_settings, save_settings

OVER_TIME_MAX = 5000  # points kept for the over-time plot (memory stays flat on a long video)


@dataclass(frozen=True)
class Measured:
    """What the analysis returns for one frame: the fragments (px sizes; distribution for `mm_per_px`)
    and their outlines as an RGBA layer, made with the model state `token`."""

    token: int
    fragments: FrameFragments
    outlines: np.ndarray


def _pen(color: QColor, width: float) -> QPen:
    """A pen `width` screen pixels wide at any zoom."""
    pen = QPen(color, width)
    pen.setCosmetic(True)
    return pen


class MeasureHub(QObject):
    """The Measure menu, dock and canvas layers of one main window (see the module docstring)."""

    def __init__(self, window: QMainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.store = getattr(
            window, "settings", None
        )  # the window's AppSettings (the panel's settings persist)
        self.settings = load_settings(self.store)
        self.active = False
        # (token, spec, mm_per_px, settings): replaced as a whole, read by the analysis thread without a lock;
        # a new token (model or settings changed) makes results still in flight stale.
        self._state: tuple[int, FragmentSpec | None, float | None, FragmentSettings] = (
            0,
            None,
            None,
            self.settings,
        )
        self._checkpoint = None  # the Checkpoint the state was made for
        self.problem: str | None = None  # why this model cannot measure fragments
        self.current: FrameFragments | None = None  # fragments of the frame on screen (current scale)
        self.current_index: int | None = None
        self._source_id: int | None = None
        self._series: dict[int, tuple[float, float | None, float | None]] = {}  # frame → (t, D50 px, D80 px)
        self.report = ReportExport(self)

        canvas = window.canvas
        self.layer = QGraphicsPixmapItem()
        self.layer.setZValue(0.5)  # over the picture, under label mode's layer
        canvas.scene().addItem(self.layer)
        self.hl_item = QGraphicsPathItem()  # the fragment under the pointer
        self.hl_item.setPen(_pen(QColor(255, 255, 255), 2.5))
        self.hl_item.setZValue(3)
        canvas.scene().addItem(self.hl_item)
        self._hl: int | None = None
        self._pointer: tuple[float, float] | None = None
        self.scale_tool = ScaleTool(window)
        self.scale_tool.changed.connect(self._scale_changed)
        canvas.viewport().installEventFilter(self)

        self.panel = MeasurePanel()
        scroll = QScrollArea()
        scroll.setWidget(self.panel)
        scroll.setWidgetResizable(True)
        self.dock = QDockWidget("Measure", window)
        self.dock.setObjectName("measure-dock")
        self.dock.setFeatures(
            QDockWidget.DockWidgetFeature.DockWidgetMovable
            | QDockWidget.DockWidgetFeature.DockWidgetFloatable
        )
        self.dock.setWidget(scroll)
        window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.dock)
        side = window.findChild(QDockWidget, "side-dock")
        if side is not None:
            window.tabifyDockWidget(side, self.dock)
        self.dock.hide()

        self._build_actions()
        p = self.panel
        p.scale_btn.toggled.connect(self.set_scale_tool)
        for kind, a in p.kind_actions.items():
            a.triggered.connect(lambda _c=False, k=kind: self.set_scale_tool(True, k))
        p.clear_btn.clicked.connect(self.scale_tool.clear)
        p.scale_spin.valueChanged.connect(self._scale_typed)
        p.settings_box.set_settings(self.settings)
        p.settings_box.changed.connect(self._settings_changed)
        p.export_btn.clicked.connect(self.report.export)
        p.pdf_btn.clicked.connect(self.report.pdf.write)
        window.worker.engineReady.connect(lambda info: self._model_changed())

    def _build_actions(self) -> None:
        w = self.window
        bar = w.menuBar()
        menu = bar.addMenu("&Measure")
        help_action = next((a for a in bar.actions() if a.text().replace("&", "") == "Help"), None)
        if help_action is not None:
            bar.removeAction(menu.menuAction())
            bar.insertMenu(help_action, menu)

        def act(text, slot, shortcut=None):
            a = QAction(text, w)
            if shortcut:
                a.setShortcut(QKeySequence(shortcut))
            a.triggered.connect(slot)
            menu.addAction(a)
            w.addAction(a)
            return a

        self.act_measure = act("&Measure fragments", lambda on: self.set_active(on), "Ctrl+M")
        self.act_measure.setCheckable(True)
        menu.addSeparator()
        self.act_scale = {}
        for kind, key in (("line", "&line"), ("box", "&box"), ("circle", "c&ircle")):
            a = act(f"Draw scale {key}", lambda on, k=kind: self.set_scale_tool(on, k))
            a.setCheckable(True)
            self.act_scale[kind] = a
        # Esc cancels drawing (enabled only then, so Esc stays free for the rest of the window).
        self.act_cancel = QAction("Cancel drawing", w)
        self.act_cancel.setShortcut(QKeySequence(Qt.Key.Key_Escape))
        self.act_cancel.setEnabled(False)
        self.act_cancel.triggered.connect(lambda: self.set_scale_tool(False))
        w.addAction(self.act_cancel)
        self.act_clear = act("&Clear scale", lambda: self.scale_tool.clear())
        self.act_export = act("&Export report…", lambda: self.report.export())

    # --- on / off ----------------------------------------------------------------------------------

    def set_active(self, on: bool) -> None:
        """Measure fragments of every shown frame (the analysis runs only while this is on)."""
        self.active = bool(on)
        self.act_measure.setChecked(self.active)
        w = self.window
        self.scale_tool.show(self.active)
        if self.active:
            self.dock.show()
            self.dock.raise_()
            self._model_changed()
            w.worker.update_settings(analyses=(("fragments", self._analyse),))
            self._ask_again()
        else:
            w.worker.update_settings(
                analyses=tuple(a for a in w.worker.settings.analyses if a[0] != "fragments")
            )
            self.set_scale_tool(False)
            self.layer.setPixmap(QPixmap())
            self._highlight(None)
            self.dock.hide()

    def _ask_again(self) -> None:
        """Have the frame on screen analysed (a playing source analyses its next frame anyway)."""
        w = self.window
        if w.current is not None and w.source is not None and not w.playing and not w.source.is_live:
            w.worker.show_frame(w.current.index)

    # --- the model ---------------------------------------------------------------------------------

    def _model_changed(self) -> None:
        info = self.window.engine_info
        ck = info.checkpoint if info is not None else None
        if ck is self._checkpoint and self._state[0]:
            return
        self._checkpoint = ck
        spec, self.problem, text = model_text(ck)
        self._state = (self._state[0] + 1, spec, self._state[2], self.settings)
        self.panel.model_label.setText(text)
        self.panel.settings_box.set_edges(spec is not None and spec.edge is not None)
        self.current = None
        self._series.clear()
        self._show()

    def _analyse(self, frame, prediction) -> Measured | None:
        """Runs in the viewer's threads (never the GUI thread): split, measure, draw outlines."""
        token, spec, mm, settings = self._state
        if spec is None:
            return Measured(token, None, None)  # type: ignore[arg-type]
        res = analyse_prediction(prediction.mask, prediction.confidence, spec, settings, mm_per_px=mm)
        return Measured(token, res, outline_rgba(res.labels, res.table))

    # --- results -----------------------------------------------------------------------------------

    def on_result(self, r) -> None:
        """A new result is on screen (the window calls this from `_result_ready`)."""
        if not self.active:
            return
        if r.source_id != self._source_id:
            self._source_id = r.source_id
            self._series.clear()
        self.scale_tool.load_for(r)
        m = r.analysis.get("fragments")
        if isinstance(m, Exception):
            self.current = None
            self.panel.summary.setText(f"Measuring failed on this frame: {m}")
            self.layer.setPixmap(QPixmap())
            return
        if r.mask is None or m is None:
            self.current = None
            self.layer.setPixmap(QPixmap())
            self.panel.summary.setText(
                "Waiting for the model's mask of this frame…" if self.problem is None else ""
            )
            return
        if m.token != self._state[0]:  # made for a model that has been replaced since
            self.layer.setPixmap(QPixmap())
            self._ask_again()
            return
        if m.fragments is None:
            self.current = None
            self.layer.setPixmap(QPixmap())
            self._show()
            return
        res = m.fragments
        if (res.mm_per_px or None) != self._mm():
            res = self._rescaled(res)
        self.current = res
        self.current_index = r.index
        self.layer.setPixmap(QPixmap.fromImage(to_qimage(m.outlines)))
        self._hl = -1  # a new frame: outline and read again what is under the pointer
        if self._pointer is not None:
            self._hover(*self._pointer)
        d = res.distribution
        s = 1.0 / res.mm_per_px if res.mm_per_px else 1.0  # the series is kept in pixels
        t = r.pts_s if r.pts_s is not None else float(r.index)
        d50, d80 = d.d_by_area.get("D50"), d.d_by_area.get("D80")
        self._series[r.index] = (t, None if d50 is None else d50 * s, None if d80 is None else d80 * s)
        if len(self._series) > OVER_TIME_MAX:  # keep the newest (a camera runs for ever)
            del self._series[next(iter(self._series))]
        self._show()

    def _mm(self) -> float | None:
        return self.scale_tool.mm_per_px

    def _rescaled(self, res: FrameFragments) -> FrameFragments:
        """The same fragments with the distribution in the current unit (no splitting again)."""
        mm = self._mm()
        return FrameFragments(
            res.labels,
            res.table,
            distribution_of([res.table], self.settings, mm),
            res.coverage,
            mm,
            res.notes,
        )

    def _show(self) -> None:
        p = self.panel
        mm = self._mm()
        p.show_scale(mm)
        if mm is not None:
            f = self.scale_tool.file
            where = f" (from {f.name})" if f is not None else " (not saved)"
            p.scale_label.setText(
                f"Scale: {mm:.4g} mm/px, {reference_text(self.scale_tool.scale)}{where} — sizes in mm."
            )
        else:
            p.scale_label.setText(
                "Scale: none — sizes in pixels (draw a scale line, box or circle, or type mm/px)."
            )
        res = self.current
        if self.problem is not None or res is None:
            if self.problem is not None:
                p.summary.setText("")
            p.show_curve(None)
            self._show_series()
            return
        d = res.distribution
        spec = self._state[1]
        p.summary.setText(
            summary_text(res, self.settings.min_size_px, spec is not None and spec.edge is not None)
        )
        p.show_curve(d)
        self._show_series()

    def _show_series(self) -> None:
        src = self.window.source
        if not self.active or src is None or not (src.is_live or (src.frames or 0) > 1) or not self._series:
            self.panel.hide_over_time()
            return
        mm = self._mm() or 1.0
        items = sorted(self._series.values())
        t = [a for a, _, _ in items]
        d50 = [b * mm if b is not None else math.nan for _, b, _ in items]
        d80 = [c * mm if c is not None else math.nan for _, _, c in items]
        timed = src.is_live or src.kind == "video"
        self.panel.show_over_time(
            t,
            d50,
            d80,
            "mm" if self._mm() is not None else "px",
            "time (s)" if timed else "image / frame number",
        )

    # --- hover ---------------------------------------------------------------------------------------

    def fragment_at(self, x: float, y: float) -> dict | None:
        """The measurements (a fragments.csv row) of the fragment at image pixel (x, y), or None."""
        res = self.current
        if res is None:
            return None
        xi, yi = int(math.floor(x + 0.5)), int(math.floor(y + 0.5))
        h, w = res.labels.shape
        if not (0 <= xi < w and 0 <= yi < h):
            return None
        k = int(res.labels[yi, xi])
        if k == 0:
            return None
        i = np.flatnonzero(res.table.fragment == k)
        if len(i) == 0:
            return None
        return fragment_row(res, int(i[0]))

    def _hover(self, x: float, y: float) -> None:
        self._pointer = (x, y)
        row = self.fragment_at(x, y)
        if row is None:
            self.panel.hover.setText("Point at a rock to read its size.")
            self._highlight(None)
            return
        self.panel.hover.setText(describe(row))
        self._highlight(row["fragment"])

    def _highlight(self, k: int | None) -> None:
        """Outline fragment `k` of the frame on screen in white (None: no outline)."""
        if k == self._hl:
            return
        self._hl = k
        path = QPainterPath()
        if k is not None and self.current is not None:
            import cv2

            mask = (self.current.labels == k).astype(np.uint8)
            contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
            for c in contours:
                pts = c.reshape(-1, 2)
                path.moveTo(float(pts[0, 0]), float(pts[0, 1]))
                for px, py in pts[1:]:
                    path.lineTo(float(px), float(py))
                path.closeSubpath()
        self.hl_item.setPath(path)

    # --- scale tool ----------------------------------------------------------------------------------

    def set_scale_tool(self, on: bool, kind: str | None = None) -> None:
        """Draw a scale reference (`kind`: line, box or circle; None: the last one chosen) or stop.
        Chosen from the Measure menu while the panel is off, it opens the panel first."""
        if on and not self.active:
            self.set_active(True)
        on = bool(on) and self.active
        tool = self.scale_tool
        if kind is not None:
            tool.set_kind(kind)
            self.panel.show_kind(kind)
        buttons = [(self.panel.scale_btn, on)] + [
            (a, on and k == tool.kind) for k, a in self.act_scale.items()
        ]
        for b, checked in buttons:
            b.blockSignals(True)
            b.setChecked(checked)
            b.blockSignals(False)
        self.act_cancel.setEnabled(on)
        tool.set_drawing(on)

    def _scale_typed(self, mm_per_px: float) -> None:
        """A scale typed in the dock (0, "type mm/px": none, as Clear scale)."""
        if mm_per_px > 0:
            self.scale_tool.set_given(mm_per_px)
        else:
            self.scale_tool.clear()
        self.panel.show_scale(self._mm())  # what is in force (a cancelled clear keeps the old scale)

    def _scale_changed(self) -> None:
        """The scale in force changed: the same fragments, the distribution in the new unit."""
        token, spec, _, settings = self._state
        self._state = (token, spec, self._mm(), settings)
        sc = self.scale_tool.scale
        if sc is not None and sc.kind in self.act_scale and not self.scale_tool.drawing:
            self.scale_tool.set_kind(sc.kind)  # the scale button redraws the reference in force
            self.panel.show_kind(sc.kind)
        if self.current is not None:
            self.current = self._rescaled(self.current)
            if self._pointer is not None:
                self._hover(*self._pointer)  # the rock under the pointer, in the new unit
        self._show()

    # --- settings ------------------------------------------------------------------------------------

    def _settings_changed(self) -> None:
        """A setting changed in the dock: kept, and the frame on screen measured again with it (results
        made with the old settings are stale); the report uses the same settings."""
        new = self.panel.settings_box.settings(self.settings)
        if new == self.settings:
            return
        self.settings = new
        save_settings(self.store, new)
        token, spec, mm, _ = self._state
        self._state = (token + 1, spec, mm, new)
        self._series.clear()  # D50/D80 over time made with other settings would not compare
        if self.active:
            self._ask_again()

    # --- the canvas ----------------------------------------------------------------------------------

    def eventFilter(self, obj, event) -> bool:  # noqa: N802 (Qt naming)
        """Hover on the canvas shows the fragment's size; with the scale tool on, a drag draws the line."""
        if not self.active:
            return False
        t = event.type()
        if t not in (QEvent.Type.MouseMove, QEvent.Type.MouseButtonPress, QEvent.Type.MouseButtonRelease):
            return False
        p = self.window.canvas.mapToScene(event.position().toPoint())
        tool = self.scale_tool
        if (
            tool.drawing
            and t == QEvent.Type.MouseButtonPress
            and event.button() == Qt.MouseButton.RightButton
        ):
            self.set_scale_tool(False)  # right-click cancels the drawing
            return True
        left = t != QEvent.Type.MouseMove and event.button() == Qt.MouseButton.LeftButton
        if t == QEvent.Type.MouseMove:
            if tool.drawing and tool.move(p.x(), p.y()):
                return True
            self._hover(p.x(), p.y())
            return False  # panning still works
        if tool.drawing and left and t == QEvent.Type.MouseButtonPress:
            tool.press(p.x(), p.y())
            return True
        if tool.drawing and left and t == QEvent.Type.MouseButtonRelease:
            start = tool.release(p.x(), p.y())
            if start is not None:
                self.set_scale_tool(False)
                tool.ask(start, (p.x(), p.y()))
            return True
        return False

    def shutdown(self) -> None:
        self.report.runner.shutdown()
        self.report.pdf.shutdown()
        self.window.canvas.viewport().removeEventFilter(self)
