"""Editing one frame's labels: brush, eraser, polygon, superpixel fill, fragment outlines, undo/redo.

Qt-free, so label mode's behaviour is tested without a window; the app's label canvas turns mouse events
(in image coordinates, whatever the zoom) into these calls. One owner: the GUI thread edits, and hands
copies to the saver.

- The mask is HxW uint8 class ids; `UNKNOWN` (255) = never painted, ignored in training. The eraser
  paints unknown.
- Instances (HxW uint16, 0 = none) exist once a fragment is outlined: each closed outline is one new
  fragment id and also paints its class. Any other edit that changes a pixel's class takes the pixel out
  of its fragment (instance 0), so instances and mask never disagree: painting background over a fragment
  or erasing it removes it, painting its own class over it keeps it.
- Undo history: one entry per stroke/fill, holding only the changed rectangle before and after
  (napari's Labels layer does the same), bounded by `max_undo_bytes`; the oldest entries go first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from skimage.draw import polygon as _polygon

UNKNOWN = 255


@dataclass
class _Edit:
    y0: int
    y1: int
    x0: int
    x1: int
    mask_before: np.ndarray
    mask_after: np.ndarray
    inst_before: np.ndarray | None = None
    inst_after: np.ndarray | None = None
    id: int = 0

    @property
    def nbytes(self) -> int:
        n = self.mask_before.nbytes * 2
        if self.inst_before is not None:
            n += self.inst_before.nbytes * 2
        return n


def superpixels(rgb: np.ndarray, *, method: str = "slic", size: int = 24) -> np.ndarray:
    """Superpixel labels (HxW int32) for region fill: SLIC (compact, even) or Felzenszwalb (follows edges).

    `size` is the typical superpixel side in pixels. Slow on big frames (≈0.3 s per megapixel for SLIC
    on one core): the app computes it off the GUI thread and caches it per frame.
    """
    from skimage.segmentation import felzenszwalb, slic

    h, w = rgb.shape[:2]
    if method == "slic":
        n = max(1, (h * w) // max(1, size * size))
        return slic(rgb, n_segments=n, compactness=10.0, start_label=0, channel_axis=-1).astype(np.int32)
    if method == "felzenszwalb":
        return felzenszwalb(rgb, scale=size * 4, sigma=0.8, min_size=max(4, size * size // 4)).astype(
            np.int32
        )
    raise ValueError(f"unknown superpixel method {method!r}; use slic or felzenszwalb")


class LabelEditor:
    """One frame's mask (and fragment instances) under edit, with undo/redo.

    Args:
        mask: the saved mask, or None to start with every pixel unknown (needs `shape`).
        instances: saved fragment ids, if any.
        max_undo_bytes: memory the undo history may hold.
    """

    def __init__(
        self,
        mask: np.ndarray | None = None,
        *,
        shape: tuple[int, int] | None = None,
        instances: np.ndarray | None = None,
        max_undo_bytes: int = 64 * 1024 * 1024,
    ) -> None:
        if mask is None:
            if shape is None:
                raise ValueError("give a mask or a shape")
            mask = np.full(shape, UNKNOWN, np.uint8)
        self._mask = np.array(mask, np.uint8, copy=True)
        self._inst = None if instances is None else np.array(instances, np.uint16, copy=True)
        self._undo: list[_Edit] = []
        self._redo: list[_Edit] = []
        self.max_undo_bytes = int(max_undo_bytes)
        self._stroke: tuple[tuple[float, float], int, int, np.ndarray, np.ndarray | None] | None = None
        self._next_id = 1
        self._saved_top: int | None = None  # id of the newest undo entry when last saved

    # --- state -----------------------------------------------------------------------------------

    @property
    def mask(self) -> np.ndarray:
        """The current mask (read-only view; `copy()` it to keep)."""
        v = self._mask.view()
        v.flags.writeable = False
        return v

    @property
    def instances(self) -> np.ndarray | None:
        if self._inst is None:
            return None
        v = self._inst.view()
        v.flags.writeable = False
        return v

    @property
    def shape(self) -> tuple[int, int]:
        return self._mask.shape  # type: ignore[return-value]

    @property
    def dirty(self) -> bool:
        """True when the labels differ from what was last saved (or loaded)."""
        top = self._undo[-1].id if self._undo else None
        return self._stroke is not None or top != self._saved_top

    def mark_saved(self) -> None:
        self._saved_top = self._undo[-1].id if self._undo else None

    @property
    def last_edit(self) -> int | None:
        """An id of the newest undo entry (None when there is none): a tool that wants to replace its own last
        edit (GrabCut's refining strokes) undoes it only while this is still the id it saw."""
        return self._undo[-1].id if self._undo else None

    def can_undo(self) -> bool:
        return bool(self._undo)

    def can_redo(self) -> bool:
        return bool(self._redo)

    # --- brush and eraser ------------------------------------------------------------------------

    def begin_stroke(self, x: float, y: float, radius: float, value: int) -> None:
        """Start a brush stroke at (x, y) in image pixels; `value` UNKNOWN is the eraser."""
        self._stroke = ((x, y), int(radius), int(value), self._mask.copy(), None)
        self._paint_segment((x, y), (x, y))

    def stroke_to(self, x: float, y: float) -> None:
        if self._stroke is None:
            return
        last = self._stroke[0]
        self._paint_segment(last, (x, y))
        self._stroke = ((x, y), *self._stroke[1:])

    def end_stroke(self) -> None:
        """Close the stroke: one undo entry for all of it."""
        if self._stroke is None:
            return
        before = self._stroke[3]
        self._stroke = None
        changed = np.nonzero(before != self._mask)
        if changed[0].size == 0:
            return
        y0, y1 = int(changed[0].min()), int(changed[0].max()) + 1
        x0, x1 = int(changed[1].min()), int(changed[1].max()) + 1
        ib, ia = self._drop_instances(y0, y1, x0, x1, before[y0:y1, x0:x1])
        self._push(
            _Edit(y0, y1, x0, x1, before[y0:y1, x0:x1].copy(), self._mask[y0:y1, x0:x1].copy(), ib, ia)
        )

    def _drop_instances(self, y0: int, y1: int, x0: int, x1: int, mask_before: np.ndarray):
        """Take pixels whose class changed in the box out of their fragment; (instances before, after) of
        the box for the undo entry, or (None, None) when no fragment was touched."""
        if self._inst is None:
            return None, None
        box = self._inst[y0:y1, x0:x1]
        hit = (mask_before != self._mask[y0:y1, x0:x1]) & (box > 0)
        if not hit.any():
            return None, None
        before = box.copy()
        box[hit] = 0
        return before, box.copy()

    def _paint_segment(self, a: tuple[float, float], b: tuple[float, float]) -> None:
        assert self._stroke is not None
        r, value = self._stroke[1], self._stroke[2]
        h, w = self._mask.shape
        x0, x1 = int(np.floor(min(a[0], b[0]) - r)), int(np.ceil(max(a[0], b[0]) + r)) + 1
        y0, y1 = int(np.floor(min(a[1], b[1]) - r)), int(np.ceil(max(a[1], b[1]) + r)) + 1
        x0, y0, x1, y1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
        if x0 >= x1 or y0 >= y1:
            return
        yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
        ax, ay, bx, by = float(a[0]), float(a[1]), float(b[0]), float(b[1])
        dx, dy = bx - ax, by - ay
        L2 = dx * dx + dy * dy
        t = np.zeros_like(xx) if L2 == 0 else np.clip(((xx - ax) * dx + (yy - ay) * dy) / L2, 0.0, 1.0)
        d2 = (xx - (ax + t * dx)) ** 2 + (yy - (ay + t * dy)) ** 2
        self._mask[y0:y1, x0:x1][d2 <= max(r, 0.5) ** 2] = value

    # --- fills -----------------------------------------------------------------------------------

    def fill_polygon(self, points: Sequence[tuple[float, float]], value: int) -> bool:
        """Fill the closed polygon (x, y points in image pixels) with `value`; False for < 3 points."""
        rr, cc = self._polygon_pixels(points)
        if rr is None:
            return False
        return self._apply(rr, cc, value)

    def fill_region(self, region: np.ndarray, value: int) -> bool:
        """Paint every True pixel of the HxW bool `region` (e.g. GrabCut's object) with `value`; one undo step."""
        if region.shape != self._mask.shape:
            raise ValueError(f"region {region.shape} does not fit the frame {self._mask.shape}")
        rr, cc = np.nonzero(region)
        return self._apply(rr, cc, value)

    def fill_regions(self, segments: np.ndarray, points: Sequence[tuple[float, float]], value: int) -> bool:
        """Fill every superpixel of `segments` under one of `points` with `value`."""
        if segments.shape != self._mask.shape:
            raise ValueError(f"superpixels {segments.shape} do not fit the frame {self._mask.shape}")
        h, w = self._mask.shape
        ids = {int(segments[min(h - 1, max(0, int(y))), min(w - 1, max(0, int(x)))]) for x, y in points}
        rr, cc = np.nonzero(np.isin(segments, list(ids)))
        return self._apply(rr, cc, value)

    def outline_fragment(self, points: Sequence[tuple[float, float]], value: int) -> int:
        """A closed outline is one fragment: paints `value` and gives it a new instance id (returned; 0 when
        the outline has fewer than 3 points). Later outlines are drawn over earlier ones."""
        rr, cc = self._polygon_pixels(points)
        if rr is None or rr.size == 0:
            return 0
        if self._inst is None:
            self._inst = np.zeros(self._mask.shape, np.uint16)
        new_id = int(self._inst.max()) + 1
        self._apply(rr, cc, value, instance=new_id)
        return new_id

    def add_fragment(self, region: np.ndarray, value: int) -> int:
        """The HxW bool `region` becomes one new fragment of class `value` (click a fragment): its new instance
        id is returned (0 for an empty region). Drawn over what was there; one undo step."""
        if region.shape != self._mask.shape:
            raise ValueError(f"region {region.shape} does not fit the frame {self._mask.shape}")
        rr, cc = np.nonzero(region)
        if rr.size == 0:
            return 0
        if self._inst is None:
            self._inst = np.zeros(self._mask.shape, np.uint16)
        new_id = int(self._inst.max()) + 1
        self._apply(rr, cc, value, instance=new_id)
        return new_id

    def set_from_prediction(
        self,
        pred: np.ndarray,
        confidence: np.ndarray | None = None,
        threshold: float = 0.0,
        instances: np.ndarray | None = None,
    ) -> None:
        """Replace the labels by the model's mask; pixels whose confidence is below `threshold` stay
        unknown (for the user to paint). `instances`: the fragments of the prediction (a fragment model),
        which replace the frame's fragments (none where the confidence is too low). One undo entry."""
        if pred.shape != self._mask.shape:
            raise ValueError(f"prediction {pred.shape} does not fit the frame {self._mask.shape}")
        new = np.array(pred, np.uint8, copy=True)
        if confidence is not None and threshold > 0:
            new[confidence < threshold] = UNKNOWN
        before = self._mask.copy()
        self._mask[...] = new
        h, w = self._mask.shape
        if instances is None:
            ib, ia = self._drop_instances(0, h, 0, w, before)
        else:
            ib = np.zeros((h, w), np.uint16) if self._inst is None else self._inst.copy()
            self._inst = np.where(new == UNKNOWN, 0, instances).astype(np.uint16)
            ia = self._inst.copy()
        self._push(_Edit(0, h, 0, w, before, new.copy(), ib, ia))

    def _polygon_pixels(self, points):
        if len(points) < 3:
            return None, None
        xs = np.array([p[0] for p in points], np.float64)
        ys = np.array([p[1] for p in points], np.float64)
        return _polygon(ys, xs, shape=self._mask.shape)

    def _apply(self, rr: np.ndarray, cc: np.ndarray, value: int, instance: int | None = None) -> bool:
        if rr.size == 0:
            return False
        y0, y1, x0, x1 = int(rr.min()), int(rr.max()) + 1, int(cc.min()), int(cc.max()) + 1
        mb = self._mask[y0:y1, x0:x1].copy()
        ib = self._inst[y0:y1, x0:x1].copy() if instance is not None and self._inst is not None else None
        self._mask[rr, cc] = value
        if instance is not None and self._inst is not None:
            self._inst[rr, cc] = instance
            ia = self._inst[y0:y1, x0:x1].copy()
        else:
            ib, ia = self._drop_instances(y0, y1, x0, x1, mb)
        self._push(_Edit(y0, y1, x0, x1, mb, self._mask[y0:y1, x0:x1].copy(), ib, ia))
        return True

    # --- history ---------------------------------------------------------------------------------

    def _push(self, e: _Edit) -> None:
        e.id, self._next_id = self._next_id, self._next_id + 1
        self._undo.append(e)
        self._redo.clear()
        total = sum(x.nbytes for x in self._undo)
        while len(self._undo) > 1 and total > self.max_undo_bytes:
            total -= self._undo.pop(0).nbytes

    def undo(self) -> bool:
        if not self._undo:
            return False
        e = self._undo.pop()
        self._put(e, before=True)
        self._redo.append(e)
        return True

    def redo(self) -> bool:
        if not self._redo:
            return False
        e = self._redo.pop()
        self._put(e, before=False)
        self._undo.append(e)
        return True

    def _put(self, e: _Edit, *, before: bool) -> None:
        self._mask[e.y0 : e.y1, e.x0 : e.x1] = e.mask_before if before else e.mask_after
        inst = e.inst_before if before else e.inst_after
        if inst is not None and self._inst is not None:
            self._inst[e.y0 : e.y1, e.x0 : e.x1] = inst
