"""Prediction (class ids) → fragment labels (one id per rock).

Two ways, chosen by the checkpoint's `fragments` entry:
  * with an edge class: every connected component of the *interior* class is a seed; a watershed over
    interior + edge (the rock) grows the seeds until they meet, so each rock gets its edge band back.
    Rock pixels no seed reaches (a stone so small it is all edge) become fragments of their own.
  * without one (a plain rock/background model, or a binary mask): distance-transform watershed —
    peaks of the distance to the background at least `min_distance` pixels apart are the seeds.
Both use scikit-image's watershed; nothing here is hand-written segmentation.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from skimage.feature import peak_local_max
from skimage.measure import label as cc_label
from skimage.segmentation import watershed

# Seeds of the distance-transform split must be this far apart (pixels). Two touching round rocks of
# diameter d have distance peaks about d apart and one peak each; 7 px keeps rocks of ~10 px and up
# apart while merging the spurious peaks an elongated or rough outline gives. Scale it with the rock
# size in pixels (docs/fragments.md).
MIN_DISTANCE = 7


def split_with_edges(interior: np.ndarray, rock: np.ndarray) -> np.ndarray:
    """HxW int32 fragment ids from an interior mask and the rock mask (interior | edge)."""
    interior = np.asarray(interior, bool)
    rock = np.asarray(rock, bool) | interior
    seeds = cc_label(interior, connectivity=1).astype(np.int32)
    n = int(seeds.max())
    if n == 0:
        return cc_label(rock, connectivity=1).astype(np.int32)
    # Grow by distance from the interiors: each edge pixel goes to the nearest seed, stopped by background.
    dist = ndimage.distance_transform_edt(~interior)
    labels = watershed(dist, markers=seeds, mask=rock).astype(np.int32)
    left = rock & (labels == 0)
    if left.any():  # rock islands with no interior: small stones that are all edge
        extra = cc_label(left, connectivity=1).astype(np.int32)
        labels[left] = extra[left] + n
    return labels


def split_by_distance(rock: np.ndarray, min_distance: int = MIN_DISTANCE) -> np.ndarray:
    """HxW int32 fragment ids from a rock mask alone (distance-transform watershed)."""
    rock = np.asarray(rock, bool)
    if not rock.any():
        return np.zeros(rock.shape, np.int32)
    comps = cc_label(rock, connectivity=1)
    dist = ndimage.distance_transform_edt(rock)
    peaks = peak_local_max(dist, min_distance=max(1, int(min_distance)), labels=comps, exclude_border=False)
    markers = np.zeros(rock.shape, np.int32)
    markers[tuple(peaks.T)] = np.arange(1, len(peaks) + 1, dtype=np.int32)
    # Plateaus give several adjacent peaks: merge touching markers into one seed.
    markers = cc_label(markers > 0, connectivity=2).astype(np.int32)
    n = int(markers.max())
    labels = watershed(-dist, markers=markers, mask=rock).astype(np.int32)
    left = rock & (labels == 0)
    if left.any():  # components without a peak (cannot happen with exclude_border=False, but be safe)
        extra = cc_label(left, connectivity=1).astype(np.int32)
        labels[left] = extra[left] + n
    return labels


def split_classes(
    class_ids: np.ndarray, interior_id: int, edge_id: int | None, min_distance: int = MIN_DISTANCE
) -> np.ndarray:
    """Fragment ids from a class-id map, by the edge class when there is one, else by distance."""
    ids = np.asarray(class_ids)
    interior = ids == interior_id
    if edge_id is None:
        return split_by_distance(interior, min_distance)
    return split_with_edges(interior, interior | (ids == edge_id))


def relabel_sequential(labels: np.ndarray) -> np.ndarray:
    """Ids 1..N in order of first appearance in raster order (stable numbering for files)."""
    labels = np.asarray(labels)
    flat = labels.ravel()
    ids, first = np.unique(flat, return_index=True)
    keep = ids != 0
    ids, first = ids[keep], first[keep]
    order = ids[np.argsort(first)]
    lut = np.zeros(int(labels.max()) + 1 if labels.size else 1, np.int32)
    lut[order] = np.arange(1, len(order) + 1, dtype=np.int32)
    return lut[labels]
