"""The Measure panel's scale: a line along something of known length, a box around a scale object or a
circle over a round one, drawn on the picture → mm per pixel, saved beside the source
(`<source>.scale.json`, shared with `segtool fragments`) and loaded again when that source (or, in a
folder, that image) is shown. The shapes and size dialogs are in scale_shapes.py."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QMainWindow, QMessageBox

from segtool.base.errors import UserInputError
from segtool.core.fragments.scale import Scale, given, load_scale, save_scale
from segtool.gui.measure import scale_shapes
from segtool.gui.measure.scale_shapes import HINTS, KINDS, Shape, reference_text


class ScaleTool(QObject):
    """The scale in force for the frame on screen, and the line / box / circle tool that sets it.

    `changed` is emitted whenever the scale in force changes (drawn, cleared, loaded for a new source)."""

    changed = Signal()

    def __init__(self, window: QMainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.scale: Scale | None = None
        self.file: Path | None = None  # the sidecar it came from or was saved to
        self.kind = "line"  # what a drag draws: line, box or circle
        self.drawing = False
        self._start: tuple[float, float] | None = None
        self._key: tuple | None = None  # (source id, image) the scale was loaded for
        scene = window.canvas.scene()
        self.sketch = Shape(scene, QColor(255, 230, 0))  # the shape being drawn
        self.ref = Shape(scene, QColor(0, 230, 255), dashed=True)  # the reference of the scale in force
        self.shown = False

    @property
    def mm_per_px(self) -> float | None:
        return self.scale.mm_per_px if self.scale is not None else None

    def show(self, on: bool) -> None:
        """Draw the reference shape (while the Measure panel is on)."""
        self.shown = on
        self._draw_ref()

    def _draw_ref(self) -> None:
        sc = self.scale
        if self.shown and sc is not None and sc.kind in KINDS and len(sc.points) == 2:
            p0, p1 = (tuple(map(float, p)) for p in sc.points)
            self.ref.show(sc.kind, p0, p1, f"Scale reference: {reference_text(sc)}, {sc.mm_per_px:.4g} mm/px")
        else:
            self.ref.hide()

    def _set(self, scale: Scale | None, file: Path | None) -> None:
        self.scale, self.file = scale, file
        self._draw_ref()
        self.changed.emit()

    # --- drawing (the hub forwards the canvas' mouse events in image pixels) ------------------------

    def set_kind(self, kind: str) -> None:
        if kind not in KINDS:
            raise ValueError(f"scale kind must be one of {', '.join(KINDS)}; got {kind!r}")
        self.kind = kind

    def set_drawing(self, on: bool) -> None:
        self.drawing = on
        self._start = None
        self.sketch.hide()
        vp = self.window.canvas.viewport()
        if on:
            vp.setCursor(Qt.CursorShape.CrossCursor)
            self.window.statusBar().showMessage(f"{HINTS[self.kind]} (Esc or right-click cancels)", 5000)
        else:
            vp.unsetCursor()

    def press(self, x: float, y: float) -> None:
        self._start = (x, y)

    def move(self, x: float, y: float) -> bool:
        if self._start is None:
            return False
        self.sketch.show(self.kind, self._start, (x, y))
        return True

    def release(self, x: float, y: float) -> tuple[float, float] | None:
        """End of the drag: where it started, or None (the caller turns the tool off, then `ask`)."""
        start, self._start = self._start, None
        return start

    def ask(self, p0: tuple[float, float], p1: tuple[float, float]) -> None:
        """Ask the drawn shape's known size in mm, set the scale and save it beside the source."""
        self.sketch.show(self.kind, p0, p1)  # in sight while the size is typed
        try:
            sc = scale_shapes.ask_scale(self.window, self.kind, p0, p1)
        except UserInputError as e:
            QMessageBox.warning(self.window, "Scale", str(e))
            return
        finally:
            self.sketch.hide()
        if sc is None:
            return
        self.apply(sc)

    def set_given(self, mm_per_px: float) -> None:
        """A known scale typed in (mm per pixel): in force and saved beside the source like a drawn one."""
        try:
            sc = given(mm_per_px)
        except UserInputError as e:
            QMessageBox.warning(
                self.window, "Scale", str(e).replace("--scale (mm per pixel)", "The scale (mm per pixel)")
            )
            return
        sc.note = "typed in the Measure panel"
        self.apply(sc)

    def apply(self, sc: Scale) -> None:
        """Put `sc` in force for the source on screen and save it beside the source (a camera: this session)."""
        r = self.window.current
        if r is not None:
            sc.image_size = [int(r.rgb.shape[1]), int(r.rgb.shape[0])]
        target, file = self.target(), None
        bar = self.window.statusBar()
        if target is None:
            bar.showMessage(
                "Scale set for this session only (a camera or stream has no file to save it beside)", 8000
            )
        else:
            try:
                file = save_scale(target, sc)
            except UserInputError as e:
                QMessageBox.warning(
                    self.window, "Scale not saved", f"{e}\nThe scale is used for this session only."
                )
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
