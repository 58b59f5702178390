"""Where and when from the footage itself: EXIF GPS/time of photos made here with Pillow, the GoPro
sample's GPMF track checked against an independent reading, DJI SRT sidecars, the QuickTime location,
missing positions, --position."""

from __future__ import annotations

import re
import struct
from datetime import datetime, timezone
from fractions import Fraction

import pytest
from PIL import Image

from segtool.base.errors import UserInputError
from segtool.core.geo.exif import read_exif
from segtool.core.geo.fix import Fix, distance_m, parse_iso6709, parse_position
from segtool.core.geo.gpmf import read_gpmf
from segtool.core.geo.lookup import GeoLookup, Track, parse_given, quicktime_location, read_track
from segtool.core.geo.srt import read_srt
from tests.helpers import make_gps_photo as make_photo


def test_exif_gps_and_time_from_a_photo_made_here(tmp_path):
    p = make_photo(tmp_path / "bench3.jpg", lat=-33.45678, lon=-70.64827, alt=512.3)
    fix, when = read_exif(p)
    assert fix.lat == pytest.approx(-33.45678, abs=1e-6)  # south and west come back negative
    assert fix.lon == pytest.approx(-70.64827, abs=1e-6)
    assert fix.alt == pytest.approx(512.3, abs=0.05)
    assert when == datetime(2026, 6, 1, 9, 30, 15)  # DateTimeOriginal: camera clock, no zone
    q = make_photo(tmp_path / "gps_time.jpg", lat=46.5, lon=6.5, gps_time=("2026:06:01", (7, 30, 15)))
    fix, when = read_exif(q)
    assert when == datetime(2026, 6, 1, 7, 30, 15, tzinfo=timezone.utc)  # the GPS block's UTC wins
    assert fix.time_text() == "2026-06-01T07:30:15.000Z"


def test_photo_without_gps_has_no_position_but_keeps_its_time(tmp_path):
    fix, when = read_exif(make_photo(tmp_path / "plain.jpg"))
    assert fix is None
    assert when == datetime(2026, 6, 1, 9, 30, 15)
    Image.new("RGB", (8, 8)).save(tmp_path / "bare.png")
    assert read_exif(tmp_path / "bare.png") == (None, None)
    # a receiver without a fix writes 0,0: that is no position, not the Gulf of Guinea
    assert read_exif(make_photo(tmp_path / "zero.jpg", lat=0.0, lon=0.0))[0] is None


# The independent reading: the raw MP4 bytes scanned for the GPMF keys with struct, by hand, without
# PyAV's demuxer (the first GPS5 item at byte 0x67050 reads, in `xxd`:
# "4750 5335 6c14 0011 13be be74 ba11 44a4 ffff a651": key GPS5, type 'l', 20-byte samples, 17 of them,
# lat 331267700, lon -1173273436, alt -22959; SCAL 10000000 10000000 1000 1000 100). 11 GPS5 items with
# 191 samples in all; GPSU of the first and last payload '191118234514.000' and '191118234525.435'.
# The file's ©xyz location atom says +33.1268-117.3273 (rounded by the camera).
GOPRO_FIRST = (33.12677, -117.3273436, -22.959)
GOPRO_SAMPLES = 191


def _raw_gps5_count(path) -> int:
    b = path.read_bytes()
    return sum(struct.unpack(">H", b[m.start() + 6 : m.start() + 8])[0] for m in re.finditer(b"GPS5l\x14", b))


