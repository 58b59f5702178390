"""`segtool fragments` with place and time, and `segtool report`: positions recorded per photo/frame,
places.csv / frames.csv / fragments.geojson (RFC 7946), a per-source summary of missing positions,
--position, an SRT-tracked video cut by distance, the GoPro sample's GeoJSON, the PDF's pages."""

from __future__ import annotations

import csv
import dataclasses
import json
import re
import shutil
import subprocess
from fractions import Fraction

import av
import numpy as np
import pytest

from segtool.cli import main
from segtool.models import load_checkpoint, save_checkpoint
from tests.helpers import make_gps_photo

FAST = ["--runtime", "torch", "--threads", "1"]  # no ONNX export for a few tiny frames


@pytest.fixture(scope="module")
def frag_ckpt(small_checkpoint, tmp_path_factory):
    """The small real checkpoint as a rock-only fragments model at 96 px (its record says mIoU 0.5)."""
    ck = load_checkpoint(small_checkpoint[0])
    ck = dataclasses.replace(
        ck, preprocess=dict(ck.preprocess, resize_short=96), fragments={"interior": "rock", "edge": None}
    )
    return save_checkpoint(ck, tmp_path_factory.mktemp("frag") / "frag.pt")


def _photos(folder):
    """Three textured photos: two with EXIF GPS (one south-west, so swapped lon/lat would show), one without."""
    folder.mkdir()
    rng = np.random.default_rng(0)
    rgb = lambda: (rng.random((72, 96, 3)) * 255).astype(np.uint8)  # noqa: E731
    make_gps_photo(folder / "a.jpg", lat=-33.45678, lon=-70.64827, alt=512.0, rgb=rgb())
    make_gps_photo(folder / "b.jpg", lat=-33.45600, lon=-70.64700, rgb=rgb(), taken="2026:06:01 11:00:00")
    make_gps_photo(folder / "c.jpg", rgb=rgb(), taken="2026:06:02 08:00:00")
    return folder


def _csv(path):
    with open(path, encoding="utf-8") as f:
        return list(csv.DictReader(f))


def check_rfc7946(gj: dict) -> None:
    """What QGIS and RFC 7946 need: a FeatureCollection of Features, WGS84 [lon, lat(, alt)], no 'crs'."""
    assert gj["type"] == "FeatureCollection"
    assert "crs" not in gj
    for f in gj["features"]:
        assert f["type"] == "Feature"
        assert set(f) >= {"geometry", "properties"}
        g = f["geometry"]
        pts = [g["coordinates"]] if g["type"] == "Point" else g["coordinates"]
        assert g["type"] in ("Point", "LineString")
        assert g["type"] == "Point" or len(pts) >= 2
        for p in pts:
            assert 2 <= len(p) <= 3
            assert -180 <= p[0] <= 180
            assert -90 <= p[1] <= 90
    lons = [
        p[0]
        for f in gj["features"]
        for p in (
            [f["geometry"]["coordinates"]]
            if f["geometry"]["type"] == "Point"
            else f["geometry"]["coordinates"]
        )
    ]
    assert gj["bbox"][0] == min(lons)
    assert gj["bbox"][2] == max(lons)


