"""Checkpoints: round trip, atomic writes, and every bad input refused with a clear message."""

from __future__ import annotations

import os
import pickle

import pytest
import torch

from segtool.models import (
    Checkpoint,
    CheckpointError,
    UserInputError,
    load_checkpoint,
    make_classes,
    save_checkpoint,
)
from segtool.models.checkpoint import FORMAT


def test_round_trip_rebuilds_the_same_model(small_checkpoint):
    path, model = small_checkpoint
    ckpt = load_checkpoint(path)
    assert ckpt.config == model.config
    assert ckpt.class_names == ["background", "rock"]
    assert ckpt.classes[1]["color"] == [250, 50, 83]
    assert ckpt.train["metrics"]["per_class_iou"]["rock"] is None
    rebuilt = ckpt.build_model()
    x = torch.randn(1, 3, 72, 64)
    with torch.no_grad():
        assert torch.equal(rebuilt(x)["out"], model(x)["out"])
    raw = torch.load(path, weights_only=True)  # plain types and tensors only
    assert raw["format"] == FORMAT
    assert raw["version"] == 1
    assert raw["model"]["backbone"] == "mobilenet_v3_large"


def test_save_is_atomic_and_keeps_the_old_file_on_failure(small_checkpoint, tmp_path):
    path, _ = small_checkpoint
    ckpt = load_checkpoint(path)
    target = tmp_path / "model.pt"
    save_checkpoint(ckpt, target)
    before = target.read_bytes()
    ckpt.train = {"callback": lambda: None}  # cannot be serialised: the save fails mid-way
    with pytest.raises((pickle.PicklingError, AttributeError, TypeError)):
        save_checkpoint(ckpt, target)
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.pt"]  # no temporary file left behind


def test_save_into_missing_folder_is_explained(small_checkpoint, tmp_path):
    ckpt = load_checkpoint(small_checkpoint[0])
    with pytest.raises(UserInputError, match="does not exist"):
        save_checkpoint(ckpt, tmp_path / "nope" / "model.pt")


def test_class_count_must_match_outputs(small_checkpoint, tmp_path):
    ckpt = load_checkpoint(small_checkpoint[0])
    ckpt.classes = make_classes(["a", "b", "c"])
    with pytest.raises(UserInputError, match="3 classes named but the model has 2 outputs"):
        save_checkpoint(ckpt, tmp_path / "x.pt")


def test_text_file_is_not_a_checkpoint(tmp_path):
    p = tmp_path / "notes.pt"
    p.write_text("hello")
    with pytest.raises(CheckpointError, match="not a PyTorch file"):
        load_checkpoint(p)


def test_zero_byte_and_truncated_files(small_checkpoint, tmp_path):
    empty = tmp_path / "empty.pt"
    empty.touch()
    with pytest.raises(CheckpointError, match="empty"):
        load_checkpoint(empty)
    data = small_checkpoint[0].read_bytes()
    cut = tmp_path / "cut.pt"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated"):
        load_checkpoint(cut)


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("writer", ["torch", "pickle"])
def test_code_executing_pickle_is_refused_never_run(tmp_path, writer):
    marker = tmp_path / "pwned"
    p = tmp_path / "evil.pt"
    payload = {"format": FORMAT, "version": 1, "x": _Evil(marker)}
    if writer == "torch":
        torch.save(payload, p)
    else:
        p.write_bytes(pickle.dumps(payload, protocol=2))
    with pytest.raises(CheckpointError, match="refused"):
        load_checkpoint(p)
    assert not marker.exists()


def test_plain_state_dict_points_to_import_weights(tmp_path):
    p = tmp_path / "weights.pth"
    torch.save({"backbone.conv1.weight": torch.zeros(1)}, p)
    with pytest.raises(CheckpointError, match="segtool import-weights"):
        load_checkpoint(p)


def _with(path, tmp_path, **changes):
    obj = torch.load(path, weights_only=True)
    for k, v in changes.items():
        obj[k] = v
    out = tmp_path / "edited.pt"
    torch.save(obj, out)
    return out


def test_unknown_backbone_in_checkpoint(small_checkpoint, tmp_path):
    model = dict(load_checkpoint(small_checkpoint[0]).config.to_dict(), backbone="efficientnet_b9")
    with pytest.raises(CheckpointError, match="unknown backbone 'efficientnet_b9'"):
        load_checkpoint(_with(small_checkpoint[0], tmp_path, model=model))


def test_newer_version_asks_to_upgrade(small_checkpoint, tmp_path):
    with pytest.raises(CheckpointError, match="upgrade segtool"):
        load_checkpoint(_with(small_checkpoint[0], tmp_path, version=2))


def test_weights_that_do_not_fit_the_stored_config(small_checkpoint, tmp_path):
    model = dict(load_checkpoint(small_checkpoint[0]).config.to_dict(), backbone="resnet18", width_mult=1.0)
    ckpt = load_checkpoint(_with(small_checkpoint[0], tmp_path, model=model))
    with pytest.raises(CheckpointError, match="look like a mobilenet_v3_large network"):
        ckpt.build_model()


@pytest.mark.parametrize(
    "classes,match",
    [
        (
            [{"name": "rock", "color": [1, 2, 3]}, {"name": "Rock", "color": [4, 5, 6]}],
            "duplicate class name",
        ),
        ([{"name": "bg", "color": [0, 0]}, {"name": "rock", "color": [1, 2, 3]}], "not an RGB triple"),
        ([{"name": "bg", "color": [0, 0, 300]}, {"name": "rock", "color": [1, 2, 3]}], "not an RGB triple"),
        ([{"name": "", "color": [0, 0, 0]}, {"name": "rock", "color": [1, 2, 3]}], "has no name"),
    ],
)
def test_bad_class_lists(small_checkpoint, tmp_path, classes, match):
    with pytest.raises(CheckpointError, match=match):
        load_checkpoint(_with(small_checkpoint[0], tmp_path, classes=classes))


def test_classes_without_colours_load_but_are_reported(small_checkpoint, tmp_path):
    classes = [{"name": "background"}, {"name": "rock"}]
    ckpt = load_checkpoint(_with(small_checkpoint[0], tmp_path, classes=classes))
    assert [c["color"] for c in ckpt.classes] == [None, None]


def test_checkpoint_dataclass_defaults(small_checkpoint):
    ckpt = load_checkpoint(small_checkpoint[0])
    c2 = Checkpoint(config=ckpt.config, classes=ckpt.classes, state_dict=ckpt.state_dict)
    assert c2.preprocess["resize_short"] == 520
    assert c2.ignore_index == 255
