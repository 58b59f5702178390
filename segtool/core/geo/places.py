"""Sizes per place and over time, from a fragments run's per-frame records (frames.jsonl, with the
lat/lon/time fields `lookup.GeoLookup.record` gave them).

  places.csv        one row per photo and per video segment: position, time, frames, fragments, cover,
                    D10–D90 and Dmax by area. A segment is a time window (`time:S`) or a stretch of the
                    GPS track (`distance:M` metres), the user's choice.
  fragments.geojson the same rows as Points (RFC 7946: WGS84, [lon, lat(, alt)]), plus one LineString per
                    video track; written only when some place has a position.
  frames.csv        one row per photo / frame: position, time, fragments, cover, D-values; for a video also
                    D50, D80 and cover as a centred rolling mean over `rolling_s` seconds.
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import numpy as np

from segtool.base.errors import UserInputError
from segtool.core.fragments.report import atomic_write
from segtool.core.fragments.results import _dist  # one definition of what a scope's distribution is

from .fix import Fix, distance_m

D_KEYS = ("D10", "D20", "D50", "D80", "D90", "Dmax")
PLACE_COLUMNS = [
    "place",
    "source",
    "kind",
    "frames",
    "start_s",
    "end_s",
    "time_start",
    "time_end",
    "lat",
    "lon",
    "alt",
    "position_from",
    "track_m",
    "fragments",
    "coverage",
    *D_KEYS,
    "fines_share",
    "unit",
]
FRAME_COLUMNS = [
    "source",
    "frame",
    "pts_s",
    "name",
    "time",
    "lat",
    "lon",
    "alt",
    "position_from",
    "fragments",
    "coverage",
    *D_KEYS,
    "D50_rolling",
    "D80_rolling",
    "coverage_rolling",
    "unit",
]
MAX_TRACK_POINTS = 5000


def parse_segment(text: str | None, window_s: float) -> tuple[str, float]:
    """`time:S` or `distance:M` (default: time windows of --window seconds)."""
    if not text:
        return "time", float(window_s)
    kind, _, val = text.partition(":")
    try:
        v = float(val)
    except ValueError:
        v = -1.0
    if kind not in ("time", "distance") or not v > 0 or not math.isfinite(v):
        raise UserInputError(
            f"--segment {text!r}: give time:SECONDS (e.g. time:10) or distance:METRES (e.g. distance:25)"
        )
    return kind, v


def _r(v, nd=4):
    return None if v is None or (isinstance(v, float) and not math.isfinite(v)) else round(float(v), nd)


def _mean_pos(recs: list[dict]) -> dict:
    pos = [r for r in recs if r.get("lat") is not None]
    if not pos:
        return {"lat": None, "lon": None, "alt": None, "position_from": None}
    alts = [r["alt"] for r in pos if r.get("alt") is not None]
    return {
        "lat": round(float(np.mean([r["lat"] for r in pos])), 7),
        "lon": round(float(np.mean([r["lon"] for r in pos])), 7),
        "alt": round(float(np.mean(alts)), 2) if alts else None,
        "position_from": ",".join(sorted({r["position_from"] for r in pos})),
    }


def _place(name: str, kind: str, recs: list[dict], settings, unit: str, track_m: float | None) -> dict:
    d = _dist(recs, settings, unit)
    times = [r["time"] for r in recs if r.get("time")]
    pts = [r["pts_s"] for r in recs if r.get("pts_s") is not None]
    row = {
        "place": name,
        "source": recs[0]["source"],
        "kind": kind,
        "frames": len(recs),
        "start_s": _r(min(pts), 3) if pts else None,
        "end_s": _r(max(pts), 3) if pts else None,
        "time_start": min(times) if times else None,
        "time_end": max(times) if times else None,
        **_mean_pos(recs),
        "track_m": _r(track_m, 1),
        "fragments": d.fragments,
        "coverage": _r(float(np.mean([r["coverage"] for r in recs]))),
        "fines_share": _r(d.fines_share),
        "unit": unit,
    }
    row.update({k: _r(d.d_by_area.get(k)) for k in D_KEYS})
    return row


def _segments(
    recs: list[dict], kind: str, size: float
) -> tuple[list[tuple[list[dict], float | None]], str | None]:
    """The frames of one video cut into segments; (segments with their track length, a note when the
    distance cut fell back to time because the video has no positions)."""
    recs = sorted(recs, key=lambda r: r["pts_s"])
    note = None
    if kind == "distance" and not any(r.get("lat") is not None for r in recs):
        note = f"{recs[0]['source']}: no positions, so segments by distance fell back to time windows of {size:g} s"
        kind = "time"
    out: list[tuple[list[dict], float | None]] = []
    if kind == "time":
        groups: dict[int, list[dict]] = {}
        for r in recs:
            groups.setdefault(int(math.floor(r["pts_s"] / size)), []).append(r)
        for k in sorted(groups):
            g = groups[k]
            out.append((g, _track_len(g)))
        return out, note
    cur, run, last = [], 0.0, None
    for r in recs:
        if r.get("lat") is not None:
            p = Fix(r["lat"], r["lon"])
            if last is not None:
                run += distance_m(last, p)
            last = p
            if run >= size and cur:
                out.append((cur, _track_len(cur)))
                cur, run = [], 0.0
        cur.append(r)
    if cur:
        out.append((cur, _track_len(cur)))
    return out, note


def _track_len(recs: list[dict]) -> float | None:
    pos = [Fix(r["lat"], r["lon"]) for r in recs if r.get("lat") is not None]
    return sum(distance_m(a, b) for a, b in zip(pos, pos[1:], strict=False)) if len(pos) > 1 else None


def places(
    records: list[dict], settings, unit: str, segment: tuple[str, float]
) -> tuple[list[dict], list[str]]:
    """Rows of places.csv (photos in record order, then each video's segments) and notes on fallbacks."""
    rows, notes = [], []
    videos: dict[str, list[dict]] = {}
    for r in records:
        if r.get("pts_s") is None:
            rows.append(_place(r["name"], "photo", [r], settings, unit, None))
        else:
            videos.setdefault(r["source"], []).append(r)
    for src, recs in videos.items():
        segs, note = _segments(recs, *segment)
        if note:
            notes.append(note)
        for i, (g, length) in enumerate(segs, 1):
            rows.append(_place(f"{Path(src).stem}#{i}", "segment", g, settings, unit, length))
    return rows, notes


def _frame_d(rec: dict, unit: str) -> tuple[int, dict]:
    """(fragments, D-values by area) of one frame, without the curve fits (a long video has many frames)."""
    from segtool.core.fragments.distribution import d_values

    mm = unit == "mm"
    use = [f for f in rec["rows"] if f["in_distribution"]]
    sizes = np.asarray([f["diameter_mm" if mm else "diameter_px"] for f in use], float)
    areas = np.asarray([f["area_mm2" if mm else "area_px"] for f in use], float)
    return len(use), d_values(sizes, areas)


def _rolling(t: np.ndarray, v: np.ndarray, width: float) -> np.ndarray:
    """Centred mean of v over [t - width/2, t + width/2] (t ascending), NaNs skipped; NaN where none."""
    ok = np.isfinite(v)
    cs = np.r_[0.0, np.cumsum(np.where(ok, v, 0.0))]
    cn = np.r_[0, np.cumsum(ok)]
    lo = np.searchsorted(t, t - width / 2, side="left")
    hi = np.searchsorted(t, t + width / 2, side="right")
    n = cn[hi] - cn[lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, (cs[hi] - cs[lo]) / np.maximum(n, 1), np.nan)


def frame_rows(records: list[dict], settings, unit: str, rolling_s: float) -> list[dict]:
    """Rows of frames.csv; video frames get centred rolling means over `rolling_s` seconds."""
    rows = []
    for r in records:
        n, dv = _frame_d(r, unit)
        row = {
            k: r.get(k)
            for k in ("source", "frame", "pts_s", "name", "time", "lat", "lon", "alt", "position_from")
        }
        row.update({"fragments": n, "coverage": r["coverage"], "unit": unit})
        row.update({k: _r(dv.get(k)) for k in D_KEYS})
        rows.append(row)
    by_src: dict[str, list[dict]] = {}
    for row in rows:
        if row["pts_s"] is not None:
            by_src.setdefault(row["source"], []).append(row)
    for vrows in by_src.values():
        vrows.sort(key=lambda x: x["pts_s"])
        t = np.asarray([x["pts_s"] for x in vrows], float)
        for k, col in (("D50", "D50_rolling"), ("D80", "D80_rolling"), ("coverage", "coverage_rolling")):
            v = np.asarray([np.nan if x[k] is None else x[k] for x in vrows], float)
            for x, m in zip(vrows, _rolling(t, v, rolling_s), strict=True):
                x[col] = _r(float(m))
    return rows


def _csv(rows: list[dict], cols: list[str]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in cols})
    return buf.getvalue()


