"""`segtool report OUT`: a PDF (OUT/report.pdf) to hand on, made from a `segtool fragments` output folder.

Pages: title (site, date range, model and its measured accuracy, scale and how it was set, settings,
where the positions came from); passing curves with D-values and the Rosin–Rammler / Swebrec fits; the
table per place; a map-like scatter of the places coloured by D50 (no map tiles, works offline); D50/D80
and cover over time for videos; thumbnails with outlines; what was not measured. matplotlib's PdfPages
(Agg, no display); written to a temporary name and renamed.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

from segtool.core.fragments.report import atomic_write

from .data import ReportData, load

__all__ = ["ReportResult", "write_report", "load", "ReportData"]


@dataclass
class ReportResult:
    path: Path
    pages: list[str]  # the page titles, in order
    notes: list[str]  # what the report could not show, in words


def write_report(
    out: str | Path, *, site: str | None = None, pdf: str | Path | None = None, thumbnails: int = 4
) -> ReportResult:
    """Write the PDF report of the fragments output folder `out` (to OUT/report.pdf unless `pdf` is given)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    from matplotlib import rc_context
    from matplotlib.backends.backend_pdf import PdfPages

    from . import pages as P
    from .thumbs import pick, thumbs_page

    d = load(out)
    site = site or d.out.resolve().name
    rolling = float(
        (d.summary.get("geo") or {}).get("rolling_s")
        or (d.summary.get("settings") or {}).get("window_s")
        or 10.0
    )
    figs: list[tuple[str, object]] = [("title", P.title_page(d, site)), ("curves", P.curves_page(d))]
    figs += [("places", f) for f in P.place_table_pages(d)]
    notes = []
    m = P.map_page(d)
    if m is not None:
        figs.append(("map", m))
    else:
        notes.append(
            "no map: no photo or frame has a position (EXIF GPS, GoPro GPMF, DJI .SRT or --position)"
        )
    t = P.over_time_page(d, rolling)
    if t is not None:
        figs.append(("over time", t))
    picked, note = pick(d, thumbnails)
    if picked:
        figs.append(("thumbnails", thumbs_page(d, picked)))
    if note:
        notes.append(note)
    figs.append(("not measured", not_measured_page(d, notes)))
    buf = io.BytesIO()
    with (
        rc_context({"pdf.fonttype": 42}),
        PdfPages(
            buf, metadata={"Title": f"Rock fragmentation report: {site}", "Creator": "segtool report"}
        ) as pp,
    ):
        for _, f in figs:
            pp.savefig(f)
    path = Path(pdf) if pdf else d.out / "report.pdf"
    atomic_write(path, buf.getvalue())
    return ReportResult(path, [n for n, _ in figs], notes)


def not_measured_page(d: ReportData, notes: list[str]):
    """A plain statement of what the numbers leave out."""
    from .pages import _fig, _text_block

    st = d.summary.get("settings") or {}
    rows = [f for r in d.records for f in r["rows"]]
    border = sum(
        1 for f in rows if f.get("touches_border") and not f.get("in_distribution") and not f.get("fines")
    )
    min_px = st.get("min_size_px") or 0
    mm = sorted({r["mm_per_px"] for r in d.records if r.get("mm_per_px")})
    fines_size = f"{2 * (min_px / 3.141592653589793) ** 0.5:.1f} px"
    if mm:
        fines_size += (
            f" (about {2 * (min_px / 3.141592653589793) ** 0.5 * mm[0]:.3g} mm at {mm[0]:.4g} mm/px)"
        )
    unscaled = [r["name"] for r in d.records if r.get("mm_per_px") is None]
    unplaced = [r["name"] for r in d.records if r.get("lat") is None]
    o = d.overall
    lines = [
        f"Fines below the resolution: pieces smaller than {min_px} px of area (an equivalent diameter of {fines_size}) "
        f"are not sized; they are {o.fines} pieces, {100 * (o.fines_share or 0):.1f} % of the measured rock area. Finer "
        "material between the fragments is not seen at all: the curves start at the smallest measured fragment.",
        f"Fragments cut by the image border: {border} "
        + (
            "were counted (--include-border: their sizes are lower bounds)."
            if st.get("include_border")
            else "were left out (only part of each is visible, so their size is unknown)."
        ),
        "Sizes are of the surface seen from the camera: hidden fragments and the third dimension are not measured; "
        "'by area' is the usual proxy for mass.",
    ]
    if unscaled:
        lines.append(
            f"Photos / frames without a scale: {len(unscaled)} of {len(d.records)} — their sizes are in pixels"
            + (f" (e.g. {', '.join(unscaled[:3])})." if len(unscaled) < len(d.records) else ".")
        )
    else:
        lines.append("Every photo / frame had a scale.")
    if unplaced:
        lines.append(
            f"Without a position: {len(unplaced)} of {len(d.records)} photos / frames (none was invented)."
        )
    if not d.summary.get("complete", True):
        lines.append(
            f"The run is incomplete ({d.summary.get('stopped')}): frames after it stopped are missing."
        )
    if d.model.get("miou") is None and d.model.get("note"):
        lines.append(f"Model accuracy: {d.model['note']}.")
    lines += [f"Not in this report: {n}." for n in notes]
    fig = _fig()
    fig.suptitle("What was not measured", fontsize=13, x=0.08, ha="left", y=0.975)
    import textwrap

    wrapped = [w for line in lines for w in ([*textwrap.wrap(line, 100, subsequent_indent="  "), ""])]
    _text_block(fig, 0.93, wrapped, size=9)
    return fig
