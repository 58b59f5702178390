"""Which frames to label next: the model's own uncertainty, combined with diversity.

`score_frames` runs the engine over every k-th frame (through the one pipeline, so decoding overlaps
inference) and scores each frame by how unsure the model is; `pick` chooses N of them by a strategy
(STRATEGIES: `random` = a seeded random sample of the scored frames, the default; `cluster` = k-means
by content and place, the most uncertain of each group; `kcenter` = core-set greedy weighted by uncertainty; `spaced` = even spacing, uncertainty as the
tie-break; `uncertain` = `pick_diverse`, the most uncertain frames kept apart in time and content);
`write_suggestions` saves the picks as PNGs and `suggestions.csv`. The default was chosen by
benchmarks/bench_suggest_strategies.py (docs/benchmarks.md): no strategy reliably beat random frames, and
random frames had the best mean over the two sets (first on the video, second on the conveyor tiles), so
random is the default; the frames are still scored, so the strip and suggestions.csv show how unsure the
model is on each.

Uncertainty is "least confidence": 1 − the winning class's probability, averaged over the frame
(`score`), and the share of pixels whose winning probability is below `threshold` (`uncertain_share`).
The engine already returns the winning probability for every pixel, on every runtime; with two classes
it orders frames exactly as the margin does (margin = 2·p − 1), with more it is the usual
least-confidence measure of active learning.

Frames are ranked by `priority` = score + uncertain_share (both 0..1), and listed in that order:
suggestions.csv and the CLI print it, so the ranks read in order (the CLI once printed `score` alone,
and rank 1 could show a lower number than rank 2). `suggest` is the one entry point: `segtool suggest`
and the app's "Suggest frames" (off the GUI thread) both call it with the same defaults (`default_every`),
so they agree on the same video and model.
"""

from __future__ import annotations

import csv
import io
import math
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from segtool.base.errors import UserInputError
from segtool.core.frame import Frame, Prediction
from segtool.core.pipeline import Progress, run_pipeline
from segtool.core.sinks._files import atomic_write_bytes
from segtool.core.sources import Source

CSV_FIELDS = ("rank", "frame", "pts_s", "score", "uncertain_share", "priority")
SCORED_FRAMES = 200  # by default about this many frames of a long video are scored
UNKNOWN_LENGTH_EVERY = 5  # every k-th frame when the source does not say how many it has
_THUMB = 8  # side of the colour thumbnail in a frame's content feature
TIME_WEIGHT = 0.5  # weight of a frame's place in the footage (0..1) next to its content (unit vector)

# How the N frames are chosen from the scored ones (`segtool suggest --strategy`, the app's strip).
STRATEGIES = {
    "random": "a random sample of the scored frames (seeded by the footage's length and N: the same footage "
    "gives the same frames)",
    "spaced": "evenly spaced over the footage; where two frames are equally close to an even position, "
    "the one the model is less sure of (uncertainty breaks the tie)",
    "kcenter": "core-set (k-centre greedy): each next frame the one farthest in content and time from "
    "those taken, weighted by the model's uncertainty",
    "cluster": "frames grouped by content and time into N groups (k-means); the most uncertain of each",
    "uncertain": "the most uncertain frames, kept apart in time and content",
}
# Measured (docs/benchmarks.md, "Suggested frames: strategies"; simulated annotator, 3 seeds, two sets): no
# strategy beat random frames reliably, and random had the best mean rank (CamVid mIoU 0.224, first; conveyor
# rock IoU 0.904, second to uncertain's 0.921, which was last on the video). The default is what won.
DEFAULT_STRATEGY = "random"
# What the app's strip says about the frames it lists (a plain line: why these frames).
STRATEGY_LINES = {
    "random": "picked at random (measured: no ranking by the model beat random frames)",
    "spaced": "spread evenly over the video",
    "kcenter": "different from each other and uncertain (core-set)",
    "cluster": "the most uncertain of each group of look-alike frames",
    "uncertain": "the model's most uncertain, kept apart",
}


@dataclass(frozen=True)
class FrameScore:
    """How unsure the model is on one frame, and what the frame looks like (for diversity)."""

    index: int
    pts_s: float | None
    name: str | None
    score: float  # mean (1 - winning probability) over the pixels
    uncertain_share: float  # share of pixels whose winning probability is below the threshold
    feature: np.ndarray  # unit-length content vector: class shares + a small colour thumbnail

    @property
    def priority(self) -> float:
        """The ranking key (0..2): mean uncertainty plus the share of unsure pixels."""
        return self.score + self.uncertain_share


