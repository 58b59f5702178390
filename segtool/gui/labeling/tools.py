"""Label mode's mouse and key handling on the canvas (brush strokes, polygons by clicks or a freehand
lasso drag, fragment outlines, region fill
over superpixels computed off the GUI thread) — a mixin of `LabelHub`.

For a fragment model (a `fragments` entry with an edge class, e.g. rock_fragments: background / rock /
rock_edge) the user labels fragments as instances: an outline, or a polygon of the interior class, is one
fragment; the edge class is not offered (nobody can brush a 3-px band: training derives it from the
outlines, `training.data.labelset.labelset_classes`)."""

from __future__ import annotations

import threading

import numpy as np
from PySide6.QtCore import Qt

from segtool.core.label_edit import UNKNOWN, superpixels
from segtool.core.labelset import labelset_fragments
from segtool.gui.labeling.smart import SMART_TOOLS

_TOOL_KEYS = {
    Qt.Key.Key_B: "brush",
    Qt.Key.Key_E: "eraser",
    Qt.Key.Key_P: "polygon",
    Qt.Key.Key_R: "region",
    Qt.Key.Key_O: "outline",
    Qt.Key.Key_G: "grabcut",
    Qt.Key.Key_I: "scissors",
    Qt.Key.Key_C: "fragment",
    Qt.Key.Key_A: "sam",
}


class ToolHandlers:
    """What the tools do with the layer's mouse and key signals; mixed into `LabelHub`."""

    # --- fragment models -------------------------------------------------------------------------

    @property
    def fragments(self) -> dict | None:
        """{"interior", "edge"} when fragments are labelled as instances (the label set's, or before one is
        open, the model's `fragments` entry), else None."""
        if self.labelset is not None:
            return self.labelset.fragments
        ck = getattr(getattr(self.window, "engine_info", None), "checkpoint", None)
        return labelset_fragments({"fragments": getattr(ck, "fragments", None)}, self.class_names)

    def model_fragments(self) -> dict | None:
        """The viewer model's `fragments` entry, for a new label set."""
        ck = getattr(getattr(self.window, "engine_info", None), "checkpoint", None)
        return getattr(ck, "fragments", None)

    def paintable_classes(self) -> list[int]:
        """Class ids offered in the class list: all but a fragment model's edge (and centre) class."""
        f = self.fragments
        derived = () if f is None else (f["edge"], f.get("centre"))
        return [i for i, n in enumerate(self.class_names) if n not in derived]

    def prediction_start(self, r) -> tuple[np.ndarray, np.ndarray | None]:
        """(class mask, fragment ids or None) that "Start from the prediction" puts in the frame. For a fragment
        model: the prediction cut into fragments as the Measure panel cuts it (edge-seeded watershed), each
        one an instance labelled with the interior class (its edge band is drawn again when training); edge
        pixels that belong to no fragment are unknown."""
        f = self.fragments
        if f is None:
            return r.mask, None
        from segtool.core.fragments.split import relabel_sequential, split_classes

        interior, edge = self.class_names.index(f["interior"]), self.class_names.index(f["edge"])
        centre = self.class_names.index(f["centre"]) if f.get("split") == "centre" else None
        frags = relabel_sequential(split_classes(r.mask, interior, edge, centre_id=centre))
        if frags.max() > 65535:  # more than a 16-bit PNG holds: keep the classes, let the user outline
            return r.mask, None
        mask = np.array(r.mask, np.uint8, copy=True)
        mask[frags > 0] = interior
        mask[(mask == edge) & (frags == 0)] = UNKNOWN
        return mask, frags.astype(np.uint16)

    def _show_classes(self) -> None:
        """Fill the panel's class list with the paintable classes."""
        palette = self.palette if self.palette is not None else np.zeros((0, 3), np.uint8)
        f = self.fragments
        note = (
            (
                f"Fragments: box one with GrabCut (G) and refine with strokes, click one the model sees (C), "
                f"outline it (O), or fill it with a polygon (P) as {f['interior']}; "
                f"{f['edge']} is not painted — training draws it along your outlines."
            )
            if f
            else ""
        )
        self.panel.set_classes(self.class_names, palette, self.paintable_classes(), note)

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
        elif self.tool == "fragment":
            self.clicker.click(x, y)
        elif self.tool == "sam":
            self.sam.click(x, y)

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
        f = self.fragments
        interior = self.class_names.index(f["interior"]) if f else None
        if self.tool == "outline" or (interior is not None and self.cls == interior):
            # A fragment model's outline is always a fragment of the interior class, whatever class is chosen.
            ed.outline_fragment(pts, self.cls if interior is None else interior)
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
            if n < self.panel.classes.count():  # rows, not class ids: a fragment model's edge has no row
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
