"""`--unknown-class NAME`: the pixels of a class are read as unknown (255), so sparse exports train on
what was painted instead of unlearning what was not."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from segtool.base.errors import UserInputError
from segtool.training.config import TrainConfig
from segtool.training.data import open_dataset
from segtool.training.rundata import open_run_data


def _folder(tmp_path, n=3):
    root = tmp_path / "data"
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    (root / "classes.json").write_text(
        json.dumps([{"name": "background", "color": [0, 0, 0]}, {"name": "rock", "color": [250, 50, 83]}])
    )
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, (32, 40, 3), dtype=np.uint8)).save(root / "images" / f"{i}.png")
        m = np.zeros((32, 40), np.uint8)
        m[8:16, 10:20] = 1
        m[0:2, :] = 255  # already unknown
        Image.fromarray(m).save(root / "masks" / f"{i}.png")
    return root


def test_unknown_class_maps_pixels_to_ignore(tmp_path):
    root = _folder(tmp_path)
    plain = open_dataset(root)
    sparse = open_dataset(root, unknown_classes=["background"])
    s = plain.samples[0]
    a, b = plain.load_mask(s), sparse.load_mask(s)
    assert set(np.unique(a)) == {0, 1, 255}
    assert set(np.unique(b)) == {1, 255}
    assert np.array_equal(b == 1, a == 1)  # painted rock is untouched
    assert np.array_equal(b == 255, a != 1)  # background and unknown both unknown now
    assert any("unknown" in n for n in sparse.notes)


def test_unknown_class_case_insensitive_and_errors(tmp_path):
    root = _folder(tmp_path)
    assert open_dataset(root, unknown_classes=["Background"]).unknown_ids == (0,)
    with pytest.raises(UserInputError, match=r"no such class; its classes are background, rock"):
        open_dataset(root, unknown_classes=["sky"])
    with pytest.raises(UserInputError, match="leaves no class to learn"):
        open_dataset(root, unknown_classes=["background", "rock"])


def test_run_data_applies_to_training_not_to_separate_val(tmp_path):
    root = _folder(tmp_path)
    val = _folder(tmp_path / "v")
    cfg = TrainConfig(
        data=str(root), output=str(tmp_path / "run"), val=str(val), unknown_classes=["background"]
    )
    rd = open_run_data(cfg)
    assert rd.train_data.unknown_ids == (0,)
    assert rd.val_data.unknown_ids == ()
    assert 0 in np.unique(rd.val_data.load_mask(rd.val[0]))


def test_cli_flag_reaches_the_config(tmp_path, capsys):
    from segtool.cli import main

    root = _folder(tmp_path)
    assert (
        main(["train", str(root), "--check", "--unknown-class", "background", "--batch-size", "2", "-q"]) == 0
    )
    out = capsys.readouterr().out
    assert "unknown" in out
    assert main(["train", str(root), "--check", "--unknown-class", "grass", "-q"]) == 2


def test_rocks_export_sparse_labels_become_rock_only(shared_data):
    rocks = shared_data / "rocks"
    zips = list(rocks.glob("*.zip"))
    if not zips:
        pytest.skip("rocks CVAT export absent")
    data = open_dataset(zips[0], images=rocks / "train" / "images", unknown_classes=["background"])
    names = [c.name.lower() for c in data.classes]
    s = next(s for s in data.samples if s.mask is not None)
    ids = data.load_mask(s)
    rock = names.index(next(n for n in names if n.startswith("rock")))
    assert set(np.unique(ids)) <= {rock, 255}
    assert 0 < (ids == rock).mean() < 0.1  # sparse: a few rocks painted, the rest unknown


def test_images_for_a_cvat_export_do_not_break_a_folder_val(shared_data, tmp_path):
    rocks = shared_data / "rocks"
    zips = list(rocks.glob("*.zip"))
    if not zips:
        pytest.skip("rocks CVAT export absent")
    val = _folder(tmp_path)
    (val / "classes.json").write_text(
        json.dumps([{"name": "background", "color": [0, 0, 0]}, {"name": "rocks", "color": [250, 50, 83]}])
    )
    cfg = TrainConfig(
        data=str(zips[0]), images=str(rocks / "train" / "images"), val=str(val), output=str(tmp_path / "run")
    )
    rd = open_run_data(cfg)
    assert len(rd.train) == 3
    assert len(rd.val) == 3
