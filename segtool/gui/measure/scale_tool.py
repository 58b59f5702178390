"""The Measure panel's scale: a line drawn on the picture along something of known length → mm per
pixel, saved beside the source (`<source>.scale.json`, shared with `segtool fragments`) and loaded again
when that source (or, in a folder, that image) is shown."""

from __future__ import annotations

import math
from pathlib import Path

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QColor, QPen
from PySide6.QtWidgets import QGraphicsLineItem, QInputDialog, QMainWindow, QMessageBox

from models.errors import UserInputError
from segtool.core.fragments.scale import Scale, from_line, load_scale, save_scale


class ScaleTool(QObject):
    """The scale in force for the frame on screen, and the line tool that sets it.

    `changed` is emitted whenever the scale in force changes (drawn, cleared, loaded for a new source)."""

    changed = Signal()

    def __init__(self, window: QMainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.scale: Scale | None = None
        self.file: Path | None = None  # the sidecar it came from or was saved to
        self.drawing = False
        self._start: tuple[float, float] | None = None
        self._key: tuple | None = None  # (source id, image) the scale was loaded for
        scene = window.canvas.scene()
        self.line = QGraphicsLineItem()  # the line being drawn
        pen = QPen(QColor(255, 230, 0), 2)
        pen.setCosmetic(True)  # 2 screen pixels at any zoom
        self.line.setPen(pen)
        self.line.setZValue(4)
        self.line.hide()
        scene.addItem(self.line)
        self.ref_line = QGraphicsLineItem()  # the reference line of the scale in force
        pen = QPen(QColor(0, 230, 255), 2)
        pen.setCosmetic(True)
        pen.setStyle(Qt.PenStyle.DashLine)
        self.ref_line.setPen(pen)
        self.ref_line.setZValue(4)
        self.ref_line.hide()
        scene.addItem(self.ref_line)
        self.shown = False

    @property
    def mm_per_px(self) -> float | None:
        return self.scale.mm_per_px if self.scale is not None else None

    def show(self, on: bool) -> None:
        """Draw the reference line (while the Measure panel is on)."""
        self.shown = on
        self._draw_ref()

    def _draw_ref(self) -> None:
        sc = self.scale
        if self.shown and sc is not None and sc.kind == "line" and len(sc.points) == 2:
            self.ref_line.setLine(*sc.points[0], *sc.points[1])
            self.ref_line.setToolTip(f"Scale reference: {sc.length_mm:g} mm")
            self.ref_line.show()
        else:
            self.ref_line.hide()

    def _set(self, scale: Scale | None, file: Path | None) -> None:
        self.scale, self.file = scale, file
        self._draw_ref()
        self.changed.emit()

    # --- drawing (the hub forwards the canvas' mouse events in image pixels) ------------------------

    def set_drawing(self, on: bool) -> None:
        self.drawing = on
        self._start = None
        self.line.hide()
        vp = self.window.canvas.viewport()
        if on:
            vp.setCursor(Qt.CursorShape.CrossCursor)
            self.window.statusBar().showMessage("Drag a line along something of known length", 5000)
        else:
            vp.unsetCursor()

    def press(self, x: float, y: float) -> None:
        self._start = (x, y)

    def move(self, x: float, y: float) -> bool:
        if self._start is None:
            return False
        self.line.setLine(*self._start, x, y)
        self.line.show()
        return True

    def release(self, x: float, y: float) -> tuple[float, float] | None:
        """End of the drag: where it started, or None (the caller turns the tool off, then `ask`)."""
        start, self._start = self._start, None
        return start

    def ask(self, p0: tuple[float, float], p1: tuple[float, float]) -> None:
        """Ask the drawn line's length in mm, set the scale and save it beside the source."""
        px = math.dist(p0, p1)
        self.line.setLine(*p0, *p1)
        self.line.show()  # in sight while the length is typed
        try:
            mm, ok = QInputDialog.getDouble(self.window, "Scale", f"Length of the line ({px:.1f} px) in mm:", 100.0, 0.001, 1e7, 2)
            if not ok:
                return
            try:
                sc = from_line(p0, p1, mm)
            except UserInputError as e:
                QMessageBox.warning(self.window, "Scale", str(e))
                return
        finally:
            self.line.hide()
        r = self.window.current
        if r is not None:
            sc.image_size = [int(r.rgb.shape[1]), int(r.rgb.shape[0])]
        target, file = self.target(), None
        bar = self.window.statusBar()
        if target is None:
            bar.showMessage("Scale set for this session only (a camera or stream has no file to save it beside)", 8000)
        else:
            try:
                file = save_scale(target, sc)
            except UserInputError as e:
                QMessageBox.warning(self.window, "Scale not saved", f"{e}\nThe scale is used for this session only.")
            else:
                bar.showMessage(f"Scale {sc.mm_per_px:.4g} mm/px saved to {file}", 8000)
        self._set(sc, file)

    def clear(self) -> None:
        """Forget the scale and delete its sidecar file (after asking, when there is one)."""
        if self.file is not None and self.file.is_file():
            ans = QMessageBox.question(self.window, "Clear scale", f"Delete {self.file}?")
            if ans != QMessageBox.StandardButton.Yes:
                return
            try:
                self.file.unlink()
            except OSError as e:
                QMessageBox.warning(self.window, "Clear scale", f"cannot delete {self.file}: {e}")
                return
        self._set(None, None)

    # --- which scale applies -----------------------------------------------------------------------

    def target(self) -> Path | None:
        """The file or folder the scale is saved beside: the open image, video or folder."""
        src = self.window.source
        if src is None or src.is_live or "://" in src.spec or src.spec.lower().startswith("cam:"):
            return None
        return Path(src.spec)

    def load_for(self, r) -> None:
        """The scale saved for the source of result `r` (or its image, in a folder), once per source/image."""
        target = self.target()
        image = target / r.name if target is not None and target.is_dir() and r.name else None
        key = (r.source_id, image)
        if key == self._key:
            return
        self._key = key
        found = None
        if target is not None:
            try:
                found = load_scale(target, image=image)
            except UserInputError as e:  # a damaged sidecar: said, not ignored
                self.window.statusBar().showMessage(str(e), 10000)
        self._set(*(found if found is not None else (None, None)))
