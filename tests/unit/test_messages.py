"""Every bad input gets exit 2 and a message that names the value and the fix (no traceback)."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from segtool.base.errors import CheckpointError, UserInputError
from segtool.cli import main
from segtool.models import load_checkpoint, save_checkpoint
from segtool.models.classes import check_color
from segtool.training.data.classes import read_class_file


def test_plain_tensor_or_foreign_dict_says_use_import_weights(tmp_path, capsys):
    torch.save(torch.zeros(3, 4), tmp_path / "tensor.pt")
    torch.save({"epoch": 3, "note": "x"}, tmp_path / "other.pt")
    for name, what in (
        ("tensor.pt", "a single tensor of shape [3, 4]"),
        ("other.pt", "keys 'epoch', 'note'"),
    ):
        with pytest.raises(CheckpointError) as e:
            load_checkpoint(tmp_path / name)
        assert what in str(e.value)
        assert f"segtool import-weights {tmp_path / name}" in str(e.value)
    assert main(["info", str(tmp_path / "tensor.pt")]) == 2
    err = capsys.readouterr().err
    assert "import-weights" in err
    assert "Traceback" not in err


def test_weights_that_do_not_fit_name_the_file_and_first_tensor(small_checkpoint, tmp_path):
    ck = load_checkpoint(small_checkpoint[0])
    sd = dict(ck.state_dict)
    key = "classifier.4.weight"
    sd[key] = sd[key][:1]  # one output instead of two
    bad = tmp_path / "edited.pt"
    save_checkpoint(dataclasses.replace(ck, state_dict=sd), bad)
    with pytest.raises(CheckpointError) as e:
        load_checkpoint(bad).build_model()
    first = str(e.value).splitlines()[0]
    assert str(bad) in first
    assert f"first mismatch: {key} is [1," in first
    assert "import-weights" in first


@pytest.mark.parametrize(
    ("text", "expected"),
    [("bg:0,0,0::\nrock:300,0,-5::\n", "has 300, -5 outside 0-255"), ("bg:0,0::\n", "three whole numbers")],
)
def test_labelmap_colour_out_of_range_names_value_and_fix(tmp_path, text, expected):
    p = tmp_path / "labelmap.txt"
    p.write_text(text)
    with pytest.raises(UserInputError) as e:
        read_class_file(p)
    assert expected in str(e.value)
    assert "0-255" in str(e.value)


def test_classes_json_colour_out_of_range(tmp_path):
    p = tmp_path / "classes.json"
    p.write_text(json.dumps([{"name": "bg", "color": [0, 0, 0]}, {"name": "rock", "color": [256, 0, 0]}]))
    with pytest.raises(
        UserInputError, match=r"class 1: colour '256,0,0' has 256 outside 0-255.*e\.g\. 255,0,0"
    ):
        read_class_file(p)
    with pytest.raises(UserInputError, match=r"\(999 outside 0-255\); write it like"):
        check_color([999, 0, 0], "class rock")
