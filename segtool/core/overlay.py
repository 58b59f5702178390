"""Turn class-id masks into pictures: colour masks, blended overlays, class outlines, coverage.

Used by the GUI view and by the output sinks, so everything here is per-frame fast: every step is a
256-entry lookup table applied by OpenCV/numpy over the whole image, never a Python loop over pixels.
A 1080p blend costs a few milliseconds (see `benchmarks/bench_overlay.py`).

Conventions shared by all functions:
- `mask` is an H x W array of class ids (uint8; other integer types are clipped to 0..255).
- `palette` is a (K, 3) uint8 array, one RGB colour per class (a checkpoint's `palette`,
  validated where the checkpoint is loaded: nothing here checks colours again).
- Ids >= K (for example 255, the usual "ignore" id) have no class: `colorize` paints them black,
  `blend` and `draw_outlines` leave the frame unchanged there, `coverage` does not count them.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

__all__ = [
    "colorize",
    "blend",
    "outlines",
    "draw_outlines",
    "hidden_pixels",
    "coverage",
]


def _as_ids(mask: np.ndarray) -> np.ndarray:
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"mask must be H x W class ids, got shape {mask.shape}")
    if mask.dtype != np.uint8:
        if not np.issubdtype(mask.dtype, np.integer):
            raise ValueError(f"mask must hold integer class ids, got dtype {mask.dtype}")
        mask = np.clip(mask, 0, 255).astype(np.uint8)
    return mask


def _color_lut(palette: np.ndarray) -> np.ndarray:
    """256 x 1 x 3 uint8 table for cv2.LUT; ids beyond the palette map to black."""
    palette = np.asarray(palette, np.uint8).reshape(-1, 3)
    lut = np.zeros((256, 1, 3), np.uint8)
    k = min(len(palette), 256)
    lut[:k, 0] = palette[:k]
    return lut


def _shown_lut(num_classes: int, visible: Sequence[bool] | None) -> np.ndarray:
    """256-entry uint8 table: 1 where an id is a class that should be drawn."""
    shown = np.zeros(256, np.uint8)
    k = min(num_classes, 256)
    shown[:k] = 1
    if visible is not None:
        # Classes beyond the given flags stay visible: a shorter list hides only what it names.
        flags = np.asarray(list(visible)[:k], bool)
        shown[: len(flags)] = flags
    return shown


def hidden_pixels(mask: np.ndarray, num_classes: int, visible: Sequence[bool] | None) -> np.ndarray | None:
    """H x W uint8, 1 where a pixel's class is hidden (or its id is not a class), else 0; None when no
    pixel is hidden (the common case costs one histogram, no full-size array)."""
    ids = _as_ids(mask)
    shown = _shown_lut(num_classes, visible)
    counts = cv2.calcHist([ids], [0], None, [256], [0, 256]).ravel()
    if not counts[shown == 0].any():
        return None
    return cv2.LUT(ids, 1 - shown)


def colorize(mask: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """Paint each pixel with its class colour.

    Args:
        mask: H x W class ids.
        palette: (K, 3) uint8 colours; ids >= K become black.

    Returns:
        H x W x 3 uint8 RGB image (a new array).
    """
    ids = _as_ids(mask)
    # cv2.LUT maps each channel through its own table; it is ~6x faster than numpy fancy indexing.
    return cv2.LUT(cv2.merge([ids, ids, ids]), _color_lut(palette))


def blend(
    rgb: np.ndarray,
    mask: np.ndarray,
    palette: np.ndarray,
    alpha: float = 0.5,
    visible: Sequence[bool] | None = None,
) -> np.ndarray:
    """Blend class colours over a frame.

    Args:
        rgb: H x W x 3 uint8 frame.
        mask: H x W class ids, same size as the frame.
        palette: (K, 3) uint8 colours.
        alpha: colour weight in [0, 1]; 0 shows the frame, 1 the colours.
        visible: optional per-class flags; hidden classes (and ids >= K) show the frame unchanged.

    Returns:
        H x W x 3 uint8 image (a new array; the inputs are not modified).
    """
    ids = _as_ids(mask)
    rgb = np.ascontiguousarray(rgb, np.uint8)
    if rgb.shape[:2] != ids.shape:
        raise ValueError(f"frame {rgb.shape[:2]} and mask {ids.shape} differ in size")
    alpha = float(np.clip(alpha, 0.0, 1.0))
    colors = colorize(ids, palette)
    out = cv2.addWeighted(rgb, 1.0 - alpha, colors, alpha, 0.0)
    hidden = hidden_pixels(ids, len(palette), visible)
    if hidden is not None:  # restore the frame under hidden classes
        cv2.copyTo(rgb, hidden, out)
    return out


def outlines(mask: np.ndarray, thickness: int = 1) -> np.ndarray:
    """Pixels on a boundary between two different ids.

    A pixel is marked when its right or lower neighbour has another id, so a boundary is one pixel
    wide at `thickness=1`; larger values dilate it.

    Args:
        mask: H x W class ids.
        thickness: line width in pixels (>= 1).

    Returns:
        H x W bool array.
    """
    ids = _as_ids(mask)
    edge = np.zeros(ids.shape, bool)
    np.not_equal(ids[:, :-1], ids[:, 1:], out=edge[:, :-1])
    edge[:-1, :] |= ids[:-1, :] != ids[1:, :]
    if thickness > 1:
        kernel = np.ones((int(thickness), int(thickness)), np.uint8)
        edge = cv2.dilate(edge.view(np.uint8), kernel).astype(bool)
    return edge


def draw_outlines(
    rgb: np.ndarray,
    mask: np.ndarray,
    palette: np.ndarray,
    thickness: int = 1,
    visible: Sequence[bool] | None = None,
) -> np.ndarray:
    """Draw class boundaries over a frame, each boundary pixel in its own class colour.

    Args:
        rgb: H x W x 3 uint8 frame.
        mask: H x W class ids.
        palette: (K, 3) uint8 colours.
        thickness: line width in pixels.
        visible: optional per-class flags; hidden classes (and ids >= K) draw no outline.

    Returns:
        H x W x 3 uint8 image (a new array).
    """
    ids = _as_ids(mask)
    out = np.array(rgb, np.uint8, copy=True)
    edge = outlines(ids, thickness)
    if thickness > 1:
        # Thick lines spill onto neighbouring pixels; colour them by the largest id nearby so a line keeps
        # one colour along its length instead of alternating with the pixel underneath.
        ids = cv2.dilate(ids, np.ones((int(thickness), int(thickness)), np.uint8))
    draw = edge & cv2.LUT(ids, _shown_lut(len(palette), visible)).astype(bool)
    out[draw] = np.asarray(palette, np.uint8)[ids[draw]]
    return out


def coverage(mask: np.ndarray, num_classes: int) -> np.ndarray:
    """Fraction of the frame's pixels in each class.

    Args:
        mask: H x W class ids.
        num_classes: K; ids >= K are not counted in any class, so the fractions then sum below 1.

    Returns:
        (K,) float64 array of pixel fractions.
    """
    ids = _as_ids(mask)
    # bincount, not cv2.calcHist: calcHist counts in float32, which stops being exact past 2**24 pixels.
    counts = np.bincount(ids.ravel(), minlength=256)[:num_classes]
    return counts / max(ids.size, 1)
