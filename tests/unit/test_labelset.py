"""Label sets: the folder label mode writes, read by `segtool train` as it is, and CVAT round trips."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest
from PIL import Image

from segtool.base.errors import UserInputError
from segtool.core.labelset import LabelSet, export_cvat, import_cvat
from segtool.training.data import check_dataset, open_dataset

CLASSES = [{"name": "background", "color": [0, 0, 0]}, {"name": "rock", "color": [250, 50, 83]}]


def _frame(seed, h=24, w=32):
    rng = np.random.default_rng(seed)
    rgb = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
    mask = np.full((h, w), 255, np.uint8)  # nothing painted yet
    mask[2:10, 3:12] = 1
    mask[15:20, 20:30] = 0
    return rgb, mask


def test_save_reopen_and_train_reads_it(tmp_path):
    ls = LabelSet.create(tmp_path / "L", CLASSES)
    for i in (3, 7):
        rgb, mask = _frame(i)
        ls.save(rgb, mask, source="/footage/clip.mp4", frame=i, pts_s=i / 15)
    again = LabelSet.open(tmp_path / "L")
    assert [f.image for f in again.frames] == ["clip_000003.png", "clip_000007.png"]
    f = again.find("/footage/clip.mp4", 7)
    assert f is not None
    assert f.frame == 7
    assert f.pts_s == pytest.approx(7 / 15)
    assert f.source == "/footage/clip.mp4"
    rgb, mask = _frame(7)
    assert np.array_equal(again.load_mask(f.stem), mask)
    assert np.array_equal(again.load_image(f.stem), rgb)
    assert again.load_mask("nothing", (4, 5)).tolist() == [[255] * 5] * 4

    data = open_dataset(tmp_path / "L")  # the layout `segtool train` reads as it is
    assert data.class_names == ["background", "rock"]
    report = check_dataset(data)
    assert report.ok
    s = next(s for s in data.samples if s.image.stem == "clip_000007")
    assert np.array_equal(data.load_mask(s), mask)  # 255 = unknown, ignored


def test_kill_before_manifest_keeps_the_frame(tmp_path):
    ls = LabelSet.create(tmp_path / "L", CLASSES)
    rgb, mask = _frame(0)
    ls.save(rgb, mask, source="a.jpg")
    (tmp_path / "L" / "manifest.json").write_text(
        json.dumps({"frames": []})
    )  # as if killed before the manifest
    again = LabelSet.open(tmp_path / "L")
    assert [f.image for f in again.frames] == ["a.png"]
    assert not list((tmp_path / "L").rglob(".*.tmp"))


def test_bad_values_and_mismatched_classes_are_refused(tmp_path):
    ls = LabelSet.create(tmp_path / "L", CLASSES)
    rgb, mask = _frame(0)
    mask[0, 0] = 7
    with pytest.raises(UserInputError, match=r"values \[7\]"):
        ls.save(rgb, mask, source="a.jpg")
    with pytest.raises(UserInputError, match="already a label set"):
        LabelSet.create(tmp_path / "L", [{"name": "sky", "color": [0, 0, 255]}, *CLASSES])
    with pytest.raises(UserInputError, match="not a label set"):
        LabelSet.open(tmp_path / "nothing")
    (tmp_path / "afile").write_text("x")
    with pytest.raises(UserInputError, match="is a file"):
        LabelSet.create(tmp_path / "afile", CLASSES)
    with pytest.raises(UserInputError, match="cannot create the label set"):
        LabelSet.create(tmp_path / "afile" / "sub", CLASSES)


def test_cvat_round_trip_keeps_every_pixel_and_unknown(tmp_path):
    ls = LabelSet.create(tmp_path / "L", CLASSES)
    masks = {}
    for i in range(3):
        rgb, mask = _frame(i)
        inst = np.zeros(mask.shape, np.uint16)
        inst[2:10, 3:12] = 1
        ls.save(rgb, mask, source="clip.mp4", frame=i, instances=inst if i == 0 else None)
        masks[f"clip_{i:06d}"] = mask
    z = export_cvat(ls, tmp_path / "cvat.zip")
    with zipfile.ZipFile(z) as zf:
        names = set(zf.namelist())
        labelmap = zf.read("labelmap.txt").decode()
    assert {
        "labelmap.txt",
        "ImageSets/Segmentation/default.txt",
        "SegmentationClass/clip_000000.png",
        "SegmentationObject/clip_000000.png",
    } <= names
    assert "unknown:" in labelmap
    assert "rock:250,50,83::" in labelmap
    back = import_cvat(z, tmp_path / "L" / "images", tmp_path / "L2")
    assert back.class_names == ["background", "rock"]  # the unknown label is not a class
    for stem, mask in masks.items():
        assert np.array_equal(back.load_mask(stem), mask)


def test_seed_rocks_cvat_export_imports(shared_data, tmp_path):
    rocks = shared_data / "rocks"
    zips = list(rocks.glob("*.zip"))
    if not zips:
        pytest.skip("rocks CVAT export absent")
    ls = import_cvat(zips[0], rocks / "train" / "images", tmp_path / "L")
    assert len(ls.frames) == 3
    m = ls.load_mask(ls.frames[0].stem)
    ref = np.asarray(Image.open(rocks / "train" / "masks" / f"{ls.frames[0].stem}.png").convert("RGB"))
    assert np.array_equal(m == 1, (ref == [250, 50, 83]).all(-1))
    sparse = import_cvat(zips[0], rocks / "train" / "images", tmp_path / "S", unknown_classes=["background"])
    assert sparse.class_names == ls.class_names  # background stays a class to paint
    sm = sparse.load_mask(ls.frames[0].stem)
    assert np.array_equal(sm == 1, m == 1)
    assert set(np.unique(sm)) == {1, 255}
    back = export_cvat(ls, tmp_path / "again.zip")
    again = import_cvat(back, tmp_path / "L" / "images", tmp_path / "L3")
    assert np.array_equal(again.load_mask(ls.frames[0].stem), m)


def test_labels_cli_round_trip(tmp_path, capsys):
    from segtool.cli import main

    ls = LabelSet.create(tmp_path / "L", CLASSES)
    rgb, mask = _frame(1)
    ls.save(rgb, mask, source="clip.mp4", frame=4)
    assert main(["labels", "export-cvat", str(tmp_path / "L"), "-o", str(tmp_path / "c.zip")]) == 0
    assert (
        main(
            [
                "labels",
                "import-cvat",
                str(tmp_path / "c.zip"),
                "--images",
                str(tmp_path / "L" / "images"),
                "-o",
                str(tmp_path / "L2"),
            ]
        )
        == 0
    )
    assert main(["labels", "info", str(tmp_path / "L2")]) == 0
    out = capsys.readouterr().out
    assert "clip_000004.png: background" in out
    assert "unknown" in out
    assert main(["labels", "info", str(tmp_path / "none")]) == 2
    assert "not a label set" in capsys.readouterr().err


def test_two_sources_with_the_same_file_name_never_overwrite_each_other(tmp_path):
    ls = LabelSet.create(tmp_path / "L", CLASSES)
    a_rgb, a_mask = _frame(1)
    b_rgb, b_mask = _frame(2)
    b_mask[:] = 0
    ls.save(a_rgb, a_mask, source="/day1/clip.mp4", frame=5)
    ls.save(b_rgb, b_mask, source="/day2/clip.mp4", frame=5)  # same stem, other footage
    again = LabelSet.open(tmp_path / "L")
    fa, fb = again.find("/day1/clip.mp4", 5), again.find("/day2/clip.mp4", 5)
    assert fa.stem == "clip_000005"
    assert fb.stem == "clip_000005-2"
    assert np.array_equal(again.load_mask(fa.stem), a_mask)
    assert np.array_equal(again.load_image(fa.stem), a_rgb)
    assert np.array_equal(again.load_mask(fb.stem), b_mask)
    assert np.array_equal(again.load_image(fb.stem), b_rgb)
    assert again.find("/day3/clip.mp4", 5) is None
