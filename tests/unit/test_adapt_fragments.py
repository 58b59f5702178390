"""The new-site adaptation benchmark (benchmarks/adapt_fragments.py, adapt_labels.py): the simulated
strokes, and both kinds of labels read back by the training data reader."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "benchmarks"))

from adapt_fragments import main as adapt_main  # noqa: E402
from adapt_fragments import pick, site_plan  # noqa: E402
from adapt_labels import StrokePlan, simulate_strokes, write_outlines, write_strokes  # noqa: E402

from segtool.training.data import open_dataset  # noqa: E402
from segtool.training.data.instances import edge_band, instances_to_classes, read_instance_png  # noqa: E402

CLASSES = [
    {"name": "background", "color": [0, 0, 0]},
    {"name": "rock", "color": [250, 50, 83]},
    {"name": "rock_edge", "color": [255, 255, 0]},
]
FRAGMENTS = {"interior": "rock", "edge": "rock_edge"}


def _instances() -> np.ndarray:
    """360x400 ids: a row of four 60x60 blocks touching each other, six discs and three 14-px thin bars
    (just thick enough for a stroke) apart, background around."""
    inst = np.zeros((360, 400), np.int32)
    for i in range(4):
        inst[20:80, 40 + 60 * i : 100 + 60 * i] = i + 1
    yy, xx = np.indices(inst.shape)
    for j in range(6):
        cy, cx = 130 + 70 * (j // 3), 70 + 130 * (j % 3)
        inst[(yy - cy) ** 2 + (xx - cx) ** 2 <= 28**2] = 5 + j
    for j in range(3):
        inst[300:314, 30 + 120 * j : 110 + 120 * j] = 11 + j
    return inst


def test_strokes_lie_where_their_class_is_and_leave_the_rest_unknown():
    inst = _instances()
    plan = StrokePlan(interior=13, edges=4, background=3)
    m, st = simulate_strokes(inst, seed=3, plan=plan)
    assert m.dtype == np.uint8 and m.shape == inst.shape
    assert set(np.unique(m).tolist()) == {0, 1, 2, 255}
    band = edge_band(inst, plan.edge_width)
    rock, edge, bg = m == 1, m == 2, m == 0
    assert (inst[rock] > 0).all() and not (rock & band).any()  # inside fragments, clear of their edge band
    assert band[edge].all()  # edge strokes only on the outline's band
    assert (inst[bg] == 0).all()  # background only between fragments
    assert (st.interior_strokes, st.edge_strokes, st.background_strokes) == (13, 4, 3)
    assert (st.rock_px, st.edge_px, st.background_px) == (rock.sum(), edge.sum(), bg.sum())
    assert 0.85 < st.unknown_share < 1.0  # scribbles: most of the image stays unknown
    # every fragment is thick enough: each gets one stroke, the thin bars theirs along their middle
    assert len(np.unique(inst[rock])) == 13 and {11, 12, 13} <= set(inst[rock].tolist())
    # edge strokes go where fragments touch first (the four blocks), where the split needs them, and
    # are short arcs (a stroke of at most StrokePlan.length), not a whole outline
    assert set(np.unique(inst[edge]).tolist()) == {1, 2, 3, 4}
    half = plan.length(min(inst.shape)) // 2
    for k in (1, 2, 3, 4):
        assert 0 < ((inst == k) & edge).sum() <= 4 * half * plan.edge_width < (band & (inst == k)).sum() / 2


def test_background_strokes_stay_in_narrow_gaps():
    """A dense pile: 40-px blocks with 14-px gaps; background strokes must follow the gaps, never cross
    a fragment, and keep clear of the edge band (the distance a person keeps from a rock's edge)."""
    inst = np.zeros((300, 300), np.int32)
    for i in range(5):
        for j in range(5):
            inst[10 + 58 * i : 54 + 58 * i, 10 + 58 * j : 54 + 58 * j] = 1 + 5 * i + j
    m, st = simulate_strokes(inst, seed=2, plan=StrokePlan(interior=0, edges=0, background=6))
    assert st.background_strokes >= 3 and st.background_px > 0
    near = ndimage.distance_transform_edt(inst == 0) <= StrokePlan().edge_width
    assert not ((m == 0) & (near | (inst > 0))).any()


def test_strokes_are_the_same_for_a_seed_and_differ_between_seeds():
    inst = _instances()
    a, _ = simulate_strokes(inst, seed=7)
    b, _ = simulate_strokes(inst, seed=7)
    c, _ = simulate_strokes(inst, seed=8)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_brush_plan_paints_no_edge_and_thin_fragments_get_no_stroke():
    inst = np.zeros((120, 120), np.int32)
    inst[10:14, 10:110] = 1  # 4 px thick: thinner than brush + edge band
    inst[40:100, 30:90] = 2
    m, st = simulate_strokes(inst, seed=0, plan=StrokePlan(edges=0), edge=None)
    assert not (m == 2).any() and st.edge_strokes == 0
    assert st.interior_strokes == 1 and (inst[m == 1] == 2).all()


def test_stroke_label_set_is_read_by_training_as_painted(tmp_path):
    inst = _instances()
    rgb = np.random.default_rng(0).integers(0, 255, (*inst.shape, 3), dtype=np.uint8)
    stats = write_strokes(
        tmp_path / "set", [("site_a", rgb, inst, "/photos/site_a.jpg")], CLASSES, FRAGMENTS, seed=1
    )
    data = open_dataset(tmp_path / "set")
    assert data.fragments == FRAGMENTS and data.class_names == ["background", "rock", "rock_edge"]
    (sample,) = data.samples
    ids = data.load_mask(sample)
    expect, _ = simulate_strokes(inst, seed=1000)  # the first image of seed 1
    assert np.array_equal(ids, expect)  # rock strokes are clear of other labels: nothing turned unknown
    assert np.array_equal(data.load_image(sample), rgb)
    assert stats["site_a"]["rock_px"] == int((ids == 1).sum())
    manifest = json.loads((tmp_path / "set" / "manifest.json").read_text())
    assert manifest["fragments"] == FRAGMENTS and manifest["frames"][0]["source"] == "/photos/site_a.jpg"


def test_outline_export_round_trips_through_the_training_reader(tmp_path):
    inst = _instances()
    inst[inst == 7] = 40000  # 16-bit ids are kept as they are
    rgb = np.random.default_rng(1).integers(0, 255, (*inst.shape, 3), dtype=np.uint8)
    write_outlines(tmp_path / "out", [("a", rgb, inst), ("b", rgb[::-1].copy(), inst[::-1].copy())])
    data = open_dataset(tmp_path / "out")
    assert data.form == "instances" and len(data.samples) == 2
    by_stem = {s.image.stem: s for s in data.samples}
    assert np.array_equal(data.load_mask(by_stem["a"]), instances_to_classes(inst, 3))
    assert np.array_equal(data.load_mask(by_stem["b"]), instances_to_classes(inst[::-1], 3))
    assert np.array_equal(data.load_image(by_stem["a"]), rgb)
    assert np.array_equal(read_instance_png(tmp_path / "out" / "instances" / "a.png"), inst)
    with pytest.raises(ValueError, match="16-bit"):
        write_outlines(tmp_path / "big", [("c", rgb, np.full(inst.shape, 70000, np.int32))])


def test_picks_are_seeded_and_nested():
    pool = [f"p{i}" for i in range(6)]
    assert pick(pool, 4, 0) == pick(pool, 4, 0)
    assert pick(pool, 4, 0)[:2] == pick(pool, 2, 0) and pick(pool, 2, 0)[:1] == pick(pool, 1, 0)
    assert len(set(pick(pool, 4, 1))) == 4
    assert {tuple(pick(pool, 2, s)) for s in range(5)} != {tuple(pick(pool, 2, 0))}


def test_site_design_labels_the_left_tiles_and_scores_the_right_half():
    """--design site: one photo is the site; its left half in 2x2 tiles to label, its right half scored,
    every pixel in exactly one of them and nothing shifted."""
    inst = _instances()
    rgb = np.stack([inst * 3 % 256] * 3, -1).astype(np.uint8)
    known = inst >= 0
    tiles, hold = site_plan("ph", rgb, inst, known)
    assert sorted(tiles) == ["ph_L00", "ph_L01", "ph_L10", "ph_L11"]
    ((name, rgb_r, inst_r, known_r),) = hold
    assert name == "ph_right" and inst_r.shape == (360, 200)
    assert np.array_equal(inst_r, inst[:, 200:]) and np.array_equal(rgb_r, rgb[:, 200:]) and known_r.all()
    t = {k: v[1] for k, v in tiles.items()}
    left = np.block([[t["ph_L00"], t["ph_L01"]], [t["ph_L10"], t["ph_L11"]]])
    assert np.array_equal(left, inst[:, :200])
    assert all(v[2] is None for v in site_plan("ph", rgb, inst, None)[0].values())


def test_bad_input_exits_2_naming_the_file(tmp_path, monkeypatch, capsys):
    (tmp_path / "grains").mkdir()
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    cases = {
        ("--data-root", str(tmp_path / "none")): "no such data set",
        (
            "--data-root",
            str(tmp_path),
            "--start",
            str(tmp_path / "missing.pt"),
        ): "missing.pt: no such checkpoint",
        ("--data-root", str(tmp_path), "--start", str(tmp_path / "bad.pt")): "bad.pt: cannot be read",
    }
    for args, words in cases.items():
        argv = [
            "adapt_fragments.py",
            "--start",
            str(tmp_path / "bad.pt"),
            "--out",
            str(tmp_path / "w"),
            *args,
        ]
        monkeypatch.setattr(sys, "argv", argv)
        with pytest.raises(SystemExit) as e:
            adapt_main()
        assert e.value.code == 2 and words in capsys.readouterr().err


GRAINS = REPO.parent / "shared" / "data" / "rocks_dense" / "grains"
if not GRAINS.is_dir():
    GRAINS = Path("/work/shared/data/rocks_dense/grains")


@pytest.mark.slow
@pytest.mark.skipif(not GRAINS.is_dir(), reason="needs ../shared/data/rocks_dense/grains (real data)")
def test_quick_run_end_to_end_and_resumes(tmp_path):
    """--quick on the tiny fragment checkpoint: both kinds train through `segtool train` and are scored on
    a grains hold-out image; a second run finds every JSON and trains nothing."""
    sys.path.insert(0, str(REPO / "tests"))
    from helpers import make_fragment_checkpoint

    start = make_fragment_checkpoint(tmp_path / "start.pt", resize_short=128)
    cmd = [sys.executable, str(REPO / "benchmarks" / "adapt_fragments.py"), "--start", str(start)]
    cmd += [
        "--out",
        str(tmp_path / "w"),
        "--quick",
        "--table",
        str(tmp_path / "t.md"),
        "--data-root",
        str(GRAINS.parent),
    ]
    env = {"PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"}
    subprocess.run(cmd, check=True, env=env, capture_output=True, text=True, timeout=900)
    rows = (tmp_path / "t.md").read_text().splitlines()
    assert rows[0].startswith("| N | labels | seed | F1") and len(rows) == 2 + 3
    runs = {p.stem: json.loads(p.read_text()) for p in (tmp_path / "w" / "json").glob("*.json")}
    assert set(runs) == {"quick_start", "quick_outlines_n1_s0", "quick_strokes_n1_s0"}
    for name in ("quick_outlines_n1_s0", "quick_strokes_n1_s0"):
        r = runs[name]
        assert r["settings"]["optimizer"] == "adamw" and r["settings"]["freeze_backbone"] is True
        assert r["train_images"] == 1 and r["val_images"] == 0 and r["train_wall_min"] > 0
        assert r["score"]["images"] == 1 and r["score"]["gt_fragments"] > 0
        assert r["holdout"] == ["sveg_IMG_5220"] and r["picked"][0] not in r["holdout"]
    assert (
        runs["quick_strokes_n1_s0"]["strokes"][runs["quick_strokes_n1_s0"]["picked"][0]]["edge_strokes"] > 0
    )
    again = subprocess.run(cmd, check=True, env=env, capture_output=True, text=True, timeout=300)
    assert again.stdout.count("done before") == 2 and len((tmp_path / "t.md").read_text().splitlines()) == 5
