"""check_dataset on broken datasets: every problem is named with its file and fix."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from segtool.base.errors import UserInputError
from segtool.training.data import check_dataset, open_dataset

H, W = 12, 16
ROCK = (250, 50, 83)
LABELMAP = "# label:color_rgb:parts:actions\nbackground:0,0,0::\nrocks:250,50,83::\n"


def save(path: Path, arr: np.ndarray, **kw) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path, **kw)
    return path


def good_mask() -> np.ndarray:
    m = np.zeros((H, W, 3), np.uint8)
    m[2:8, 3:9] = ROCK
    return m


def photo(path: Path, h: int = H, w: int = W) -> Path:
    return save(path, np.full((h, w, 3), 120, np.uint8))


@pytest.fixture
def broken(tmp_path) -> Path:
    """A colour-mask folder with one of each problem."""
    (tmp_path / "labelmap.txt").write_text(LABELMAP)
    img, msk = tmp_path / "images", tmp_path / "masks"
    for n in ("1", "2", "3"):
        photo(img / f"{n}.jpg")
        save(msk / f"{n}.png", good_mask())
    bad = good_mask()
    bad[0:2, :] = (12, 200, 7)  # 32 px of a colour no class has
    photo(img / "17.jpg")
    save(msk / "17.png", bad)
    photo(img / "big.jpg", 2 * H, 2 * W)  # image twice the mask size
    save(msk / "big.png", good_mask())
    photo(img / "broken.jpg")
    (msk / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n this is not a png")
    photo(img / "lonely.jpg")  # image without mask
    save(msk / "orphan.png", good_mask())  # mask without image
    return tmp_path


def test_broken_folder_report(broken):
    data = open_dataset(broken)
    rep = check_dataset(data)
    assert not rep.ok
    errors = "\n".join(rep.errors)
    assert (
        "mask masks/17.png has colours not in labelmap.txt: (12, 200, 7) ×32 px — add the class or fix the mask"
        in errors
    )
    assert "image images/big.jpg is 32×24 but mask masks/big.png is 16×12" in errors
    assert "cannot read mask masks/broken.png" in errors
    warnings = "\n".join(rep.warnings)
    assert "images/lonely.jpg" in warnings
    assert "no mask" in warnings
    assert "masks/orphan.png" in warnings
    assert "no image" in warnings
    assert rep.counts["pairs"] == 6
    assert rep.counts["unmatched_images"] == 1
    text = rep.as_text()
    assert text.index("ERRORS (3)") < text.index("WARNINGS")
    assert "NOT OK" in text
    assert json.loads(json.dumps(rep.to_dict()))["ok"] is False
    with pytest.raises(UserInputError, match="17.png"):
        rep.raise_for_errors()


def test_load_mask_refuses_unknown_colours_instead_of_zeroing(broken):
    data = open_dataset(broken)
    sample = next(s for s in data.samples if s.mask.name == "17.png")
    with pytest.raises(UserInputError, match=r"\(12, 200, 7\) ×32 px"):
        data.load_mask(sample)
    ids, unknown = data.decode_mask(sample)
    assert unknown == {(12, 200, 7): 32}
    assert (ids[0:2] == 255).all()  # unknown pixels are ignored, never background
    assert (ids[2:8, 3:9] == 1).all()


def test_clean_folder_is_ok_with_class_table(tmp_path):
    (tmp_path / "classes.json").write_text(
        json.dumps(
            [
                {"name": "bg", "color": [0, 0, 0]},
                {"name": "rock", "color": list(ROCK)},
                {"name": "moss", "color": [0, 255, 0]},
            ]
        )
    )
    for split in ("train", "val"):
        photo(tmp_path / split / "images" / "a.png")
        save(tmp_path / split / "masks" / "a.png", good_mask())
    seen = []
    rep = check_dataset(open_dataset(tmp_path), progress=lambda done, total: seen.append((done, total)))
    assert rep.ok
    assert seen[-1] == (2, 2)
    rock = rep.classes[1]
    assert rock["pixels"] == 2 * 36
    assert rock["images"] == 2
    assert rock["share"] == pytest.approx(36 / (H * W))
    assert any("class 2 'moss' has no pixels" in w for w in rep.warnings)
    assert "OK: ready to train" in rep.as_text()


def test_jpeg_colour_masks_are_explained(tmp_path):
    (tmp_path / "labelmap.txt").write_text(LABELMAP)
    big = np.zeros((64, 64, 3), np.uint8)
    big[10:50, 5:40] = ROCK
    big[20:30, 45:60] = ROCK
    photo(tmp_path / "images" / "a.png", 64, 64)
    save(tmp_path / "masks" / "a.jpg", big, quality=75)
    rep = check_dataset(open_dataset(tmp_path))
    assert len(rep.errors) == 1
    assert "masks/a.jpg looks JPEG-compressed" in rep.errors[0]
    assert "PNG" in rep.errors[0]


def test_indexed_dataset_with_a_colour_mask(tmp_path):
    (tmp_path / "classes.json").write_text(json.dumps(["background", "rock"]))
    photo(tmp_path / "images" / "a.png")
    save(tmp_path / "masks" / "a.png", np.zeros((H, W), np.uint8))
    photo(tmp_path / "images" / "b.png")
    save(tmp_path / "masks" / "b.png", good_mask())
    ids = np.zeros((H, W), np.uint8)
    ids[0, 0:5] = 7
    photo(tmp_path / "images" / "c.png")
    save(tmp_path / "masks" / "c.png", ids)
    rep = check_dataset(open_dataset(tmp_path, val_fraction=0))
    errors = "\n".join(rep.errors)
    assert "mask masks/b.png is a colour image" in errors
    assert "labelmap.txt" in errors
    assert "mask masks/c.png has class ids not in classes.json: id 7 ×5 px" in errors
    assert any("no validation samples" in w for w in rep.warnings)


def test_labelme_label_missing_from_labels_txt(tmp_path):
    photo(tmp_path / "a.jpg", 10, 10)
    shapes = [{"label": "moss", "points": [[0, 0], [5, 0], [5, 5]], "shape_type": "polygon"}]
    (tmp_path / "a.json").write_text(
        json.dumps({"shapes": shapes, "imagePath": "a.jpg", "imageHeight": 10, "imageWidth": 10})
    )
    (tmp_path / "labels.txt").write_text("__ignore__\n_background_\nrock\n")
    rep = check_dataset(open_dataset(tmp_path))
    assert any("labelme file a.json has labels not in labels.txt: 'moss'" in e for e in rep.errors)


def test_all_background_masks_warn(tmp_path):
    (tmp_path / "labelmap.txt").write_text(LABELMAP)
    for n in ("a", "b"):
        photo(tmp_path / "images" / f"{n}.png")
        save(tmp_path / "masks" / f"{n}.png", np.zeros((H, W, 3), np.uint8))
    rep = check_dataset(open_dataset(tmp_path))
    assert rep.ok
    assert any("every mask is only class 0" in w for w in rep.warnings)
