"""A simulated annotator on rocks_dense (issue 21): how many clicks or strokes each label-mode tool needs to
outline one ground-truth fragment to IoU >= 0.9, and the IoU it reaches at most.

    python benchmarks/bench_annotator.py [--sets grains gravel conveyor] [--per-set 30] [--seed 0]
                                         [-c assets/rock_fragments.pt] [--min-area 150]

For each set, --per-set fragments (area >= --min-area px) are drawn at random (seeded) from the images the
shipped fragment model never trained on (gravel and conveyor: the fixed hold-out of fragments_data.py; grains:
all nine, not in its training data). The annotator is ideal: it knows the true outline and never misplaces a
click. Per tool ("actions" = clicks or strokes):
  polygon    vertices on the true outline, simplified (Douglas–Peucker, coarse to fine): the fewest vertices
             whose polygon reaches the IoU.
  superpixel region fill on the app's superpixels (SLIC on a crop around the fragment, region size a third
             of its diameter, 4 to 24 px, as a user would set it): clicks on the superpixels that are mostly
             inside the fragment, biggest first.
  grabcut    one box drag around the fragment (3 px margin), then refining strokes (a thin line along the
             middle of the largest wrong area marked "object" or "not object", GrabCut run again), at most
             --max-fix strokes.
  scissors   n clicks evenly spaced on the true outline, joined by the live-wire (OpenCV intelligent
             scissors on a crop around the fragment) and closed: the fewest n (3 ... 32).
  click      one click at the fragment's most interior point: the fragment the model predicts there, split as
             the Measure panel splits it (core.click_fragment), then brush/eraser corrections, at most --max-fix:
             one stroke = a drag along the middle of the largest wrong area with a brush as wide as the area
             (so thin slivers get over-painted on both sides, as a real brush does).
Prints one table per set and all sets together. "reached" = share of fragments the tool brought to IoU 0.9;
"actions to 0.9" = median actions to get there, over the fragments it reached; "after 1st action" = median
IoU after the first action, and the share already at 0.9 then; "best" = median IoU at the end. Two costs
per fragment, averaged, count what a user does when the tool fails: "outline when it fails" = its actions
up to its limit (superpixel: 11 clicks), then the polygon's; "one try then outline" = one action (scissors: 3 clicks), kept
if at 0.9, else undone and the fragment outlined.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from fragments_data import labelled_items  # noqa: E402

TOOLS = ("polygon", "superpixel", "grabcut", "scissors", "click")
TARGET = 0.9
SCISSOR_CLICKS = (3, 4, 5, 6, 8, 10, 12, 16, 20, 24, 32)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    u = np.count_nonzero(a | b)
    return float(np.count_nonzero(a & b)) / u if u else 0.0


def outline(g: np.ndarray) -> np.ndarray:
    """The true outline of a bool mask as Nx2 (x, y), the largest piece."""
    cs, _ = cv2.findContours(g.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    return max(cs, key=cv2.contourArea).reshape(-1, 2)


def fill(points: np.ndarray, shape) -> np.ndarray:
    from skimage.draw import polygon

    out = np.zeros(shape, bool)
    rr, cc = polygon(points[:, 1].astype(float), points[:, 0].astype(float), shape=shape)
    out[rr, cc] = True
    return out


def deepest(m: np.ndarray) -> tuple[int, int, float]:
    """(x, y, radius) of the largest disk inside a bool mask."""
    d = cv2.distanceTransform(np.pad(m, 1).astype(np.uint8), cv2.DIST_L2, 5)[1:-1, 1:-1]
    y, x = np.unravel_index(int(np.argmax(d)), d.shape)
    return int(x), int(y), float(d[y, x])


def worst_error(pred: np.ndarray, g: np.ndarray):
    """One stroke on the largest wrong area: (brush stroke, hint line, should_be_object) or None.

    The brush stroke is a drag along the area's middle line (its skeleton) with the brush as wide as the
    area is at its widest, so it covers the area and, where the area is thinner, some of its neighbours.
    The hint line (GrabCut's refining stroke) is the same drag with a 2-px brush, kept inside the area."""
    from skimage.morphology import skeletonize

    err = pred != g
    if not err.any():
        return None
    _, lab, stats, _ = cv2.connectedComponentsWithStats(err.astype(np.uint8), connectivity=4)
    k = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    area = lab == k
    x, y, r = deepest(area)
    r = max(1, int(round(r)))
    skel = skeletonize(area).astype(np.uint8)
    stroke = cv2.dilate(skel, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1,) * 2)) > 0
    line = (cv2.dilate(skel, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))) > 0) & area
    return stroke | area, line, bool(g[y, x])


