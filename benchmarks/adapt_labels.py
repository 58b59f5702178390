"""The labels a geologist at a new site makes, simulated from ground-truth outlines, for
benchmarks/adapt_fragments.py (docs/fragments.md, "Adapting to a new site").

Two kinds, each written in a form `segtool train` reads as it is:

- **outlines**: every fragment of the picked images outlined, the instance PNG folder of
  docs/fragments.md (`images/` + `instances/`, 16-bit ids): hours of work per dense photo (the
  simulated annotator of docs/labelling.md needs 7-8 clicks per fragment, and a grains photo has
  100-400 fragments), the upper end of what a site can give.
- **strokes**: a label set as the app's label mode saves it (`segtool.core.labelset.LabelSet`: `images/`,
  `masks/` with class ids and 255 = unknown, `classes.json`, `manifest.json` with the model's
  `fragments` entry), holding only short brush strokes (`simulate_strokes`); training derives the classes
  from them exactly as for the user's own set (training/data/labelset.py). About a minute or two per
  image: `StrokePlan` says how many strokes and why.
"""

from __future__ import annotations

import io
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage
from skimage.draw import line
from skimage.morphology import disk, skeletonize

from segtool.base.atomic import atomic_write
from segtool.training.data.instances import EDGE_WIDTH, edge_band

UNKNOWN = 255


@dataclass(frozen=True)
class StrokePlan:
    """How much a person paints on one image with the brush (label mode, B): one drag = one stroke.

    Defaults: 12 strokes along the middle of 12 fragments (rock), 6 short strokes along the outline where
    a fragment meets another (rock_edge: the band the Measure panel cuts touching rocks with) and 6 over
    the background between fragments — 24 drags of 1-3 s each, about a minute, plus zooming and picking
    the class: 1-2 minutes per image. The brush is `radius(short side)` pixels (a 5-11 px wide line on
    537-1500 px photos, what a brush looks like on a screen showing the whole photo) and a stroke at most
    `length(short side)` long (a few grains' widths); a fragment's stroke follows its medial axis
    (skeleton) and stays `edge_width` px clear of its outline, so it never claims an edge pixel.

    The app's label mode offers no rock_edge brush today (docs/labelling.md: the edge is derived from
    outlined fragments); `edges=0` gives what its brush can paint (rock and background only).
    """

    interior: int = 12
    edges: int = 6
    background: int = 6
    edge_width: int = EDGE_WIDTH

    @staticmethod
    def radius(short_side: int) -> int:
        return max(2, round(short_side / 300))

    @staticmethod
    def length(short_side: int) -> int:
        return max(20, round(short_side / 12))


@dataclass
class StrokeStats:
    """What `simulate_strokes` painted on one image (strokes made and pixels per class)."""

    interior_strokes: int = 0
    edge_strokes: int = 0
    background_strokes: int = 0
    rock_px: int = 0
    edge_px: int = 0
    background_px: int = 0
    unknown_share: float = 1.0

    def as_dict(self) -> dict:
        return asdict(self)


def _fragment_strokes(inst, ids, plan, r, half, rng, out, rock):
    """Rock strokes along the medial axis of `plan.interior` random fragments thick enough for the brush."""
    boxes = ndimage.find_objects(inst)
    n = 0
    for k in rng.permutation(ids):
        if n >= plan.interior:
            break
        sl = boxes[k - 1]
        if sl is None:
            continue
        sl = tuple(slice(max(0, s.start - 1), s.stop + 1) for s in sl)  # room for the outline
        m = inst[sl] == k
        dt = ndimage.distance_transform_edt(m)
        if dt.max() < r + plan.edge_width + 1:
            continue  # thinner than the brush plus the edge band: a person would not stroke it
        cy, cx = np.unravel_index(np.argmax(dt), dt.shape)  # the fragment's middle
        yy, xx = np.indices(m.shape)
        axis = skeletonize(m) & (dt >= r + plan.edge_width + 1) & ((yy - cy) ** 2 + (xx - cx) ** 2 <= half**2)
        axis[cy, cx] = True
        stroke = ndimage.binary_dilation(axis, disk(r)) & (dt > plan.edge_width)
        out[sl][stroke] = rock
        n += 1
    return n


def _edge_strokes(inst, ids, plan, half, rng, out, edge):
    """Short rock_edge arcs, `edge_width` wide, on the outline of `plan.edges` fragments: fragments that
    touch another first, on the part where they touch (where the split needs the edge), then others
    anywhere on their outline."""
    band = edge_band(inst, plan.edge_width)
    h, w = inst.shape
    pad = np.pad(inst, 1, mode="edge")
    near_other = np.zeros(inst.shape, bool)  # a fragment pixel next to another fragment
    for dy, dx in ((0, 1), (2, 1), (1, 0), (1, 2)):
        nb = pad[dy : dy + h, dx : dx + w]
        near_other |= (inst > 0) & (nb > 0) & (nb != inst)
    touch = ndimage.binary_dilation(near_other, iterations=plan.edge_width) & band
    boxes = ndimage.find_objects(inst)
    touching = np.unique(inst[touch])
    order = [*rng.permutation(touching), *rng.permutation(np.setdiff1d(ids, touching))]
    n = 0
    for k in order:
        if n >= plan.edges:
            break
        sl = boxes[k - 1]
        if sl is None:
            continue
        own = (inst[sl] == k) & band[sl]
        where = np.argwhere(own & touch[sl])
        if not len(where):
            where = np.argwhere(own)
        if len(where) < 2 * plan.edge_width:
            continue
        cy, cx = where[rng.integers(len(where))]
        yy, xx = np.indices(own.shape)
        out[sl][own & ((yy - cy) ** 2 + (xx - cx) ** 2 <= half**2)] = edge
        n += 1
    return n


