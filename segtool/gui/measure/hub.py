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
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QAction, QColor, QImage, QKeySequence, QPen, QPixmap
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QGraphicsLineItem,
    QGraphicsPixmapItem,
    QInputDialog,
    QMainWindow,
    QMessageBox,
    QScrollArea,
)

from models.errors import UserInputError
from segtool.core.fragments.analyse import (
    FragmentSettings,
    FragmentSpec,
    FrameFragments,
    analyse_prediction,
    distribution_of,
)
from segtool.core.fragments.scale import from_line, load_scale, save_scale
from segtool.gui.measure.outlines import outline_rgba
from segtool.gui.measure.panel import MeasurePanel, fmt_size
from segtool.gui.measure.report import ReportRunner, describe_report, new_report_folder

OVER_TIME_MAX = 5000  # points kept for the over-time plot (memory stays flat on a long video)


@dataclass(frozen=True)
class Measured:
    """What the analysis returns for one frame: the fragments (px sizes; distribution for `mm_per_px`)
    and their outlines as an RGBA layer, made with the model state `token`."""

    token: int
    fragments: FrameFragments
    outlines: np.ndarray


def _qimage_rgba(rgba: np.ndarray) -> QImage:
    rgba = np.ascontiguousarray(rgba)
    h, w = rgba.shape[:2]
    return QImage(rgba.data, w, h, 4 * w, QImage.Format.Format_RGBA8888).copy()


