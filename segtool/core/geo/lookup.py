"""Where and when each measured photo or video frame was taken.

A video's track comes from, in this order: a DJI `.SRT` sidecar with the video's stem, the GoPro GPMF
telemetry stream, the QuickTime/MP4 location atom (`©xyz`: one position for the whole video). A photo's
position and time come from its EXIF. A position the user gives (`--position`) fills in for a source —
or one photo — that has none of its own; it never replaces a position the footage carries. Nothing is
interpolated beyond a track's ends (more than MAX_GAP_S past the nearest fix gives no position).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from segtool.base.errors import UserInputError

from .exif import read_exif
from .fix import Fix, parse_iso6709, parse_position
from .gpmf import read_gpmf
from .srt import read_srt, sidecar_for

MAX_GAP_S = 1.5  # GPMF writes ~18 fixes/s, DJI SRT one per frame or per second
VIDEO_EXTS = {".mp4", ".mov", ".m4v", ".mkv", ".avi", ".webm", ".mts", ".m2ts", ".lrv", ".360"}


@dataclass
class Track:
    """A video's positions over time (`t_s` ascending); `static` for a single position (©xyz, --position)."""

    fixes: list[Fix]
    origin: str  # "gpmf" | "srt" | "quicktime" | "--position"
    info: dict = field(default_factory=dict)

    def at(self, t_s: float | None) -> Fix | None:
        """The position at video time t_s: linear between the two neighbouring fixes, None off the track."""
        if not self.fixes:
            return None
        if self.origin in ("quicktime", "--position") or t_s is None:
            return self.fixes[0] if self.origin in ("quicktime", "--position") else None
        ts = [f.t_s for f in self.fixes]
        i = bisect.bisect_left(ts, t_s)
        if i == 0 or i == len(ts):
            near = self.fixes[0 if i == 0 else -1]
            return near if abs(near.t_s - t_s) <= MAX_GAP_S else None
        a, b = self.fixes[i - 1], self.fixes[i]
        if b.t_s - a.t_s > 2 * MAX_GAP_S:  # a gap in the track (lost fix): no position inside it
            return None
        w = (t_s - a.t_s) / (b.t_s - a.t_s) if b.t_s > a.t_s else 0.0
        lerp = lambda x, y: None if x is None or y is None else x + w * (y - x)  # noqa: E731
        utc = a.utc + timedelta(seconds=w * (b.t_s - a.t_s)) if a.utc is not None else None
        return Fix(lerp(a.lat, b.lat), lerp(a.lon, b.lon), lerp(a.alt, b.alt), t_s=t_s, utc=utc)


def read_track(video: str | Path) -> Track | None:
    """The track of a video file (see the module docstring), or None when it carries no position."""
    srt = sidecar_for(video)
    if srt is not None:
        fixes = read_srt(srt)
        if fixes:
            return Track(fixes, "srt", {"file": srt.name})
    try:
        fixes, info = read_gpmf(video)
    except Exception as e:  # noqa: BLE001 — a damaged telemetry stream must not stop the measuring
        fixes, info = [], {"error": f"GPMF unreadable: {e}"}
    if fixes:
        return Track(fixes, "gpmf", info)
    loc = quicktime_location(video)
    if loc is not None:
        return Track([loc], "quicktime")
    return None


def quicktime_location(video: str | Path) -> Fix | None:
    """The MP4/QuickTime `©xyz` location (PyAV shows it as the container's 'location' tag)."""
    import av

    try:
        with av.open(str(video)) as c:
            return parse_iso6709(
                c.metadata.get("location") or c.metadata.get("com.apple.quicktime.location.ISO6709", "")
            )
    except (OSError, av.error.FFmpegError):
        return None


def parse_given(values: list[str] | None) -> dict[str | None, Fix]:
    """`--position LAT,LON` (every source) and `--position SOURCE=LAT,LON` (one source, by its file or
    folder name or path) → {source or None: Fix}."""
    out: dict[str | None, Fix] = {}
    for v in values or []:
        key, _, pos = v.rpartition("=")
        fix = parse_position(pos, what=f"--position {v!r}:")
        k = key.strip() or None
        if k in out:
            raise UserInputError(
                f"--position given twice for {k or 'every source'}; give one position per source"
            )
        out[k] = fix
    return out


class GeoLookup:
    """Positions for the frames of a fragments run, one source read once; and per source what was found."""

    def __init__(self, given: dict[str | None, Fix] | None = None) -> None:
        self.given = given or {}
        self._tracks: dict[str, Track | None] = {}
        self.tracks: dict[str, Track] = {}  # source name → its track (videos with a position)

    def _given_for(self, src: str, name: str) -> Fix | None:
        for k in (str(src), name, Path(str(src).rstrip("/")).name):
            if k in self.given:
                return self.given[k]
        return self.given.get(None)

    def check_given(self, sources: list[str], names: list[str]) -> None:
        """Refuse a --position SOURCE=… that names none of the sources (a typo would silently do nothing)."""
        known = {str(s) for s in sources} | set(names) | {Path(str(s).rstrip("/")).name for s in sources}
        bad = [k for k in self.given if k is not None and k not in known]
        if bad:
            raise UserInputError(
                f"--position {bad[0]}=…: {bad[0]!r} is none of the sources ({', '.join(sorted(set(names)))}); "
                "name a source as given on the command line or by its file name"
            )

    def track_for(self, src: str, name: str) -> Track | None:
        """The video's track, read once."""
        if src not in self._tracks:
            self._tracks[src] = read_track(src)
            if self._tracks[src] is not None:
                self.tracks[name] = self._tracks[src]
        return self._tracks[src]

    def record(self, src: str, name: str, image: Path | None, pts_s: float | None, masks: bool) -> dict:
        """The fields a frame's record gets: lat, lon, alt, time (ISO 8601) and position_from."""
        fix, when, origin = None, None, None
        if pts_s is not None:  # a video frame
            tr = self.track_for(src, name)
            if tr is not None:
                fix, origin = tr.at(pts_s), tr.origin
                when = fix.utc if fix is not None else None
        elif image is not None and not masks:
            fix, when = read_exif(image)
            origin = "exif" if fix is not None else None
        if fix is None:
            g = self._given_for(src, name)
            if g is not None:
                fix, origin = g, "--position"
        t = Fix(0, 0, utc=when).time_text() if when is not None else None
        if fix is None:
            return {"lat": None, "lon": None, "alt": None, "time": t, "position_from": None}
        alt = None if fix.alt is None else round(fix.alt, 2)
        return {
            "lat": round(fix.lat, 7),
            "lon": round(fix.lon, 7),
            "alt": alt,
            "time": t,
            "position_from": origin,
        }
