"""Fragments core, hand-computed: measuring known squares and discs, D-values, fits, splitting, scale."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from segtool.base.errors import UserInputError
from segtool.core.fragments import (
    FragmentSettings,
    FragmentSpec,
    analyse_binary,
    analyse_labels,
    analyse_prediction,
    d_value,
    fit_rosin_rammler,
    fit_swebrec,
    load_scale,
    measure,
    passing,
    save_scale,
    sidecar_path,
    split_by_distance,
    split_with_edges,
)
from segtool.core.fragments import scale as scale_mod


def disc(shape, cy, cx, r):
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r


def test_square_area_diameter_and_feret():
    lab = np.zeros((60, 60), np.int32)
    lab[10:20, 10:20] = 1  # 10 x 10
    lab[30:50, 25:35] = 2  # 20 tall x 10 wide
    t = measure(lab)
    assert t.area_px.tolist() == [100, 200]
    assert t.diameter_px[0] == pytest.approx(2 * math.sqrt(100 / math.pi))
    assert t.feret_min_px.tolist() == pytest.approx([10.0, 10.0])
    assert t.feret_max_px.tolist() == pytest.approx([math.hypot(10, 10), math.hypot(10, 20)])
    assert (t.cx[0], t.cy[0]) == (14.5, 14.5)
    assert (t.cx[1], t.cy[1]) == (29.5, 39.5)
    assert not t.touches_border.any()


def test_disc_feret_is_its_diameter_and_border_flag():
    lab = disc((101, 101), 50, 50, 20).astype(np.int32)
    lab[0:5, 0:5] = 2  # touches the border
    t = measure(lab)
    assert t.feret_min_px[0] == pytest.approx(41, abs=1.0)
    assert t.feret_max_px[0] == pytest.approx(41, abs=1.0)
    assert t.diameter_px[0] == pytest.approx(40, abs=0.7)
    assert t.touches_border.tolist() == [False, True]
    assert t.use.tolist() == [True, False]
    assert measure(lab, include_border=True).use.tolist() == [True, True]


def test_fines_and_confidence():
    lab = np.zeros((40, 40), np.int32)
    lab[5:7, 5:7] = 1  # 4 px
    lab[20:30, 20:30] = 2
    conf = np.full((40, 40), 0.5, np.float32)
    conf[20:30, 20:30] = 0.9
    t = measure(lab, conf, min_size_px=5)
    assert t.fines.tolist() == [True, False]
    assert t.use.tolist() == [False, True]
    assert t.confidence.tolist() == pytest.approx([0.5, 0.9])


def test_d_values_hand_computed():
    sizes = np.arange(1, 101, dtype=float)  # 1..100, count weights: cumulative i/100 at size i
    w = np.ones(100)
    assert d_value(sizes, w, 50) == pytest.approx(50)
    assert d_value(sizes, w, 80) == pytest.approx(80)
    assert d_value(sizes, w, 10) == pytest.approx(10)
    # two sizes, area-weighted: 10 (area 1) and 20 (area 3): cumulative 0.25 at 10, 1.0 at 20
    assert d_value([10, 20], [1, 3], 50) == pytest.approx(10 + (0.5 - 0.25) / 0.75 * 10)
    assert passing([10, 20], [1, 3], [5, 10, 15, 20]).tolist() == pytest.approx([0, 25, 25, 100])


def test_equal_squares_all_d_values_equal_and_labels_reproduced():
    lab = np.zeros((100, 100), np.int32)
    for k, (r, c) in enumerate([(10, 10), (10, 50), (50, 10), (50, 50)], start=1):
        lab[r : r + 20, c : c + 20] = k
    res = analyse_labels(lab, FragmentSettings(min_size_px=0), mm_per_px=0.5)
    d = 2 * math.sqrt(400 / math.pi) * 0.5
    s = res.distribution.summary()
    for basis in ("by_area", "by_count"):
        for key in ("D10", "D50", "D80", "D90", "Dmax"):
            assert s[basis][key] == pytest.approx(d, abs=1e-3)
    rows = res.rows()
    assert [r["area_mm2"] for r in rows] == [100.0] * 4


def test_rosin_rammler_and_swebrec_recover_known_parameters():
    rng = np.random.default_rng(0)
    u = rng.random(5000)
    x = 50.0 * (-np.log(1 - u)) ** (1 / 1.8)  # inverse CDF of Rosin–Rammler xc=50, n=1.8
    rr = fit_rosin_rammler(x, np.ones_like(x))
    assert rr["xc"] == pytest.approx(50, rel=0.03)
    assert rr["n"] == pytest.approx(1.8, rel=0.04)
    assert rr["r2"] > 0.99
    x50, xmax, b = 40.0, 200.0, 2.5
    xs = xmax * np.exp(-np.log(xmax / x50) * ((1 - u) / u) ** (1 / b))  # inverse CDF of Swebrec
    sw = fit_swebrec(xs, np.ones_like(xs))
    assert sw["x50"] == pytest.approx(40, rel=0.03)
    assert sw["b"] == pytest.approx(2.5, rel=0.06)
    assert sw["xmax"] == pytest.approx(200, rel=0.05)
    assert sw["r2"] > 0.99
    assert fit_rosin_rammler([1.0, 2.0], [1, 1])["xc"] is None  # too few sizes: no fit, not a made-up one


def test_split_with_edges_separates_touching_squares():
    interior = np.zeros((40, 60), bool)
    interior[12:28, 12:28] = True
    interior[12:28, 32:48] = True
    rock = np.zeros_like(interior)
    rock[10:30, 10:50] = True  # two 20x20 squares sharing a side, edge band 2 px
    lab = split_with_edges(interior, rock)
    assert len(np.unique(lab[lab > 0])) == 2
    t = measure(lab)
    assert t.area_px.tolist() == [400, 400]


def test_split_by_distance_separates_touching_discs():
    m = disc((80, 120), 40, 35, 20) | disc((80, 120), 40, 75, 20)
    lab = split_by_distance(m, min_distance=7)
    assert len(np.unique(lab[lab > 0])) == 2
    a = measure(lab).area_px
    assert abs(int(a[0]) - int(a[1])) < 0.05 * a.sum()
    assert len(np.unique(analyse_binary(m, FragmentSettings(min_size_px=0)).labels)) == 3


def test_analyse_prediction_with_and_without_edge_class():
    ids = np.zeros((40, 60), np.uint8)
    ids[10:30, 10:50] = 2  # edge
    ids[12:28, 12:28] = 1
    ids[12:28, 32:48] = 1
    spec = FragmentSpec.from_checkpoint(
        {"interior": "rock", "edge": "rock_edge"}, ["background", "rock", "rock_edge"]
    )
    assert spec.edge_id == 2
    assert spec.method == "edge-seeded watershed"
    r = analyse_prediction(ids, None, spec, FragmentSettings(min_size_px=0))
    assert len(r.table) == 2
    assert r.coverage == pytest.approx(800 / 2400)
    plain = FragmentSpec.from_checkpoint(None, ["background", "rocks"])
    assert plain.interior == "rocks"
    assert plain.edge_id is None
    with pytest.raises(UserInputError, match="--interior"):
        FragmentSpec.from_checkpoint(None, ["sky", "road"])


def test_scale_sidecar_roundtrip(tmp_path):
    img = tmp_path / "pile.jpg"
    img.write_bytes(b"x")
    s = scale_mod.from_line((0, 0), (300, 400), 1000.0)  # 500 px = 1 m
    assert s.mm_per_px == pytest.approx(2.0)
    path = save_scale(img, s)
    assert path == sidecar_path(img) == tmp_path / "pile.jpg.scale.json"
    loaded, where = load_scale(img)
    assert loaded.mm_per_px == pytest.approx(2.0)
    assert loaded.kind == "line"
    assert where == path
    box = scale_mod.from_box((10, 10), (110, 60), 500.0, 250.0)
    assert box.mm_per_px == pytest.approx(5.0)
    assert scale_mod.from_circle((50, 50), (50, 60), 40.0).mm_per_px == pytest.approx(2.0)
    # a folder's sidecar applies to its images unless an image has its own
    folder = tmp_path / "photos"
    folder.mkdir()
    save_scale(folder, scale_mod.given(0.39))
    assert load_scale(folder, image=folder / "a.jpg")[0].mm_per_px == pytest.approx(0.39)
    save_scale(folder / "a.jpg", scale_mod.given(0.5))
    assert load_scale(folder, image=folder / "a.jpg")[0].mm_per_px == pytest.approx(0.5)
    path.write_text(json.dumps({"format": "segtool-scale", "mm_per_px": -1}))
    with pytest.raises(UserInputError, match="positive"):
        load_scale(img)


def test_large_frames_are_split_on_a_subsampled_map_with_full_frame_sizes():
    ids = np.zeros((1080, 1920), np.uint8)
    for r, c, s in [(100, 100, 200), (400, 700, 300), (700, 1300, 150)]:
        ids[r : r + s, c : c + s] = 2
        ids[r + 4 : r + s - 4, c + 4 : c + s - 4] = 1
    spec = FragmentSpec(1, 2, "rock", "rock_edge")
    full = analyse_prediction(ids, None, spec, FragmentSettings(work_pixels=0))
    fast = analyse_prediction(ids, None, spec, FragmentSettings())
    assert fast.notes  # the default works on a smaller map
    assert not full.notes
    assert full.table.area_px.tolist() == [40000, 90000, 22500]
    assert fast.table.area_px.tolist() == pytest.approx([40000, 90000, 22500], rel=0.02)
    assert fast.table.cx.tolist() == pytest.approx(full.table.cx.tolist(), abs=2)
    assert fast.table.feret_min_px.tolist() == pytest.approx([200, 300, 150], rel=0.02)
    assert fast.labels.shape == ids.shape
    assert set(np.unique(fast.labels)) == {0, 1, 2, 3}


def test_fines_share_is_not_measured_when_no_piece_is_a_fine():
    """Issue 19: a frame whose split found no piece under the minimum size reported fines "0.0 %"; nothing
    that small was measured, so the share is None (null in summary.json), not 0."""
    from segtool.core.fragments.distribution import distribution

    labels = np.zeros((60, 60), np.int32)
    labels[5:25, 5:25], labels[30:50, 30:50] = 1, 2  # two 400-px squares, no fines
    res = analyse_labels(labels, FragmentSettings(min_size_px=20))
    assert res.distribution.fines == 0
    assert res.distribution.fines_share is None
    assert res.distribution.summary()["fines_share"] is None
    json.dumps(res.distribution.summary(), allow_nan=False)
    labels[52:55, 2:5] = 3  # one 9-px piece: a fine, measured
    d = analyse_labels(labels, FragmentSettings(min_size_px=20)).distribution
    assert d.fines == 1
    assert d.fines_share == pytest.approx(9 / 809)
    assert distribution(np.array([10.0]), np.array([100.0]), fines_area=0.0, fines=0).fines_share is None