def test_photos_get_exif_positions_geojson_and_a_missing_gps_summary(frag_ckpt, tmp_path, capsys):
    photos = _photos(tmp_path / "bench3")
    out = tmp_path / "o"
    assert (
        main(["fragments", str(photos), "-c", str(frag_ckpt), "-o", str(out), "--min-size", "0", "-q", *FAST])
        == 0
    )
    said = capsys.readouterr().out
    assert "bench3: no position in 1 of 3 photos (from exif)" in said
    recs = [json.loads(x) for x in (out / "frames.jsonl").read_text().splitlines()]
    assert [(r["name"], r["position_from"]) for r in recs] == [("a", "exif"), ("b", "exif"), ("c", None)]
    assert recs[0]["lat"] == pytest.approx(-33.45678, abs=1e-6)
    assert recs[0]["alt"] == 512.0
    assert recs[2]["time"] == "2026-06-02T08:00:00"  # no GPS, but the camera's time is kept
    gj = json.loads((out / "fragments.geojson").read_text())
    check_rfc7946(gj)
    pts = [f for f in gj["features"] if f["geometry"]["type"] == "Point"]
    assert [f["properties"]["place"] for f in pts] == ["a", "b"]  # nothing invented for c
    assert pts[0]["geometry"]["coordinates"][:2] == pytest.approx(
        [-70.64827, -33.45678], abs=1e-6
    )  # lon first
    assert {"D10", "D50", "D80", "D90", "fragments", "coverage", "source", "time_start"} <= set(
        pts[0]["properties"]
    )
    places = _csv(out / "places.csv")
    assert [p["place"] for p in places] == ["a", "b", "c"]
    assert places[2]["lat"] == ""
    assert places[0]["D50"] == (
        "" if pts[0]["properties"]["D50"] is None else str(pts[0]["properties"]["D50"])
    )
    s = json.loads((out / "summary.json").read_text())
    assert s["geo"]["sources"][0]["with_position"] == 2
    assert s["complete"]
    # --position fills in the photo without one and leaves EXIF positions alone; a typo'd source is refused
    out2 = tmp_path / "o2"
    assert (
        main(
            [
                "fragments",
                str(photos),
                "-c",
                str(frag_ckpt),
                "-o",
                str(out2),
                "--position",
                "bench3=-33.5,-70.6",
                "-q",
                *FAST,
            ]
        )
        == 0
    )
    gj2 = json.loads((out2 / "fragments.geojson").read_text())
    got = {
        f["properties"]["place"]: (f["geometry"]["coordinates"][:2], f["properties"]["position_from"])
        for f in gj2["features"]
    }
    assert got["c"] == ([-70.6, -33.5], "--position")
    assert got["a"][1] == "exif"
    assert (
        main(
            [
                "fragments",
                str(photos),
                "-c",
                str(frag_ckpt),
                "-o",
                str(tmp_path / "o3"),
                "--position",
                "bench=1,2",
            ]
        )
        == 2
    )
    assert "none of the sources" in capsys.readouterr().err
    for bad in (["--position", "200,1"], ["--segment", "space:3"], ["--rolling", "0"]):
        assert (
            main(["fragments", str(photos), "-c", str(frag_ckpt), "-o", str(tmp_path / "o4"), *bad, "-q"])
            == 2
        )
    assert not (tmp_path / "o4").exists()  # refused before anything was written


def _video(path, frames=20, fps=10):
    from segtool.demo_footage import make_clip

    with av.open(str(path), "w") as c:
        st = c.add_stream("libx264", rate=Fraction(fps, 1))
        st.width, st.height, st.pix_fmt = 128, 96, "yuv420p"
        for fr in make_clip(seed=3, size=(128, 96), frames=frames, fps=fps):
            for p in st.encode(av.VideoFrame.from_ndarray(fr.rgb, format="rgb24")):
                c.mux(p)
        for p in st.encode():
            c.mux(p)
    return path


