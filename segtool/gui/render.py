"""What the viewer paints: a frame and its mask composed for one display mode (numpy only, no Qt).

Kept apart from the widgets so the picture logic is testable and cheap to reason about: every mode is
a handful of whole-image OpenCV/numpy operations (about 1 ms at 480x360, a few ms at 1080p).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from segtool.core.overlay import blend, colorize, draw_outlines, hidden_pixels

MODES: dict[str, str] = {
    "overlay": "Overlay",
    "mask": "Mask only",
    "side": "Side by side",
    "outlines": "Class outlines",
}


def _shading(confidence: np.ndarray, num_classes: int) -> np.ndarray:
    """Confidence rescaled so that a coin-flip prediction (1/K) is 0 and certainty is 1."""
    floor = 1.0 / max(num_classes, 2)
    return np.clip((confidence - floor) / (1.0 - floor), 0.0, 1.0)


def compose(
    rgb: np.ndarray,
    mask: np.ndarray | None,
    palette: np.ndarray | None,
    *,
    mode: str = "overlay",
    alpha: float = 0.5,
    visible: Sequence[bool] | None = None,
    confidence: np.ndarray | None = None,
) -> np.ndarray:
    """The picture the viewer shows for one frame.

    Args:
        rgb: H x W x 3 uint8 frame.
        mask: H x W class ids of that same frame, or None (no model yet, or not predicted yet).
        palette: (K, 3) uint8 class colours (needed when `mask` is given).
        mode: one of `MODES`: overlay, mask (colours only), side (frame | colour mask), outlines.
        alpha: opacity of the class colours in overlay and side-by-side modes.
        visible: per-class flags; hidden classes show the frame (overlay) or black (mask only).
        confidence: optional H x W float in [0, 1]; when given, colours fade where the model is unsure.

    Returns:
        H x W x 3 uint8 (2W wide in side-by-side mode), a new C-contiguous array.
    """
    if mask is None or palette is None:
        if mode == "side":
            return np.ascontiguousarray(np.hstack([rgb, rgb]))
        return np.array(rgb, copy=True)
    k = len(palette)
    if mode == "outlines":
        return draw_outlines(rgb, mask, palette, thickness=2, visible=visible)
    if mode in ("mask", "side"):
        out = colorize(mask, palette)
        if confidence is not None:
            out = (out * _shading(confidence, k)[..., None]).astype(np.uint8)
        hide = hidden_pixels(mask, k, visible)
        if hide is not None:
            out[hide.view(bool)] = 0
        return out if mode == "mask" else np.ascontiguousarray(np.hstack([rgb, out]))
    if confidence is None:
        over = blend(rgb, mask, palette, alpha, visible)
    else:
        # Per-pixel opacity: alpha where the model is sure, fading to the bare frame where it guesses.
        a = (alpha * _shading(confidence, k)).astype(np.float32)
        hide = hidden_pixels(mask, k, visible)
        if hide is not None:
            a[hide.view(bool)] = 0.0
        colors = colorize(mask, palette).astype(np.float32)
        base = rgb.astype(np.float32)
        over = (base + (colors - base) * a[..., None] + 0.5).astype(np.uint8)
    return over