def _background_strokes(inst, plan, r, half, rng, out, background):
    """Straight strokes over background at least the brush radius plus the edge band from any fragment,
    centres spread apart (a person strokes different gaps, not one twice)."""
    clear = ndimage.distance_transform_edt(inst == 0) > r + plan.edge_width
    cand = np.argwhere(clear)
    if not len(cand):
        return 0
    n, centres = 0, []
    for i in rng.permutation(len(cand))[: 50 * max(1, plan.background)]:
        if n >= plan.background:
            break
        cy, cx = cand[i]
        if any((cy - y) ** 2 + (cx - x) ** 2 < (2 * half) ** 2 for y, x in centres):
            continue
        a = rng.uniform(0, np.pi)
        dy, dx = half * np.sin(a), half * np.cos(a)
        h, w = inst.shape
        y0, y1 = np.clip([cy - dy, cy + dy], 0, h - 1).round().astype(int)
        x0, x1 = np.clip([cx - dx, cx + dx], 0, w - 1).round().astype(int)
        path = np.zeros(inst.shape, bool)
        path[line(y0, x0, y1, x1)] = True
        path &= clear
        out[ndimage.binary_dilation(path, disk(r)) & clear] = background
        centres.append((cy, cx))
        n += 1
    return n


def simulate_strokes(
    inst: np.ndarray,
    *,
    seed: int,
    background: int = 0,
    rock: int = 1,
    edge: int | None = 2,
    plan: StrokePlan = StrokePlan(),
) -> tuple[np.ndarray, StrokeStats]:
    """Class ids (HxW uint8, 255 = unknown) a person would brush on an image with fragments `inst`
    (HxW ints, 0 = no fragment), and what was painted. The same `inst` and `seed` give the same strokes.
    `edge=None` paints no edge strokes (the app's brush has no rock_edge)."""
    inst = np.asarray(inst).astype(np.int32)
    rng = np.random.default_rng(seed)
    out = np.full(inst.shape, UNKNOWN, np.uint8)
    short = min(inst.shape)
    r, half = plan.radius(short), plan.length(short) // 2
    ids = np.unique(inst[inst > 0])
    st = StrokeStats()
    # background first: rock and edge strokes then win where a stroke crosses a gap labelled 0 by mistake
    st.background_strokes = _background_strokes(inst, plan, r, half, rng, out, background)
    st.interior_strokes = _fragment_strokes(inst, ids, plan, r, half, rng, out, rock)
    if edge is not None and plan.edges:
        st.edge_strokes = _edge_strokes(inst, ids, plan, half, rng, out, edge)
    st.rock_px = int((out == rock).sum())
    st.edge_px = 0 if edge is None else int((out == edge).sum())
    st.background_px = int((out == background).sum())
    st.unknown_share = round(float((out == UNKNOWN).mean()), 4)
    return out, st


def _png(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="PNG")
    return buf.getvalue()


def write_outlines(out: Path, items) -> Path:
    """The instance PNG folder `segtool train` reads as fragment outlines: `out/images/<stem>.png` (the
    photo, lossless) and `out/instances/<stem>.png` (16-bit ids) for each (stem, rgb, instances)."""
    for sub in ("images", "instances"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    for stem, rgb, inst in items:
        if int(inst.max(initial=0)) > 65535:
            raise ValueError(f"{stem}: {int(inst.max())} fragments do not fit a 16-bit instance PNG")
        atomic_write(out / "images" / f"{stem}.png", _png(np.ascontiguousarray(rgb)))
        atomic_write(out / "instances" / f"{stem}.png", _png(np.asarray(inst).astype(np.uint16)))
    return out


def write_strokes(
    out: Path, items, classes: list[dict], fragments: dict, *, seed: int, plan: StrokePlan = StrokePlan()
) -> dict[str, dict]:
    """A label set at `out` with the classes of the start model, holding `simulate_strokes` of each
    (stem, rgb, instances, source path); the image with index i gets seed `seed * 1000 + i`. Returns the
    stroke statistics per stem."""
    from segtool.core.labelset import LabelSet

    names = [c["name"] for c in classes]
    for need in ("background", fragments["interior"], fragments.get("edge") or "background"):
        if need not in names:
            raise ValueError(f"the start model's classes {names} have no {need!r}: strokes need it")
    ls = LabelSet.create(out, classes, fragments)
    edge = names.index(fragments["edge"]) if fragments.get("edge") and plan.edges else None
    stats = {}
    for i, (stem, rgb, inst, source) in enumerate(items):
        mask, st = simulate_strokes(
            inst,
            seed=seed * 1000 + i,
            background=names.index("background"),
            rock=names.index(fragments["interior"]),
            edge=edge,
            plan=plan,
        )
        ls.save(np.ascontiguousarray(rgb), mask, source=str(source))
        stats[stem] = st.as_dict()
    return stats