def default_every(frames: int | None) -> int:
    """Score every k-th frame: about SCORED_FRAMES frames over the footage (every frame of a short one),
    as the app's Suggest frames does."""
    if not frames:
        return UNKNOWN_LENGTH_EVERY
    return max(1, frames // SCORED_FRAMES)


def suggest(
    source: Source,
    engine,
    n: int,
    *,
    strategy: str = DEFAULT_STRATEGY,
    every: int | None = None,
    threshold: float = 0.6,
    min_gap: int | None = None,
    progress: Callable[[Progress], None] | None = None,
    cancel: threading.Event | None = None,
) -> tuple[list[FrameScore], list[FrameScore], int]:
    """Score the frames and pick the `n` most worth labelling: (scores, picks by rank, every used).

    `segtool suggest` and the app's suggestion strip both call this, with the same defaults
    (`strategy` = DEFAULT_STRATEGY; `every` None = `default_every`), so they agree.
    """
    if n < 1:
        raise UserInputError(f"-n {n}: ask for 1 or more frames")
    if min_gap is not None and min_gap < 0:
        raise UserInputError(f"--min-gap {min_gap}: use 0 or more frames")
    check_strategy(strategy)
    k = default_every(source.frames_expected) if every is None else every
    scores = score_frames(source, engine, every=k, threshold=threshold, progress=progress, cancel=cancel)
    picks = [] if cancel is not None and cancel.is_set() else pick(scores, n, strategy, min_gap=min_gap)
    return scores, picks, k


def frame_feature(rgb: np.ndarray, mask: np.ndarray, num_classes: int) -> np.ndarray:
    """A unit-length vector describing a frame's content: predicted class shares and an 8×8 thumbnail."""
    shares = np.bincount(mask.ravel(), minlength=num_classes)[:num_classes].astype(np.float32)
    shares /= max(1.0, float(shares.sum()))
    thumb = np.asarray(Image.fromarray(rgb).resize((_THUMB, _THUMB), Image.BILINEAR), np.float32) / 255.0
    v = np.concatenate([shares * 2.0, thumb.ravel() / _THUMB])
    return v / max(1e-9, float(np.linalg.norm(v)))


def score_prediction(pred: Prediction, threshold: float) -> tuple[float, float]:
    """(score, uncertain_share) of one prediction made with `confidence=True`."""
    if pred.confidence is None:
        raise ValueError("the prediction has no confidence map; run the engine with confidence=True")
    conf = pred.confidence
    return float(1.0 - conf.mean()), float((conf < threshold).mean())


def score_frames(
    source: Source,
    engine,
    *,
    every: int = 1,
    threshold: float = 0.6,
    start: int = 0,
    end: int | None = None,
    progress: Callable[[Progress], None] | None = None,
    cancel: threading.Event | None = None,
) -> list[FrameScore]:
    """Run `engine` over every `every`-th frame of `source` and score each by the model's uncertainty.

    Raises:
        UserInputError: bad `every`/`threshold`, or the source broke / the run failed (message says why).
    """
    if every < 1:
        raise UserInputError(f"--every {every}: use 1 or more (every k-th frame is scored)")
    if not 0.0 < threshold < 1.0:
        raise UserInputError(f"--threshold {threshold}: use a probability between 0 and 1, e.g. 0.6")
    scores: list[FrameScore] = []
    n_classes = int(engine.num_classes)

    def on_result(frame: Frame, pred: Prediction) -> None:
        s, share = score_prediction(pred, threshold)
        scores.append(
            FrameScore(
                frame.index, frame.pts_s, frame.name, s, share, frame_feature(frame.rgb, pred.mask, n_classes)
            )
        )

    n = source.frames_expected
    expected = None if n is None else len(range(start, n if end is None else min(end, n), every))
    res = run_pipeline(
        source.frames(start, end, every),
        engine,
        on_result=on_result,
        policy="every",
        expected=expected,
        cancel=cancel,
        progress=progress,
        confidence=True,
    )
    if res.error is not None:
        raise res.error if isinstance(res.error, UserInputError) else UserInputError(str(res.error))
    if res.interrupted is not None and not scores:
        raise UserInputError(str(res.interrupted))
    return scores


def pick_diverse(
    scores: list[FrameScore],
    n: int,
    *,
    min_gap: int | None = None,
    min_distance: float = 0.05,
) -> list[FrameScore]:
    """The `n` most uncertain frames, no two closer than `min_gap` frames or `min_distance` in content,
    in rank order (priority never rises from one to the next).

    Greedy: frames are taken in order of `priority` (score + uncertain_share); a frame too close in
    time or too alike in content to one already taken is passed over. When that leaves fewer than `n`
    (a short clip), the constraints are halved and the pass repeated, so the answer always has
    min(n, len(scores)) frames.

    Args:
        min_gap: frames between two suggestions; default: the footage's span divided by 2·n.
        min_distance: smallest content distance (unit feature vectors, 0..2) between two suggestions.
    """
    if n < 1:
        raise UserInputError(f"-n {n}: ask for 1 or more frames")
    if not scores:
        return []
    order = sorted(scores, key=lambda s: (-s.priority, s.index))
    span = max(s.index for s in scores) - min(s.index for s in scores) + 1
    gap = float(min_gap) if min_gap is not None else span / (2.0 * n)
    dist = float(min_distance)
    while True:
        picked: list[FrameScore] = []
        for cand in order:
            if len(picked) == n:
                break
            if any(abs(cand.index - p.index) < gap for p in picked):
                continue
            if any(float(np.linalg.norm(cand.feature - p.feature)) < dist for p in picked):
                continue
            picked.append(cand)
        if len(picked) >= min(n, len(scores)) or (gap == 0 and dist == 0):
            return picked
        # Relax; the last pass has no constraint at all (identical neighbouring frames of a still scene).
        gap, dist = (gap / 2.0, dist / 2.0) if gap >= 1 or dist >= 1e-3 else (0.0, 0.0)


def check_strategy(strategy: str) -> None:
    """Raise UserInputError naming the choices when `strategy` is not one of STRATEGIES."""
    if strategy not in STRATEGIES:
        raise UserInputError(
            f"--strategy {strategy}: use one of {', '.join(STRATEGIES)} (default {DEFAULT_STRATEGY})"
        )


def pick(
    scores: list[FrameScore], n: int, strategy: str = DEFAULT_STRATEGY, *, min_gap: int | None = None
) -> list[FrameScore]:
    """min(n, len(scores)) frames chosen by `strategy` (see STRATEGIES), listed by priority (highest first).

    The strategy decides *which* frames; the list is always in priority order so ranks read in order.
    `min_gap` is used by "uncertain" only (the others spread the frames themselves).
    """
    check_strategy(strategy)
    if n < 1:
        raise UserInputError(f"-n {n}: ask for 1 or more frames")
    if not scores:
        return []
    if strategy == "uncertain":
        return pick_diverse(scores, n, min_gap=min_gap)
    chosen = {"random": pick_random, "spaced": pick_spaced, "kcenter": pick_kcenter, "cluster": pick_cluster}[
        strategy
    ](scores, n)
    return sorted(chosen, key=lambda s: (-s.priority, s.index))


def pick_random(scores: list[FrameScore], n: int) -> list[FrameScore]:
    """min(n, len(scores)) frames drawn at random without replacement, seeded by the number of scored frames
    and n: the same footage and N give the same suggestions (a user comparing runs sees the same list)."""
    frames = sorted(scores, key=lambda s: s.index)
    rng = random.Random(len(frames) * 1_000_003 + n)
    return rng.sample(frames, min(n, len(frames)))


def pick_spaced(scores: list[FrameScore], n: int, *, window: float = 0.0) -> list[FrameScore]:
    """Evenly spaced frames with uncertainty as the tie-break: the scored frames (in footage order) are
    cut into n equal stretches and each stretch gives the frame at its middle; when the middle falls
    between two scored frames, the one the model is less sure of. `window` (0..1) widens the choice to
    that share of the stretch around its middle (measured: 0.5 taught less than exact spacing, so the
    default is 0, a plain tie-break)."""
    frames = sorted(scores, key=lambda s: s.index)
    m, k = len(frames), min(n, len(frames))
    stride = m / k
    out = []
    for j in range(k):
        centre = (j + 0.5) * stride - 0.5  # position (0..m-1) of the stretch's middle
        half = max(0.5, window * stride / 2.0)
        lo, hi = max(0, math.ceil(centre - half)), min(m - 1, math.floor(centre + half))
        pos = range(lo, hi + 1) if lo <= hi else [min(m - 1, max(0, round(centre)))]
        out.append(frames[max(pos, key=lambda i: (round(frames[i].priority, 9), -abs(i - centre), -i))])
    return out


def diversity_features(scores: list[FrameScore], time_weight: float = TIME_WEIGHT) -> np.ndarray:
    """Each frame's content vector with its place in the footage (0..1, times `time_weight`) appended."""
    idx = np.array([s.index for s in scores], np.float64)
    span = max(1.0, float(idx.max() - idx.min()))
    feats = np.stack([np.asarray(s.feature, np.float64) for s in scores])
    return np.concatenate([feats, ((idx - idx.min()) / span * time_weight)[:, None]], axis=1)


def _uncertainty01(scores: list[FrameScore]) -> np.ndarray:
    pr = np.array([s.priority for s in scores], np.float64)
    rng = float(pr.max() - pr.min())
    return (pr - pr.min()) / rng if rng > 0 else np.ones_like(pr)


def pick_kcenter(scores: list[FrameScore], n: int) -> list[FrameScore]:
    """Core-set (k-centre greedy) over `diversity_features`, weighted by uncertainty: the most uncertain
    frame first, then each time the frame maximising (distance to the nearest taken) × (0.5 + 0.5·u),
    u = its priority scaled to 0..1 over the scored frames; ties go to the higher priority."""
    x, u = diversity_features(scores), _uncertainty01(scores)
    pr = np.array([s.priority for s in scores])
    first = int(np.lexsort((np.array([s.index for s in scores]), -pr))[0])
    taken = [first]
    dmin = np.linalg.norm(x - x[first], axis=1)
    while len(taken) < min(n, len(scores)):
        gain = dmin * (0.5 + 0.5 * u)
        gain[taken] = -1.0
        best = int(np.lexsort((-pr, -np.round(gain, 12)))[0])
        taken.append(best)
        dmin = np.minimum(dmin, np.linalg.norm(x - x[best], axis=1))
    return [scores[i] for i in taken]


def pick_cluster(scores: list[FrameScore], n: int, *, iterations: int = 25) -> list[FrameScore]:
    """k-means (k = n, k-means++ start with a fixed seed, so the answer is repeatable) over
    `diversity_features`; the most uncertain frame of each group. Empty groups are filled k-centre style."""
    x = diversity_features(scores)
    k = min(n, len(scores))
    rng = np.random.default_rng(0)
    centres = [x[int(np.argmax([s.priority for s in scores]))]]
    for _ in range(1, k):
        d2 = np.min([((x - c) ** 2).sum(1) for c in centres], axis=0)
        centres.append(
            x[int(rng.choice(len(x), p=d2 / d2.sum()))] if d2.sum() > 0 else x[int(rng.integers(len(x)))]
        )
    c = np.stack(centres)
    for _ in range(iterations):
        lab = np.argmin(((x[:, None, :] - c[None]) ** 2).sum(2), axis=1)
        new = np.stack([x[lab == j].mean(0) if np.any(lab == j) else c[j] for j in range(k)])
        if np.allclose(new, c):
            break
        c = new
    out = []
    for j in range(k):
        members = [scores[i] for i in np.flatnonzero(lab == j)]
        if members:
            out.append(max(members, key=lambda s: (s.priority, -s.index)))
    if len(out) < k:  # identical frames collapse groups: top up with the farthest remaining frames
        have = {s.index for s in out}
        rest = [s for s in pick_kcenter(scores, len(scores)) if s.index not in have]
        out += rest[: k - len(out)]
    return out


def suggestion_name(source: Source, frame: FrameScore) -> str:
    """`<stem>_<frame:06d>.png` as the label-set contract names video frames."""
    stem = Path(source.path or frame.name or "frame").stem
    if source.kind in ("folder", "image") and frame.name:
        stem = Path(frame.name).stem
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in stem) or "frame"
    return f"{safe}_{frame.index:06d}.png"