def run_polygon(g):
    pts = outline(g)
    per = cv2.arcLength(pts.reshape(-1, 1, 2), True)
    best, need, first = 0.0, None, None
    for frac in (0.2, 0.12, 0.08, 0.05, 0.035, 0.025, 0.018, 0.012, 0.008, 0.005, 0.003, 0.0):
        eps = frac * per
        p = pts if eps == 0 else cv2.approxPolyDP(pts.reshape(-1, 1, 2), eps, True).reshape(-1, 2)
        if len(p) < 3:
            continue
        v = iou(fill(p, g.shape), g)
        first = v if first is None else first
        best = max(best, v)
        if v >= TARGET:
            need = len(p)
            break
    return best, need, first or 0.0


def run_superpixel(g, seg):
    ids, inside = np.unique(seg[g], return_counts=True)
    total = np.bincount(seg.ravel())[ids]
    order = [i for i in np.argsort(-inside) if inside[i] / total[i] > 0.5]
    cur = np.zeros(g.shape, bool)
    best, first = 0.0, None
    for n, i in enumerate(order, 1):
        cur |= seg == ids[i]
        v = iou(cur, g)
        first = v if first is None else first
        best = max(best, v)
        if v >= TARGET:
            return best, n, first
    return best, None, first or 0.0


def run_grabcut(rgb, g, max_fix):
    from segtool.core.smart_tools import grabcut_box

    ys, xs = np.nonzero(g)
    box = (xs.min() - 3, ys.min() - 3, xs.max() + 4, ys.max() + 4)
    fg, bg = np.zeros(g.shape, bool), np.zeros(g.shape, bool)
    pred = grabcut_box(rgb, box)
    first = best = iou(pred, g)
    for n in range(1, max_fix + 2):
        v = iou(pred, g)
        best = max(best, v)
        if v >= TARGET:
            return best, n, first
        if n > max_fix:
            break
        e = worst_error(pred, g)
        if e is None:
            break
        _, line, obj = e
        (fg if obj else bg)[line] = (
            True  # a thin hint inside the wrong area: a sure-object mark must be right
        )
        pred = grabcut_box(rgb, box, foreground=fg, background=bg)
    return best, None, first


def run_scissors(rgb, g):
    from segtool.core.smart_tools import LiveWire

    pts = outline(g)
    wire = LiveWire(rgb)
    best, first = 0.0, None
    for n in SCISSOR_CLICKS:
        if n > len(pts):
            break
        anchors = pts[np.linspace(0, len(pts), n, endpoint=False).astype(int)]
        path = [anchors[0]]
        for a, b in zip(anchors, np.roll(anchors, -1, axis=0)):
            wire.start(*a)
            path.extend(wire.path_to(*b)[1:])
        v = iou(fill(np.array(path), g.shape), g)
        first = v if first is None else first
        best = max(best, v)
        if v >= TARGET:
            return best, n, first
    return best, None, first or 0.0


def run_click(g, frags, max_fix):
    from segtool.core.click_fragment import fragment_at

    x, y, _ = deepest(g)
    region = fragment_at(frags, x, y)
    pred = np.zeros(g.shape, bool) if region is None else region
    first = best = iou(pred, g)
    for n in range(1, max_fix + 2):
        v = iou(pred, g)
        best = max(best, v)
        if v >= TARGET:
            return best, n, first
        if n > max_fix:
            break
        e = worst_error(pred, g)
        if e is None:
            break
        stroke, _, obj = e
        pred = pred.copy()
        pred[stroke] = obj  # a brush stroke of the object's class, or the eraser
    return best, None, first


def crop_of(mask_any: np.ndarray, shape, margin: int):
    ys, xs = np.nonzero(mask_any)
    return (
        slice(max(0, ys.min() - margin), min(shape[0], ys.max() + margin + 1)),
        slice(max(0, xs.min() - margin), min(shape[1], xs.max() + margin + 1)),
    )


