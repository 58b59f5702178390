"""The synthetic rock-field generator: deterministic, labels that match the pictures, clips that pan,
and datasets that `segtool train` accepts."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from segtool import demo_footage as synthetic
from segtool.demo_footage import make_clip, make_image, render_world, write_dataset

SIZE = (160, 96)


def test_same_seed_same_pixels_other_seed_other_pixels():
    a, b, c = make_image(3, SIZE), make_image(3, SIZE), make_image(4, SIZE)
    assert np.array_equal(a[0], b[0])
    assert np.array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])
    assert a[0].shape == (96, 160, 3)
    assert a[0].dtype == np.uint8
    assert a[1].shape == (96, 160)
    assert a[1].dtype == np.uint8


def test_labels_are_rock_and_background_in_plausible_shares():
    shares = [float((make_image(s, (240, 136))[1] == synthetic.ROCK).mean()) for s in range(6)]
    assert all(0.03 < s < 0.8 for s in shares), shares  # never empty, never all rock
    assert set(np.unique(make_image(0, SIZE)[1])) <= {0, 1}


def test_veins_add_a_third_class_inside_rocks():
    _, labels = render_world(320, 180, 5, veins=True)
    assert synthetic.QUARTZ in labels
    assert [c["name"] for c in synthetic.classes(veins=True)] == ["background", "rock", "quartz"]
    # veins are drawn inside rock outlines only: no vein pixel touches the background
    near_ground = cv2.dilate((labels == synthetic.BACKGROUND).astype(np.uint8), np.ones((3, 3), np.uint8))
    assert not near_ground[labels == synthetic.QUARTZ].any()


def test_label_boundaries_are_where_the_picture_has_edges():
    """The mask is the picture's truth: image gradients are much stronger on label boundaries than
    inside regions (a shifted or mismatched mask would not show this)."""
    ratios = []
    for seed in range(3):
        rgb, mask = make_image(seed, (320, 180), max_blur=0.0)
        grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
        grad = np.hypot(cv2.Sobel(grey, cv2.CV_32F, 1, 0), cv2.Sobel(grey, cv2.CV_32F, 0, 1))
        edge = cv2.morphologyEx(mask, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)) > 0
        ratios.append(grad[edge].mean() / grad[~edge].mean())
    assert min(ratios) > 1.5, ratios


def test_clip_pans_right_and_labels_follow_the_frames():
    frames = list(make_clip(1, SIZE, frames=6, fps=25))
    assert [f.index for f in frames] == list(range(6))
    assert all(f.rgb.shape == (96, 160, 3) and f.mask.shape == (96, 160) for f in frames)
    again = list(make_clip(1, SIZE, frames=6, fps=25))
    assert all(np.array_equal(a.rgb, b.rgb) and np.array_equal(a.mask, b.mask) for a, b in zip(frames, again))
    # The camera moves right: the content of frame 5 is frame 0's shifted left by a few pixels.
    m0, m5 = frames[0].mask.astype(np.int16), frames[5].mask.astype(np.int16)
    errs = {dx: np.abs(m0[:, dx:] - m5[:, : m5.shape[1] - dx]).mean() for dx in range(0, 40)}
    best = min(errs, key=errs.get)
    assert best > 3
    assert errs[best] < 0.5 * errs[0]


def test_dataset_is_accepted_by_training(tmp_path):
    from segtool.training.data import check_dataset, open_dataset

    calls = []
    out = write_dataset(tmp_path / "ds", 3, 2, size=SIZE, seed=0, progress=lambda d, t: calls.append((d, t)))
    assert calls[-1] == (5, 5)
    assert json.loads((out / "classes.json").read_text())[1]["name"] == "rock"
    assert len(list((out / "train" / "images").glob("*.jpg"))) == 3
    assert len(list((out / "val" / "masks").glob("*.png"))) == 2
    data = open_dataset(out)
    report = check_dataset(data)
    assert report.ok, report
    assert data.class_names == ["background", "rock"]


@pytest.mark.parametrize("n_small,n_big", [(2, 4)])
def test_bigger_dataset_extends_a_smaller_one(tmp_path, n_small, n_big):
    a = write_dataset(tmp_path / "a", n_small, 1, size=SIZE, seed=2)
    b = write_dataset(tmp_path / "b", n_big, 1, size=SIZE, seed=2)
    for name in ("00000.png", "00001.png"):
        assert np.array_equal(
            cv2.imread(str(a / "train/masks" / name)), cv2.imread(str(b / "train/masks" / name))
        )
    assert np.array_equal(
        cv2.imread(str(a / "val/masks/00000.png")), cv2.imread(str(b / "val/masks/00000.png"))
    )
