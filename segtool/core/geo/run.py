"""Place and time in a `segtool fragments` run (core/fragments/job.py calls these): the lookup made and
checked before anything is measured, and the outputs written after summary.json."""

from __future__ import annotations

from pathlib import Path

from segtool.base.errors import UserInputError

from .lookup import GeoLookup, parse_given
from .places import parse_segment, write_geo_outputs


def make_lookup(sources: list[str], names: list[str], opts) -> GeoLookup:
    """The run's GeoLookup; a bad --position / --segment / --rolling is refused here, before OUT is touched."""
    parse_segment(opts.segment, opts.window_s)
    if opts.rolling_s is not None and not opts.rolling_s > 0:
        raise UserInputError(
            f"--rolling {opts.rolling_s}: give a window in seconds, a positive number (e.g. 10)"
        )
    geo = GeoLookup(parse_given(opts.positions))
    geo.check_given(sources, names)
    return geo


def write_outputs(
    out: Path, records: list[dict], opts, summary: dict, geo: GeoLookup, sources_by_name: dict[str, str]
) -> None:
    """places.csv, frames.csv, fragments.geojson, and summary.json's "geo" block (summary.json rewritten last)."""
    from segtool.core.fragments.report import write_json

    for name in {r["source"] for r in records if r.get("pts_s") is not None}:
        if name in sources_by_name:
            geo.track_for(
                sources_by_name[name], name
            )  # a resumed run that measured nothing now still has its track
    seg = parse_segment(opts.segment, opts.window_s)
    rolling = opts.rolling_s if opts.rolling_s is not None else opts.window_s
    summary["geo"] = write_geo_outputs(out, records, opts.settings, summary["unit"], geo.tracks, seg, rolling)
    write_json(out / "summary.json", summary)
