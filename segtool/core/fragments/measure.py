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

COLUMNS = (
    "fragment",
    "area_px",
    "diameter_px",
    "feret_min_px",
    "feret_max_px",
    "cx",
    "cy",
    "touches_border",
    "confidence",
)


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
                "fragment": int(self.fragment[i]),
                "area_px": int(self.area_px[i]),
                "diameter_px": round(float(self.diameter_px[i]), 3),
                "feret_min_px": round(float(self.feret_min_px[i]), 3),
                "feret_max_px": round(float(self.feret_max_px[i]), 3),
                "cx": round(float(self.cx[i]), 2),
                "cy": round(float(self.cy[i]), 2),
                "touches_border": int(bool(self.touches_border[i])),
                "confidence": None if np.isnan(self.confidence[i]) else round(float(self.confidence[i]), 4),
            }
            if mm_per_px:
                s = float(mm_per_px)
                r.update(
                    area_mm2=round(float(self.area_px[i]) * s * s, 4),
                    diameter_mm=round(float(self.diameter_px[i]) * s, 4),
                    feret_min_mm=round(float(self.feret_min_px[i]) * s, 4),
                    feret_max_mm=round(float(self.feret_max_px[i]) * s, 4),
                )
            out.append(r)
        return out


def _empty() -> FragmentTable:
    z = np.zeros(0)
    return FragmentTable(
        z.astype(np.int32),
        z.astype(np.int64),
        z,
        z,
        z,
        z,
        z,
        z.astype(bool),
        z,
        z.astype(bool),
        z.astype(bool),
    )


def _calipers(pts: np.ndarray) -> tuple[float, float]:
    """(min, max) caliper width of a point set: rotating calipers over its convex hull (the minimum
    width is attained with one side flush to a hull edge). Written for few numpy calls: it runs once
    per fragment, hundreds of times a 1080p frame (half the time of the straightforward version)."""
    import cv2

    hull = cv2.convexHull(pts.astype(np.float32)).reshape(-1, 2).astype(float)
    d = hull[:, None, :] - hull[None, :, :]
    fmax = float(np.sqrt(np.einsum("ijk,ijk->ij", d, d).max()))
    edges = np.empty_like(hull)
    edges[:-1] = hull[1:] - hull[:-1]
    edges[-1] = hull[0] - hull[-1]
    lens = np.hypot(edges[:, 0], edges[:, 1])
    ok = lens > 0
    if not ok.all():
        if not ok.any():
            return 1.0, max(fmax, 1.0)
        edges, lens = edges[ok], lens[ok]
    proj = hull @ (
        np.stack([-edges[:, 1], edges[:, 0]]) / lens
    )  # (points, edges): distance along each normal
    return float((proj.max(0) - proj.min(0)).min()), fmax


_CORNERS = np.array([[-0.5, -0.5], [0.5, -0.5], [-0.5, 0.5], [0.5, 0.5]])


def feret_diameters(mask: np.ndarray) -> tuple[float, float]:
    """(min, max) Feret diameter of one fragment's mask, measured on its pixels' corners (so a single
    pixel is 1 x sqrt(2) and an s x s square s x s*sqrt(2))."""
    import cv2

    contours, _ = cv2.findContours(np.asarray(mask, np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    # (x, y) of the outline pixels; only their convex hull matters (the hull of the pixels' corners is the
    # hull of the hull points' corners), so it comes first: fewer points to expand
    pts = contours[0] if len(contours) == 1 else np.concatenate(contours)
    hull = cv2.convexHull(pts).reshape(-1, 2)
    return _calipers((hull[:, None, :] + _CORNERS[None]).reshape(-1, 2))


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
    if labels.size == 0 or labels.max() <= 0:
        return _empty()
    h, w = labels.shape
    flat = labels.ravel()
    m = int(labels.max()) + 1
    counts = np.bincount(flat, minlength=m)
    ids = np.nonzero(counts)[0]
    ids = ids[ids != 0]
    area = counts[ids].astype(np.int64)
    cy = np.zeros(len(ids))
    cx = np.zeros(len(ids))
    edge_ids = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    border = np.isin(ids, edge_ids)
    conf = np.full(len(ids), np.nan)
    if confidence is not None:
        conf = np.bincount(flat, weights=np.asarray(confidence, np.float64).ravel(), minlength=m)[ids] / area
    slices = ndimage.find_objects(labels)
    fmin = np.zeros(len(ids))
    fmax = np.zeros(len(ids))
    import cv2

    for i, k in enumerate(ids):
        sl = slices[int(k) - 1]
        sub = (labels[sl] == k).astype(np.uint8)
        mo = cv2.moments(sub, binaryImage=True)
        cx[i] = mo["m10"] / mo["m00"] + sl[1].start
        cy[i] = mo["m01"] / mo["m00"] + sl[0].start
        fmin[i], fmax[i] = feret_diameters(sub)
    diameter = 2.0 * np.sqrt(area / np.pi)
    fines = area < int(min_size_px)
    use = ~fines & (include_border | ~border)
    return FragmentTable(ids.astype(np.int32), area, diameter, fmin, fmax, cx, cy, border, conf, fines, use)
