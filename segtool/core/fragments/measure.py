"""Fragment ids → one row of measurements per fragment.

Sizes (pixels; times mm/px with a scale):
  * area: pixel count;
  * diameter: equivalent-circle diameter 2*sqrt(area/pi) — the size used for distributions;
  * feret_max / feret_min: largest and smallest caliper width of the fragment's outline, measured on
    the pixel corners (a s×s square: feret_min = s, feret_max = s*sqrt(2));
  * cx, cy: centroid (pixels, x to the right, y down);
  * touches_border: the fragment reaches the first or last row or column (its size is a lower bound);
  * confidence: mean model confidence over its pixels (None without a confidence map).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy.spatial import ConvexHull, QhullError

COLUMNS = ("fragment", "area_px", "diameter_px", "feret_min_px", "feret_max_px", "cx", "cy", "touches_border", "confidence")


@dataclass
class FragmentTable:
    """Column arrays, one entry per fragment, in id order (`fragment` = the id in the label image).

    `fines` marks pieces under the minimum size; `use` marks those that count in the distribution
    (not fines, and not touching the border unless border fragments are included)."""

    fragment: np.ndarray
    area_px: np.ndarray
    diameter_px: np.ndarray
    feret_min_px: np.ndarray
    feret_max_px: np.ndarray
    cx: np.ndarray
    cy: np.ndarray
    touches_border: np.ndarray
    confidence: np.ndarray  # NaN where unknown
    fines: np.ndarray
    use: np.ndarray

    def __len__(self) -> int:
        return int(len(self.fragment))

    def rows(self, mm_per_px: float | None = None) -> list[dict]:
        """One dict per fragment (CSV order), with the mm columns when a scale is given."""
        out = []
        for i in range(len(self)):
            r = {
                "fragment": int(self.fragment[i]), "area_px": int(self.area_px[i]),
                "diameter_px": round(float(self.diameter_px[i]), 3), "feret_min_px": round(float(self.feret_min_px[i]), 3),
                "feret_max_px": round(float(self.feret_max_px[i]), 3), "cx": round(float(self.cx[i]), 2),
                "cy": round(float(self.cy[i]), 2), "touches_border": int(bool(self.touches_border[i])),
                "confidence": None if np.isnan(self.confidence[i]) else round(float(self.confidence[i]), 4),
            }  # fmt: skip
            if mm_per_px:
                s = float(mm_per_px)
                r.update(area_mm2=round(float(self.area_px[i]) * s * s, 4), diameter_mm=round(float(self.diameter_px[i]) * s, 4),
                         feret_min_mm=round(float(self.feret_min_px[i]) * s, 4), feret_max_mm=round(float(self.feret_max_px[i]) * s, 4))  # fmt: skip
            out.append(r)
        return out


def _empty() -> FragmentTable:
    z = np.zeros(0)
    return FragmentTable(z.astype(np.int32), z.astype(np.int64), z, z, z, z, z, z.astype(bool), z, z.astype(bool), z.astype(bool))


def feret_diameters(rows: np.ndarray, cols: np.ndarray) -> tuple[float, float]:
    """(min, max) caliper width of a set of pixels, measured on their corners (rotating calipers over
    the convex hull: the minimum width is attained with one side flush to a hull edge)."""
    # Only the first and last pixel of each row can be on the hull.
    order = np.lexsort((cols, rows))
    r, c = rows[order], cols[order]
    starts = np.r_[0, np.nonzero(np.diff(r))[0] + 1]
    ends = np.r_[starts[1:] - 1, len(r) - 1]
    rr = np.r_[r[starts], r[ends]].astype(float)
    cc = np.r_[c[starts], c[ends]].astype(float)
    pts = np.concatenate([np.stack([cc + dx, rr + dy], 1) for dx in (-0.5, 0.5) for dy in (-0.5, 0.5)])
    pts = np.unique(pts, axis=0)
    try:
        hull = pts[ConvexHull(pts).vertices]
    except (QhullError, ValueError):
        hull = pts
    d = hull[:, None, :] - hull[None, :, :]
    fmax = float(np.sqrt((d**2).sum(-1)).max())
    edges = np.roll(hull, -1, axis=0) - hull
    lens = np.hypot(edges[:, 0], edges[:, 1])
    ok = lens > 0
    if not ok.any():
        return 1.0, fmax
    e = edges[ok] / lens[ok, None]
    normals = np.stack([-e[:, 1], e[:, 0]], 1)
    proj = hull @ normals.T  # (points, edges)
    fmin = float((proj.max(0) - proj.min(0)).min())
    return fmin, fmax


def measure(
    labels: np.ndarray,
    confidence: np.ndarray | None = None,
    *,
    min_size_px: int = 0,
    include_border: bool = False,
) -> FragmentTable:
    """Measure every fragment of a label image (0 = none, k > 0 = fragment k)."""
    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise ValueError(f"labels must be HxW, got shape {labels.shape}")
    ids = np.unique(labels)
    ids = ids[ids != 0]
    if len(ids) == 0:
        return _empty()
    h, w = labels.shape
    slices = ndimage.find_objects(labels)
    n = len(ids)
    area = np.zeros(n, np.int64)
    fmin = np.zeros(n)
    fmax = np.zeros(n)
    cx = np.zeros(n)
    cy = np.zeros(n)
    border = np.zeros(n, bool)
    conf = np.full(n, np.nan)
    for i, k in enumerate(ids):
        sl = slices[int(k) - 1]
        sub = labels[sl] == k
        rr, cc = np.nonzero(sub)
        area[i] = len(rr)
        r0, c0 = sl[0].start, sl[1].start
        cy[i] = rr.mean() + r0
        cx[i] = cc.mean() + c0
        border[i] = r0 == 0 or c0 == 0 or sl[0].stop == h or sl[1].stop == w
        fmin[i], fmax[i] = feret_diameters(rr, cc)
        if confidence is not None:
            conf[i] = float(np.asarray(confidence)[sl][sub].mean())
    diameter = 2.0 * np.sqrt(area / np.pi)
    fines = area < int(min_size_px)
    use = ~fines & (include_border | ~border)
    return FragmentTable(ids.astype(np.int32), area, diameter, fmin, fmax, cx, cy, border, conf, fines, use)
