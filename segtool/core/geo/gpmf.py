"""GoPro GPMF telemetry (the `gpmd` data stream of a GoPro MP4): GPS5 positions with GPSU UTC time.

GPMF is KLV (documented in github gopro/gpmf-parser, README "GPMF Deeper Dive"): each item is a 4-byte
key, a 1-byte type ('\\0' = nested items follow), a 1-byte structure size and a 2-byte big-endian repeat
count; the payload (size × repeat bytes) is padded to a multiple of 4. A telemetry payload is one DEVC
(device) holding STRM streams; the GPS stream holds SCAL (divisors), GPSF (fix: 0 none, 2 2D, 3 3D),
GPSP (DOP × 100), GPSU (UTC of the payload's first sample, 'yymmddhhmmss.sss') and GPS5 (int32 ×5 per
sample: latitude, longitude, altitude, 2D speed, 3D speed, each divided by its SCAL). Newer cameras
(HERO11+) write GPS9 (adds days since 2000, seconds and fix per sample; a complex type described by the
stream's TYPE item); its own time and fix are used. No GPS9 footage is at hand: its test payload is built by hand.

Sample times: a payload is one MP4 sample with a start time and duration in the video's clock; its n
GPS samples are spread evenly over it (what gpmf-parser does without TSMP-based fitting). Samples taken
without a fix (GPSF 0) or at 0,0 are dropped — never invented.
"""

from __future__ import annotations

import struct
from datetime import datetime, timedelta, timezone
from pathlib import Path

from .fix import Fix, valid

GPS9_EPOCH = datetime(2000, 1, 1, tzinfo=timezone.utc)
_TYPES = {"b": "b", "B": "B", "s": "h", "S": "H", "l": "i", "L": "I", "f": "f", "d": "d", "j": "q", "J": "Q"}


def klv(buf: bytes, start: int = 0, end: int | None = None):
    """(key, type, size, repeat, payload) of each item in buf[start:end], not descending."""
    end = len(buf) if end is None else end
    i = start
    while i + 8 <= end:
        key = buf[i : i + 4].decode("latin-1")
        typ = chr(buf[i + 4])
        size, repeat = buf[i + 5], struct.unpack(">H", buf[i + 6 : i + 8])[0]
        n = size * repeat
        yield key, typ, size, repeat, buf[i + 8 : i + 8 + n]
        i += 8 + (n + 3) // 4 * 4


def values(typ: str, size: int, repeat: int, payload: bytes, complex_type: str = "") -> list[tuple]:
    """A numeric item as `repeat` tuples of its structure (e.g. GPS5: 5 int32 per sample). Type '?' is a
    complex structure whose field types the stream's TYPE item lists (GPS9: 'lllllllSS')."""
    if typ == "?":
        codes = [_TYPES.get(c) for c in complex_type]
        if not codes or None in codes:
            return []
        fmt = ">" + "".join(codes)
        if struct.calcsize(fmt) != size:
            return []
    else:
        code = _TYPES.get(typ)
        if code is None:
            return []
        fmt = ">" + code * (size // struct.calcsize(code))
    return [struct.unpack_from(fmt, payload, k * size) for k in range(repeat)]


def _gpsu(payload: bytes) -> datetime | None:
    try:
        text = payload[:16].decode("ascii")
        return datetime.strptime(text, "%y%m%d%H%M%S.%f").replace(tzinfo=timezone.utc)
    except (UnicodeDecodeError, ValueError):
        return None


def gps_from_payload(buf: bytes) -> list[dict]:
    """Every GPS stream in one telemetry payload: {"samples": [(lat, lon, alt, fix, utc or None), …], "utc"
    (GPSU), "fix" (GPSF), "dop"}; a GPS9 sample carries its own fix and UTC time."""
    out = []
    for key, typ, _s, _r, devc in klv(buf):
        if key != "DEVC" or typ != "\0":
            continue
        for skey, styp, _s2, _r2, strm in klv(devc):
            if skey != "STRM" or styp != "\0":
                continue
            scal, utc, fix, dop, samples, ctype = None, None, None, None, None, ""
            for k, t, size, rep, data in klv(strm):
                if k == "TYPE":
                    ctype = data.split(b"\0")[0].decode("latin-1")
                elif k == "SCAL":
                    scal = [x for v in values(t, size, rep, data) for x in v]
                elif k == "GPSU":
                    utc = _gpsu(data)
                elif k == "GPSF":
                    fix = values(t, size, rep, data)[0][0]
                elif k == "GPSP":
                    dop = values(t, size, rep, data)[0][0] / 100.0
                elif k in ("GPS5", "GPS9"):
                    samples = (k, values(t, size, rep, data, ctype))
            if samples is None:
                continue
            key9, rows = samples
            div = scal or [1]
            if len(div) == 1:  # one divisor for every field
                div = div * 9
            pts = []
            for row in rows:
                d = [row[j] / (div[j] or 1) for j in range(min(3, len(row)))]
                f_k, utc_k = fix, None
                if key9 == "GPS9" and len(row) > 8:  # per-sample time (days since 2000, seconds) and fix
                    f_k = row[8]
                    utc_k = GPS9_EPOCH + timedelta(
                        days=row[5] / (div[5] or 1), seconds=row[6] / (div[6] or 1)
                    )
                pts.append((d[0], d[1], d[2] if len(d) > 2 else None, f_k, utc_k))
            out.append({"samples": pts, "utc": utc, "fix": fix, "dop": dop})
    return out


def telemetry_payloads(path: str | Path) -> list[tuple[float, float, bytes]]:
    """(start s, duration s, bytes) of each GPMF sample of the MP4's `gpmd` stream; [] when there is none."""
    import av

    with av.open(str(path)) as c:
        stream = None
        for s in c.streams:
            tag = (s.metadata.get("handler_name") or "").strip("\x0b ").strip()
            if s.type == "data" and ("GoPro MET" in tag or _codec_tag(s) == "gpmd"):
                stream = s
                break
        if stream is None:
            return []
        tb = float(stream.time_base)
        out = []
        for p in c.demux(stream):
            if p.size == 0 or p.pts is None:
                continue
            out.append((p.pts * tb, (p.duration or 0) * tb, bytes(p)))
        return out


def _codec_tag(stream) -> str | None:
    try:
        return stream.codec_context.codec_tag if stream.codec_context else None
    except AttributeError:
        return None


def read_gpmf(path: str | Path) -> tuple[list[Fix], dict]:
    """The GPS track of a GoPro video: fixes with `t_s` (video time) and `utc`, and what was found
    ({"payloads", "samples", "no_fix" (samples dropped), "dop_max"})."""
    fixes: list[Fix] = []
    info = {"payloads": 0, "samples": 0, "no_fix": 0, "dop_max": None}
    for start, dur, buf in telemetry_payloads(path):
        for g in gps_from_payload(buf):
            info["payloads"] += 1
            n = len(g["samples"])
            info["samples"] += n
            if g["dop"] is not None:
                info["dop_max"] = max(info["dop_max"] or 0.0, g["dop"])
            for k, (lat, lon, alt, fix, utc_k) in enumerate(g["samples"]):
                if fix == 0 or not valid(lat, lon):
                    info["no_fix"] += 1
                    continue
                dt = dur * k / n if n else 0.0
                utc = utc_k or (g["utc"] + timedelta(seconds=dt) if g["utc"] is not None else None)
                fixes.append(Fix(lat, lon, alt, t_s=start + dt, utc=utc))
    return fixes, info
