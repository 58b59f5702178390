"""Masks that follow the video: carry a labelled frame's class mask (and fragment ids) to the next or
previous frames with dense optical flow.

For each step from frame A (labelled) to frame B (next in the chosen direction):

1. dense flow both ways, B→A and A→B (OpenCV's DIS by default, Farnebäck on request), on grey frames;
2. every pixel p of B takes the label of A at p + flow_BA(p) (nearest neighbour: labels are not blended);
3. forward–backward check: following flow_BA to A and flow_AB back must return near p
   (|f_BA(p) + f_AB(p + f_BA(p))|² ≤ 0.01·(|f_BA|² + |f_AB|²) + 0.5, Sundaram et al. 2010); pixels that
   fail (occluded, newly visible, badly matched) and pixels whose match falls outside A become unknown
   (255), never a guess;
4. optionally, where a model is given: unknown pixels whose prediction is confident (≥ `min_confidence`)
   take the model's class. Labels the flow carried are never overwritten by the model.

Steps chain (B's result is the next step's A), so unknown grows with distance: the known share per frame is
reported. Fragment ids (16-bit instances) travel with the same flow and the same check, so a rock on a belt
keeps its id; an instance pixel whose class became unknown loses its id (0).

No Qt, no torch: the model, when used, is any object with `predict_one(rgb, confidence=True)` (the
`Engine`). `segtool propagate` (commands/propagate.py) and the app's "Propagate to next N frames"
(gui/labeling/propagate.py) both call `propagate_frames`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import cv2
import numpy as np

UNKNOWN = 255
METHODS = ("dis", "farneback")


@dataclass(frozen=True)
class Propagated:
    """One frame's propagated labels.

    Attributes:
        index, pts_s: the frame (as the source numbers it).
        rgb: the frame's picture (read-only view of the decoded frame).
        mask: HxW uint8 class ids, 255 = unknown.
        instances: HxW uint16 fragment ids (0 = none), or None when the start frame had none.
        known_share: share of pixels with a class (not unknown).
        from_model: share of pixels filled in by the model (0 without one).
    """

    index: int
    pts_s: float | None
    rgb: np.ndarray
    mask: np.ndarray
    instances: np.ndarray | None
    known_share: float
    from_model: float = 0.0


def _grey(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)


class FlowEstimator:
    """Dense optical flow between two RGB frames (HxWx2 float32, in pixels: where each pixel of `a` went in `b`)."""

    def __init__(self, method: str = "dis") -> None:
        if method not in METHODS:
            raise ValueError(f"unknown flow method {method!r}; use one of {', '.join(METHODS)}")
        self.method = method
        self._dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM) if method == "dis" else None

    def __call__(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        ga, gb = (x if x.ndim == 2 else _grey(x) for x in (a, b))
        if self._dis is not None:
            return self._dis.calc(ga, gb, None)
        return cv2.calcOpticalFlowFarneback(ga, gb, None, 0.5, 4, 21, 3, 5, 1.2, 0)


def _sample_maps(flow_ba: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    h, w = flow_ba.shape[:2]
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return xs + flow_ba[..., 0], ys + flow_ba[..., 1]


def consistent(
    flow_ba: np.ndarray, flow_ab: np.ndarray, *, alpha: float = 0.01, beta: float = 0.5
) -> np.ndarray:
    """HxW bool: where following `flow_ba` into the other frame and `flow_ab` back returns to the pixel,
    and the match lies inside the other frame."""
    mx, my = _sample_maps(flow_ba)
    h, w = flow_ba.shape[:2]
    inside = (mx >= 0) & (mx <= w - 1) & (my >= 0) & (my <= h - 1)
    back = cv2.remap(flow_ab, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    err = ((flow_ba + back) ** 2).sum(-1)
    bound = alpha * ((flow_ba**2).sum(-1) + (back**2).sum(-1)) + beta
    return inside & (err <= bound)


def warp_labels(labels: np.ndarray, flow_ba: np.ndarray, fill: int) -> np.ndarray:
    """Labels of frame A carried to frame B: B(p) = A(p + flow_ba(p)), nearest neighbour, `fill` outside A.

    Works for uint8 class masks and uint16 instance ids (values are never blended)."""
    mx, my = _sample_maps(flow_ba)
    return cv2.remap(labels, mx, my, cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT, borderValue=int(fill))


def propagate_step(
    rgb_a: np.ndarray,
    rgb_b: np.ndarray,
    mask_a: np.ndarray,
    instances_a: np.ndarray | None = None,
    *,
    flow: FlowEstimator | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Carry `mask_a` (and `instances_a`) from frame A to frame B; inconsistent pixels unknown (255)."""
    flow = flow or FlowEstimator()
    ga, gb = _grey(rgb_a), _grey(rgb_b)
    f_ba, f_ab = flow(gb, ga), flow(ga, gb)
    ok = consistent(f_ba, f_ab)
    mask_b = warp_labels(mask_a, f_ba, UNKNOWN)
    mask_b[~ok] = UNKNOWN
    inst_b = None
    if instances_a is not None:
        inst_b = warp_labels(instances_a.astype(np.uint16), f_ba, 0)
        inst_b[mask_b == UNKNOWN] = 0
    return mask_b, inst_b


