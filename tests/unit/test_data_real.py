"""open_dataset / check_dataset on the real datasets in ../shared/data (skipped when absent)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from segtool.base.errors import UserInputError
from segtool.training.data import check_dataset, open_dataset

ROCKS_ZIP = "rocks/cvat_annotations_segmentation mask 1.1.zip"
LABELMAP = "# label:color_rgb:parts:actions\nbackground:0,0,0::\nrocks:250,50,83::\n"


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SEGTOOL_CACHE", str(tmp_path / "cache"))


def test_rocks_cvat_zip_with_images_folder(shared_data):
    data = open_dataset(shared_data / ROCKS_ZIP, images=shared_data / "rocks")
    assert data.form == "cvat"
    assert data.class_names == ["background", "rocks"]
    assert data.classes[1].color == (250, 50, 83)
    # The zip only has default.txt; the split comes from the images' train/ and val/ folders.
    assert {s.image.name: s.split for s in data.samples} == {
        "1.jpeg": "train",
        "2.jpeg": "train",
        "3.jpeg": "train",
        "4.jpeg": "val",
    }
    rep = check_dataset(data)
    assert rep.ok, rep.as_text()
    # Rocks cover ~0.6 % of the labelled pixels on photos full of rocks: "no problems" would hide that.
    assert len(rep.warnings) == 1, rep.warnings
    assert "'rocks' covers only 0." in rep.warnings[0], rep.warnings
    assert "sparse" in rep.warnings[0]
    assert "unknown" in rep.warnings[0]
    rocks = rep.classes[1]
    assert 0.003 < rocks["share"] < 0.02  # sparse labels, ~1% of pixels
    assert rocks["images"] == 4
    assert "3 train / 1 val" in rep.as_text()
    ids = data.load_mask(data.samples[0])
    assert ids.shape == (1066, 1600)
    assert set(np.unique(ids)) == {0, 1}


def test_rocks_folder_needs_a_class_list(shared_data, tmp_path):
    with pytest.raises(UserInputError) as exc:
        open_dataset(shared_data / "rocks")
    assert "no labelmap.txt" in str(exc.value)
    assert "rocks:250,50,83" not in str(exc.value)
    assert "class1:250,50,83::" in str(exc.value)  # a ready-to-save labelmap is in the message
    lm = tmp_path / "labelmap.txt"
    lm.write_text(LABELMAP)
    data = open_dataset(shared_data / "rocks", classes=lm)
    assert data.form == "folder"
    assert [s.split for s in data.samples] == ["train"] * 3 + ["val"]
    rep = check_dataset(data)
    assert rep.ok, rep.as_text()
    zipped = check_dataset(open_dataset(shared_data / ROCKS_ZIP, images=shared_data / "rocks"))
    assert [c["pixels"] for c in rep.classes] == [c["pixels"] for c in zipped.classes]  # same labels


def test_camvid_opens_with_its_classes(shared_data):
    data = open_dataset(shared_data / "camvid")
    assert data.form == "camvid"
    assert data.num_classes == 11
    assert data.class_names[0] == "Sky"
    assert len(data.split("train")) == 367
    assert len(data.split("val")) == 101
    assert not data.unmatched_images
    assert not data.unmatched_masks
    subset = dataclasses.replace(data, samples=data.samples[::40])  # a few frames of each split
    rep = check_dataset(subset)
    assert rep.ok, rep.as_text()
    assert rep.ignore_pixels > 0  # id 11 (unlabelled) is ignored, not an unknown id
    ids = data.load_mask(data.samples[0])
    assert ids.shape == (360, 480)
    assert ids.max() == 255
    assert ids[ids != 255].max() <= 10


@pytest.mark.slow
def test_camvid_full_check(shared_data):
    rep = check_dataset(open_dataset(shared_data / "camvid"))
    assert rep.ok, rep.as_text()
    assert rep.counts["pairs"] == 468, rep.as_text()
    assert all(c["pixels"] > 0 for c in rep.classes)
