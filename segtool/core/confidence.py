"""How sure a model is on the footage it is shown, compared with how sure it was on its own validation
images: a hint that the model does not fit the footage.

The confidence of one frame is `segtool.models.confidence.rescaled_mean` (the mean max-softmax
probability rescaled so that a coin flip between the K classes is 0 and certainty 1; the trainer
measures the same number on the validation images and stores it in the checkpoint as
`confidence_reference`: the mean and the 10th percentile of the per-image values). The notice fires
below `RATIO` × the reference's 10th percentile; a checkpoint without a reference (made before it
existed) falls back to the generic `LOW`.

Why the 10th percentile, and why 0.8 (measured with the shipped models, per image; docs/app.md has the
table): the demo rock model scores 0.88 on held-out synthetic pictures (10th percentile 0.80), 0.82–0.95
on its own clip and 0.47–0.60 on a street clip. The fragment model's validation set mixes conveyor tiles
(mean 0.77) with gravel photos (0.56–0.59) — its own gravel sits in the low tail, and 0.8 × the mean
(or the generic 0.7) warned on it. Its 10th percentile is 0.61: 0.8 × that = 0.49 keeps gravel, grain
photos (0.50–0.64) and quarry photos (0.49–0.58) quiet, while the demo model's street clip stays far
under its own limit (0.64). Honest limit: the fragment model is 0.59–0.72 sure on the street clip too —
no threshold on this number can tell that model a street from rock; it only catches models that hesitate.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import numpy as np

from segtool.models.confidence import rescaled_mean

__all__ = ["LOW", "RATIO", "ConfidenceMeter", "limit_for", "rescaled_mean"]

LOW = 0.7  # generic limit for a model that records no reference of its own
RATIO = 0.8  # unsure below this share of the reference's 10th percentile (see the module docstring)


def limit_for(reference: dict[str, Any] | None) -> float:
    """The confidence under which the notice says "unsure": RATIO × the reference's 10th percentile
    (the hardest tenth of the model's own validation images), else the generic LOW."""
    return RATIO * float(reference["p10"]) if reference else LOW


def _where(reference: dict[str, Any]) -> str:
    n = reference["images"]
    what = "validation image" if reference["source"] == "validation" else "reference image"
    return f"its {n} {what}{'s' if n != 1 else ''}"


class ConfidenceMeter:
    """Running mean of the rescaled confidence over the last `window` frames, judged against the
    model's `reference` (a checkpoint's `confidence_reference`; None = the generic LOW)."""

    def __init__(self, window: int = 30, reference: dict[str, Any] | None = None) -> None:
        self.values: deque[float] = deque(maxlen=window)
        self.reference = reference

    def reset(self) -> None:
        """Forget the frames (a new source or model); the reference stays until `set_reference`."""
        self.values.clear()

    def set_reference(self, reference: dict[str, Any] | None) -> None:
        """A new model: its reference (None: it has none) and no frames yet."""
        self.reference = reference
        self.values.clear()

    def add(self, confidence: np.ndarray | None, num_classes: int) -> None:
        if confidence is not None:
            self.values.append(rescaled_mean(np.asarray(confidence, np.float32), num_classes))

    @property
    def value(self) -> float | None:
        return float(np.mean(self.values)) if self.values else None

    @property
    def limit(self) -> float:
        return limit_for(self.reference)

    @property
    def unsure(self) -> bool:
        v = self.value
        return v is not None and v < self.limit

    def text(self) -> str:
        """One line for the side panel ("" until a frame was seen); names the value here and the model's
        own reference (or says the limit is a generic one)."""
        v = self.value
        if v is None:
            return ""
        frames = f"{len(self.values)} frame{'s' if len(self.values) != 1 else ''}"
        ref = self.reference
        if ref:
            own = f", against {ref['mean']:.2f} on {_where(ref)}"
            rule = f"unsure below {self.limit:.2f}, {RATIO:g} × their hardest tenth"
        else:
            own = "; this model file records no confidence of its own"
            rule = f"unsure below {LOW:.2f}, a generic threshold"
        if v < self.limit:
            return (
                f"⚠ The model is unsure on this footage: confidence {v:.2f} over {frames} here{own} "
                f"({rule}; 1 = sure). It was probably trained on different pictures: its masks here are "
                "guesses — train it on labelled frames of this footage (Train…)."
            )
        return f"Model confidence on this footage: {v:.2f} over {frames}{own} ({rule}; 1 = sure)."