class MeasureHub(QObject):
    """The Measure menu, dock and canvas layers of one main window (see the module docstring)."""

    def __init__(self, window: QMainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.settings = FragmentSettings()
        self.active = False
        # (token, spec, mm_per_px): replaced as a whole, read by the analysis thread without a lock.
        self._state: tuple[int, FragmentSpec | None, float | None] = (0, None, None)
        self._checkpoint = None  # the Checkpoint the state was made for
        self.problem: str | None = None  # why this model cannot measure fragments
        self.current: FrameFragments | None = None  # fragments of the frame on screen (current scale)
        self.current_index: int | None = None
        self.scale = None  # Scale in force, or None
        self.scale_file: Path | None = None
        self._scale_key: tuple | None = None  # (source id, image) the scale was loaded for
        self._source_id: int | None = None
        self._series: dict[int, tuple[float, float | None, float | None]] = {}  # frame → (t, D50 px, D80 px)
        self._line_start: tuple[float, float] | None = None
        self.report = ReportRunner(self)
        self._report_source = ""
        self.last_report: object = None

        canvas = window.canvas
        self.layer = QGraphicsPixmapItem()
        self.layer.setZValue(0.5)  # over the picture, under label mode's layer
        canvas.scene().addItem(self.layer)
        self.line = QGraphicsLineItem()
        self.line.setPen(QPen(QColor(255, 230, 0), 0))
        self.line.setZValue(4)
        self.line.hide()
        canvas.scene().addItem(self.line)
        self.ref_line = QGraphicsLineItem()  # the reference line of the scale in force
        pen = QPen(QColor(0, 230, 255), 0)
        pen.setStyle(Qt.PenStyle.DashLine)
        self.ref_line.setPen(pen)
        self.ref_line.setZValue(4)
        self.ref_line.hide()
        canvas.scene().addItem(self.ref_line)
        canvas.viewport().installEventFilter(self)

        self.panel = MeasurePanel()
        scroll = QScrollArea()
        scroll.setWidget(self.panel)
        scroll.setWidgetResizable(True)
        self.dock = QDockWidget("Measure", window)
        self.dock.setObjectName("measure-dock")
        self.dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable | QDockWidget.DockWidgetFeature.DockWidgetFloatable)
        self.dock.setWidget(scroll)
        window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.dock)
        side = window.findChild(QDockWidget, "side-dock")
        if side is not None:
            window.tabifyDockWidget(side, self.dock)
        self.dock.hide()

        self._build_actions()
        p = self.panel
        p.scale_btn.toggled.connect(self.set_scale_tool)
        p.clear_btn.clicked.connect(self.clear_scale)
        p.export_btn.clicked.connect(self.export_report)
        window.worker.engineReady.connect(lambda info: self._model_changed())
        self.report.done.connect(self._report_done)
        self.report.progress.connect(self._report_progress)

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
        self.act_scale = act("Draw &scale line", lambda on: self.set_scale_tool(on))
        self.act_scale.setCheckable(True)
        self.act_clear = act("&Clear scale", self.clear_scale)
        self.act_export = act("&Export report…", self.export_report)

    # --- on / off ----------------------------------------------------------------------------------

    def set_active(self, on: bool) -> None:
        """Measure fragments of every shown frame (the analysis runs only while this is on)."""
        self.active = bool(on)
        self.act_measure.setChecked(self.active)
        w = self.window
        self.ref_line.setVisible(self.active and self.scale is not None and self.scale.kind == "line")
        if self.active:
            self.dock.show()
            self.dock.raise_()
            self._model_changed()
            w.worker.update_settings(analyses=(("fragments", self._analyse),))
            self._ask_again()
        else:
            w.worker.update_settings(analyses=tuple(a for a in w.worker.settings.analyses if a[0] != "fragments"))
            self.set_scale_tool(False)
            self.layer.setPixmap(QPixmap())
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
        spec, self.problem = None, None
        if ck is None:
            self.problem = "No model loaded: open a model (File ▸ Open model) to measure fragments."
            text = self.problem
        else:
            try:
                spec = FragmentSpec.from_checkpoint(ck.fragments, list(ck.class_names))
            except UserInputError:
                self.problem = (f"This model does not know rocks (classes: {', '.join(ck.class_names)}): "
                                "it has no fragments entry and no class called rock, so there is nothing to measure.")  # fmt: skip
                text = self.problem
            else:
                if ck.fragments is None:
                    text = (f"This model has no fragments entry: its class {spec.interior!r} is taken as rock and "
                            "touching rocks are split by distance transform (no edge class), which merges or cuts "
                            "some of them.")  # fmt: skip
                else:
                    text = f"Fragments: class {spec.interior!r}" + (f", edges {spec.edge!r}" if spec.edge else "") + f" ({spec.method})."
        self._state = (self._state[0] + 1, spec, self._state[2])
        self.panel.model_label.setText(text)
        self.current = None
        self._series.clear()
        self._show()

    def _analyse(self, frame, prediction) -> Measured | None:
        """Runs in the viewer's threads (never the GUI thread): split, measure, draw outlines."""
        token, spec, mm = self._state
        if spec is None:
            return Measured(token, None, None)  # type: ignore[arg-type]
        res = analyse_prediction(prediction.mask, prediction.confidence, spec, self.settings, mm_per_px=mm)
        return Measured(token, res, outline_rgba(res.labels, res.table))

    # --- results -----------------------------------------------------------------------------------

    def on_result(self, r) -> None:
        """A new result is on screen (the window calls this from `_result_ready`)."""
        if not self.active:
            return
        if r.source_id != self._source_id:
            self._source_id = r.source_id
            self._series.clear()
        self._load_scale_for(r)
        m = r.analysis.get("fragments")
        if isinstance(m, Exception):
            self.current = None
            self.panel.summary.setText(f"Measuring failed on this frame: {m}")
            self.layer.setPixmap(QPixmap())
            return
        if r.mask is None or m is None:
            self.current = None
            self.layer.setPixmap(QPixmap())
            self.panel.summary.setText("Waiting for the model's mask of this frame…" if self.problem is None else "")
            return
        if m.token != self._state[0]:  # made for a model that has been replaced since
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
        self.layer.setPixmap(QPixmap.fromImage(_qimage_rgba(m.outlines)))
        d = res.distribution
        s = 1.0 / res.mm_per_px if res.mm_per_px else 1.0  # the series is kept in pixels
        t = r.pts_s if r.pts_s is not None else float(r.index)
        if len(self._series) < OVER_TIME_MAX or r.index in self._series:
            d50, d80 = d.d_by_area.get("D50"), d.d_by_area.get("D80")
            self._series[r.index] = (t, None if d50 is None else d50 * s, None if d80 is None else d80 * s)
        self._show()

    def _mm(self) -> float | None:
        return self.scale.mm_per_px if self.scale is not None else None

    def _rescaled(self, res: FrameFragments) -> FrameFragments:
        """The same fragments with the distribution in the current unit (no splitting again)."""
        mm = self._mm()
        return FrameFragments(res.labels, res.table, distribution_of([res.table], self.settings, mm), res.coverage, mm, res.notes)

    def _show(self) -> None:
        p = self.panel
        mm = self._mm()
        if self.scale is not None:
            where = f" (from {self.scale_file.name})" if self.scale_file is not None else ""
            p.scale_label.setText(f"Scale: {mm:.4g} mm/px{where} — sizes in mm.")
        else:
            p.scale_label.setText("Scale: none — sizes in pixels (draw a scale line to get mm).")
        res = self.current
        if self.problem is not None or res is None:
            if self.problem is not None:
                p.summary.setText("")
            p.show_curve(None)
            self._show_series()
            return
        d = res.distribution
        t = res.table
        border = int((t.touches_border & ~t.fines & ~t.use).sum())
        fines = "–" if d.fines_share is None else f"{100 * d.fines_share:.1f} %"
        lines = [f"Fragments: {d.fragments}" + (f"  (+{border} cut by the border, not counted)" if border else ""),
                 f"D50: {fmt_size(d.d_by_area.get('D50'), d.unit)}    D80: {fmt_size(d.d_by_area.get('D80'), d.unit)}  (by area)",
                 f"Fines (< {self.settings.min_size_px} px): {d.fines} pieces, {fines} of all fragment area",
                 f"Unit: {d.unit}   Rock cover (with edges): {100 * res.coverage:.0f} %"]  # fmt: skip
        if d.fragments < 10:
            lines.append(f"Only {d.fragments} fragments: D-values of this frame are rough.")
        p.summary.setText("\n".join(lines))
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
        self.panel.show_over_time(t, d50, d80, "mm" if self.scale is not None else "px", "time (s)" if timed else "image / frame number")

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
        return _row(res, int(i[0]))

    def _hover(self, x: float, y: float) -> None:
        row = self.fragment_at(x, y)
        if row is None:
            self.panel.hover.setText("Point at a rock to read its size.")
            return
        self.panel.hover.setText(describe(row))

    # --- scale tool ----------------------------------------------------------------------------------

    def set_scale_tool(self, on: bool) -> None:
        on = bool(on) and self.active
        for b in (self.panel.scale_btn, self.act_scale):
            b.blockSignals(True)
            b.setChecked(on)
            b.blockSignals(False)
        self._line_start = None
        self.line.hide()
        vp = self.window.canvas.viewport()
        if on:
            vp.setCursor(Qt.CursorShape.CrossCursor)
            self.window.statusBar().showMessage("Drag a line along something of known length", 5000)
        else:
            vp.unsetCursor()

    def _line_done(self, p0: tuple[float, float], p1: tuple[float, float]) -> None:
        self.set_scale_tool(False)
        px = math.dist(p0, p1)
        mm, ok = QInputDialog.getDouble(self.window, "Scale", f"Length of the line ({px:.1f} px) in mm:", 100.0, 0.001, 1e7, 2)
        if not ok:
            return
        try:
            sc = from_line(p0, p1, mm)
        except UserInputError as e:
            QMessageBox.warning(self.window, "Scale", str(e))
            return
        r = self.window.current
        if r is not None:
            sc.image_size = [int(r.rgb.shape[1]), int(r.rgb.shape[0])]
        target = self._scale_target()
        self.scale, self.scale_file = sc, None
        if target is None:
            self.window.statusBar().showMessage("Scale set for this session only (a camera or stream has no file to save it beside)", 8000)
        else:
            try:
                self.scale_file = save_scale(target, sc)
            except UserInputError as e:
                QMessageBox.warning(self.window, "Scale not saved", f"{e}\nThe scale is used for this session only.")
            else:
                self.window.statusBar().showMessage(f"Scale {sc.mm_per_px:.4g} mm/px saved to {self.scale_file}", 8000)
        self._scale_changed()

    def clear_scale(self) -> None:
        """Forget the scale and delete its sidecar file (after asking when there is one)."""
        if self.scale_file is not None and self.scale_file.is_file():
            ans = QMessageBox.question(self.window, "Clear scale", f"Delete {self.scale_file}?")
            if ans != QMessageBox.StandardButton.Yes:
                return
            try:
                self.scale_file.unlink()
            except OSError as e:
                QMessageBox.warning(self.window, "Clear scale", f"cannot delete {self.scale_file}: {e}")
                return
        self.scale, self.scale_file = None, None
        self._scale_changed()

    def _scale_changed(self) -> None:
        sc = self.scale
        if sc is not None and sc.kind == "line" and len(sc.points) == 2:
            self.ref_line.setLine(*sc.points[0], *sc.points[1])
            self.ref_line.setToolTip(f"Scale reference: {sc.length_mm:g} mm")
            self.ref_line.show()
        else:
            self.ref_line.hide()
        token, spec, _ = self._state
        self._state = (token, spec, self._mm())
        if self.current is not None:
            self.current = self._rescaled(self.current)
        self._show()

    def _scale_target(self) -> Path | None:
        """The file or folder the scale is saved beside: the open image, video or folder."""
        src = self.window.source
        if src is None or src.is_live or "://" in src.spec or src.spec.lower().startswith("cam:"):
            return None
        return Path(src.spec)

    def _load_scale_for(self, r) -> None:
        target = self._scale_target()
        image = None
        if target is not None and target.is_dir() and r.name:
            image = target / r.name
        key = (r.source_id, image)
        if key == self._scale_key:
            return
        self._scale_key = key
        found = None
        if target is not None:
            try:
                found = load_scale(target, image=image)
            except UserInputError as e:
                self.window.statusBar().showMessage(str(e), 10000)
        self.scale, self.scale_file = (found if found is not None else (None, None))
        self._scale_changed()

    # --- the canvas ----------------------------------------------------------------------------------

    def eventFilter(self, obj, event) -> bool:  # noqa: N802 (Qt naming)
        if not self.active:
            return False
        t = event.type()
        canvas = self.window.canvas
        tool = self.panel.scale_btn.isChecked()
        if t == QEvent.Type.MouseMove:
            p = canvas.mapToScene(event.position().toPoint())
            if tool and self._line_start is not None:
                self.line.setLine(*self._line_start, p.x(), p.y())
                self.line.show()
                return True
            self._hover(p.x(), p.y())
            return False  # panning still works
        if tool and t == QEvent.Type.MouseButtonPress and event.button() == Qt.MouseButton.LeftButton:
            p = canvas.mapToScene(event.position().toPoint())
            self._line_start = (p.x(), p.y())
            return True
        if tool and t == QEvent.Type.MouseButtonRelease and event.button() == Qt.MouseButton.LeftButton:
            if self._line_start is None:
                return True
            p = canvas.mapToScene(event.position().toPoint())
            start, self._line_start = self._line_start, None
            self.line.setLine(*start, p.x(), p.y())
            self._line_done(start, (p.x(), p.y()))
            return True
        return False

    # --- report --------------------------------------------------------------------------------------

    def export_report(self) -> None:
        """Run `segtool fragments` on the open source into a new folder inside one the user picks."""
        w = self.window
        info, src = w.engine_info, w.source
        if info is None or src is None or self.problem is not None:
            QMessageBox.information(w, "Export report", self.problem or "Open a model and a source first.")
            return
        if src.is_live or "://" in src.spec:
            QMessageBox.information(w, "Export report", "A camera or stream has no end: export a report from a file or folder.")
            return
        if self.report.running():
            QMessageBox.information(w, "Export report", "A report is being written; wait for it to finish.")
            return
        parent = QFileDialog.getExistingDirectory(w, "Folder to put the fragments report in")
        if parent:
            self.start_report(src.spec, new_report_folder(parent, src.spec), info.path)

    def start_report(self, source: str, out: str | Path, checkpoint: str) -> None:
        self._report_source = source
        self.panel.export_btn.setEnabled(False)
        self.panel.export_btn.setText("Writing report…")
        self.report.start(source, out, checkpoint, self.settings, self.window.panel.device_key())

    def _report_progress(self, frames: int) -> None:
        self.panel.export_btn.setText(f"Writing report… {frames} frame(s)")

    def _report_done(self, res) -> None:
        self.last_report = res
        self.panel.export_btn.setEnabled(True)
        self.panel.export_btn.setText("Export report…")
        if self.report.cancel.is_set():
            return  # the window is closing
        if isinstance(res, str):
            QMessageBox.warning(self.window, "Report failed", res)
            return
        msg = describe_report(res, self._report_source)
        if res.exit_code != 0:
            QMessageBox.warning(self.window, "Report incomplete", msg + f"\nStopped early (exit code {res.exit_code}).")
        else:
            QMessageBox.information(self.window, "Report written", msg)

    def shutdown(self) -> None:
        self.report.shutdown()
        self.window.canvas.viewport().removeEventFilter(self)


def _row(res: FrameFragments, i: int) -> dict:
    """One fragment's row (as in fragments.csv) from the frame's table."""
    t = res.table
    s = res.mm_per_px or 1.0
    unit = "mm" if res.mm_per_px else "px"
    return {"fragment": int(t.fragment[i]), "unit": unit, "diameter": float(t.diameter_px[i]) * s,
            "feret_min": float(t.feret_min_px[i]) * s, "feret_max": float(t.feret_max_px[i]) * s,
            "area": float(t.area_px[i]) * s * s, "fines": bool(t.fines[i]), "touches_border": bool(t.touches_border[i])}  # fmt: skip


def describe(row: dict) -> str:
    """The hover text for one fragment (tests compare with this)."""
    u = row["unit"]
    area = f"{row['area']:.0f} px²" if u == "px" else f"{row['area']:.1f} mm²"
    text = (f"Fragment {row['fragment']}: equivalent diameter {fmt_size(row['diameter'], u)}, "
            f"Feret min {fmt_size(row['feret_min'], u)}, max {fmt_size(row['feret_max'], u)}, area {area}")  # fmt: skip
    if row["fines"]:
        text += " — fines (not counted)"
    elif row["touches_border"]:
        text += " — cut by the border (not counted)"
    return text
