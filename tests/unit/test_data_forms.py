"""open_dataset on a tiny real dataset of every form (written as real files in tmp dirs)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from segtool.base.errors import UserInputError
from segtool.training.data import CAMVID_CLASSES, check_dataset, open_dataset
from segtool.training.data.classes import voc_color

H, W = 6, 8
ROCK = (250, 50, 83)
LABELMAP = "# label:color_rgb:parts:actions\nbackground:0,0,0::\nrocks:250,50,83::\n"


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    # Zips extract into the segtool cache; keep it inside the test's tmp dir.
    monkeypatch.setenv("SEGTOOL_CACHE", str(tmp_path / "cache"))


def ids_mask(seed: int = 0, n: int = 3) -> np.ndarray:
    ids = np.zeros((H, W), np.uint8)
    ids[:, seed % W :] = 1
    ids[0, :] = n - 1
    return ids


def colour_of(ids: np.ndarray, colours) -> np.ndarray:
    return np.asarray(colours, np.uint8)[ids]


def save(path: Path, arr: np.ndarray, mode: str | None = None, palette: list[int] | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    im = Image.fromarray(arr)
    if palette is not None:
        im = im.convert("P") if im.mode != "P" else im
        im.putpalette(palette)
    im.save(path)
    return path


def photo(path: Path, h: int = H, w: int = W) -> Path:
    rng = np.random.default_rng(len(path.name))
    return save(path, rng.integers(0, 255, (h, w, 3), np.uint8))


def test_folder_indexed_with_names_and_seeded_split(tmp_path):
    for i in range(5):
        photo(tmp_path / "images" / f"{i}.jpg")
        save(tmp_path / "masks" / f"{i}.png", ids_mask(i))
    (tmp_path / "classes.json").write_text(json.dumps(["background", "rock", "sky"]))
    data = open_dataset(tmp_path)
    assert data.form == "folder"
    assert data.class_names == ["background", "rock", "sky"]
    assert len(data.samples) == 5
    assert [s.split for s in data.samples].count("val") == 1  # 20% of 5
    assert "seeded random split (seed 0" in data.split_note
    assert "4 train / 1 val" in data.split_note
    np.testing.assert_array_equal(data.load_mask(data.samples[2]), ids_mask(2))
    img = data.load_image(data.samples[0])
    assert img.shape == (H, W, 3)
    assert img.dtype == np.uint8
    # The same seed gives the same split; the split is part of what a run must reproduce.
    again = open_dataset(tmp_path, seed=0)
    assert [s.split for s in again.samples] == [s.split for s in data.samples]
    none_val = open_dataset(tmp_path, val_fraction=0.0)
    assert {s.split for s in none_val.samples} == {"train"}


def test_folder_indexed_without_class_file_names_ids(tmp_path):
    for i in range(2):
        photo(tmp_path / "images" / f"{i}.png")
        save(tmp_path / "masks" / f"{i}.png", ids_mask(i, n=4))
    data = open_dataset(tmp_path)
    assert data.class_names == ["class0", "class1", "class2", "class3"]
    assert any("classes.json" in w for w in data.warnings)


def test_folder_colour_with_labelmap_and_split_folders(tmp_path):
    for split, names in (("train", ["a", "b"]), ("val", ["c"])):
        for n in names:
            photo(tmp_path / split / "images" / f"{n}.jpeg")
            save(tmp_path / split / "masks" / f"{n}.png", colour_of(ids_mask(2, n=2), [(0, 0, 0), ROCK]))
    (tmp_path / "labelmap.txt").write_text(LABELMAP)
    data = open_dataset(tmp_path)
    assert data.form == "folder"
    assert data.coding.kind == "color"
    assert [(c.name, c.color) for c in data.classes] == [("background", (0, 0, 0)), ("rocks", ROCK)]
    assert [s.split for s in data.samples] == ["train", "train", "val"]
    assert "split from folders train/ and val/: 2 train / 1 val" in data.split_note
    np.testing.assert_array_equal(data.load_mask(data.samples[0]), ids_mask(2, n=2))


def test_colour_folder_without_labelmap_asks_for_one(tmp_path):
    photo(tmp_path / "images" / "1.jpeg")
    save(tmp_path / "masks" / "1.png", colour_of(ids_mask(3, n=2), [(0, 0, 0), ROCK]))
    with pytest.raises(UserInputError) as exc:
        open_dataset(tmp_path)
    msg = str(exc.value)
    assert "labelmap.txt" in msg
    assert "(250, 50, 83)" in msg
    assert "background:0,0,0::" in msg
    # A class file kept elsewhere (the data folder may be read-only) works as well.
    lm = tmp_path.parent / f"{tmp_path.name}-labelmap.txt"
    lm.write_text(LABELMAP)
    data = open_dataset(tmp_path, classes=lm)
    np.testing.assert_array_equal(data.load_mask(data.samples[0]), ids_mask(3, n=2))


def test_binary_0_255_masks_without_classes_are_refused(tmp_path):
    photo(tmp_path / "images" / "1.png")
    save(tmp_path / "masks" / "1.png", (ids_mask(3, n=2) * 255).astype(np.uint8))
    with pytest.raises(UserInputError, match="classes.json"):
        open_dataset(tmp_path)
    cj = tmp_path / "classes.json"
    cj.write_text(
        json.dumps([{"name": "background", "color": [0, 0, 0]}, {"name": "obj", "color": [255, 255, 255]}])
    )
    data = open_dataset(tmp_path)  # grey L masks read as colours (255,255,255) → obj
    np.testing.assert_array_equal(data.load_mask(data.samples[0]), ids_mask(3, n=2))


def test_palette_and_id_masks_in_a_colour_dataset(tmp_path):
    pal = [0, 0, 0, *ROCK] + [0] * (254 * 3)
    photo(tmp_path / "images" / "p.png")
    save(tmp_path / "masks" / "p.png", ids_mask(1, n=2), palette=pal)  # palette PNG: colours via palette
    photo(tmp_path / "images" / "i.png")
    save(tmp_path / "masks" / "i.png", ids_mask(2, n=2))  # grey PNG holding ids 0/1
    (tmp_path / "labelmap.txt").write_text(LABELMAP)
    data = open_dataset(tmp_path)
    by = {s.image.stem: s for s in data.samples}
    np.testing.assert_array_equal(data.load_mask(by["p"]), ids_mask(1, n=2))
    np.testing.assert_array_equal(data.load_mask(by["i"]), ids_mask(2, n=2))


def _cvat_zip(path: Path, names: list[str], subsets: dict[str, list[str]], with_images: bool) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("labelmap.txt", LABELMAP)
        for subset, members in subsets.items():
            zf.writestr(f"ImageSets/Segmentation/{subset}.txt", "\n".join(members) + "\n")
        for i, n in enumerate(names):
            tmp = path.parent / f"_m{n}.png"
            save(tmp, colour_of(ids_mask(i, n=2), [(0, 0, 0), ROCK]))
            zf.write(tmp, f"SegmentationClass/{n}.png")
            zf.write(tmp, f"SegmentationObject/{n}.png")
            if with_images:
                photo(path.parent / f"_i{n}.jpg")
                zf.write(path.parent / f"_i{n}.jpg", f"JPEGImages/{n}.jpg")
    return path


def test_cvat_zip_with_images_and_subsets(tmp_path):
    z = _cvat_zip(tmp_path / "task export.zip", ["1", "2", "3"], {"train": ["1", "2"], "val": ["3"]}, True)
    data = open_dataset(z)
    assert data.form == "cvat"
    assert data.source == z
    assert [(s.image.name, s.split) for s in data.samples] == [
        ("1.jpg", "train"),
        ("2.jpg", "train"),
        ("3.jpg", "val"),
    ]
    assert "ImageSets" in data.split_note
    np.testing.assert_array_equal(data.load_mask(data.samples[1]), ids_mask(1, n=2))
    assert open_dataset(z).root == data.root  # extracted once, reused


def test_cvat_zip_without_images_uses_images_folder_split(tmp_path):
    z = _cvat_zip(tmp_path / "export.zip", ["1", "2", "3", "4"], {"default": ["1", "2", "3", "4"]}, False)
    with pytest.raises(UserInputError, match="--images"):
        open_dataset(z)
    imgs = tmp_path / "photos"
    for n in ("1", "2", "3"):
        photo(imgs / "train" / "images" / f"{n}.jpeg")
    photo(imgs / "val" / "images" / "4.jpeg")
    save(imgs / "val" / "masks" / "4.png", np.zeros((H, W), np.uint8))  # masks beside images are skipped
    data = open_dataset(z, images=imgs)
    assert {s.image.stem: s.split for s in data.samples} == {
        "1": "train",
        "2": "train",
        "3": "train",
        "4": "val",
    }
    assert "3 train / 1 val" in data.split_note
    # Only the train folder given: 4.png has no image → listed as unmatched, split is seeded.
    part = open_dataset(z, images=imgs / "train" / "images")
    assert [p.name for p in part.unmatched_masks] == ["4.png"]
    assert len(part.samples) == 3


def test_voc_palette_masks_with_void_border(tmp_path):
    pal = [c for i in range(256) for c in voc_color(i)]
    for n in ("a", "b", "c"):
        photo(tmp_path / "JPEGImages" / f"{n}.jpg")
        m = ids_mask(1, n=3)
        m[-1, :] = 255  # VOC object borders
        m[2, 2] = 15  # person
        save(tmp_path / "SegmentationClass" / f"{n}.png", m, palette=pal)
    sets = tmp_path / "ImageSets" / "Segmentation"
    sets.mkdir(parents=True)
    (sets / "train.txt").write_text("a\nb\n")
    (sets / "val.txt").write_text("c\n")
    (sets / "trainval.txt").write_text("a\nb\nc\n")
    data = open_dataset(tmp_path)
    assert data.form == "voc"
    assert data.num_classes == 21
    assert data.class_names[15] == "person"
    assert [s.split for s in data.samples] == ["train", "train", "val"]
    ids = data.load_mask(data.samples[0])
    assert (ids[-1] == 255).all()
    assert ids[2, 2] == 15
    assert ids[0, 0] == 2


def test_labelme_polygons(tmp_path):
    photo(tmp_path / "img1.jpg", 20, 30)
    photo(tmp_path / "unlabelled.jpg", 20, 30)
    shapes = [
        {"label": "rock", "points": [[2, 2], [12, 2], [12, 12], [2, 12]], "shape_type": "polygon"},
        {"label": "sky", "points": [[20, 0], [29, 5]], "shape_type": "rectangle"},
        {"label": "__ignore__", "points": [[0, 15], [5, 15], [5, 19], [0, 19]], "shape_type": "polygon"},
        {"label": "rock", "points": [[1, 1]], "shape_type": "point"},
    ]
    doc = {"shapes": shapes, "imagePath": "img1.jpg", "imageHeight": 20, "imageWidth": 30, "imageData": None}
    (tmp_path / "img1.json").write_text(json.dumps(doc))
    data = open_dataset(tmp_path)
    assert data.form == "labelme"
    assert data.class_names == ["background", "rock", "sky"]
    assert [p.name for p in data.unmatched_images] == ["unlabelled.jpg"]
    assert any("point" in w for w in data.warnings)
    ids = data.load_mask(data.samples[0])
    assert ids.shape == (20, 30)
    assert ids[7, 7] == 1
    assert ids[2, 25] == 2
    assert ids[17, 2] == 255
    assert ids[19, 29] == 0
    assert ids[2, 2] == 1  # polygon edges painted, as labelme does
    assert ids[12, 12] == 1
    (tmp_path / "labels.txt").write_text("__ignore__\n_background_\nsky\nrock\n")
    ordered = open_dataset(tmp_path)
    assert ordered.class_names == ["background", "sky", "rock"]
    assert ordered.load_mask(ordered.samples[0])[7, 7] == 2


def test_camvid_layout(tmp_path):
    for split, names in (("train", ["f1", "f2"]), ("val", ["f3"])):
        for n in names:
            photo(tmp_path / split / f"{n}.png")
            m = ids_mask(1, n=11)
            m[3, :] = 11  # unlabelled
            save(tmp_path / f"{split}annot" / f"{n}.png", m)
    data = open_dataset(tmp_path)
    assert data.form == "camvid"
    assert [c.name for c in data.classes] == [c.name for c in CAMVID_CLASSES]
    assert [s.split for s in data.samples] == ["train", "train", "val"]
    ids = data.load_mask(data.samples[0])
    assert (ids[3] == 255).all()
    assert ids[0, 0] == 10
    assert check_dataset(data).ok


@pytest.mark.parametrize("entry", ["../evil.txt", "a/../../evil.txt", "/abs/evil.txt"])
def test_zip_with_escaping_entry_is_refused(tmp_path, entry):
    z = tmp_path / "bad.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("labelmap.txt", LABELMAP)
        zf.writestr(entry, "x")
    with pytest.raises(UserInputError, match="refusing to extract") as exc:
        open_dataset(z)
    assert entry in str(exc.value)
    assert not (tmp_path / "evil.txt").exists()
    assert not (tmp_path.parent / "evil.txt").exists()
    assert not list((tmp_path / "cache").rglob("evil.txt"))


def test_unknown_layout_and_missing_path(tmp_path):
    (tmp_path / "stuff").mkdir()
    (tmp_path / "readme.md").write_text("hi")
    with pytest.raises(UserInputError, match="cannot tell the dataset layout.*accepted layouts"):
        open_dataset(tmp_path)
    with pytest.raises(UserInputError, match="does not exist"):
        open_dataset(tmp_path / "nope")
    with pytest.raises(UserInputError, match="not a zip"):
        open_dataset(tmp_path / "readme.md")


def test_split_subfolders_inside_images_and_masks(tmp_path):
    for split, n in (("train", "a"), ("train", "b"), ("val", "c")):
        photo(tmp_path / "images" / split / f"{n}.png")
        save(tmp_path / "masks" / split / f"{n}.png", ids_mask(1, n=2))
    data = open_dataset(tmp_path)
    assert [(s.image.name, s.split) for s in data.samples] == [
        ("a.png", "train"),
        ("b.png", "train"),
        ("c.png", "val"),
    ]


def test_exif_rotated_photo_is_compared_upright(tmp_path):
    im = Image.fromarray(np.zeros((W, H, 3), np.uint8))  # stored landscape-rotated: W rows × H cols
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° CW to display"
    (tmp_path / "images").mkdir()
    im.save(tmp_path / "images" / "p.jpg", exif=exif)
    save(tmp_path / "masks" / "p.png", ids_mask(1, n=2))  # the mask is drawn on the upright photo: H × W
    (tmp_path / "classes.json").write_text(json.dumps(["background", "rock"]))
    data = open_dataset(tmp_path)
    assert data.load_image(data.samples[0]).shape == (H, W, 3)
    assert check_dataset(data).ok


def test_indexed_classes_json_with_names_but_no_colours_gets_the_default_palette(tmp_path):
    """`[{"name": "background"}, {"name": "rock"}]` was refused ("must have 'name' and 'color'")."""
    for i in range(3):
        photo(tmp_path / "images" / f"{i}.jpg")
        save(tmp_path / "masks" / f"{i}.png", ids_mask(i))
    (tmp_path / "classes.json").write_text(
        json.dumps([{"name": "background"}, {"name": "rock"}, {"name": "sky"}])
    )
    data = open_dataset(tmp_path)
    assert data.class_names == ["background", "rock", "sky"]
    assert [c.color for c in data.classes] == [voc_color(0), voc_color(1), voc_color(2)]
    assert check_dataset(data).ok
    # one colour given, the others filled in
    (tmp_path / "classes.json").write_text(
        json.dumps([{"name": "background"}, {"name": "rock", "color": [250, 50, 83]}, {"name": "sky"}])
    )
    assert [c.color for c in open_dataset(tmp_path).classes] == [voc_color(0), (250, 50, 83), voc_color(2)]


def test_cut_labelme_json_is_an_error_like_a_damaged_mask(tmp_path, capsys):
    """A labelme JSON cut off mid-way must stop training (as a damaged mask PNG does), not drop its image."""
    from segtool.cli import main

    shapes = [{"label": "rock", "points": [[2, 2], [12, 2], [12, 12], [2, 12]], "shape_type": "polygon"}]
    for name in ("good", "cut"):
        photo(tmp_path / f"{name}.jpg", 20, 30)
        text = json.dumps({"shapes": shapes, "imagePath": f"{name}.jpg", "imageHeight": 20, "imageWidth": 30})
        (tmp_path / f"{name}.json").write_text(text if name == "good" else text[: len(text) // 2])
    data = open_dataset(tmp_path)
    assert sorted(s.image.name for s in data.samples) == ["cut.jpg", "good.jpg"]  # not silently dropped
    report = check_dataset(data)
    assert not report.ok
    assert any("cut.json" in e for e in report.errors)
    with pytest.raises(UserInputError) as e:
        report.raise_for_errors()
    first = str(e.value).splitlines()[0]
    assert "cannot read labelme file" in first
    assert "cut.json" in first
    assert "fix or remove it" in first
    assert main(["train", "--check", str(tmp_path), "-q"]) == 2
    assert "NOT OK" in capsys.readouterr().out