def bench_set(name: str, a, engine, spec) -> dict[str, list]:
    from segtool.core.click_fragment import split_prediction
    from segtool.core.label_edit import superpixels

    rng = np.random.default_rng(a.seed)
    items = [it for it in labelled_items(name) if it[4] or name == "grains"]
    cands = []
    for k, (_, _, inst, _, _) in enumerate(items):
        areas = np.bincount(inst.ravel())
        cands += [(k, i) for i in np.nonzero(areas >= a.min_area)[0] if i > 0]
    pick = sorted(rng.choice(len(cands), size=min(a.per_set, len(cands)), replace=False).tolist())
    chosen: dict[int, list[int]] = {}
    for j in pick:
        chosen.setdefault(cands[j][0], []).append(int(cands[j][1]))
    res: dict[str, list] = {t: [] for t in TOOLS}
    for k, ids in chosen.items():
        stem, rgb, inst, _, _ = items[k]
        pred = engine.predict_one(rgb).mask
        frags = split_prediction(pred, spec.interior_id, spec.edge_id)
        for i in ids:
            g = inst == i
            cs = crop_of(g, g.shape, 20)
            gc, rc = g[cs], rgb[cs]
            res["polygon"].append(run_polygon(gc))
            # The user sets "Region size" to the rocks: about a third of this one's diameter (4 to 24 px).
            size = int(np.clip(round(2 * np.sqrt(g.sum() / np.pi) / 3), 4, 24))
            res["superpixel"].append(run_superpixel(gc, superpixels(rc, method="slic", size=size)))
            res["grabcut"].append(run_grabcut(rc, gc, a.max_fix))
            res["scissors"].append(run_scissors(rc, gc))
            x, y, _ = deepest(g[cs])
            fid = frags[cs][y, x]
            # The click's crop must hold the whole predicted fragment, which can be larger than the true one.
            cc = crop_of(g | (frags == fid) if fid else g, g.shape, 20)
            res["click"].append(run_click(g[cc], frags[cc], a.max_fix))
    print(
        f"{name}: {sum(len(v) for v in chosen.values())} fragments from {len(chosen)} of {len(items)} images "
        f"(of {len(cands)} with area >= {a.min_area} px)",
        flush=True,
    )
    return res


def fallback_cost(rows: list, poly: list, spent: int | None) -> float:
    """Mean actions per fragment when a fragment the tool does not bring to 0.9 is then outlined (polygon):
    `spent` actions wasted first (None: all the tool's attempts are wasted, i.e. its own count is not known)."""
    cost = []
    for r, p in zip(rows, poly):
        if r[1] is not None:
            cost.append(r[1])
        else:
            cost.append((spent or 0) + (p[1] if p[1] is not None else 0))
    return float(np.mean(cost))


def table(title: str, res: dict[str, list], max_fix: int) -> None:
    n = len(res["polygon"])
    print(f"\n{title} ({n} fragments)")
    print(
        "| tool | reached IoU 0.9 | actions to 0.9 (median) | IoU after 1st action (median) | at 0.9 after 1 action "
        "| best IoU (median) | mean actions, outline when it fails | mean actions, one try then outline |"
    )
    print("|---|---|---|---|---|---|---|---|")
    poly = res["polygon"]
    wasted = {
        "polygon": 0,
        "superpixel": 11,
        "grabcut": 1 + max_fix,
        "scissors": SCISSOR_CLICKS[-1],
        "click": 1 + max_fix,
    }
    for t in TOOLS:
        rows = res[t]
        need = [r[1] for r in rows if r[1] is not None]
        med = f"{np.median(need):.0f}" if need else "—"
        one = np.mean([r[2] >= TARGET for r in rows])
        # One try: the tool's first action, kept if it is good enough, else undone and the fragment outlined.
        k = SCISSOR_CLICKS[0] if t == "scissors" else 1  # the scissors' first try is 3 clicks
        try1 = (
            np.mean([k if r[2] >= TARGET else k + (p[1] or 0) for r, p in zip(rows, poly)])
            if t != "polygon"
            else fallback_cost(rows, poly, 0)
        )
        print(
            f"| {t} | {100 * len(need) / max(1, n):.0f} % | {med} | {np.median([r[2] for r in rows]):.3f} | {100 * one:.0f} % "
            f"| {np.median([r[0] for r in rows]):.3f} | {fallback_cost(rows, poly, wasted[t]):.1f} | {try1:.1f} |"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sets", nargs="+", default=["grains", "gravel", "conveyor"])
    ap.add_argument("--per-set", type=int, default=30)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--min-area", type=int, default=150)
    ap.add_argument(
        "--max-fix", type=int, default=8, help="correction strokes after GrabCut's box or a click"
    )
    ap.add_argument("-c", "--checkpoint", default=str(REPO / "assets" / "rock_fragments.pt"))
    a = ap.parse_args()
    cv2.setNumThreads(1)
    from segtool.core.engine import Engine
    from segtool.core.fragments import FragmentSpec

    engine = Engine(a.checkpoint, device="cpu", threads=1)
    spec = FragmentSpec.from_checkpoint(engine.checkpoint.fragments, engine.class_names)
    t0 = time.perf_counter()
    all_res: dict[str, list] = {t: [] for t in TOOLS}
    per = {}
    for s in a.sets:
        per[s] = bench_set(s, a, engine, spec)
        for t in TOOLS:
            all_res[t] += per[s][t]
    for s in a.sets:
        table(s, per[s], a.max_fix)
    table("all sets", all_res, a.max_fix)
    print(f"\n{time.perf_counter() - t0:.0f} s, load average {os.getloadavg()[0]:.1f}, seed {a.seed}")


if __name__ == "__main__":
    main()
