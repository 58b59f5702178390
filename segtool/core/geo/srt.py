"""DJI drone `.SRT` sidecars: one subtitle block per frame (or per second on older drones) with the
time in the video and a GPS position.

Two layouts are read:
  newer (Mini, Air, Mavic 3): `2023-03-14 10:21:32.123` and `[latitude: 46.5191] [longitude: 6.5668]
  [rel_alt: 30.1 abs_alt: 402.3]` (also written `[latitude : …]`, `[altitude: …]`);
  older (Phantom 4, Mavic Pro): `GPS(6.5668,46.5191,402)` — longitude first — and `2017.08.05 14:11:51`.
The drone clock is local time without a zone; it is kept as written. Blocks at 0,0 (no fix) are dropped.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

from .fix import Fix, valid

_TIMING = re.compile(r"(\d+):(\d+):(\d+)[,.](\d+)\s*-->")
_LAT = re.compile(r"latitude\s*:\s*([+-]?\d+(?:\.\d+)?)", re.I)
_LON = re.compile(r"longi?tude\s*:\s*([+-]?\d+(?:\.\d+)?)", re.I)
_ALT = re.compile(r"(?:abs_alt|altitude)\s*:\s*([+-]?\d+(?:\.\d+)?)", re.I)
_GPS_OLD = re.compile(
    r"GPS\s*\(\s*([+-]?\d+(?:\.\d+)?)\s*,\s*([+-]?\d+(?:\.\d+)?)(?:\s*,\s*([+-]?\d+(?:\.\d+)?))?"
)
_WHEN = re.compile(r"(\d{4})[-.](\d\d)[-.](\d\d)[ T](\d\d):(\d\d):(\d\d)(?:[.,](\d+))?")


def sidecar_for(video: str | Path) -> Path | None:
    """VIDEO.SRT / VIDEO.srt beside the video (DJI names it after the video's stem), or None."""
    v = Path(video)
    for ext in (".SRT", ".srt"):
        p = v.with_suffix(ext)
        if p.is_file():
            return p
    return None


def read_srt(path: str | Path) -> list[Fix]:
    """The fixes of a DJI SRT, `t_s` = the block's start time in the video."""
    text = Path(path).read_text(encoding="utf-8-sig", errors="replace")
    text = re.sub(r"<[^>]+>", " ", text)  # <font …> wrappers
    fixes = []
    for block in re.split(r"\n\s*\n", text.replace("\r\n", "\n")):
        m = _TIMING.search(block)
        if not m:
            continue
        h, mi, s, ms = m.groups()
        t = int(h) * 3600 + int(mi) * 60 + int(s) + int(ms) / 10 ** len(ms)
        lat = lon = alt = None
        la, lo = _LAT.search(block), _LON.search(block)
        if la and lo:
            lat, lon = float(la.group(1)), float(lo.group(1))
            a = _ALT.search(block)
            alt = float(a.group(1)) if a else None
        else:
            g = _GPS_OLD.search(block)
            if g:
                lon, lat = float(g.group(1)), float(g.group(2))
                alt = float(g.group(3)) if g.group(3) else None
        if lat is None or not valid(lat, lon):
            continue
        w = _WHEN.search(block[m.end() :])
        when = None
        if w:
            y, mo, d, hh, mm, ss, frac = w.groups()
            when = datetime(
                int(y), int(mo), int(d), int(hh), int(mm), int(ss), int((frac or "0")[:6].ljust(6, "0"))
            )
        fixes.append(Fix(lat, lon, alt, t_s=t, utc=when))
    return fixes
