"""What a report is made from: a `segtool fragments` output folder read back (summary.json, frames.jsonl,
fragments_settings.json, places.csv, fragments.geojson), the model's recorded accuracy, and the
distributions rebuilt from the per-frame records with the run's own settings."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from segtool.base.errors import UserInputError
from segtool.core.fragments.analyse import FragmentSettings
from segtool.core.fragments.distribution import Distribution
from segtool.core.fragments.job import RECORDS, SETTINGS, read_records
from segtool.core.fragments.results import _dist  # the scope's distribution exactly as summary.json has it


@dataclass
class ReportData:
    out: Path
    summary: dict[str, Any]
    settings_doc: dict[str, Any]
    records: list[dict]
    settings: FragmentSettings
    unit: str
    overall: Distribution
    per_source: list[tuple[str, Distribution]]
    places: list[dict] = field(default_factory=list)
    geojson: dict | None = None
    model: dict[str, Any] = field(default_factory=dict)

    def dist(self, recs: list[dict]) -> Distribution:
        return _dist(recs, self.settings, self.unit)


def _settings(doc: dict) -> FragmentSettings:
    s = dict(doc.get("settings") or {})
    known = FragmentSettings.__dataclass_fields__
    kw = {k: (tuple(v) if k == "sieve" and v else v) for k, v in s.items() if k in known}
    return FragmentSettings(**kw)


def model_record(path: str | None) -> dict[str, Any]:
    """{"path", "name", "miou", "dataset", "per_class_iou", "note"} of the run's model, as its checkpoint
    recorded it; a missing or unreadable file gives a note instead of numbers."""
    if not path:
        return {"note": "no model: sizes measured from labelled masks"}
    p = Path(path)
    rec: dict[str, Any] = {"path": str(p), "name": p.name}
    if not p.is_file():
        rec["note"] = f"the model file {p} is no longer there: its accuracy cannot be shown"
        return rec
    try:
        from segtool.core.checkpoint_info import describe

        d = describe(p)
    except Exception as e:  # noqa: BLE001 — a report is still worth writing without the model's record
        rec["note"] = f"the model file could not be read ({e})"
        return rec
    t = d.get("train") or {}
    m = t.get("metrics") or {}
    rec.update(
        {
            "miou": m.get("miou"),
            "dataset": t.get("dataset"),
            "per_class_iou": m.get("per_class_iou") or {},
            "epochs": t.get("epochs"),
        }
    )
    if m.get("miou") is None:
        rec["note"] = "the checkpoint records no measured accuracy (no validation set in its training)"
    return rec


def load(out: str | Path) -> ReportData:
    """Read a fragments output folder; exit-2 errors name what is missing and how to make it."""
    out = Path(out)
    if not out.is_dir():
        raise UserInputError(f"{out} is not a folder; give the output folder of `segtool fragments` (its -o)")
    need = [out / "summary.json", out / RECORDS]
    missing = [p.name for p in need if not p.is_file()]
    if missing:
        raise UserInputError(
            f"{out} holds no {', '.join(missing)}: it is not a `segtool fragments` output folder; "
            "run `segtool fragments SOURCE -c MODEL -o OUT` first, then `segtool report OUT`"
        )
    try:
        summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
        settings_doc = (
            json.loads((out / SETTINGS).read_text(encoding="utf-8")) if (out / SETTINGS).is_file() else {}
        )
    except ValueError as e:
        raise UserInputError(
            f"{out}/summary.json is unreadable ({e}); rerun `segtool fragments … --resume` to rebuild it"
        ) from e
    records = read_records(out / RECORDS)
    if not records:
        raise UserInputError(f"{out}/{RECORDS} holds no measured frame; nothing to report")
    settings = _settings(settings_doc or {"settings": summary.get("settings", {})})
    unit = summary.get("unit", "px")
    names = list(dict.fromkeys(r["source"] for r in records))
    per = [(n, _dist([r for r in records if r["source"] == n], settings, unit)) for n in names]
    from segtool.core.geo.places import parse_segment
    from segtool.core.geo.places import places as place_rows

    seg = (summary.get("geo") or {}).get("segment")
    window = float((summary.get("settings") or {}).get("window_s") or 10.0)
    places = place_rows(records, settings, unit, parse_segment(seg, window))[
        0
    ]  # also for runs made before places.csv
    gj = None
    if (out / "fragments.geojson").is_file():
        gj = json.loads((out / "fragments.geojson").read_text(encoding="utf-8"))
    model = model_record((summary.get("settings") or {}).get("model"))
    return ReportData(
        out,
        summary,
        settings_doc,
        records,
        settings,
        unit,
        _dist(records, settings, unit),
        per,
        places,
        gj,
        model,
    )