def write_suggestions(source: Source, picks: list[FrameScore], out: str | Path) -> list[Path]:
    """Save each picked frame as a PNG (re-read from the source) and `suggestions.csv`, most useful first."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    wanted = {p.index for p in picks}
    frames: dict[int, np.ndarray] = {}
    if source.seekable:
        for i in sorted(wanted):
            frames[i] = source.read(i).rgb
    else:  # sources without random access: one pass over the frames
        for f in source.frames(0):
            if f.index in wanted:
                frames[f.index] = f.rgb
            if len(frames) == len(wanted):
                break
    paths = []
    for p in picks:
        buf = io.BytesIO()
        Image.fromarray(frames[p.index]).save(buf, format="PNG")
        path = out / suggestion_name(source, p)
        atomic_write_bytes(path, buf.getvalue())
        paths.append(path)
    text = io.StringIO()
    w = csv.writer(text, lineterminator="\n")
    w.writerow(CSV_FIELDS)
    for rank, p in enumerate(picks, 1):
        pts = "" if p.pts_s is None or math.isnan(p.pts_s) else f"{p.pts_s:.6f}"
        w.writerow([rank, p.index, pts, f"{p.score:.6f}", f"{p.uncertain_share:.6f}", f"{p.priority:.6f}"])
    atomic_write_bytes(out / "suggestions.csv", text.getvalue().encode())
    return paths
