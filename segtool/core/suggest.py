"""Which frames to label next: the model's own uncertainty, spread over the footage.

`score_frames` runs the engine over every k-th frame (through the one pipeline, so decoding overlaps
inference) and scores each frame by how unsure the model is; `pick_diverse` takes the most uncertain
frames while keeping them apart in time and in content, so ten neighbouring frames of one hard scene
are not all suggested; `write_suggestions` saves the picks as PNGs and `suggestions.csv`.

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
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from models.errors import UserInputError
from segtool.core.frame import Frame, Prediction
from segtool.core.pipeline import Progress, run_pipeline
from segtool.core.sinks._files import atomic_write_bytes
from segtool.core.sources import Source

CSV_FIELDS = ("rank", "frame", "pts_s", "score", "uncertain_share", "priority")
SCORED_FRAMES = 200  # by default about this many frames of a long video are scored
UNKNOWN_LENGTH_EVERY = 5  # every k-th frame when the source does not say how many it has
_THUMB = 8  # side of the colour thumbnail in a frame's content feature


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
    every: int | None = None,
    threshold: float = 0.6,
    min_gap: int | None = None,
    progress: Callable[[Progress], None] | None = None,
    cancel: threading.Event | None = None,
) -> tuple[list[FrameScore], list[FrameScore], int]:
    """Score the frames and pick the `n` most worth labelling: (scores, picks by rank, every used).

    `segtool suggest` calls this and the app's suggestion strip should (it runs the same two steps with
    the same defaults today); `every` None = `default_every`.
    """
    if n < 1:
        raise UserInputError(f"-n {n}: ask for 1 or more frames")
    if min_gap is not None and min_gap < 0:
        raise UserInputError(f"--min-gap {min_gap}: use 0 or more frames")
    k = default_every(source.frames_expected) if every is None else every
    scores = score_frames(source, engine, every=k, threshold=threshold, progress=progress, cancel=cancel)
    picks = [] if cancel is not None and cancel.is_set() else pick_diverse(scores, n, min_gap=min_gap)
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
        scores.append(FrameScore(frame.index, frame.pts_s, frame.name, s, share,
                                 frame_feature(frame.rgb, pred.mask, n_classes)))  # fmt: skip

    n = source.frames_expected
    expected = None if n is None else len(range(start, n if end is None else min(end, n), every))
    res = run_pipeline(
        source.frames(start, end, every), engine, on_result=on_result, policy="every", expected=expected,
        cancel=cancel, progress=progress, confidence=True,
    )  # fmt: skip
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
