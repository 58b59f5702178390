"""Label mode's smart tools (issue 21), no download needed: GrabCut (drag a box around an object, then refine
it with strokes inside the box: a stroke that starts on the object found says "not this", one that starts
off it says "this too") and intelligent scissors (click along an object's edge; the path snaps to edges; double-click or Enter closes
it and fills it). The work is in `segtool.core.smart_tools`; this is the mouse handling.

GrabCut runs in a background thread on a copy of the frame (a large box on a large frame takes seconds);
its result is painted only if the same frame is still being labelled. The scissors' edge map is built
per frame on first use (about 0.1 s per megapixel) and each click costs one pass over the frame.
"""

from __future__ import annotations

import threading

import cv2
import numpy as np
from PySide6.QtCore import QObject, Signal

from segtool.core.smart_tools import LiveWire, grabcut_box

SMART_TOOLS = ("grabcut", "scissors")


class SmartTools(QObject):
    """GrabCut and scissors for one `LabelHub`: it forwards the layer's mouse events for these tools."""

    grabcutReady = Signal(object, object, int, object)  # (frame key, HxW bool region, class, the run's state)

    def __init__(self, hub) -> None:
        super().__init__(hub)
        self.hub = hub
        self._box_start: tuple[float, float] | None = None
        self._threads: list[threading.Thread] = []
        self._wire: LiveWire | None = None
        self._wire_key = None
        self._points: list[tuple[float, float]] = []  # the scissors' outline so far (snapped)
        self._first: tuple[float, float] | None = None
        # The last GrabCut on this frame, refined by strokes: {key, box, fg, bg, cls, region, edit} (edit = the
        # editor's undo id of its result, replaced by the next refinement while nothing else was edited).
        self._gc: dict | None = None
        self._stroke: list[tuple[float, float]] | None = None
        self.grabcutReady.connect(self._grabcut_ready)

    # --- GrabCut ---------------------------------------------------------------------------------------

    def _in_box(self, x: float, y: float) -> bool:
        gc = self._gc
        if gc is None or gc["key"] != self.hub.key:
            return False
        x0, y0, x1, y1 = gc["box"]
        return min(x0, x1) <= x <= max(x0, x1) and min(y0, y1) <= y <= max(y0, y1)

    def press(self, x: float, y: float) -> None:
        if self.hub.tool == "grabcut":
            if self._in_box(x, y):
                self._stroke = [(x, y)]  # a refining stroke inside the last box
            else:
                self._box_start = (x, y)
        elif self.hub.tool == "scissors":
            self._scissors_click(x, y)

    def move(self, x: float, y: float) -> None:
        if self.hub.tool == "grabcut" and self._stroke is not None:
            self._stroke.append((x, y))
            self.hub.layer.show_path(self._stroke)
        elif self.hub.tool == "grabcut" and self._box_start is not None:
            x0, y0 = self._box_start
            self.hub.layer.show_path([(x0, y0), (x, y0), (x, y), (x0, y)], closed=True)

    def release(self, x: float, y: float) -> None:
        if self.hub.tool == "grabcut" and self._stroke is not None:
            self._refine(self._stroke + [(x, y)])
            return
        if self.hub.tool != "grabcut" or self._box_start is None:
            return
        (x0, y0), self._box_start = self._box_start, None
        self.hub.layer.show_path([])
        r, key, cls = self.hub.result, self.hub.key, self.hub.cls
        if r is None or abs(x - x0) < 3 or abs(y - y0) < 3:
            return
        h, w = r.rgb.shape[:2]
        state = {
            "key": key,
            "box": (x0, y0, x, y),
            "fg": np.zeros((h, w), bool),
            "bg": np.zeros((h, w), bool),
            "cls": cls,
            "region": None,
            "edit": None,
        }
        self._run(state)

    def _refine(self, pts: list[tuple[float, float]]) -> None:
        """A stroke inside the last box: starting on the object found it says "not this", else "this too"."""
        self._stroke = None
        self.hub.layer.show_path([])
        gc = self._gc
        if gc is None or gc["key"] != self.hub.key or self.hub.result is None:
            return
        line = np.zeros(gc["fg"].shape, np.uint8)
        xy = np.round(np.array(pts, np.float64)).astype(np.int32).reshape(-1, 1, 2)
        cv2.polylines(line, [xy], False, 1, thickness=5)  # a 2-px brush either side of the drag
        x0, y0 = int(round(pts[0][0])), int(round(pts[0][1]))
        h, w = line.shape
        on_object = gc["region"] is not None and bool(
            gc["region"][min(h - 1, max(0, y0)), min(w - 1, max(0, x0))]
        )
        state = dict(gc, fg=gc["fg"].copy(), bg=gc["bg"].copy())
        (state["bg"] if on_object else state["fg"])[line > 0] = True
        (state["fg"] if on_object else state["bg"])[line > 0] = False
        self._run(state)

    def _run(self, state: dict) -> None:
        rgb = self.hub.result.rgb
        fg, bg = state["fg"].copy(), state["bg"].copy()

        def work() -> None:
            region = grabcut_box(
                rgb, state["box"], foreground=fg if fg.any() else None, background=bg if bg.any() else None
            )
            self.grabcutReady.emit(state["key"], region, state["cls"], state)

        t = threading.Thread(target=work, name="segtool-grabcut", daemon=True)
        self._threads = [t2 for t2 in self._threads if t2.is_alive()] + [t]
        t.start()
        self.hub.window.statusBar().showMessage("GrabCut: finding the object in the box…", 3000)

    def _grabcut_ready(self, key, region, cls: int, state: dict) -> None:
        hub = self.hub
        if hub.editor is None or key != hub.key:
            return  # the frame changed meanwhile: never paint one frame's object on another
        ed = hub.editor
        if state["edit"] is not None and ed.last_edit == state["edit"]:
            ed.undo()  # a refinement replaces the result it refines (the new fill below clears the redo)
        state = dict(state, region=region, edit=None)
        self._gc = state
        if not region.any():
            hub.window.statusBar().showMessage(
                "GrabCut found no object in that box: drag a stroke inside the box "
                'over the object ("this too"), or drag a larger box',
                6000,
            )
        else:
            f = hub.fragments  # a fragment model: GrabCut's object in the interior class is one fragment
            if f is not None and cls == hub.class_names.index(f["interior"]):
                ed.add_fragment(region, cls)
            else:
                ed.fill_region(region, cls)
            state["edit"] = ed.last_edit
        hub._redraw()
        hub._update_state()

    def wait(self, timeout: float = 30.0) -> None:
        """Tests and shutdown: wait for GrabCut runs in flight."""
        for t in self._threads:
            t.join(timeout)

    # --- intelligent scissors ---------------------------------------------------------------------------

    def _live_wire(self) -> LiveWire | None:
        hub = self.hub
        if hub.result is None:
            return None
        if self._wire is None or self._wire_key != hub.key:
            self._wire, self._wire_key = LiveWire(hub.result.rgb), hub.key
            self._points, self._first = [], None
        return self._wire

    def _scissors_click(self, x: float, y: float) -> None:
        wire = self._live_wire()
        if wire is None:
            return
        if self._first is None:
            self._first = (x, y)
            self._points = [(x, y)]
        else:
            self._points += [(float(px), float(py)) for px, py in wire.path_to(x, y)[1:]]
        wire.start(x, y)
        self.hub.layer.show_path(self._points)

    def hover(self, x: float, y: float) -> None:
        """Show the snapped path from the last click to the pointer."""
        if self.hub.tool == "scissors" and self._first is not None and self._wire is not None:
            tail = [(float(px), float(py)) for px, py in self._wire.path_to(x, y)]
            self.hub.layer.show_path(self._points + tail)

    def close(self) -> bool:
        """Close the scissors' outline back to its first point (along edges) and fill it. True if it filled."""
        wire, pts, first = self._wire, self._points, self._first
        self._points, self._first = [], None
        self.hub.layer.show_path([])
        if (
            wire is None
            or first is None
            or len(pts) < 3
            or self.hub.editor is None
            or self._wire_key != self.hub.key
        ):
            return False
        pts = pts + [(float(px), float(py)) for px, py in wire.path_to(*first)[1:]]
        if self.hub.editor.fill_polygon(pts, self.hub.cls):
            self.hub._redraw()
            self.hub._update_state()
            return True
        return False

    def cancel(self) -> None:
        self._points, self._first, self._box_start, self._stroke, self._gc = [], None, None, None, None
        self.hub.layer.show_path([])
