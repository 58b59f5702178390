"""The pages of the PDF report, one function each, drawn on A4 matplotlib figures (no display, no Qt).

Each page function takes the report's data and returns a Figure, or None when the page has nothing to
show (no positions → no map; no video → no time plot); `__init__.write_report` says so on the last page.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from segtool import __version__
from segtool.core.fragments.report import draw_curves

from .data import ReportData

A4 = (8.27, 11.69)
TABLE_ROWS = 34


def _fig():
    from matplotlib.figure import Figure

    return Figure(figsize=A4)


def _fmt(v, nd: int = 3) -> str:
    if v is None or v == "":
        return "–"
    if isinstance(v, float):
        return f"{v:.{nd}g}" if abs(v) < 1e4 else f"{v:.0f}"
    return str(v)


def _text_block(
    fig, y: float, lines: list[str], size: float = 9, x: float = 0.08, step: float = 0.0195
) -> float:
    for line in lines:
        fig.text(x, y, line, fontsize=size, va="top", family="DejaVu Sans")
        y -= step * size / 9
    return y


def date_range(d: ReportData) -> str:
    times = sorted(r["time"] for r in d.records if r.get("time"))
    if not times:
        return "no date or time in the footage"
    a, b = times[0], times[-1]
    zone = "UTC" if a.endswith("Z") else "camera clock (no time zone in the files)"
    a, b = a.rstrip("Z").replace("T", " ")[:19], b.rstrip("Z").replace("T", " ")[:19]
    return f"{a} – {b} ({zone})" if a != b else f"{a} ({zone})"


def scale_text(d: ReportData) -> str:
    scales = sorted({(r.get("mm_per_px"), r.get("scale_file")) for r in d.records}, key=str)
    if all(s[0] is None for s in scales):
        return (
            "none: sizes are in pixels (no --scale and no scale file); they are not comparable between photos"
        )
    how = {s[1] for s in scales if s[0] is not None}
    vals = sorted({s[0] for s in scales if s[0] is not None})
    val = (
        f"{vals[0]:.4g} mm/px"
        if len(vals) == 1
        else f"{vals[0]:.4g}–{vals[-1]:.4g} mm/px ({len(vals)} values)"
    )
    src = [
        "on the command line (--scale)" if h == "--scale" else f"by the scale file {Path(h).name}"
        for h in sorted(how)
    ]
    return f"{val}, set {', '.join(src)}"


def title_page(d: ReportData, site: str):
    fig = _fig()
    s, st = d.summary, d.summary.get("settings") or {}
    fig.text(0.08, 0.93, "Rock fragmentation report", fontsize=20, weight="bold")
    fig.text(0.08, 0.895, f"Site: {site}", fontsize=13)
    m = d.model
    if m.get("miou") is not None:
        acc = f"mIoU {m['miou']:.3f} on its validation set ({m.get('dataset') or 'dataset not recorded'})"
    else:
        acc = m.get("note", "accuracy not recorded")
    o = d.overall
    lines = [
        f"Date range: {date_range(d)}",
        f"Sources: {len(d.per_source)}; photos/frames measured: {len(d.records)}"
        + ("" if s.get("complete", True) else f"  — INCOMPLETE run ({s.get('stopped')})"),
        "",
        f"Model: {m.get('name') or st.get('method')}",
        f"  measured accuracy: {acc}",
        f"  splitting: {st.get('method')}",
        f"Scale: {scale_text(d)}",
        "",
        "Settings:",
        f"  fines: pieces under {st.get('min_size_px')} px area are fines (not sized)",
        f"  fragments cut by the image border: {'counted' if st.get('include_border') else 'left out (their sizes are lower bounds)'}",
        f"  size: {st.get('size')}; D-values: {st.get('d_values')}",
        f"  fits (Rosin–Rammler, Swebrec) made to the {st.get('fit_basis')} curve",
        f"  every {st.get('every')} frame(s); video windows {st.get('window_s')} s; places: {(s.get('geo') or {}).get('segment', '–')}",
        "",
        "Result (all sources, by area):",
        f"  {o.fragments} fragments; "
        + ", ".join(f"{k} {_fmt(o.d_by_area.get(k))} {d.unit}" for k in ("D10", "D50", "D80", "D90")),
        f"  fines: {o.fines} pieces, {_fmt(100 * o.fines_share if o.fines_share is not None else None)} % of the rock area",
        "",
        "Where:",
    ]
    geo = (s.get("geo") or {}).get("sources") or []
    lines += [f"  {g['note']}" for g in geo] or [
        "  no position information recorded (run made before positions were read)"
    ]
    _text_block(fig, 0.85, lines)
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    fig.text(
        0.08, 0.04, f"segtool {__version__} · written {stamp} from {d.out.resolve()}", fontsize=7, color="0.4"
    )
    return fig


def curves_page(d: ReportData):
    fig = _fig()
    fig.suptitle("Passing curves, D-values and fits", fontsize=13, x=0.08, ha="left", y=0.975)
    groups = [("all sources", d.overall)] + (d.per_source if len(d.per_source) > 1 else [])
    groups = [(n, x) for n, x in groups if x.fragments][:3]
    if not groups:
        fig.text(0.08, 0.85, "No fragment was measured: there is no curve to draw.", fontsize=11)
        return fig
    n = len(groups)
    h = 0.86 / n
    for i, (name, dist) in enumerate(groups):
        top = 0.93 - i * h
        ax = fig.add_axes([0.1, top - h * 0.62, 0.85, h * 0.58])
        draw_curves(ax, dist, title=name, legend_size=6)
        rows = [
            "by area:  "
            + "  ".join(
                f"{k} {_fmt(dist.d_by_area.get(k))}" for k in ("D10", "D20", "D50", "D80", "D90", "Dmax")
            ),
            "by count: "
            + "  ".join(
                f"{k} {_fmt(dist.d_by_count.get(k))}" for k in ("D10", "D20", "D50", "D80", "D90", "Dmax")
            ),
            f"sizes in {dist.unit}; {dist.fragments} fragments",
        ]
        _text_block(fig, top - h * 0.74, rows, size=8, x=0.1)
    return fig


def place_table_pages(d: ReportData) -> list:
    """The table per place, TABLE_ROWS rows a page."""
    cols = [
        ("place", "place"),
        ("kind", "kind"),
        ("time_start", "time"),
        ("lat", "lat"),
        ("lon", "lon"),
        ("fragments", "n"),
        ("coverage", "cover"),
        ("D10", "D10"),
        ("D50", "D50"),
        ("D80", "D80"),
        ("D90", "D90"),
    ]
    rows = d.places
    pages = []
    for start in range(0, max(len(rows), 1), TABLE_ROWS):
        fig = _fig()
        fig.suptitle(
            f"Sizes per place ({d.unit}, by area)"
            + (f" — {start // TABLE_ROWS + 1}" if len(rows) > TABLE_ROWS else ""),
            fontsize=13,
            x=0.08,
            ha="left",
            y=0.975,
        )
        chunk = rows[start : start + TABLE_ROWS]
        cells = []
        for r in chunk:
            cell = []
            for key, _ in cols:
                v = r.get(key)
                if key == "time_start" and v:
                    v = str(v).replace("T", " ")[:19]
                elif key == "coverage" and v is not None:
                    v = f"{100 * float(v):.0f} %"
                elif key in ("lat", "lon") and v is not None:
                    v = f"{float(v):.5f}"
                elif key == "place":
                    v = str(v)[-22:]
                cell.append(_fmt(v))
            cells.append(cell)
        ax = fig.add_axes([0.04, 0.05, 0.92, 0.88])
        ax.axis("off")
        if cells:
            t = ax.table(cellText=cells, colLabels=[c[1] for c in cols], loc="upper center", cellLoc="right")
            t.auto_set_font_size(False)
            t.set_fontsize(7.5)
            t.auto_set_column_width(list(range(len(cols))))
            t.scale(1, 1.3)
        else:
            ax.text(0, 1, "No place was measured.", va="top")
        pages.append(fig)
    return pages


def map_page(d: ReportData):
    """Places as points coloured by D50 on a lon/lat plane scaled by cos(latitude) (no map tiles), tracks grey."""
    feats = (d.geojson or {}).get("features") or []
    pts = [f for f in feats if f["geometry"]["type"] == "Point"]
    if not pts:
        return None
    fig = _fig()
    fig.suptitle("Where: places coloured by D50 (by area)", fontsize=13, x=0.08, ha="left", y=0.975)
    ax = fig.add_axes([0.12, 0.3, 0.72, 0.6])
    for f in feats:
        if f["geometry"]["type"] == "LineString":
            c = np.asarray([p[:2] for p in f["geometry"]["coordinates"]])
            ax.plot(
                c[:, 0], c[:, 1], color="0.45", lw=2, zorder=1, label=f"GPS track {f['properties']['source']}"
            )
    xy = np.asarray([f["geometry"]["coordinates"][:2] for f in pts], float)
    d50 = np.asarray(
        [np.nan if f["properties"].get("D50") is None else f["properties"]["D50"] for f in pts], float
    )
    has = np.isfinite(d50)
    if (~has).any():
        ax.scatter(
            xy[~has, 0],
            xy[~has, 1],
            s=40,
            facecolors="none",
            edgecolors="0.3",
            label="no fragments measured",
            zorder=2,
        )
    if has.any():
        sc = ax.scatter(xy[has, 0], xy[has, 1], c=d50[has], cmap="viridis", s=60, edgecolors="k", zorder=3)
        fig.colorbar(sc, ax=ax, label=f"D50 ({d.unit})", shrink=0.8)
    for (x, y), f in zip(xy, pts, strict=True):
        ax.annotate(
            str(f["properties"].get("place"))[-24:],
            (x, y),
            fontsize=6,
            xytext=(4, 4),
            textcoords="offset points",
        )
    ax.margins(0.15)  # room for the labels of the outermost places
    lat0 = float(np.mean(xy[:, 1]))
    ax.set_aspect(1 / max(math.cos(math.radians(lat0)), 0.01), adjustable="datalim")  # metres look square
    ax.set_xlabel("longitude (°)")
    ax.set_ylabel("latitude (°)")
    ax.ticklabel_format(useOffset=False)
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(5))
    ax.tick_params(axis="x", labelrotation=25, labelsize=8)
    ax.tick_params(axis="y", labelsize=8)
    ax.grid(alpha=0.3)
    if any(f["geometry"]["type"] == "LineString" for f in feats) or (~has).any():
        ax.legend(fontsize=7, loc="best")
    bb = (d.geojson or {}).get("bbox")
    lines = [
        f"{len(pts)} places with a position; WGS84. The same points are in fragments.geojson (open it in QGIS)."
    ]
    if bb:
        from segtool.core.geo.fix import Fix, distance_m

        w = distance_m(Fix(bb[1], bb[0]), Fix(bb[1], bb[2]))
        h = distance_m(Fix(bb[1], bb[0]), Fix(bb[3], bb[0]))
        lines.append(f"Extent about {w:.0f} m east–west by {h:.0f} m north–south.")
    _text_block(fig, 0.22, lines, size=9)
    return fig


def over_time_page(d: ReportData, rolling_s: float):
    """D50/D80 and cover against time for each video, with a centred rolling mean."""
    from segtool.core.geo.places import frame_rows

    rows = [r for r in frame_rows(d.records, d.settings, d.unit, rolling_s) if r["pts_s"] is not None]
    if not rows:
        return None
    fig = _fig()
    fig.suptitle(f"Over time (rolling mean over {rolling_s:g} s)", fontsize=13, x=0.08, ha="left", y=0.975)
    srcs = list(dict.fromkeys(r["source"] for r in rows))[:2]
    for i, src in enumerate(srcs):
        rr = sorted((r for r in rows if r["source"] == src), key=lambda r: r["pts_s"])
        t = np.asarray([r["pts_s"] for r in rr], float)
        top = 0.9 - i * 0.44
        ax = fig.add_axes([0.12, top - 0.2, 0.8, 0.18])
        ax2 = fig.add_axes([0.12, top - 0.4, 0.8, 0.14], sharex=ax)
        for k, col in (("D50", "tab:blue"), ("D80", "tab:orange")):
            v = np.asarray([np.nan if r[k] is None else r[k] for r in rr], float)
            m = np.asarray([np.nan if r[f"{k}_rolling"] is None else r[f"{k}_rolling"] for r in rr], float)
            ax.plot(t, v, ".", ms=3, color=col, alpha=0.5)
            ax.plot(t, m, "-", lw=1.5, color=col, label=f"{k} (rolling)")
        ax.set_title(src, fontsize=9)
        ax.set_ylabel(f"size ({d.unit})")
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
        ax2.plot(
            t, 100 * np.asarray([r["coverage"] for r in rr], float), color="tab:brown", lw=0.8, alpha=0.5
        )
        ax2.plot(
            t,
            100
            * np.asarray([np.nan if r["coverage_rolling"] is None else r["coverage_rolling"] for r in rr]),
            color="tab:brown",
            lw=1.5,
        )
        ax2.set_ylabel("cover (%)")
        ax2.set_xlabel("time in the video (s)")
        ax2.set_ylim(0, 102)
        ax2.grid(alpha=0.3)
    return fig
