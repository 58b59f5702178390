"""Smart labelling tools that need no download (issue 21): GrabCut (a box around an object, refined with
strokes) and intelligent scissors (a live-wire path that snaps to edges between clicks), both OpenCV.

Qt-free and without label-set knowledge: they return a boolean region or a path in image pixels, which
the label editor paints with the chosen class (`LabelEditor.fill_polygon` for a scissors outline).
"""

from __future__ import annotations

import cv2
import numpy as np


def grabcut_box(
    rgb: np.ndarray,
    box: tuple[float, float, float, float],
    *,
    foreground: np.ndarray | None = None,
    background: np.ndarray | None = None,
    iterations: int = 5,
    margin: float = 0.25,
) -> np.ndarray:
    """The object inside `box` as an HxW bool mask (OpenCV GrabCut).

    Args:
        rgb: HxWx3 uint8 frame.
        box: (x0, y0, x1, y1) in image pixels, any corner order; everything outside it is background.
        foreground, background: optional HxW bool strokes the user painted as surely object / surely not
            (refinement: pixels there keep that answer).
        iterations: GrabCut iterations.
        margin: the colour models look this share of the box's size beyond it (a crop, so a small box on a
            large frame stays fast).

    Returns:
        HxW bool; False everywhere for a box under 3 pixels wide or high.
    """
    h, w = rgb.shape[:2]
    x0, x1 = sorted((int(round(box[0])), int(round(box[2]))))
    y0, y1 = sorted((int(round(box[1])), int(round(box[3]))))
    x0, y0, x1, y1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
    out = np.zeros((h, w), bool)
    if x1 - x0 < 3 or y1 - y0 < 3:
        return out
    mx, my = int((x1 - x0) * margin) + 8, int((y1 - y0) * margin) + 8
    cx0, cy0, cx1, cy1 = max(0, x0 - mx), max(0, y0 - my), min(w, x1 + mx), min(h, y1 + my)
    crop = np.ascontiguousarray(rgb[cy0:cy1, cx0:cx1, ::-1])  # OpenCV wants BGR
    gc = np.full(crop.shape[:2], cv2.GC_BGD, np.uint8)
    gc[y0 - cy0 : y1 - cy0, x0 - cx0 : x1 - cx0] = cv2.GC_PR_FGD
    if foreground is not None:
        gc[foreground[cy0:cy1, cx0:cx1]] = cv2.GC_FGD
    if background is not None:
        gc[background[cy0:cy1, cx0:cx1]] = cv2.GC_BGD
    if (x0, y0, x1, y1) == (cx0, cy0, cx1, cy1):  # the box is the whole crop: GrabCut needs some background
        gc[[0, -1], :] = cv2.GC_BGD
        gc[:, [0, -1]] = cv2.GC_BGD
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    cv2.setRNGSeed(0)  # GrabCut's k-means starts from OpenCV's global RNG: the same box gives the same answer
    try:
        cv2.grabCut(crop, gc, None, bgd, fgd, iterations, cv2.GC_INIT_WITH_MASK)
    except cv2.error:  # a flat crop (one colour) has no colour model to fit: nothing found
        return out
    out[cy0:cy1, cx0:cx1] = (gc == cv2.GC_FGD) | (gc == cv2.GC_PR_FGD)
    return out


class LiveWire:
    """Intelligent scissors on one frame: `start(x, y)` sets an anchor, `path_to(x, y)` is the cheapest
    path along edges from the anchor to (x, y).

    `start` costs one pass over the frame (about 0.1 s per megapixel), `path_to` is fast: call it on
    every mouse move.
    """

    def __init__(self, rgb: np.ndarray) -> None:
        self._tool = cv2.segmentation.IntelligentScissorsMB()
        self._tool.setEdgeFeatureCannyParameters(32, 100)
        self._tool.setGradientMagnitudeMaxLimit(200)
        self._tool.applyImage(np.ascontiguousarray(rgb[..., ::-1]))
        self.shape = rgb.shape[:2]
        self.anchor: tuple[int, int] | None = None

    def _clip(self, x: float, y: float) -> tuple[int, int]:
        h, w = self.shape
        return min(w - 1, max(0, int(round(x)))), min(h - 1, max(0, int(round(y))))

    def start(self, x: float, y: float) -> None:
        self.anchor = self._clip(x, y)
        self._tool.buildMap(self.anchor)

    def path_to(self, x: float, y: float) -> np.ndarray:
        """Nx2 int (x, y) points from the anchor to (x, y), both included."""
        if self.anchor is None:
            raise RuntimeError("LiveWire.start(x, y) first")
        c = self._tool.getContour(self._clip(x, y))
        return c.reshape(-1, 2).astype(np.int32)
