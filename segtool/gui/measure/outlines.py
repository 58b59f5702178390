"""Fragment outlines coloured by size, as an RGBA layer over the frame (numpy only; runs in the viewer's
analysis thread, never on the GUI thread)."""

from __future__ import annotations

import numpy as np

from segtool.core.fragments.measure import FragmentTable

# Small → large: blue, cyan, green, yellow, red (log of the equivalent diameter, over the frame's range).
_ANCHORS = np.array([[40, 90, 255], [0, 210, 255], [60, 220, 60], [255, 225, 0], [255, 40, 30]], float)
FINES_RGBA = (170, 170, 170, 200)
BORDER_RGBA = (255, 255, 255, 150)


def size_colors(diameters: np.ndarray) -> np.ndarray:
    """N x 3 uint8 colours for `diameters` (log-scaled between the smallest and the largest)."""
    d = np.log(np.maximum(np.asarray(diameters, float), 1e-6))
    if len(d) == 0:
        return np.zeros((0, 3), np.uint8)
    lo, hi = float(d.min()), float(d.max())
    t = (d - lo) / (hi - lo) if hi > lo else np.full(len(d), 0.5)
    pos = t * (len(_ANCHORS) - 1)
    i = np.minimum(pos.astype(int), len(_ANCHORS) - 2)
    f = (pos - i)[:, None]
    return np.round(_ANCHORS[i] * (1 - f) + _ANCHORS[i + 1] * f).astype(np.uint8)


def outline_rgba(labels: np.ndarray, table: FragmentTable) -> np.ndarray:
    """H x W x 4 uint8, transparent but for each fragment's outline: coloured by size for fragments in
    the distribution, grey for fines, translucent white for fragments cut by the border."""
    labels = np.asarray(labels)
    h, w = labels.shape
    lut = np.zeros((int(labels.max()) + 1, 4), np.uint8)
    if len(table):
        ids = table.fragment.astype(np.int64)
        ok = ids < len(lut)
        lut[ids[ok]] = BORDER_RGBA
        lut[ids[ok & table.fines]] = FINES_RGBA
        used = ok & table.use
        lut[ids[used], :3] = size_colors(table.diameter_px[used])
        lut[ids[used], 3] = 255
    edge = np.zeros((h, w), bool)
    edge[:, 1:] |= labels[:, 1:] != labels[:, :-1]
    edge[:, :-1] |= labels[:, 1:] != labels[:, :-1]
    edge[1:, :] |= labels[1:, :] != labels[:-1, :]
    edge[:-1, :] |= labels[1:, :] != labels[:-1, :]
    edge &= labels > 0
    if max(h, w) > 1200:  # a 1-px line vanishes when a large photo is shown scaled down
        from scipy import ndimage

        edge = ndimage.binary_dilation(edge) & (labels > 0)
    out = np.zeros((h, w, 4), np.uint8)
    out[edge] = lut[labels[edge]]
    return out
