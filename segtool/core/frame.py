"""The one frame type every source yields."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Frame:
    """One decoded image.

    Attributes:
        index: 0-based position in the source (frame number for videos, sorted position for folders).
        pts_s: presentation time in seconds for videos and live sources; None for still images.
        rgb: H x W x 3 uint8 array, RGB order, C-contiguous, upright (rotation metadata applied).
        name: path relative to the source root for images and folders (used for output names);
            None for videos and live sources.
    """

    index: int
    pts_s: float | None
    rgb: np.ndarray
    name: str | None = None

    @property
    def size(self) -> tuple[int, int]:
        """(height, width)."""
        return int(self.rgb.shape[0]), int(self.rgb.shape[1])


@dataclass(frozen=True)
class Prediction:
    """What the engine returns for one frame.

    Attributes:
        mask: H x W uint8 array of class ids, same size as the frame.
        confidence: optional H x W float32 array in [0, 1] (softmax probability of the chosen class).
    """

    mask: np.ndarray
    confidence: np.ndarray | None = None
