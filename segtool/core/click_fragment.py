"""Click a fragment (issue 21): the fragment under the pointer, taken from a fragment model's prediction, as
one labelled fragment.

Qt-free. The prediction is cut into fragments exactly as the Measure panel and "Start from the prediction"
cut it (`core.fragments.split`: interior components grown over the edge band by a watershed, or a
distance-transform split without an edge class), so what one click labels is what the Measure panel counts
as that rock. Splitting a frame costs up to a second on a 1080p frame, so callers split once per frame
(`split_prediction`) and look up each click (`fragment_at`, microseconds).
"""

from __future__ import annotations

import numpy as np

from segtool.core.fragments.split import relabel_sequential, split_classes

# A click that lands just off a fragment (on a gap between rocks, a pixel of background) takes the nearest
# fragment within this many pixels: aiming at a small stone on a zoomed-out frame misses by a few pixels.
SNAP_PX = 6


def split_prediction(
    class_ids: np.ndarray, interior_id: int, edge_id: int | None, centre_id: int | None = None
) -> np.ndarray:
    """HxW int32 fragment ids 1..N (0 = no fragment) of a class-id prediction, split as the Measure panel does
    (by the centre class when the model has one: the learned centre split)."""
    ids = np.asarray(class_ids)
    return relabel_sequential(split_classes(ids, interior_id, edge_id, centre_id=centre_id)).astype(np.int32)


def fragment_at(fragments: np.ndarray, x: float, y: float, snap_px: int = SNAP_PX) -> np.ndarray | None:
    """The fragment under image pixel (x, y) as an HxW bool mask, or None when no fragment is within `snap_px`.

    Args:
        fragments: HxW fragment ids (0 = none), from `split_prediction`.
        x, y: the click in image pixels (any float; outside the frame is clipped to it).
        snap_px: a click on no fragment takes the nearest one at most this far away.
    """
    h, w = fragments.shape
    cx, cy = min(w - 1, max(0, int(round(x)))), min(h - 1, max(0, int(round(y))))
    fid = int(fragments[cy, cx])
    if fid == 0 and snap_px > 0:
        y0, y1, x0, x1 = (
            max(0, cy - snap_px),
            min(h, cy + snap_px + 1),
            max(0, cx - snap_px),
            min(w, cx + snap_px + 1),
        )
        win = fragments[y0:y1, x0:x1]
        yy, xx = np.nonzero(win)
        if yy.size:
            d2 = (yy + y0 - cy) ** 2 + (xx + x0 - cx) ** 2
            k = int(np.argmin(d2))
            if d2[k] <= snap_px * snap_px:
                fid = int(win[yy[k], xx[k]])
    if fid == 0:
        return None
    return fragments == fid
