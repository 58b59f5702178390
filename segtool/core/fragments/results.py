"""Result files of a fragments run, rebuilt from its per-frame records (frames.jsonl): fragments.csv,
distribution.csv (overall, per source, per time window), summary.json, curves.png, over_time.png."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from segtool import __version__
from segtool.base.errors import UserInputError

from .analyse import FragmentSettings
from .distribution import Distribution, distribution
from .report import atomic_write, curves_png, distribution_csv, fragments_csv, over_time_png, write_json


def _unit(records: list[dict]) -> str:
    scaled = {r["mm_per_px"] is not None for r in records}
    if len(scaled) > 1:
        without = [r["name"] for r in records if r["mm_per_px"] is None][:3]
        raise UserInputError(
            f"some images have a scale and others not (e.g. {', '.join(without)}): sizes would mix mm and px; "
            "give --scale or a scale file for every image"
        )
    return "mm" if scaled == {True} else "px"


def _dist(records: list[dict], settings: FragmentSettings, unit: str) -> Distribution:
    k = "mm" if unit == "mm" else "px"
    sizes, areas, fines_area, fines = [], [], 0.0, 0
    for r in records:
        for f in r["rows"]:
            a = f["area_mm2"] if k == "mm" else f["area_px"]
            if f["in_distribution"]:
                sizes.append(f["diameter_mm"] if k == "mm" else f["diameter_px"])
                areas.append(a)
            elif f["fines"] and (settings.include_border or not f["touches_border"]):
                fines_area += a
                fines += 1
    sieve = np.asarray(settings.sieve, float) if settings.sieve else None
    return distribution(
        np.asarray(sizes, float),
        np.asarray(areas, float),
        fines_area=fines_area,
        fines=fines,
        sieve=sieve,
        unit=unit,
        fit_basis=settings.fit_basis,
    )


def _windows(recs: list[dict], settings: FragmentSettings, unit: str, window_s: float) -> list[dict]:
    timed = [r for r in recs if r.get("pts_s") is not None]
    if not timed or window_s <= 0:
        return []
    per_frame = {r["key"]: _dist([r], settings, unit) for r in timed}
    out = []
    end = max(r["pts_s"] for r in timed)
    for i in range(int(math.floor(end / window_s)) + 1):
        lo, hi = i * window_s, (i + 1) * window_s
        win = [r for r in timed if lo <= r["pts_s"] < hi]
        if not win:
            continue
        d = _dist(win, settings, unit)
        row = {
            "start_s": lo,
            "end_s": hi,
            "frames": len(win),
            **d.summary(),
            "coverage_mean": round(float(np.mean([r["coverage"] for r in win])), 4),
        }
        for key in ("D50", "D80"):
            vals = [
                per_frame[r["key"]].d_by_area[key]
                for r in win
                if per_frame[r["key"]].d_by_area[key] is not None
            ]
            row[f"{key}_mean"] = round(float(np.mean(vals)), 4) if vals else None
            row[f"{key}_std"] = round(float(np.std(vals)), 4) if len(vals) > 1 else None
        out.append(row)
    return out


def finish(
    out: Path,
    records: list[dict],
    opts,
    *,
    complete: bool,
    seconds: float,
    stopped: str | None,
    model: str | None,
    method: str,
) -> dict[str, Any]:
    """(Re)write every result file from the per-frame records."""
    unit = _unit(records) if records else "px"
    settings = opts.settings
    rows = []
    for r in records:
        for f in r["rows"]:
            rows.append({"source": r["source"], "frame": r["frame"], "pts_s": r["pts_s"], **f})
    scales = sorted({r["mm_per_px"] for r in records if r["mm_per_px"] is not None})
    atomic_write(out / "fragments.csv", fragments_csv(rows, scaled=unit == "mm"))
    overall = _dist(records, settings, unit)
    sources = []
    scopes = [("overall", overall)]
    names = list(dict.fromkeys(r["source"] for r in records))
    windows_all = []
    for name in names:
        recs = [r for r in records if r["source"] == name]
        d = _dist(recs, settings, unit)
        scopes.append((name, d))
        entry = {
            "source": name,
            "frames": len(recs),
            **d.summary(),
            "coverage_mean": round(float(np.mean([r["coverage"] for r in recs])), 4),
        }
        wins = _windows(recs, settings, unit, opts.window_s)
        if wins:
            entry["windows"] = wins
            windows_all.append((name, recs, wins))
            for w in wins:
                scopes.append(
                    (
                        f"{name}@{w['start_s']:g}-{w['end_s']:g}s",
                        _dist(
                            [
                                r
                                for r in recs
                                if r.get("pts_s") is not None and w["start_s"] <= r["pts_s"] < w["end_s"]
                            ],
                            settings,
                            unit,
                        ),
                    )
                )
        sources.append(entry)
    atomic_write(out / "distribution.csv", distribution_csv(scopes))
    curves_png(out / "curves.png", overall, title=", ".join(names[:3]) + (" …" if len(names) > 3 else ""))
    for i, (name, recs, wins) in enumerate(windows_all):
        timed = sorted((r for r in recs if r.get("pts_s") is not None), key=lambda r: r["pts_s"])
        per = [_dist([r], settings, unit) for r in timed]
        fname = "over_time.png" if i == 0 else f"over_time_{Path(name).stem}.png"
        over_time_png(
            out / fname,
            [r["pts_s"] for r in timed],
            [d.d_by_area["D50"] for d in per],
            [d.d_by_area["D80"] for d in per],
            [r["coverage"] for r in timed],
            unit,
            wins,
        )
    summary = {
        "unit": unit,
        "scale_mm_per_px": scales[0] if len(scales) == 1 else (scales or None),
        "settings": {
            **settings.to_dict(),
            "method": method,
            "model": model,
            "every": opts.every,
            "window_s": opts.window_s,
            "size": "equivalent-circle diameter 2*sqrt(area/pi)",
            "d_values": "linear interpolation on the cumulative curve of sorted sizes",
        },
        "complete": complete,
        "stopped": stopped,
        "frames": len(records),
        "seconds": round(seconds, 2),
        "segtool_version": __version__,
        "overall": overall.summary(),
        "sources": sources,
    }
    write_json(out / "summary.json", summary)
    return summary
