"""Prediction (class ids) → fragment labels (one id per rock).

Three ways, chosen by the checkpoint's `fragments` entry:
  * with an edge class: every connected component of the *interior* class is a seed; a watershed over
    interior + edge (the rock) grows the seeds until they meet, so each rock gets its edge band back.
    Rock pixels no seed reaches (a stone so small it is all edge) become fragments of their own.
  * with a centre class (`"split": "centre"`, the learned centre split): every connected component of the
    *centre* class (the core of one rock) is a seed; a watershed grows the seeds over centre + interior +
    edge so that fragments meet where the rock is thinnest (`split_with_centres`).
  * without one (a plain rock/background model, or a binary mask): distance-transform watershed —
    peaks of the distance to the background at least `min_distance` pixels apart are the seeds.
The floods are scikit-image's and OpenCV's watersheds; nothing here is hand-written segmentation.
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


# Edge pixels farther than this from every interior are not part of a fragment (working-resolution
# pixels). A fragment's edge band is a few pixels wide by construction; a model that paints "edge"
# over sand and gaps (it did on gravel, with no background predicted at all) would otherwise let
# every fragment grow over its surroundings. Rock islands with no interior (stones too small to have
# one) count only up to LONELY_MAX_PX; larger ones are such painted-over gaps.
MAX_GROW = 6
LONELY_MAX_PX = 150


def split_with_edges(
    interior: np.ndarray,
    rock: np.ndarray,
    max_grow: float | None = MAX_GROW,
    lonely_max_px: int | None = LONELY_MAX_PX,
) -> np.ndarray:
    """HxW int32 fragment ids from an interior mask and the rock mask (interior | edge).

    OpenCV's marker watershed (Meyer's flooding) grows every interior component over the rock mask;
    the background is one more marker of the lowest priority, so no fragment grows across it. Inside
    the rock the priority is flat, so the flooding is breadth-first: each edge pixel joins the interior
    that reaches it first (the nearest one through the rock). 10x faster than scikit-image's
    watershed on a 1080p frame (0.7 s against 6.9 s measured), which matters in the app.
    """
    import cv2

    interior = np.asarray(interior, bool)
    rock = np.asarray(rock, bool) | interior
    seeds = cc_label(interior, connectivity=1).astype(np.int32)
    n = int(seeds.max())
    comps = cc_label(rock, connectivity=1).astype(np.int32)
    # Rock islands with no interior (small stones that are all edge) are fragments of their own.
    has_seed = np.bincount(comps[interior], minlength=int(comps.max()) + 1) > 0
    lonely = ~has_seed[comps] & rock
    if lonely_max_px is not None and lonely.any():
        sizes = np.bincount(comps[lonely], minlength=int(comps.max()) + 1)
        lonely &= sizes[comps] <= lonely_max_px
    if max_grow is not None and n:
        import cv2

        near = cv2.distanceTransform((~interior).astype(np.uint8), cv2.DIST_L2, 5) <= max_grow
        rock = (rock & (near | ~has_seed[comps])) | lonely
        rock &= ~(~has_seed[comps] & ~lonely)
    if n == 0:
        return cc_label(lonely, connectivity=1).astype(np.int32)
    markers = seeds
    if lonely.any():
        extra = cc_label(lonely, connectivity=1).astype(np.int32)
        markers[lonely] = extra[lonely] + n
        n = int(markers.max())
    bg = n + 1
    markers[~rock] = bg
    # Priority: 0 inside the rock, 255 outside, so the fragments flood the whole rock before the
    # background marker gets any of it.
    cv2.watershed(np.where(rock, 0, 255).astype(np.uint8)[..., None].repeat(3, axis=2), markers)
    labels = np.where((markers > 0) & (markers != bg), markers, 0).astype(np.int32)
    return _claim_leftovers(labels, rock, cv2_seams=True)


def _claim_leftovers(labels: np.ndarray, rock: np.ndarray, *, cv2_seams: bool) -> np.ndarray:
    """Rock pixels that no flood took get a fragment: with `cv2_seams`, first the neighbouring one (cv2's
    watershed leaves -1 where two floods meet and on the image's outer frame, and a 1-px rock sliver along
    the background can fall to it); whatever is left is a fragment per connected piece."""
    import cv2

    for _ in range(3 if cv2_seams else 0):
        left = rock & (labels == 0)
        if not left.any():
            break
        # the largest neighbouring id (3x3 max filter); OpenCV's dilate is ~5x faster than ndimage's
        # on a 960x540 map, and float32 holds every id exactly (far below 2**24 fragments)
        near = cv2.dilate(labels.astype(np.float32), np.ones((3, 3), np.uint8)).astype(np.int32)
        fill = left & (near > 0)
        labels[fill] = near[fill]
    left = rock & (labels == 0)
    if left.any():
        extra = cc_label(left, connectivity=1).astype(np.int32)
        labels[left] = extra[left] + int(labels.max())
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


# The centre split's flooding (`split_with_centres`), chosen by the labels-through-the-split oracle
# (benchmarks/eval_fragments.py --oracle-centre, docs/fragments.md "Splitting by centres"):
#   "flat": every rock pixel goes to the seed that reaches it first through the rock (breadth-first);
#   "distance": scikit-image watershed on the negated distance to the nearest edge or background pixel,
#       so fragments meet where the rock is thinnest (a neck between two cores);
#   "hybrid" (the default): the "distance" flood's fragments (up to 1-px seams), 2-3x faster on a
#       1080p frame's working map — see `_hybrid_flood`.
# ("Flooding the inside first, then the edge bands" is not offered: OpenCV's flooding gives a whole
# connected edge network to the first core that enters it — F1 0.67 against 0.93 on the gravel oracle.)
# "hybrid" replaced "distance" as the default because "distance" made a centre model 2.04x slower than
# the shipped edge model per 1080p frame (its scikit-image watershed: 615 ms against 218 ms for the
# whole edge split; issue 20 allows 1.5x), while the ceiling's F1 and that of three trained centre models
# moved by 0.004 at most, on gravel, conveyor, grains and muckseg (docs/fragments.md, "Splitting by centres").
CENTRE_FLOOD = "hybrid"
CENTRE_FLOODS = ("flat", "distance", "hybrid")
# Centre components smaller than this (pixels of the working map) seed no fragment: a model's speckle.
MIN_SEED_PX = 1


def split_with_centres(
    centre: np.ndarray,
    rock: np.ndarray,
    edge: np.ndarray | None = None,
    flood: str = CENTRE_FLOOD,
    min_seed_px: int = MIN_SEED_PX,
) -> np.ndarray:
    """HxW int32 fragment ids from the centre class (one connected core per rock) and the rock mask
    (interior | edge | centre; `edge`, the edge class, only steers the flooding).

    Rock no seed reaches (a rock whose core the model missed) is a fragment per connected piece.
    """
    import cv2

    centre = np.asarray(centre, bool)
    rock = np.asarray(rock, bool) | centre
    edge = np.zeros(rock.shape, bool) if edge is None else np.asarray(edge, bool) & rock & ~centre
    if flood not in CENTRE_FLOODS:
        raise ValueError(f"flood must be one of {CENTRE_FLOODS}; got {flood!r}")
    seeds = cc_label(centre, connectivity=1).astype(np.int32)
    if min_seed_px > 1 and seeds.max():
        small = np.bincount(seeds.ravel()) < min_seed_px
        small[0] = False
        seeds[small[seeds]] = 0
        seeds = cc_label(seeds > 0, connectivity=1).astype(np.int32)
    n = int(seeds.max())
    if n == 0:
        return cc_label(rock, connectivity=1).astype(np.int32)
    if flood == "distance":
        dist = ndimage.distance_transform_edt(rock & ~edge)
        labels = watershed(-dist, markers=seeds, mask=rock).astype(np.int32)
    elif flood == "hybrid":
        labels = _hybrid_flood(seeds, rock, edge)
    else:
        markers = seeds.copy()
        bg = n + 1
        markers[~rock] = bg
        # OpenCV's priority is the step between neighbouring values: 0 within the rock, 255 into the
        # background (flooded last, so no fragment grows across it).
        level = np.where(rock, 0, 255).astype(np.uint8)
        cv2.watershed(level[..., None].repeat(3, axis=2), markers)
        labels = np.where((markers > 0) & (markers != bg), markers, 0).astype(np.int32)
    return _claim_leftovers(labels, rock, cv2_seams=flood != "distance")


_CROSS = np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], np.uint8)


def _hybrid_flood(seeds: np.ndarray, rock: np.ndarray, edge: np.ndarray) -> np.ndarray:
    """The "distance" flood's fragments at a fraction of its cost (`split_with_centres`, flood "hybrid").

    scikit-image's watershed on the negated distance to the nearest edge or background pixel gives a
    pixel the cost of the highest level on its way from a seed, and floods the cheapest first. Every
    pixel of an *inside* (a connected piece of rock & ~edge, distance > 0) is reached from the seeds it
    holds below level 0, so insides are flooded completely, each by its own seeds, before any flood
    crosses an edge pixel (distance 0); everything after that costs 0, and ties go first come, first
    served: breadth-first. Hence:
      * an inside holding one seed is all that seed's (exactly);
      * only insides holding two or more seeds need the watershed, and only outside their seeds
        (scikit-image's, with the seeds' rims as markers: its heap holds the pixels it decides, no more);
      * the rest (edge bands and insides holding no seed) is a breadth-first flood from every labelled
        inside — OpenCV's watershed at one level, as in the "flat" flood and the edge split.
    The result differs from "distance" where a 1-px seam between two fronts falls (OpenCV leaves seams to
    `_claim_leftovers`) and where OpenCV's approximate distance orders two pixels otherwise: 98.6-99.1 %
    of the rock pixels of three 1080p working maps got the same fragment. Returns labels with 0 where no
    flood came (`_claim_leftovers` next).
    """
    import cv2

    n = int(seeds.max())
    centre = seeds > 0
    inside = rock & ~edge
    nc, comps = cv2.connectedComponents(inside.astype(np.uint8), connectivity=4, ltype=cv2.CV_32S)
    # every seed lies in one inside (it is connected and inside): the inside of each seed, the seeds of
    # each inside
    home = np.zeros(n + 1, np.int32)
    home[seeds[centre]] = comps[centre]
    count = np.bincount(home[1:], minlength=nc)
    # per inside: its seed when it holds one, -1 when it holds several (the watershed's), else 0
    owner = np.where(count >= 2, -1, 0).astype(np.int32)
    one = count[home] == 1
    one[0] = False
    owner[home[one]] = np.flatnonzero(one)
    mine = owner[comps]
    todo = (mine < 0) & ~centre
    labels = np.where(centre, seeds, np.maximum(mine, 0))
    if todo.any():
        # the watershed on the bounding box of what it decides (less to pad and convert)
        rim = centre & cv2.dilate(todo.astype(np.uint8), _CROSS).astype(bool)
        ys, xs = np.nonzero(todo.any(axis=1))[0], np.nonzero(todo.any(axis=0))[0]
        box = np.s_[max(ys[0] - 1, 0) : ys[-1] + 2, max(xs[0] - 1, 0) : xs[-1] + 2]
        # OpenCV's 5x5-mask distance: within ~2 % of the exact one, a third of its cost here, and the
        # same scores (eval_fragments --oracle-centre and the centre_s0 model: F1 equal to 0.001)
        dist = cv2.distanceTransform(inside.astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_5)
        part = todo[box]
        flooded = watershed(-dist[box], markers=np.where(rim[box], seeds[box], 0), mask=part | rim[box])
        labels[box][part] = flooded[part]
    # the edge bands (and seedless insides): breadth-first from every labelled inside. The background is
    # a 255 step, flooded after all the rock, and no marker: a background marker would make every rock
    # pixel that touches both it and a fragment a seam (-1), and a 1-px sliver of rock along the
    # background would stop the flood (the rock behind it left to fragments of its own).
    markers = labels.copy()
    level = (~rock).view(np.uint8) * np.uint8(255)
    cv2.watershed(cv2.cvtColor(level, cv2.COLOR_GRAY2BGR), markers)
    # rock reached only through the background (a rock piece no seed touches) is not a fragment's
    npieces, pieces = cv2.connectedComponents(rock.astype(np.uint8), connectivity=4, ltype=cv2.CV_32S)
    seeded = np.zeros(npieces, bool)
    seeded[pieces[centre]] = True
    rest = np.flatnonzero(rock & (labels == 0))
    rest = rest[seeded[pieces.ravel()[rest]]]
    labels.ravel()[rest] = np.maximum(markers.ravel()[rest], 0)
    return labels


def split_classes(
    class_ids: np.ndarray,
    interior_id: int,
    edge_id: int | None,
    min_distance: int = MIN_DISTANCE,
    centre_id: int | None = None,
) -> np.ndarray:
    """Fragment ids from a class-id map: by the centre class when there is one (`centre_id`), else by the
    edge class when there is one, else by distance."""
    ids = np.asarray(class_ids)
    interior = ids == interior_id
    if centre_id is not None:
        centre = ids == centre_id
        edge = None if edge_id is None else ids == edge_id
        # CENTRE_FLOOD looked up at call time, so a benchmark can compare floods through this entry point
        rock = interior | centre | (edge if edge is not None else False)
        return split_with_centres(centre, rock, edge, CENTRE_FLOOD)
    if edge_id is None:
        return split_by_distance(interior, min_distance)
    return split_with_edges(interior, interior | (ids == edge_id))


def relabel_sequential(labels: np.ndarray) -> np.ndarray:
    """Ids 1..N keeping their order (no gaps, so ids fit a 16-bit PNG when there are < 65536)."""
    labels = np.asarray(labels)
    if labels.size == 0:
        return labels.astype(np.int32)
    if labels.min() < 0:
        raise ValueError("fragment ids must be >= 0")
    present = np.bincount(labels.ravel()) > 0
    present[0] = False
    lut = np.zeros(len(present), np.int32)
    lut[present] = np.arange(1, int(present.sum()) + 1, dtype=np.int32)
    return lut[labels]
