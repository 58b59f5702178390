"""Fragment result files: fragments.csv, distribution.csv, summary.json, curves.png, over_time.png.

Every file is written to a temporary name and renamed (a crash never leaves half a file). Plots use
matplotlib's Agg backend (no display, no Qt).
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from segtool.base.errors import UserInputError

from .distribution import Distribution
from .fits import rosin_rammler, swebrec

FRAGMENT_COLUMNS = [
    "source",
    "frame",
    "pts_s",
    "fragment",
    "area_px",
    "diameter_px",
    "feret_min_px",
    "feret_max_px",
    "cx",
    "cy",
    "touches_border",
    "confidence",
]
MM_COLUMNS = ["area_mm2", "diameter_mm", "feret_min_mm", "feret_max_mm"]
# last: whether the piece is below the minimum size, and whether it counts in the distribution (not fines,
# not cut by the border): without them a reader of fragments.csv cannot tell the counted fragments apart
FLAG_COLUMNS = ["fines", "in_distribution"]
DISTRIBUTION_COLUMNS = ["scope", "size", "passing_by_count", "passing_by_area", "passing_by_volume"]


def atomic_write(path: Path, data: bytes | str) -> Path:
    path = Path(path)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; results are ordinary files others may read
        os.replace(tmp, path)
    except OSError as e:
        Path(tmp).unlink(missing_ok=True)
        raise UserInputError(
            f"cannot write {path}: {e.strerror or e}; check free space and permissions"
        ) from e
    return path


def fragments_csv(rows: list[dict], scaled: bool) -> str:
    cols = FRAGMENT_COLUMNS + (MM_COLUMNS if scaled else []) + FLAG_COLUMNS
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in cols})
    return buf.getvalue()


def distribution_csv(scopes: list[tuple[str, Distribution]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(DISTRIBUTION_COLUMNS)
    for scope, d in scopes:
        for i, size in enumerate(d.sieve):
            w.writerow(
                [
                    scope,
                    f"{size:.4g}",
                    f"{d.passing_by_count[i]:.3f}",
                    f"{d.passing_by_area[i]:.3f}",
                    f"{d.passing_by_volume[i]:.3f}",
                ]
            )
    return buf.getvalue()


def write_json(path: Path, doc: dict[str, Any]) -> Path:
    return atomic_write(path, json.dumps(doc, indent=2, allow_nan=False) + "\n")


def _figure():
    import matplotlib

    matplotlib.use("Agg", force=True)
    from matplotlib.figure import Figure

    return Figure


def curves_png(path: Path, d: Distribution, title: str = "") -> Path | None:
    """Passing curves (by area and by count) on a log size axis, D50/D80 by area marked, fits drawn."""
    if d.fragments == 0:
        return None
    Figure = _figure()
    fig = Figure(figsize=(7.5, 4.8), dpi=110)
    draw_curves(fig.add_subplot(111), d, title)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return atomic_write(path, buf.getvalue())


def draw_curves(ax, d: Distribution, title: str = "", legend_size: float = 7) -> None:
    """The passing-curve plot on `ax` (curves.png and the PDF report draw the same)."""
    x = np.sort(d.sizes)
    f_area = np.cumsum(np.asarray(d.areas)[np.argsort(d.sizes)]) / max(float(np.sum(d.areas)), 1e-12) * 100
    f_count = np.arange(1, len(x) + 1) / len(x) * 100
    ax.step(x, f_area, where="post", color="tab:brown", lw=2, label="passing by area (mass proxy)")
    ax.step(x, f_count, where="post", color="tab:gray", lw=1.3, ls="--", label="passing by count")
    grid = np.geomspace(max(x.min() * 0.8, 1e-6), x.max() * 1.3, 200)
    rr, sw = d.rosin_rammler, d.swebrec
    if rr.get("xc"):
        ax.plot(
            grid,
            100 * rosin_rammler(grid, rr["xc"], rr["n"]),
            color="tab:blue",
            lw=1,
            label=f"Rosin–Rammler xc={rr['xc']:.3g} n={rr['n']:.2f} (R²={rr['r2']:.3f})",
        )
    if sw.get("x50"):
        ax.plot(
            grid,
            100 * swebrec(grid, sw["x50"], sw["xmax"], sw["b"]),
            color="tab:green",
            lw=1,
            label=f"Swebrec x50={sw['x50']:.3g} xmax={sw['xmax']:.3g} b={sw['b']:.2f} (R²={sw['r2']:.3f})",
        )
    for key, pct in (("D50", 50), ("D80", 80)):
        v = d.d_by_area.get(key)
        if v:
            ax.axhline(pct, color="0.85", lw=0.8, zorder=0)
            ax.plot([v, v], [0, pct], color="tab:red", lw=1)
            ax.annotate(
                f"{key} {v:.3g} {d.unit}",
                (v, pct),
                textcoords="offset points",
                xytext=(4, -12),
                color="tab:red",
                fontsize=8,
            )
    ax.set_xscale("log")
    _plain_log_ticks(ax, float(grid[0]), float(grid[-1]))
    ax.set_ylim(0, 100)
    ax.set_xlabel(f"size: equivalent-circle diameter ({d.unit})")
    ax.set_ylabel("% passing")
    fines = (
        ", fines not measured" if d.fines_share is None else f", fines {100 * d.fines_share:.1f} % of area"
    )
    ax.set_title(
        (title + "\n" if title else "") + f"{d.fragments} fragments{fines}; fits to the {d.fit_basis} curve",
        fontsize=9,
    )
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=legend_size, loc="lower right")


def _plain_log_ticks(ax, lo: float, hi: float) -> None:
    """1-2-5 ticks written as plain numbers (matplotlib's default 3×10⁰ minor labels overlap)."""
    from matplotlib.ticker import FixedLocator, NullFormatter, NullLocator, ScalarFormatter

    ticks = [
        m * 10.0**e
        for e in range(int(np.floor(np.log10(lo))) - 1, int(np.ceil(np.log10(hi))) + 1)
        for m in (1, 2, 5)
    ]
    ax.xaxis.set_major_locator(FixedLocator([t for t in ticks if lo <= t <= hi]))
    fmt = ScalarFormatter()
    fmt.set_scientific(False)
    ax.xaxis.set_major_formatter(fmt)
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_minor_formatter(NullFormatter())


def over_time_png(
    path: Path,
    t: list[float],
    d50: list[float | None],
    d80: list[float | None],
    coverage: list[float],
    unit: str,
    windows: list[dict] | None = None,
) -> Path | None:
    """D50/D80 (by area) and rock coverage against time, per frame; window means with their spread."""
    if not t:
        return None
    Figure = _figure()
    fig = Figure(figsize=(8, 4.8), dpi=110)
    ax, ax2 = fig.add_subplot(211), fig.add_subplot(212)
    tt = np.asarray(t, float)
    for vals, name, col in ((d50, "D50", "tab:blue"), (d80, "D80", "tab:orange")):
        v = np.asarray([np.nan if x is None else x for x in vals], float)
        ax.plot(tt, v, ".", ms=3, color=col, alpha=0.5, label=f"{name} by area, per frame")
        if windows:
            wt = [(w["start_s"] + w["end_s"]) / 2 for w in windows]
            m = [w.get(f"{name}_mean") for w in windows]
            s = [w.get(f"{name}_std") or 0 for w in windows]
            m = np.asarray([np.nan if x is None else x for x in m], float)
            ax.errorbar(wt, m, yerr=s, color=col, lw=1.5, capsize=3, label=f"{name}, window mean ± sd")
    ax.set_ylabel(f"size ({unit})")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    ax2.plot(tt, 100 * np.asarray(coverage, float), color="tab:brown", lw=1)
    ax2.set_ylabel("rock coverage (%)")
    ax2.set_xlabel("time (s)")
    ax2.set_ylim(0, 102)  # a pile covering the frame draws at 100 %, not hidden by the axis
    ax2.grid(alpha=0.3)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return atomic_write(path, buf.getvalue())
