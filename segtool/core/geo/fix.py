"""One position: where and when a photo or a video frame was taken, and how it was found.

Coordinates are WGS84 degrees (latitude, longitude) and metres above the ellipsoid or sea level (what
the camera wrote); `t_s` is the time in the video (seconds from its start) for a track's fixes, None for
a photo; `utc` is the absolute time when the source says it (GPS time, EXIF DateTimeOriginal — the
latter is the camera clock's local time, written without a zone, and kept that way)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime

from segtool.base.errors import UserInputError

EARTH_RADIUS_M = 6371008.8  # mean radius (IUGG); a haversine distance is good to ~0.5 % for our use


@dataclass(frozen=True)
class Fix:
    lat: float
    lon: float
    alt: float | None = None
    t_s: float | None = None
    utc: datetime | None = None

    def time_text(self) -> str | None:
        """ISO 8601 time: with 'Z' for GPS/UTC times, without a zone for a camera's local clock."""
        if self.utc is None:
            return None
        if self.utc.tzinfo is not None:
            return self.utc.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        return self.utc.isoformat(timespec="seconds")


def valid(lat: float, lon: float) -> bool:
    """A real position: in range, and not the 0,0 a receiver without a fix writes."""
    return (
        math.isfinite(lat)
        and math.isfinite(lon)
        and -90 <= lat <= 90
        and -180 <= lon <= 180
        and not (lat == 0 and lon == 0)
    )


def distance_m(a: Fix, b: Fix) -> float:
    """Great-circle distance (haversine) in metres."""
    p1, p2 = math.radians(a.lat), math.radians(b.lat)
    dp, dl = p2 - p1, math.radians(b.lon - a.lon)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


_POS = re.compile(
    r"^\s*([+-]?\d+(?:\.\d+)?)\s*[, ]\s*([+-]?\d+(?:\.\d+)?)(?:\s*[, ]\s*([+-]?\d+(?:\.\d+)?))?\s*$"
)


def parse_position(text: str, what: str = "--position") -> Fix:
    """'LAT,LON' or 'LAT,LON,ALT' in decimal degrees (e.g. 46.5191,6.5668 or 46.5191,6.5668,372)."""
    m = _POS.match(text or "")
    if not m:
        raise UserInputError(
            f"{what} {text!r}: give LAT,LON in decimal degrees (optionally ,ALT in metres), "
            "e.g. 46.5191,6.5668"
        )
    lat, lon = float(m.group(1)), float(m.group(2))
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise UserInputError(
            f"{what} {text!r}: latitude must be within -90..90 and longitude within -180..180 "
            "(latitude first, e.g. 46.5191,6.5668)"
        )
    return Fix(lat, lon, float(m.group(3)) if m.group(3) else None)


_ISO6709 = re.compile(r"^([+-]\d+(?:\.\d+)?)([+-]\d+(?:\.\d+)?)([+-]\d+(?:\.\d+)?)?(?:CRS[^/]*)?/?$")


def parse_iso6709(text: str) -> Fix | None:
    """The QuickTime / MP4 location ('©xyz' atom, ISO 6709 decimal degrees, e.g. '+33.1268-117.3273/')."""
    m = _ISO6709.match((text or "").strip())
    if not m:
        return None
    lat, lon = float(m.group(1)), float(m.group(2))
    if not valid(lat, lon):
        return None
    return Fix(lat, lon, float(m.group(3)) if m.group(3) else None)
