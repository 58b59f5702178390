"""Position and time of a photo from its EXIF: the GPS IFD (latitude, longitude, altitude, GPS date and
time in UTC) and DateTimeOriginal (the camera clock, no zone). Pillow reads both."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from .fix import Fix, valid

GPS_IFD, EXIF_IFD = 0x8825, 0x8769
DATETIME_ORIGINAL, DATETIME = 0x9003, 0x0132


def _deg(dms, ref) -> float | None:
    try:
        d, m, s = (float(x) for x in dms)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    v = d + m / 60 + s / 3600
    return -v if str(ref).strip().upper() in ("S", "W") else v


def _gps_utc(gps) -> datetime | None:
    date, hms = gps.get(29), gps.get(7)
    if not date or not hms:
        return None
    try:
        h, m, s = (float(x) for x in hms)
        day = datetime.strptime(str(date).strip("\x00 "), "%Y:%m:%d")
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    from datetime import timedelta

    return day.replace(tzinfo=timezone.utc) + timedelta(hours=h, minutes=m, seconds=s)


def _local(text) -> datetime | None:
    try:
        return datetime.strptime(str(text).strip("\x00 ")[:19], "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None


def read_exif(path: str | Path) -> tuple[Fix | None, datetime | None]:
    """(position or None, time or None) of a photo. The time is GPS UTC when the GPS block has a date,
    else DateTimeOriginal (else DateTime) as the camera wrote it, without a zone."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            ex = im.getexif()
    except (OSError, UnidentifiedImageError):
        return None, None
    gps = ex.get_ifd(GPS_IFD) if ex else {}
    when = _gps_utc(gps) if gps else None
    if when is None:
        sub = ex.get_ifd(EXIF_IFD) if ex else {}
        when = _local(sub.get(DATETIME_ORIGINAL) or ex.get(DATETIME) or "") if ex else None
    fix = None
    if gps and 2 in gps and 4 in gps:
        lat, lon = _deg(gps[2], gps.get(1, "N")), _deg(gps[4], gps.get(3, "E"))
        if lat is not None and lon is not None and valid(lat, lon):
            alt = None
            if 6 in gps:
                try:
                    alt = float(gps[6]) * (-1 if gps.get(5) in (1, b"\x01") else 1)
                except (TypeError, ValueError, ZeroDivisionError):
                    alt = None
            fix = Fix(lat, lon, alt, utc=when)
    return fix, when