def test_gopro_gpmf_track_matches_an_independent_reading(shared_data):
    path = shared_data / "telemetry" / "max-heromode.mp4"
    if not path.is_file():
        pytest.skip("telemetry/max-heromode.mp4 not found")
    fixes, info = read_gpmf(path)
    assert len(fixes) == GOPRO_SAMPLES == _raw_gps5_count(path)
    assert info["no_fix"] == 0
    f0 = fixes[0]
    assert (f0.lat, f0.lon, f0.alt) == pytest.approx(GOPRO_FIRST, abs=1e-9)
    assert f0.t_s == 0.0
    assert f0.utc == datetime(2019, 11, 18, 23, 45, 14, tzinfo=timezone.utc)
    # the last payload starts at 10.010 s (GPSU 23:45:25.435) and lasts 0.533 s: its samples spread over it
    last = fixes[-1]
    assert 10.01 < last.t_s < 10.543
    assert datetime(2019, 11, 18, 23, 45, 25, 435000, tzinfo=timezone.utc) <= last.utc
    assert all(b.t_s > a.t_s for a, b in zip(fixes, fixes[1:], strict=False))
    # the whole clip is ~10.5 s: the track spans it, and it stays within ~50 m of the ©xyz position
    assert 10.3 < last.t_s - f0.t_s < 10.6
    qt = quicktime_location(path)
    assert (qt.lat, qt.lon) == (33.1268, -117.3273)
    assert max(distance_m(qt, f) for f in fixes) < 50
    tr = read_track(path)
    assert tr.origin == "gpmf"
    assert tr.at(5.0).lat == pytest.approx(33.1267, abs=3e-4)
    assert tr.at(30.0) is None  # never past the track's end


SRT_NEW = """1
00:00:00,000 --> 00:00:00,033
<font size="28">FrameCnt: 1, DiffTime: 33ms
2026-06-01 10:21:32.123
[iso: 100] [shutter: 1/500.0] [fnum: 2.8] [ev: 0] [latitude: 46.519100] [longitude: 6.566800] [rel_alt: 30.100 abs_alt: 402.300] </font>

2
00:00:00,033 --> 00:00:00,066
<font size="28">FrameCnt: 2, DiffTime: 33ms
2026-06-01 10:21:32.156
[iso: 100] [latitude: 0.000000] [longitude: 0.000000] [rel_alt: 30.100 abs_alt: 402.300] </font>

3
00:00:01,000 --> 00:00:01,033
<font size="28">FrameCnt: 31, DiffTime: 33ms
2026-06-01 10:21:33.123
[iso: 100] [latitude : 46.519200] [longitude : 6.566900] [rel_alt: 30.2 abs_alt: 402.4] </font>
"""
SRT_OLD = """1
00:00:00,000 --> 00:00:01,000
HOME(149.0251,-20.2532) 2017.08.05 14:11:51
GPS(149.0251,-20.2533,16) BAROMETER:1.9
ISO:100 Shutter:60 EV: Fnum:2.2

"""


def test_dji_srt_sidecar(tmp_path):
    (tmp_path / "DJI_0001.SRT").write_text(SRT_NEW)
    fixes = read_srt(tmp_path / "DJI_0001.SRT")
    assert [(f.t_s, f.lat, f.lon, f.alt) for f in fixes] == [
        (0.0, 46.5191, 6.5668, 402.3),
        (1.0, 46.5192, 6.5669, 402.4),
    ]
    assert fixes[0].utc == datetime(2026, 6, 1, 10, 21, 32, 123000)  # the 0,0 block (no fix) is dropped
    old = read_srt_text(tmp_path, SRT_OLD)
    assert (old[0].lat, old[0].lon, old[0].alt) == (-20.2533, 149.0251, 16.0)  # GPS(lon, lat, alt)
    # a sidecar beside a video wins over what the video carries; half-way it is interpolated
    (tmp_path / "DJI_0001.MP4").write_bytes(b"")
    tr = read_track(tmp_path / "DJI_0001.MP4")
    assert tr.origin == "srt"
    assert tr.at(0.5).lat == pytest.approx(46.51915)


def read_srt_text(tmp_path, text):
    (tmp_path / "old.srt").write_text(text)
    return read_srt(tmp_path / "old.srt")