def test_srt_video_segments_by_distance_and_rolling_over_time(frag_ckpt, tmp_path, capsys):
    video = _video(tmp_path / "DJI_0007.MP4")
    blocks = []
    for i in range(20):  # one block per frame; the drone flies north 1 m per frame (~0.000009° lat)
        t0, t1 = i * 100, (i + 1) * 100
        blocks.append(
            f"{i + 1}\n00:00:00,{t0:03d} --> 00:00:0{t1 // 1000},{t1 % 1000:03d}\n"
            if t1 < 1000
            else f"{i + 1}\n00:00:0{t0 // 1000},{t0 % 1000:03d} --> 00:00:0{t1 // 1000},{t1 % 1000:03d}\n"
        )
        blocks[-1] += (
            f"2026-06-01 10:00:0{i // 10}.{i % 10}00\n[latitude: {46.5 + i * 0.000009:.6f}] [longitude: 6.5] [abs_alt: 400.0]\n"
        )
    (tmp_path / "DJI_0007.SRT").write_text("\n".join(blocks))
    out = tmp_path / "v"
    assert (
        main(
            [
                "fragments",
                str(video),
                "-c",
                str(frag_ckpt),
                "-o",
                str(out),
                "--segment",
                "distance:5",
                "--rolling",
                "0.5",
                "--min-size",
                "0",
                "--include-border",
                "-q",
                *FAST,
            ]
        )
        == 0
    )
    places = _csv(out / "places.csv")
    # 1 m per frame cut every 5 m: the frame that reaches 5 m from a segment's first frame starts the next
    assert [p["kind"] for p in places] == ["segment"] * 4
    assert [int(p["frames"]) for p in places] == [5, 5, 5, 5]
    assert [float(p["track_m"]) for p in places] == pytest.approx(
        [4.0] * 4, abs=0.05
    )  # along the track inside each
    frames = _csv(out / "frames.csv")
    assert len(frames) == 20
    assert frames[3]["time"] == "2026-06-01T10:00:00"
    assert frames[3]["position_from"] == "srt"
    # the rolling mean over 0.5 s is the mean of the frames within ±0.25 s (here: 5 frames in the middle)
    cov = np.array([float(f["coverage"]) for f in frames])
    assert float(frames[10]["coverage_rolling"]) == pytest.approx(cov[8:13].mean(), abs=1e-4)
    gj = json.loads((out / "fragments.geojson").read_text())
    check_rfc7946(gj)
    line = [f for f in gj["features"] if f["geometry"]["type"] == "LineString"]
    assert len(line) == 1
    assert len(line[0]["geometry"]["coordinates"]) == 20
    assert line[0]["properties"]["position_from"] == "srt"


def test_video_without_position_says_so_and_writes_no_geojson(frag_ckpt, tmp_path, capsys):
    video = _video(tmp_path / "belt.mp4", frames=10)
    out = tmp_path / "v"
    assert (
        main(
            ["fragments", str(video), "-c", str(frag_ckpt), "-o", str(out), "--segment", "distance:5", *FAST]
        )
        == 0
    )
    said = capsys.readouterr().out
    assert "belt.mp4: no position in any of the 10 frames" in said
    assert "fell back to time windows" in said  # distance asked for, no track: said, not hidden
    assert not (out / "fragments.geojson").exists()
    assert len(_csv(out / "places.csv")) == 1


@pytest.mark.slow
def test_gopro_sample_geojson_and_report(shared_data, frag_ckpt, tmp_path, capsys):
    clip = shared_data / "telemetry" / "max-heromode.mp4"
    if not clip.is_file():
        pytest.skip("telemetry/max-heromode.mp4 not found")
    out = tmp_path / "gopro"
    assert (
        main(
            [
                "fragments",
                str(clip),
                "-c",
                str(frag_ckpt),
                "-o",
                str(out),
                "--every",
                "30",
                "--segment",
                "time:3",
                "--scale",
                "2",
                "--overlay",
                "-q",
            ]
        )
        == 0
    )
    gj = json.loads((out / "fragments.geojson").read_text())
    check_rfc7946(gj)
    kinds = [f["geometry"]["type"] for f in gj["features"]]
    assert kinds == ["Point"] * 4 + ["LineString"]  # frames 0..300 every 30 → 0–3 s, 3–6, 6–9, 9–10 s
    line = gj["features"][-1]
    assert len(line["geometry"]["coordinates"]) == 191
    assert line["properties"]["time_start"] == "2019-11-18T23:45:14.000Z"
    assert line["geometry"]["coordinates"][0][:2] == [-117.3273436, 33.12677]
    # bounds: the hand-decoded GPS5 samples span about 11 m north–south and 7 m east–west
    assert gj["bbox"] == pytest.approx([-117.3273436, 33.1266674, -117.3272734, 33.12677], abs=1e-7)
    assert main(["report", str(out), "--site", "Carlsbad test clip"]) == 0
    pdf = (out / "report.pdf").read_bytes()
    assert len(re.findall(rb"/Type /Page\b", pdf)) == 7
    if shutil.which("pdftotext"):
        text = subprocess.run(
            ["pdftotext", str(out / "report.pdf"), "-"], capture_output=True, text=True
        ).stdout
        assert "2019-11-18 23:45:14 – 2019-11-18 23:45:25 (UTC)" in text
        assert "track of 191 fixes" in text


