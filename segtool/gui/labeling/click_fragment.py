"""Label mode's "Click a fragment" tool (issue 21): with a fragment model loaded, one click labels the
fragment under the pointer as the model sees it — the prediction split into fragments as the Measure panel
splits it (`segtool.core.click_fragment`) — as one new fragment of the interior class, to accept or correct
with the other tools. One click = one undo step.

The split of the frame on screen is computed once per frame in a background thread (up to about a second on
a 1080p frame) and cached; a click that comes before it is ready is kept and answered when it arrives.
"""

from __future__ import annotations

import threading

from PySide6.QtCore import QObject, Signal

from segtool.core.click_fragment import fragment_at, split_prediction


class FragmentClicker(QObject):
    """Click a fragment for one `LabelHub`."""

    splitReady = Signal(object, object)  # (frame key, HxW fragment ids)

    def __init__(self, hub) -> None:
        super().__init__(hub)
        self.hub = hub
        self._key = None  # the frame (and prediction) the cached split belongs to
        self._split = None
        self._pending: list[tuple[float, float]] = []
        self._threads: list[threading.Thread] = []
        self.splitReady.connect(self._split_ready)

    def _ids(self) -> tuple[int, int | None, int | None] | None:
        """(interior id, edge id, centre id) of the loaded fragment model, or None when there is none to click
        with."""
        hub = self.hub
        f = hub.fragments
        info = getattr(hub.window, "engine_info", None)
        if f is None or info is None or list(info.class_names) != hub.class_names:
            return None
        names = hub.class_names
        edge = names.index(f["edge"]) if f.get("edge") in names else None
        return (
            names.index(f["interior"]),
            edge,
            names.index(f["centre"]) if f.get("split") == "centre" else None,
        )

    def _split_key(self):
        r = self.hub.result
        return None if r is None or r.mask is None else (self.hub.key, id(r.mask))

    def prepare(self) -> None:
        """Start splitting the frame on screen (when the tool is chosen or the frame changes)."""
        key, ids, r = self._split_key(), self._ids(), self.hub.result
        if key is None or ids is None or key == self._key:
            return
        mask = r.mask

        def work() -> None:
            self.splitReady.emit(key, split_prediction(mask, *ids))

        t = threading.Thread(target=work, name="segtool-click-fragment", daemon=True)
        self._threads = [x for x in self._threads if x.is_alive()] + [t]
        t.start()

    def _split_ready(self, key, split) -> None:
        if key != self._split_key():
            return  # another frame by now
        self._key, self._split = key, split
        pending, self._pending = self._pending, []
        for x, y in pending:
            self.click(x, y)

    def click(self, x: float, y: float) -> None:
        """Label the fragment at image pixel (x, y), or say why not."""
        hub = self.hub
        bar = hub.window.statusBar()
        ids = self._ids()
        if hub.editor is None:
            return
        if ids is not None and hub.result is not None and hub.result.mask is None:
            self._pending.append((x, y))  # answered when the prediction of this frame arrives (prepare)
            bar.showMessage("Waiting for the model's prediction of this frame…", 3000)
            return
        if ids is None or hub.result is None:
            bar.showMessage(
                "Click a fragment needs a fragment model (e.g. rock_fragments.pt) open with the same "
                "classes as the label set: open one with Ctrl+O",
                8000,
            )
            return
        if self._key != self._split_key():
            self._pending.append((x, y))
            self.prepare()
            bar.showMessage("Cutting the prediction into fragments…", 3000)
            return
        region = fragment_at(self._split, x, y)
        if region is None:
            bar.showMessage("The model sees no fragment there: outline it (O) or paint it", 5000)
            return
        hub.editor.add_fragment(region, ids[0])
        hub._redraw()
        hub._update_state()
        bar.showMessage(
            f"Fragment labelled ({int(region.sum())} px): correct it with the brush or eraser, "
            "or undo (Ctrl+Z)",
            5000,
        )

    def wait(self, timeout: float = 30.0) -> None:
        """Tests and shutdown: wait for splits in flight."""
        for t in self._threads:
            t.join(timeout)
