"""Label mode's mouse and key handling on the canvas (brush strokes, polygons by clicks or a freehand
lasso drag, fragment outlines, region fill
over superpixels computed off the GUI thread) — a mixin of `LabelHub`."""

from __future__ import annotations

import threading

from PySide6.QtCore import Qt

from segtool.core.label_edit import UNKNOWN, superpixels
from segtool.gui.labeling.smart import SMART_TOOLS

_TOOL_KEYS = {Qt.Key.Key_B: "brush", Qt.Key.Key_E: "eraser", Qt.Key.Key_P: "polygon", Qt.Key.Key_R: "region",
              Qt.Key.Key_O: "outline", Qt.Key.Key_G: "grabcut", Qt.Key.Key_I: "scissors"}  # fmt: skip


class ToolHandlers:
    """What the tools do with the layer's mouse and key signals; mixed into `LabelHub`."""

    def _press(self, x: float, y: float) -> None:
        ed = self.editor
        if ed is None:
            return
        if self.tool in ("brush", "eraser"):
            ed.begin_stroke(x, y, self.panel.brush.value(), UNKNOWN if self.tool == "eraser" else self.cls)
            self._redraw()
        elif self.tool in ("polygon", "outline"):
            self._poly.append((x, y))
            self._lasso = 0  # points added by dragging from this press
            self.layer.show_path(self._poly)
        elif self.tool == "region":
            self._region_at([(x, y)])
        elif self.tool in SMART_TOOLS:
            self.smart.press(x, y)

    def _move(self, x: float, y: float) -> None:
        ed = self.editor
        if ed is None:
            return
        if self.tool in ("brush", "eraser"):
            ed.stroke_to(x, y)
            self._redraw()
        elif self.tool == "region":
            self._region_at([(x, y)])
        elif self.tool in SMART_TOOLS:
            self.smart.move(x, y)
        elif self.tool in ("polygon", "outline") and self._poly:
            # Lasso: dragging with the button down traces the outline freehand (a point every 2 px).
            lx, ly = self._poly[-1]
            if (x - lx) ** 2 + (y - ly) ** 2 >= 4.0:
                self._poly.append((x, y))
                self._lasso = getattr(self, "_lasso", 0) + 1
                self.layer.show_path(self._poly)

    def _release(self, x: float, y: float) -> None:
        if self.editor is not None and self.tool in ("brush", "eraser"):
            self.editor.end_stroke()
            self._update_state()
        elif self.tool in ("polygon", "outline") and getattr(self, "_lasso", 0) >= 5:
            self._lasso = 0
            self.close_polygon()  # a freehand lasso closes when the button is let go
        elif self.tool in SMART_TOOLS:
            self.smart.release(x, y)

    def _double(self, x: float, y: float) -> None:
        if self.tool in ("polygon", "outline"):
            self.close_polygon()
        elif self.tool == "scissors":
            self.smart.close()

    def close_polygon(self) -> None:
        ed, pts = self.editor, self._poly
        self._poly = []
        self.layer.show_path([])
        if ed is None or len(pts) < 3:
            return
        if self.tool == "outline":
            ed.outline_fragment(pts, self.cls)
        else:
            ed.fill_polygon(pts, self.cls)
        self._redraw()
        self._update_state()

    def _hover(self, x: float, y: float) -> None:
        radius = self.panel.brush.value() if self.tool in ("brush", "eraser") else None
        self.layer.show_cursor(x, y, radius)
        if self._poly:
            self.layer.show_path([*self._poly, (x, y)])
        elif self.tool == "scissors":
            self.smart.hover(x, y)

    def _key(self, key: int) -> None:
        k = Qt.Key(key)
        if Qt.Key.Key_0 <= k <= Qt.Key.Key_9:
            n = 9 if k == Qt.Key.Key_0 else int(k - Qt.Key.Key_1)
            if n < len(self.class_names):
                self.panel.classes.setCurrentRow(n)
        elif k == Qt.Key.Key_BracketLeft:
            self.panel.brush.setValue(self.panel.brush.value() - max(1, self.panel.brush.value() // 8))
        elif k == Qt.Key.Key_BracketRight:
            self.panel.brush.setValue(self.panel.brush.value() + max(1, self.panel.brush.value() // 8))
        elif k in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self.smart.close() if self.tool == "scissors" else self.close_polygon()
        elif k == Qt.Key.Key_Escape:
            self._poly = []
            self.layer.show_path([])
            self.smart.cancel()
        elif k in _TOOL_KEYS:
            self.set_tool(_TOOL_KEYS[k])

    # --- superpixels (off the GUI thread, cached per frame) --------------------------------------

    def _sp_key(self) -> tuple | None:
        return None if self.key is None else (*self.key, self.panel.superpixel_size.value())

    def _request_superpixels(self) -> None:
        key, r = self._sp_key(), self.result
        if key is None or r is None or key in self._segments:
            return
        rgb, size = r.rgb, self.panel.superpixel_size.value()

        def work() -> None:
            self.superpixelsReady.emit(key, superpixels(rgb, method="slic", size=size))

        t = threading.Thread(target=work, name="segtool-superpixels", daemon=True)
        self._sp_threads = [x for x in self._sp_threads if x.is_alive()] + [t]
        t.start()
        self.window.statusBar().showMessage("Computing regions for the region fill…", 3000)

    def _superpixels_ready(self, key, segments) -> None:
        self._segments[key] = segments
        while len(self._segments) > 8:
            self._segments.popitem(last=False)
        if key == self._sp_key() and self._pending_region:
            pts, self._pending_region = self._pending_region, []
            self._region_at(pts)

    def wait_superpixels(self, timeout: float = 30.0) -> None:
        """Tests: wait for the background superpixel computations."""
        for t in self._sp_threads:
            t.join(timeout)

    def _region_at(self, pts: list[tuple[float, float]]) -> None:
        segs = self._segments.get(self._sp_key())
        if segs is None:
            self._pending_region.extend(pts)
            self._request_superpixels()
            return
        if self.editor is not None and self.editor.fill_regions(segs, pts, self.cls):
            self._redraw()
            self._update_state()
