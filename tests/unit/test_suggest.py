"""`segtool suggest`: frames scored by the model's uncertainty, picked apart in time and content."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from PIL import Image

from models.errors import UserInputError
from segtool.core.frame import Prediction
from segtool.core.suggest import FrameScore, frame_feature, pick_diverse, score_prediction


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
    scores = [_fs(i, 0.9 - 0.001 * (i - 40) if 40 <= i < 50 else 0.1 + 0.001 * i, np.eye(4)[i % 4]) for i in range(100)]
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
    assert main(["suggest", str(clip), "-c", str(fast_ckpt), "-n", "4", "--every", "10", "-o", str(out), "-q"]) == 0
    rows = list(csv.DictReader(open(out / "suggestions.csv")))
    assert [r["rank"] for r in rows] == ["1", "2", "3", "4"]
    frames = [int(r["frame"]) for r in rows]
    assert all(f % 10 == 0 for f in frames) and len(set(frames)) == 4
    assert min(abs(a - b) for a in frames for b in frames if a != b) >= 10
    keys = [float(r["score"]) + float(r["uncertain_share"]) for r in rows]
    pngs = sorted(out.glob("*.png"))
    assert len(pngs) == 4
    with open_source(str(clip)) as src:
        for r in rows:
            f = int(r["frame"])
            png = out / f"{clip.stem}_{f:06d}.png"
            assert np.array_equal(np.asarray(Image.open(png).convert("RGB")), src.read(f).rgb)
            assert float(r["pts_s"]) == pytest.approx(src.read(f).pts_s, abs=1e-4)
    assert 0 <= min(keys) and max(keys) <= 2
    assert "4 frame(s) suggested from 11 scored" in capsys.readouterr().out


def test_suggest_cli_bad_input(clip, fast_ckpt, tmp_path, capsys):
    from segtool.cli import main

    assert main(["suggest", str(clip), "-c", str(fast_ckpt), "-n", "0", "-o", str(tmp_path)]) == 2
    assert main(["suggest", str(clip), "-c", str(fast_ckpt), "--every", "0", "-o", str(tmp_path)]) == 2
    assert main(["suggest", str(clip), "-c", str(fast_ckpt), "--threshold", "1.5", "-o", str(tmp_path), "-q"]) == 2
    err = capsys.readouterr().err
    assert "-n 0" in err and "--every 0" in err and "--threshold 1.5" in err