def test_positions_given_and_parsed():
    assert parse_position("46.5191, 6.5668") == Fix(46.5191, 6.5668)
    assert parse_position("46.5191,6.5668,372").alt == 372
    for bad in ("6.5668", "north", "95,6", "46.5,200"):
        with pytest.raises(UserInputError, match="LAT|latitude"):
            parse_position(bad)
    assert parse_iso6709("+33.1268-117.3273/") == Fix(33.1268, -117.3273)
    assert parse_iso6709("+00.0000+000.0000/") is None
    given = parse_given(["46.5,6.5", "pit.mp4=-23.1,-70.2"])
    geo = GeoLookup(given)
    geo.check_given(["a/pit.mp4", "photos"], ["pit.mp4", "photos"])
    with pytest.raises(UserInputError, match="none of the sources"):
        GeoLookup(parse_given(["pti.mp4=1,2"])).check_given(["a/pit.mp4"], ["pit.mp4"])  # a typo
    with pytest.raises(UserInputError, match="twice"):
        parse_given(["1,2", "3,4"])


def test_track_gap_gives_no_position():
    tr = Track([Fix(1.0, 2.0, t_s=0.0), Fix(1.0, 2.0, t_s=0.5), Fix(1.1, 2.1, t_s=20.0)], "gpmf")
    assert tr.at(0.25).lat == 1.0
    assert tr.at(10.0) is None  # 19.5 s without a fix: nothing invented in between


def test_quicktime_location_atom_gives_one_position_for_the_video(tmp_path):
    import av
    import numpy as np

    path = tmp_path / "phone.mp4"
    with av.open(str(path), "w") as c:
        c.metadata["location"] = "+46.5191+006.5668/"  # the mov muxer writes it as the ©xyz atom
        st = c.add_stream("libx264", rate=Fraction(10, 1))
        st.width, st.height, st.pix_fmt = 64, 48, "yuv420p"
        for p in [
            *st.encode(av.VideoFrame.from_ndarray(np.zeros((48, 64, 3), np.uint8), format="rgb24")),
            *st.encode(),
        ]:
            c.mux(p)
    tr = read_track(path)
    assert tr.origin == "quicktime"
    assert tr.at(0.0) == tr.at(99.0) == Fix(46.5191, 6.5668)


def _klv(key: bytes, typ: bytes, size: int, repeat: int, payload: bytes) -> bytes:
    """One GPMF item as the gpmf-parser README lays it out: key, type, size, big-endian repeat, padded payload."""
    return key + typ + bytes([size]) + struct.pack(">H", repeat) + payload + b"\0" * (-len(payload) % 4)


def test_gpmf_gps9_complex_structure_and_no_fix_samples():
    from segtool.core.geo.gpmf import gps_from_payload

    # HERO11+ write GPS9: a complex type 'lllllllSS' (lat, lon, alt, 2D, 3D speed, days, secs, DOP, fix)
    scal = struct.pack(">9l", 10000000, 10000000, 1000, 1000, 100, 1, 1000, 100, 1)
    rows = struct.pack(">7l2H", 465191000, 65668000, 372000, 0, 0, 9000, 0, 150, 3)
    rows += struct.pack(">7l2H", 465192000, 65669000, 373000, 0, 0, 9000, 0, 150, 0)  # no fix: dropped later
    strm = (
        _klv(b"TYPE", b"c", 9, 1, b"lllllllSS")
        + _klv(b"SCAL", b"l", 4, 9, scal)
        + _klv(b"GPS9", b"?", 32, 2, rows)
    )
    stream = _klv(b"STRM", b"\0", 4, len(strm) // 4, strm)
    payload = _klv(b"DEVC", b"\0", 4, len(stream) // 4, stream)
    (g,) = gps_from_payload(payload)
    t0 = datetime(2024, 8, 22, tzinfo=timezone.utc)  # 9000 days after 2000-01-01
    assert g["samples"] == [(46.5191, 6.5668, 372.0, 3, t0), (46.5192, 6.5669, 373.0, 0, t0)]
