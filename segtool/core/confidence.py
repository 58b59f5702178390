"""How sure a model is on the footage it is shown: a hint that the model does not fit it.

The demo rock model on its own synthetic clip has a mean confidence (max softmax probability) of
0.95–0.97; on a street clip it paints 27 % "rock" at a mean confidence of 0.74–0.79. Rescaled so that a
coin flip between the K classes is 0 and certainty 1, that is 0.91–0.94 against 0.47–0.58: below
`LOW` the app shows a notice.
"""

from __future__ import annotations

from collections import deque

import numpy as np

LOW = 0.7  # rescaled mean confidence under which the footage is probably unlike the training photos


def rescaled_mean(confidence: np.ndarray, num_classes: int) -> float:
    """Mean of (confidence - 1/K) / (1 - 1/K) over the frame (every 4th pixel: plenty for a mean)."""
    floor = 1.0 / max(num_classes, 2)
    sample = np.asarray(confidence, np.float32)[::4, ::4]
    return float(np.clip((sample - floor) / (1.0 - floor), 0.0, 1.0).mean())


class ConfidenceMeter:
    """Running mean of the rescaled confidence over the last `window` frames."""

    def __init__(self, window: int = 30) -> None:
        self.values: deque[float] = deque(maxlen=window)

    def reset(self) -> None:
        self.values.clear()

    def add(self, confidence: np.ndarray | None, num_classes: int) -> None:
        if confidence is not None:
            self.values.append(rescaled_mean(confidence, num_classes))

    @property
    def value(self) -> float | None:
        return float(np.mean(self.values)) if self.values else None

    def text(self) -> str:
        """One line for the side panel ("" until a frame was seen)."""
        v = self.value
        if v is None:
            return ""
        frames = f"{len(self.values)} frame{'s' if len(self.values) != 1 else ''}"
        if v < LOW:
            return (
                f"⚠ The model is unsure on this footage (confidence {v:.2f} over {frames}; 1 = sure): it was "
                "probably trained on different pictures. Its masks here are guesses — train it on labelled "
                "frames of this footage (Train…)."
            )
        return f"Model confidence on this footage: {v:.2f} over {frames} (1 = sure)."
