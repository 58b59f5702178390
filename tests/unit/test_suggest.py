"""`segtool suggest`: frames scored by the model's uncertainty, picked apart in time and content."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from PIL import Image

from segtool.base.errors import UserInputError
from segtool.core.frame import Prediction
from segtool.core.suggest import (
    DEFAULT_STRATEGY,
    STRATEGIES,
    FrameScore,
    frame_feature,
    pick,
    pick_cluster,
    pick_diverse,
    pick_kcenter,
    pick_random,
    pick_spaced,
    score_prediction,
)


def _fs(i, score, feature=None):
    f = np.zeros(4, np.float32)
    f[0] = 1.0
    return FrameScore(i, i / 15, None, score, 0.0, f if feature is None else feature)


def test_score_is_mean_least_confidence_and_uncertain_share():
    conf = np.array([[0.5, 0.9], [1.0, 0.6]], np.float32)
    score, share = score_prediction(Prediction(np.zeros((2, 2), np.uint8), conf), threshold=0.6)
    assert score == pytest.approx(1 - conf.mean())
    assert share == pytest.approx(0.25)  # only 0.5 is below 0.6
    with pytest.raises(ValueError):
        score_prediction(Prediction(np.zeros((2, 2), np.uint8), None), threshold=0.6)


def test_pick_diverse_spreads_a_cluster_of_hard_neighbours():
    # Frames 40..49 are the hardest; a plain top-3 would take three neighbours from that one scene.
    scores = [
        _fs(i, 0.9 - 0.001 * (i - 40) if 40 <= i < 50 else 0.1 + 0.001 * i, np.eye(4)[i % 4])
        for i in range(100)
    ]
    plain = sorted(scores, key=lambda s: -s.score)[:3]
    assert all(40 <= s.index < 50 for s in plain)
    picks = pick_diverse(scores, 3)
    assert picks[0].index == 40  # the most uncertain frame comes first
    idx = sorted(p.index for p in picks)
    assert min(b - a for a, b in zip(idx, idx[1:])) >= 100 / 6  # default gap: span / 2n


def test_pick_diverse_skips_lookalikes_and_relaxes_on_short_clips():
    same = np.array([1, 0, 0, 0], np.float32)
    other = np.array([0, 1, 0, 0], np.float32)
    scores = [_fs(0, 0.9, same), _fs(50, 0.8, same), _fs(100, 0.7, other)]
    picks = pick_diverse(scores, 2, min_gap=1, min_distance=0.5)
    assert [p.index for p in picks] == [0, 100]  # frame 50 looks like frame 0
    assert len(pick_diverse(scores[:2], 5, min_gap=1000)) == 2  # never more than there are
    assert len(pick_diverse(scores, 3, min_gap=1000, min_distance=1.5)) == 3  # relaxed until n fit
    with pytest.raises(UserInputError):
        pick_diverse(scores, 0)


def test_frame_feature_is_unit_length_and_sees_content():
    a = np.zeros((20, 20, 3), np.uint8)
    b = np.full((20, 20, 3), 255, np.uint8)
    m = np.zeros((20, 20), np.uint8)
    fa, fb = frame_feature(a, m, 2), frame_feature(b, m, 2)
    assert np.linalg.norm(fa) == pytest.approx(1.0)
    assert np.linalg.norm(fa - fb) > 0.1


def test_suggest_cli_on_real_clip(clip, fast_ckpt, tmp_path, capsys):
    from segtool.cli import main
    from segtool.core.sources import open_source

    out = tmp_path / "sug"
    assert (
        main(["suggest", str(clip), "-c", str(fast_ckpt), "-n", "4", "--every", "10", "-o", str(out), "-q"])
        == 0
    )
    rows = list(csv.DictReader(open(out / "suggestions.csv")))
    assert [r["rank"] for r in rows] == ["1", "2", "3", "4"]
    frames = [int(r["frame"]) for r in rows]
    assert all(f % 10 == 0 for f in frames)
    assert len(set(frames)) == 4
    assert min(abs(a - b) for a in frames for b in frames if a != b) >= 10
    keys = [float(r["score"]) + float(r["uncertain_share"]) for r in rows]
    assert [float(r["priority"]) for r in rows] == pytest.approx(keys, abs=2e-6)
    assert keys == sorted(keys, reverse=True)  # the ranks read in order of what ranks them
    pngs = sorted(out.glob("*.png"))
    assert len(pngs) == 4
    with open_source(str(clip)) as src:
        for r in rows:
            f = int(r["frame"])
            png = out / f"{clip.stem}_{f:06d}.png"
            assert np.array_equal(np.asarray(Image.open(png).convert("RGB")), src.read(f).rgb)
            assert float(r["pts_s"]) == pytest.approx(src.read(f).pts_s, abs=1e-4)
    assert 0 <= min(keys)
    assert max(keys) <= 2
    assert "4 frame(s) suggested from 11 scored" in capsys.readouterr().out


def test_suggest_cli_bad_input(clip, fast_ckpt, tmp_path, capsys):
    from segtool.cli import main

    assert main(["suggest", str(clip), "-c", str(fast_ckpt), "-n", "0", "-o", str(tmp_path)]) == 2
    assert main(["suggest", str(clip), "-c", str(fast_ckpt), "--every", "0", "-o", str(tmp_path)]) == 2
    assert (
        main(["suggest", str(clip), "-c", str(fast_ckpt), "--threshold", "1.5", "-o", str(tmp_path), "-q"])
        == 2
    )
    err = capsys.readouterr().err
    assert "-n 0" in err
    assert "--every 0" in err
    assert "--threshold 1.5" in err


# --- strategies (issue 21: suggestions that earn their place) ---------------------------------------


def _clusters(priorities=None):
    """30 frames in three tight content groups (frames 0-9, 10-19, 20-29), far apart from each other."""
    rng = np.random.default_rng(0)
    out = []
    for i in range(30):
        f = np.zeros(8, np.float32)
        f[i // 10] = 1.0
        f[3:] = rng.normal(0, 0.01, 5)
        f /= np.linalg.norm(f)
        out.append(FrameScore(i, None, None, 0.5 if priorities is None else priorities[i], 0.0, f))
    return out


def test_kcenter_takes_one_frame_of_each_group_even_when_one_group_is_hardest():
    # Group 0 is the most uncertain: plain uncertainty takes three of it; k-centre spreads.
    pr = [0.9 - 0.01 * i if i < 10 else 0.2 for i in range(30)]
    scores = _clusters(pr)
    top3 = sorted(scores, key=lambda s: -s.priority)[:3]
    assert {s.index // 10 for s in top3} == {0}
    picks = pick_kcenter(scores, 3)
    assert sorted(p.index // 10 for p in picks) == [0, 1, 2]
    assert picks[0].index == 0  # the most uncertain frame is taken first
    assert sorted(p.index // 10 for p in pick_cluster(scores, 3)) == [0, 1, 2]


def test_kcenter_and_cluster_break_ties_by_uncertainty():
    # Within group 1 frame 17 is the most uncertain; in group 2, frame 23.
    pr = [0.5] * 30
    pr[0], pr[17], pr[23] = 0.9, 0.8, 0.7
    scores = _clusters(pr)
    assert sorted(p.index for p in pick_cluster(scores, 3)) == [0, 17, 23]
    assert {p.index for p in pick_kcenter(scores, 3)} == {0, 17, 23}


def test_kcenter_spreads_points_on_a_plane():
    # Generated 2-D features: the 4 corners of a square and noise in the middle; k-centre takes the corners.
    rng = np.random.default_rng(1)
    pts = [np.array(c, np.float32) for c in ((0, 0), (0, 1), (1, 0), (1, 1))] + list(
        rng.uniform(0.4, 0.6, (20, 2))
    )
    scores = [FrameScore(i, None, None, 0.5, 0.0, p) for i, p in enumerate(pts)]
    scores[0] = FrameScore(0, None, None, 0.6, 0.0, pts[0])  # start from a corner
    picks = pick_kcenter(scores, 4)
    # diversity_features appends the place in the footage; with index order matching nothing here,
    # the corners still win because they are 1 apart and the middle points only ~0.7 from a corner.
    assert sorted(p.index for p in picks) == [0, 1, 2, 3]


def test_spaced_is_even_with_uncertainty_as_the_tie_break():
    flat = [_fs(i, 0.5) for i in range(100)]
    assert sorted(p.index for p in pick_spaced(flat, 4)) == [12, 37, 62, 87]  # the stretches' middles
    # 10 stretches of 10 frames: each middle (4.5, 14.5, …) lies between two frames; with equal
    # uncertainty the earlier is taken, a more uncertain neighbour wins the tie, a frame off the middle never.
    assert sorted(p.index for p in pick_spaced(flat, 10)) == list(range(4, 100, 10))
    bumped = [_fs(i, 0.9 if i in (15, 20, 33) else 0.5) for i in range(100)]
    idx = sorted(p.index for p in pick_spaced(bumped, 10))
    assert idx == [4, 15, 24, 34, 44, 54, 64, 74, 84, 94]  # 15 beat 14; 20 and 33 are off the middles
    # A wider window lets uncertainty choose within the middle of each stretch.
    assert 33 in [p.index for p in pick_spaced(bumped, 10, window=0.5)]
    assert len(pick_spaced(flat[:3], 10)) == 3


def test_pick_lists_by_priority_and_names_the_choices():
    scores = _clusters([0.1 * (i % 7) for i in range(30)])
    for strat in STRATEGIES:
        picks = pick(scores, 5, strat)
        assert len(picks) == 5
        assert len({p.index for p in picks}) == 5
        pr = [p.priority for p in picks]
        assert pr == sorted(pr, reverse=True), strat
    assert DEFAULT_STRATEGY in STRATEGIES
    with pytest.raises(
        UserInputError, match="--strategy nope: use one of random, spaced, kcenter, cluster, uncertain"
    ):
        pick(scores, 3, "nope")
    assert pick([], 3) == []


def test_suggest_cli_strategy_option(clip, fast_ckpt, tmp_path, capsys):
    from segtool.cli import main

    out = tmp_path / "k"
    assert (
        main(
            [
                "suggest",
                str(clip),
                "-c",
                str(fast_ckpt),
                "-n",
                "3",
                "--every",
                "20",
                "--strategy",
                "kcenter",
                "-o",
                str(out),
                "-q",
            ]
        )
        == 0
    )
    assert "strategy kcenter" in capsys.readouterr().out
    assert len(list(csv.DictReader(open(out / "suggestions.csv")))) == 3
    assert main(["suggest", str(clip), "-c", str(fast_ckpt), "--strategy", "best", "-o", str(out), "-q"]) == 2
    assert main(["suggest", str(clip), "-c", str(fast_ckpt), "--min-gap", "5", "-o", str(out), "-q"]) == 2
    err = capsys.readouterr().err
    assert "--strategy best: use one of random, spaced, kcenter, cluster, uncertain" in err
    assert "--min-gap 5: only --strategy uncertain uses it" in err


def test_random_is_the_default_a_seeded_uniform_sample_listed_by_priority():
    """The measured default (docs/benchmarks.md): random frames, the same for the same footage and N,
    spread over the whole footage in the long run, listed by priority like every strategy."""
    assert DEFAULT_STRATEGY == "random"
    scores = [_fs(i, score=(i * 37 % 11) / 11) for i in range(200)]
    a, b = pick(scores, 10), pick(list(reversed(scores)), 10)
    assert [p.index for p in a] == [p.index for p in b]  # seeded by the footage, not by the list's order
    assert len({p.index for p in a}) == 10
    assert [p.priority for p in a] == sorted((p.priority for p in a), reverse=True)
    assert [p.index for p in pick(scores, 11)] != [p.index for p in a][:11]  # another N, another draw
    hits = np.zeros(4)
    for n in range(5, 85):  # over many draws every quarter of the footage is drawn from about equally
        for p in pick_random(scores, n):
            hits[p.index * 4 // 200] += 1
    assert hits.min() > 0.8 * hits.mean(), hits
