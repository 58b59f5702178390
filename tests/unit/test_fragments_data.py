"""Fragment outlines as training data: instance PNGs and COCO → background / rock / rock_edge; the
checkpoint's `fragments` entry."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from segtool.base.errors import CheckpointError, UserInputError
from segtool.models import load_checkpoint, save_checkpoint
from segtool.models.checkpoint import Checkpoint
from segtool.training.data import open_dataset
from segtool.training.data.instances import InstanceOptions, edge_band, instances_to_classes, rle_decode
from segtool.training.trainer import fragments_entry


def _squares() -> np.ndarray:
    inst = np.zeros((20, 30), np.uint16)
    inst[2:12, 2:12] = 1
    inst[2:12, 12:22] = 2  # touches fragment 1
    inst[14:20, 24:30] = 3  # cut by the image border
    return inst


def test_edge_band_inside_every_outline_not_along_the_image_border():
    inst = _squares()
    e = edge_band(inst, 1)
    assert e[2, 5]  # outline pixels, both sides of the shared side
    assert e[5, 2]
    assert e[5, 11]
    assert e[5, 12]
    assert not e[6, 6]  # interior
    assert not e[19, 27]  # along the image border: no outline there
    assert not e[16, 29]
    assert e[14, 27]
    assert e[16, 24]
    ids = instances_to_classes(inst, 2)
    assert ids[6, 6] == 1
    assert ids[3, 6] == 2
    assert ids[5, 10] == 2
    assert ids[5, 13] == 2
    assert ids[0, 0] == 0
    # fragment 1 is 10 px wide: a 2 px band leaves a 6x6 interior
    assert int((ids[2:12, 2:12] == 1).sum()) == 36
    known = np.zeros(inst.shape, bool)
    assert instances_to_classes(inst, 2, known)[0, 0] == 255


def test_instance_folder_is_detected_and_decoded(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "instances").mkdir()
    for i in range(3):
        Image.fromarray(np.full((20, 30, 3), 90 + i, np.uint8)).save(tmp_path / "images" / f"a{i}.jpg")
        Image.fromarray(_squares()).save(tmp_path / "instances" / f"a{i}.png")
    data = open_dataset(tmp_path, instances=InstanceOptions(edge_width=2))
    assert data.form == "instances"
    assert data.class_names == ["background", "rock", "rock_edge"]
    ids = data.load_mask(data.samples[0])
    assert ids.tolist() == instances_to_classes(_squares(), 2).tolist()
    assert fragments_entry("", data.form, data.class_names) == {"interior": "rock", "edge": "rock_edge"}


def _coco(tmp_path, rle=False):
    (tmp_path / "images").mkdir()
    Image.fromarray(np.zeros((20, 30, 3), np.uint8)).save(tmp_path / "images" / "p.png")
    belt = {"id": 1, "image_id": 7, "category_id": 1, "segmentation": [[0, 10, 29, 10, 29, 19, 0, 19]]}
    rock = {"id": 2, "image_id": 7, "category_id": 2, "segmentation": [[2, 2, 11, 2, 11, 8, 2, 8]]}
    if rle:  # the same 10x7 box as column-major runs: 20 rows per column
        m = np.zeros((20, 30), bool)
        m[2:9, 2:12] = True
        flat = m.T.ravel()
        counts, val, n = [], False, 0
        for v in flat:
            if v != val:
                counts.append(n)
                val, n = v, 0
            n += 1
        counts.append(n)
        rock["segmentation"] = {"size": [20, 30], "counts": counts}
    doc = {
        "images": [{"id": 7, "file_name": "../images/p.png", "width": 30, "height": 20}],
        "annotations": [belt, rock],
        "categories": [{"id": 1, "name": "belt"}, {"id": 2, "name": "rock"}],
    }
    (tmp_path / "coco.json").write_text(json.dumps(doc))
    return tmp_path / "coco.json"


@pytest.mark.parametrize("rle", [False, True])
def test_coco_polygons_and_rle_background_category_and_unknown(tmp_path, rle):
    path = _coco(tmp_path, rle)
    data = open_dataset(path, instances=InstanceOptions(edge_width=1, background_categories=("belt",)))
    assert data.form == "coco"
    ids = data.load_mask(data.samples[0])
    assert ids[5, 6] == 1  # rock interior, its outline
    assert ids[2, 6] == 2
    assert ids[15, 15] == 0  # belt polygon: labelled background
    assert ids[1, 20] == 255  # nobody labelled it
    assert int((ids == 1).sum() + (ids == 2).sum()) == 70
    with pytest.raises(UserInputError, match="no category"):
        open_dataset(path, instances=InstanceOptions(background_categories=("banda",)))


def test_rle_compressed_string():
    # a 4x4 mask with a 2x2 block at rows 1-2, cols 1-2: runs [5, 2, 2, 2, 5]; pycocotools writes it as
    # "52203" (5, 2, 2, then the last two as differences from the run two back: 0 and 3)
    m = rle_decode({"counts": [5, 2, 2, 2, 5], "size": [4, 4]}, 4, 4)
    assert m.astype(int).tolist() == [[0, 0, 0, 0], [0, 1, 1, 0], [0, 1, 1, 0], [0, 0, 0, 0]]
    assert (
        rle_decode({"counts": "52203", "size": [4, 4]}, 4, 4).astype(int).tolist() == m.astype(int).tolist()
    )


def test_checkpoint_fragments_entry_roundtrip_and_old_files(tmp_path, small_checkpoint):
    path = small_checkpoint[0]
    ck = load_checkpoint(path)
    assert ck.fragments is None  # written without one: still loads
    ck.fragments = {"interior": "rock", "edge": None}
    save_checkpoint(ck, tmp_path / "f.pt")
    assert load_checkpoint(tmp_path / "f.pt").fragments == {"interior": "rock", "edge": None}
    raw = torch.load(path, weights_only=True)
    raw.pop("fragments", None)  # a file from before the field existed
    torch.save(raw, tmp_path / "old.pt")
    assert load_checkpoint(tmp_path / "old.pt").fragments is None
    raw["fragments"] = {"interior": "granite", "edge": None}
    torch.save(raw, tmp_path / "bad.pt")
    with pytest.raises(CheckpointError, match="granite"):
        load_checkpoint(tmp_path / "bad.pt")
    with pytest.raises(UserInputError, match="--fragments"):
        fragments_entry("rock,edge", "folder", ["background", "rock"])
    assert fragments_entry("rock", "folder", ["background", "rock"]) == {"interior": "rock", "edge": None}
    assert isinstance(ck, Checkpoint)


def test_training_on_outlines_writes_the_fragments_entry(tmp_path):
    from segtool.training.trainer import train
    from tests.helpers import tiny_config

    rng = np.random.default_rng(0)
    for split, n in (("train", 4), ("val", 1)):
        for i in range(n):
            img = rng.integers(0, 90, (64, 64, 3), np.uint8)
            inst = np.zeros((64, 64), np.uint16)
            inst[8:30, 8:30] = 1
            inst[8:30, 30:52] = 2
            img[inst > 0] += 140
            for sub, arr, ext in (("images", img, ".jpg"), ("instances", inst, ".png")):
                (tmp_path / "d" / split / sub).mkdir(parents=True, exist_ok=True)
                Image.fromarray(arr).save(tmp_path / "d" / split / sub / f"{split}{i}{ext}")
    train(tiny_config(tmp_path / "d", tmp_path / "run", epochs=1, edge_width=2))
    ck = load_checkpoint(tmp_path / "run" / "last.pt")
    assert ck.class_names == ["background", "rock", "rock_edge"]
    assert ck.fragments == {"interior": "rock", "edge": "rock_edge"}