def refine_with_model(
    mask: np.ndarray, pred_mask: np.ndarray, confidence: np.ndarray, min_confidence: float
) -> int:
    """Fill unknown pixels of `mask` (in place) with the model's class where it is at least `min_confidence`
    sure; labels already there stay. Returns the number of pixels filled."""
    fill = (mask == UNKNOWN) & (confidence >= min_confidence)
    mask[fill] = pred_mask[fill]
    return int(fill.sum())


def propagate_frames(
    frames: Iterable,
    mask: np.ndarray,
    instances: np.ndarray | None = None,
    *,
    method: str = "dis",
    model=None,
    min_confidence: float = 0.9,
    cancel: threading.Event | None = None,
) -> Iterator[Propagated]:
    """Propagate a labelled frame's mask along `frames`.

    Args:
        frames: `Frame`s in the order to follow; the first is the labelled frame (not yielded again),
            then each next one (forward: increasing index; backward: the caller gives them reversed).
        mask: the first frame's HxW uint8 class ids (255 = unknown).
        instances: its HxW fragment ids (uint16, 0 = none), or None.
        method: "dis" or "farneback".
        model: optional object with `predict_one(rgb, confidence=True)` → Prediction (the `Engine`): its
            confident pixels fill what the flow left unknown. Its classes must be the mask's classes.
        min_confidence: the model's winning-class probability needed to fill a pixel.
        cancel: set it to stop after the frame in progress (what was yielded stays valid).

    Yields:
        `Propagated` for each frame after the first, in the order given.

    Raises:
        ValueError: the mask's size is not the first frame's (callers check first and say it in words).
    """
    flow = FlowEstimator(method)
    it = iter(frames)
    first = next(it, None)
    if first is None:
        return
    if mask.shape != first.rgb.shape[:2]:
        raise ValueError(
            f"mask {mask.shape[1]}x{mask.shape[0]} does not fit frame {first.rgb.shape[1]}x{first.rgb.shape[0]}"
        )
    prev_rgb, cur = first.rgb, mask.astype(np.uint8)
    cur_inst = None if instances is None else instances.astype(np.uint16)
    for fr in it:
        if cancel is not None and cancel.is_set():
            return
        cur, cur_inst = propagate_step(prev_rgb, fr.rgb, cur, cur_inst, flow=flow)
        filled = 0
        if model is not None:
            pred = model.predict_one(fr.rgb, confidence=True)
            filled = refine_with_model(cur, pred.mask, pred.confidence, min_confidence)
        n = cur.size
        yield Propagated(
            fr.index,
            fr.pts_s,
            fr.rgb,
            cur.copy(),
            None if cur_inst is None else cur_inst.copy(),
            float((cur != UNKNOWN).sum()) / n,
            filled / n,
        )
        prev_rgb = fr.rgb


def frames_around(source, at: int, n: int, backward: bool = False, chunk: int = 16) -> Iterator:
    """The frames `propagate_frames` follows: `at`, `at+1` … `at+n` (forward), or `at`, `at-1` … `at-n`
    (backward: read forward in chunks of `chunk` frames, each chunk reversed, so memory stays bounded).
    Clipped to the source. Readers that may stop mid-stream should open the video with `frame_threads=False`."""
    if not backward:
        total = source.frames_expected
        end = at + n + 1 if total is None else min(total, at + n + 1)
        yield from source.frames(start=at, end=end)
        return
    first, end = max(0, at - n), at + 1
    while end > first:
        start = max(first, end - chunk)
        yield from reversed(list(source.frames(start=start, end=end)))
        end = start
