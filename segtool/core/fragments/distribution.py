"""Size distributions: cumulative % passing, D-values, fines share.

A size distribution is the cumulative share of fragments smaller than each size, weighted by count
(every fragment counts once), by area (a proxy for mass seen from above), or by area^1.5 (a volume
proxy). D_p is the size below which p % of that weight lies: linear interpolation on the cumulative
curve of the sorted sizes (the curve steps up by each fragment's weight at its size).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .fits import fit_rosin_rammler, fit_swebrec

D_POINTS = (10, 20, 50, 80, 90)
WEIGHTS = ("count", "area", "volume")


def weights_for(areas: np.ndarray, basis: str) -> np.ndarray:
    areas = np.asarray(areas, float)
    if basis == "count":
        return np.ones_like(areas)
    if basis == "area":
        return areas
    if basis == "volume":
        return areas**1.5
    raise ValueError(f"weight basis must be one of {', '.join(WEIGHTS)}; got {basis!r}")


def cumulative(sizes: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sorted sizes, cumulative fraction 0..1 at each) — the curve D-values are read from."""
    sizes = np.asarray(sizes, float)
    order = np.argsort(sizes, kind="stable")
    w = np.asarray(weights, float)[order]
    total = w.sum()
    return sizes[order], (np.cumsum(w) / total if total > 0 else np.zeros(len(w)))


def d_value(sizes: np.ndarray, weights: np.ndarray, percent: float) -> float | None:
    """Size at `percent` % passing (None for no fragments)."""
    if len(sizes) == 0:
        return None
    x, f = cumulative(sizes, weights)
    return float(np.interp(percent / 100.0, f, x))


def passing(sizes: np.ndarray, weights: np.ndarray, at: np.ndarray) -> np.ndarray:
    """% of the weight in fragments of size <= each of `at`."""
    sizes = np.asarray(sizes, float)
    w = np.asarray(weights, float)
    total = w.sum()
    if total <= 0:
        return np.zeros(len(at))
    order = np.argsort(sizes)
    cum = np.r_[0.0, np.cumsum(w[order])]
    idx = np.searchsorted(sizes[order], np.asarray(at, float), side="right")
    return 100.0 * cum[idx] / total


def log_sizes(sizes: np.ndarray, n: int = 30) -> np.ndarray:
    """`n` log-spaced sieve sizes from the smallest to the largest fragment."""
    sizes = np.asarray(sizes, float)
    sizes = sizes[sizes > 0]
    if len(sizes) == 0:
        return np.zeros(0)
    lo, hi = float(sizes.min()), float(sizes.max())
    if hi <= lo:
        return np.array([lo])
    return np.geomspace(lo, hi, n)


@dataclass
class Distribution:
    """What the passing curves and summary report for one scope (an image, a source, a time window).

    Sizes are in `unit` ("px" or "mm"). `d_by_area` / `d_by_count`: {"D10": …, "Dmax": …}.
    `fit_basis` says which curve the fits were made to ("area" by default)."""

    fragments: int
    fines: int
    fines_share: float | None
    d_by_area: dict[str, float | None]
    d_by_count: dict[str, float | None]
    rosin_rammler: dict[str, float | None]
    swebrec: dict[str, float | None]
    sieve: np.ndarray = field(default_factory=lambda: np.zeros(0))
    passing_by_count: np.ndarray = field(default_factory=lambda: np.zeros(0))
    passing_by_area: np.ndarray = field(default_factory=lambda: np.zeros(0))
    passing_by_volume: np.ndarray = field(default_factory=lambda: np.zeros(0))
    unit: str = "px"
    fit_basis: str = "area"
    sizes: np.ndarray = field(default_factory=lambda: np.zeros(0))
    areas: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def summary(self) -> dict:
        """The summary.json block (plain types)."""
        return {
            "fragments": self.fragments,
            "fines": self.fines,
            "fines_share": _r(self.fines_share),
            "by_area": {k: _r(v) for k, v in self.d_by_area.items()},
            "by_count": {k: _r(v) for k, v in self.d_by_count.items()},
            "rosin_rammler": {k: _r(v) for k, v in self.rosin_rammler.items()},
            "swebrec": {k: _r(v) for k, v in self.swebrec.items()},
            "fit_basis": self.fit_basis,
        }


def _r(v, nd: int = 4):
    return None if v is None or (isinstance(v, float) and not np.isfinite(v)) else round(float(v), nd)


def d_values(sizes: np.ndarray, weights: np.ndarray) -> dict[str, float | None]:
    out: dict[str, float | None] = {f"D{p}": d_value(sizes, weights, p) for p in D_POINTS}
    out["Dmax"] = float(np.max(sizes)) if len(sizes) else None
    return out


def distribution(
    sizes: np.ndarray,
    areas: np.ndarray,
    *,
    fines_area: float = 0.0,
    fines: int = 0,
    sieve: np.ndarray | None = None,
    unit: str = "px",
    fit_basis: str = "area",
) -> Distribution:
    """The distribution of fragments with equivalent diameters `sizes` and areas `areas` (same unit²).

    Args:
        fines_area: total area of the pieces counted as fines (not in `sizes`); fines_share is its
            share of all fragment area (fines + measured), or None when no piece was a fine: then fines
            were not measured (smaller than the split resolves), which is not a share of 0.
        fines: how many pieces were fines.
        sieve: sizes to report % passing at (default: 30 log-spaced sizes over the measured range).
        fit_basis: the curve the Rosin–Rammler and Swebrec fits are made to: "area" (default), "count", "volume".
    """
    sizes = np.asarray(sizes, float)
    areas = np.asarray(areas, float)
    total_area = float(areas.sum()) + float(fines_area)
    # No fines piece at all means fines were not measured (they are below what the split resolves), not 0 %.
    share = float(fines_area) / total_area if total_area > 0 and fines > 0 else None
    sv = log_sizes(sizes) if sieve is None else np.asarray(sieve, float)
    wc, wa, wv = (weights_for(areas, b) for b in WEIGHTS)
    fit_w = {"count": wc, "area": wa, "volume": wv}[fit_basis]
    rr = fit_rosin_rammler(sizes, fit_w)
    sw = fit_swebrec(sizes, fit_w)
    return Distribution(
        fragments=int(len(sizes)),
        fines=int(fines),
        fines_share=share,
        d_by_area=d_values(sizes, wa),
        d_by_count=d_values(sizes, wc),
        rosin_rammler=rr,
        swebrec=sw,
        sieve=sv,
        passing_by_count=passing(sizes, wc, sv),
        passing_by_area=passing(sizes, wa, sv),
        passing_by_volume=passing(sizes, wv, sv),
        unit=unit,
        fit_basis=fit_basis,
        sizes=sizes,
        areas=areas,
    )