def geojson(rows: list[dict], tracks: dict) -> dict | None:
    """RFC 7946 FeatureCollection of the places with a position and each video track; None when empty."""
    feats = []
    for row in rows:
        if row.get("lat") is None:
            continue
        xy = [row["lon"], row["lat"]] + ([row["alt"]] if row.get("alt") is not None else [])
        props = {k: v for k, v in row.items() if k not in ("lat", "lon", "alt")}
        feats.append(
            {"type": "Feature", "geometry": {"type": "Point", "coordinates": xy}, "properties": props}
        )
    for name, tr in tracks.items():
        fx = list(tr.fixes)
        if len(fx) < 2:
            continue
        step = max(1, math.ceil(len(fx) / MAX_TRACK_POINTS))
        keep = fx[::step] + ([fx[-1]] if (len(fx) - 1) % step else [])
        coords = [
            [round(f.lon, 7), round(f.lat, 7)] + ([round(f.alt, 2)] if f.alt is not None else [])
            for f in keep
        ]
        props = {
            "source": name,
            "kind": "track",
            "position_from": tr.origin,
            "fixes": len(fx),
            "start_s": _r(fx[0].t_s, 3),
            "end_s": _r(fx[-1].t_s, 3),
            "time_start": fx[0].time_text(),
            "time_end": fx[-1].time_text(),
        }
        feats.append(
            {
                "type": "Feature",
                "geometry": {"type": "LineString", "coordinates": coords},
                "properties": props,
            }
        )
    if not feats:
        return None
    xs = [c[0] for f in feats for c in _coords(f["geometry"])]
    ys = [c[1] for f in feats for c in _coords(f["geometry"])]
    return {"type": "FeatureCollection", "bbox": [min(xs), min(ys), max(xs), max(ys)], "features": feats}