def _pdf_pages(path) -> int:
    """Pages counted in the PDF's own objects (matplotlib writes each page as '/Type /Page')."""
    return len(re.findall(rb"/Type /Page\b", path.read_bytes()))


def _pdf_text(path) -> str | None:
    if not shutil.which("pdftotext"):
        return None
    return subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout


def test_report_pdf_pages_and_text(tmp_path, capsys):
    from PIL import Image

    masks = tmp_path / "pit" / "instances"
    masks.mkdir(parents=True)
    rng = np.random.default_rng(1)
    for k in range(3):  # labelled fragments: squares of a few sizes, one image without a position
        lab = np.zeros((120, 160), np.uint16)
        n = 0
        for y in range(5, 110, 22):
            for x in range(5, 150, 22):
                s = int(rng.integers(6, 20))
                n += 1
                lab[y : y + s, x : x + s] = n
        Image.fromarray(lab).save(masks / f"img{k}.png")
    out = tmp_path / "run"
    assert (
        main(
            [
                "fragments",
                str(masks),
                "--from-masks",
                "instances",
                "-o",
                str(out),
                "--scale",
                "0.5",
                "--position",
                "20.5,-100.25",
                "-q",
            ]
        )
        == 0
    )
    assert main(["report", str(out), "--site", "Bench 4 north"]) == 0
    said = capsys.readouterr().out
    pdf = out / "report.pdf"
    assert "5 pages: title, curves, places, map, not measured" in said
    assert "no thumbnails" in said
    assert _pdf_pages(pdf) == 5
    text = _pdf_text(pdf)
    if text is not None:
        for want in (
            "Rock fragmentation report",
            "Site: Bench 4 north",
            "no model: sizes measured from labelled masks",
            "0.5 mm/px, set on the command line (--scale)",
            "Passing curves, D-values and fits",
            "Rosin",
            "Swebrec",
            "Sizes per place",
            "places coloured by D50",
            "What was not measured",
            "Fines below the resolution",
            "no date or time in the footage",
            "no thumbnails",
        ):
            assert want in text, want
    # --pdf writes elsewhere; a folder that is no fragments output is refused with the fix
    assert main(["report", str(out), "--pdf", str(tmp_path / "r.pdf"), "--thumbnails", "0"]) == 0
    assert _pdf_pages(tmp_path / "r.pdf") == 5
    assert main(["report", str(tmp_path / "pit")]) == 2
    err = capsys.readouterr().err
    assert "not a `segtool fragments` output folder" in err
    assert "segtool report OUT" in err


def test_place_table_runs_onto_more_pages():
    from types import SimpleNamespace

    from segtool.core.report.pages import TABLE_ROWS, place_table_pages

    rows = [
        {
            "place": f"p{i}",
            "kind": "photo",
            "lat": 1.0,
            "lon": 2.0,
            "fragments": 3,
            "coverage": 0.5,
            "D50": 1.5,
        }
        for i in range(2 * TABLE_ROWS + 1)
    ]
    pages = place_table_pages(SimpleNamespace(places=rows, unit="mm"))
    assert len(pages) == 3
    assert [t.get_text() for t in pages[2].texts][0].endswith("— 3")
