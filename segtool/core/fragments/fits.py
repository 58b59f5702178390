"""Rosin–Rammler and Swebrec fits to a cumulative passing curve (least squares, scipy).

  Rosin–Rammler: P(x) = 1 - exp(-(x / xc)^n)
  Swebrec:       P(x) = 1 / (1 + (ln(xmax / x) / ln(xmax / x50))^b)  for x < xmax, 1 above
P is the fraction passing. Both are fitted to the empirical curve (the cumulative weight at each sorted
size, taken at the midpoint of each step so the first and last fragments do not pin it to 0 or 1);
R² is 1 - SS_res / SS_tot on the fraction passing at those points.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy.optimize import OptimizeWarning, curve_fit

MIN_POINTS = 3  # fewer distinct sizes cannot constrain two or three parameters
XMAX_FACTOR = 3.0


def rosin_rammler(x, xc, n):
    x = np.asarray(x, float)
    return 1.0 - np.exp(-np.power(np.clip(x, 1e-12, None) / xc, n))


def swebrec(x, x50, xmax, b):
    x = np.asarray(x, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.log(xmax / np.clip(x, 1e-12, None)) / np.log(xmax / x50)
        p = 1.0 / (1.0 + np.power(np.clip(r, 0, None), b))
    return np.where(x >= xmax, 1.0, p)


def empirical_curve(sizes: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    sizes = np.asarray(sizes, float)
    order = np.argsort(sizes)
    x = sizes[order]
    w = np.asarray(weights, float)[order]
    total = w.sum()
    if total <= 0:
        return x, np.zeros(len(x))
    cum = np.cumsum(w)
    return x, (cum - 0.5 * w) / total


def _r2(y: np.ndarray, yhat: np.ndarray) -> float:
    ss_tot = float(((y - y.mean()) ** 2).sum())
    ss_res = float(((y - yhat) ** 2).sum())
    return 1.0 - ss_res / ss_tot if ss_tot > 0 else float("nan")


def _fit(f, x, y, p0, bounds):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OptimizeWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        p, _ = curve_fit(f, x, y, p0=p0, bounds=bounds, maxfev=20000)
    return p


def fit_rosin_rammler(sizes: np.ndarray, weights: np.ndarray) -> dict[str, float | None]:
    """{"xc", "n", "r2"}; all None when there are fewer than 3 distinct sizes or the fit fails."""
    x, y = empirical_curve(sizes, weights)
    none = {"xc": None, "n": None, "r2": None}
    if len(np.unique(x)) < MIN_POINTS:
        return none
    xc0 = float(np.interp(1 - np.exp(-1), y, x))
    try:
        xc, n = _fit(rosin_rammler, x, y, (max(xc0, 1e-9), 1.5), ([1e-9, 0.05], [np.inf, 50.0]))
    except (RuntimeError, ValueError):
        return none
    return {"xc": float(xc), "n": float(n), "r2": _r2(y, rosin_rammler(x, xc, n))}


def fit_swebrec(sizes: np.ndarray, weights: np.ndarray) -> dict[str, float | None]:
    """{"x50", "xmax", "b", "r2"}. xmax is bounded to [largest fragment, XMAX_FACTOR × largest]: the
    curve cannot tell a larger top size apart from a steeper b, and an unbounded fit runs off to
    xmax → ∞; b to [0.05, 20]."""
    x, y = empirical_curve(sizes, weights)
    none = {"x50": None, "xmax": None, "b": None, "r2": None}
    if len(np.unique(x)) < MIN_POINTS:
        return none
    top, low = float(x.max()), float(x.min())
    x50_0 = float(np.clip(np.interp(0.5, y, x), low, top * 0.999))
    try:
        x50, xmax, b = _fit(
            swebrec, x, y, (x50_0, top * 1.2, 2.0), ([low * 0.5, top, 0.05], [top, top * XMAX_FACTOR, 20.0])
        )
    except (RuntimeError, ValueError):
        return none
    return {"x50": float(x50), "xmax": float(xmax), "b": float(b), "r2": _r2(y, swebrec(x, x50, xmax, b))}