def _coords(g: dict) -> list:
    return [g["coordinates"]] if g["type"] == "Point" else g["coordinates"]


def source_notes(records: list[dict], tracks: dict) -> list[dict]:
    """Per source: how many photos / frames have a position and where it came from, in words."""
    out = []
    for src in dict.fromkeys(r["source"] for r in records):
        recs = [r for r in records if r["source"] == src]
        video = recs[0].get("pts_s") is not None
        n, k = len(recs), sum(r.get("lat") is not None for r in recs)
        origins = sorted({r["position_from"] for r in recs if r.get("position_from")})
        what = "frames" if video else ("photos" if n > 1 else "photo")
        if k == 0:
            note = f"{src}: no position in {'any of the ' + str(n) if n > 1 else 'the'} {what}"
        elif k < n:
            note = f"{src}: no position in {n - k} of {n} {what}"
        else:
            note = f"{src}: position in all {n} {what}" if n > 1 else f"{src}: position found"
        if origins:
            note += f" (from {', '.join(origins)})"
        tr = tracks.get(src)
        if tr is not None and tr.origin in ("gpmf", "srt"):
            note += f"; track of {len(tr.fixes)} fixes over {tr.fixes[-1].t_s - tr.fixes[0].t_s:.1f} s"
        out.append({"source": src, "items": n, "with_position": k, "position_from": origins, "note": note})
    return out


def write_geo_outputs(
    out: Path,
    records: list[dict],
    settings,
    unit: str,
    tracks: dict,
    segment: tuple[str, float],
    rolling_s: float,
) -> dict:
    """places.csv, frames.csv and (with any position) fragments.geojson; returns summary.json's "geo" block."""
    rows, notes = places(records, settings, unit, segment)
    atomic_write(out / "places.csv", _csv(rows, PLACE_COLUMNS))
    atomic_write(out / "frames.csv", _csv(frame_rows(records, settings, unit, rolling_s), FRAME_COLUMNS))
    gj = geojson(rows, tracks)
    path = out / "fragments.geojson"
    if gj is not None:
        atomic_write(path, json.dumps(gj, indent=1, allow_nan=False) + "\n")
    else:
        path.unlink(missing_ok=True)  # a rerun without positions must not leave an old map behind
    return {
        "segment": f"{segment[0]}:{segment[1]:g}",
        "rolling_s": rolling_s,
        "geojson": gj is not None,
        "places": len(rows),
        "sources": source_notes(records, tracks),
        "notes": notes,
    }
