"""Each checkpoint carries how sure the model was on its own validation images (issue 20: the "model is
unsure" notice becomes per model): written by training, kept by every copy of the checkpoint (.pt, half
precision, ONNX, `segtool demo --pack`), new for a fine-tuned model, addable to an old file with
`segtool info --add-confidence-reference`, and absent from old files without breaking them."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from segtool.cli import main
from segtool.core.confidence import LOW, ConfidenceMeter, rescaled_mean
from segtool.core.engine import Engine
from segtool.core.model_file import open_model
from segtool.core.sources import load_image
from segtool.models import load_checkpoint, save_checkpoint
from segtool.models.checkpoint import FORMAT, VERSION, CheckpointError
from segtool.models.confidence import make_reference, percentile
from segtool.training.trainer import train
from tests.helpers import Recorder, make_dataset, make_fragment_checkpoint, make_small_checkpoint, tiny_config


class Messages(Recorder):
    """The run's events and its log lines."""

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def on_message(self, text: str) -> None:
        self.messages.append(text)


PARENT_REF = {"mean": 0.123, "p10": 0.1, "images": 99, "source": "validation", "data": "parent"}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    return make_dataset(tmp_path_factory.mktemp("data"), n_train=4, n_val=3)


@pytest.fixture(scope="module")
def run(dataset, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "r"
    rec = Messages()
    train(tiny_config(dataset, out, epochs=1), events=rec)
    return out, rec


def _app_values(ckpt: Path, images: list[Path]) -> list[float]:
    """What the app's meter measures on each image (Engine confidence → core's rescaled_mean)."""
    engine = Engine(ckpt, device="cpu", runtime="torch")
    return [
        rescaled_mean(engine.predict_one(load_image(str(p)), confidence=True).confidence, 2) for p in images
    ]


def test_training_stores_the_confidence_the_app_measures_on_the_validation_images(run, dataset):
    out, rec = run
    best, last = load_checkpoint(out / "best.pt"), load_checkpoint(out / "last.pt")
    ref = best.confidence_reference
    assert ref is not None
    assert ref["images"] == 3 and ref["source"] == "validation"
    assert "validation split" in ref["data"]
    assert last.confidence_reference == ref  # one epoch: the same weights in both files
    values = _app_values(out / "best.pt", sorted((dataset / "val" / "images").glob("*.png")))
    assert ref["mean"] == pytest.approx(float(np.mean(values)), abs=2e-4)  # stored rounded to 4 digits
    assert ref["p10"] == pytest.approx(float(np.percentile(values, 10)), abs=2e-4)
    assert not any("no validation images" in m for m in rec.messages)


def test_no_validation_images_means_no_reference_and_the_log_says_so(dataset, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(dataset / "train", data / "train")
    shutil.copy(dataset / "classes.json", data)
    rec = Messages()
    train(tiny_config(data, tmp_path / "r", epochs=1, val_fraction=0.0), events=rec)
    assert load_checkpoint(tmp_path / "r" / "last.pt").confidence_reference is None
    note = [m for m in rec.messages if "confidence reference" in m]
    assert note and "no validation images" in note[0] and "generic threshold" in note[0], rec.messages
    assert "--" not in note[0]  # the app's training log shows it as it is: no command-line option


def test_a_fine_tuned_model_gets_its_own_reference_not_the_parents(tmp_path):
    start = make_fragment_checkpoint(tmp_path / "start.pt", resize_short=48)
    ck = load_checkpoint(start)
    save_checkpoint(dataclasses.replace(ck, confidence_reference=PARENT_REF), start)
    data = make_dataset(tmp_path / "data", n_train=2, n_val=2, classes=("background", "rock", "rock_edge"))
    train(tiny_config(data, tmp_path / "fine", epochs=1, init=str(start), eval_size=48))
    ref = load_checkpoint(tmp_path / "fine" / "best.pt").confidence_reference
    assert ref is not None and ref != PARENT_REF
    assert ref["images"] == 2 and ref["source"] == "validation"


@pytest.fixture(scope="module")
def packed(run, tmp_path_factory) -> tuple[Path, Path]:
    """The run's last.pt through `segtool demo --pack` (float16, as the shipped models), then exported."""
    out, _ = run
    d = tmp_path_factory.mktemp("packed")
    assert main(["demo", "--pack", str(out / "last.pt"), str(d / "packed.pt")]) == 0
    assert main(["export-onnx", str(d / "packed.pt"), "-o", str(d / "m.onnx")]) == 0
    return d / "packed.pt", d / "m.onnx"


def test_reference_survives_pt_half_pack_and_onnx(run, packed):
    out, _ = run
    ref = load_checkpoint(out / "last.pt").confidence_reference
    assert ref is not None
    assert load_checkpoint(packed[0]).confidence_reference == ref  # half precision, `segtool demo --pack`
    # ONNX export: the metadata is Checkpoint.to_dict, read back by open_model
    assert open_model(packed[1]).checkpoint.confidence_reference == ref


def test_pack_with_recomputed_batchnorm_drops_the_stale_reference(run, dataset, tmp_path, capsys):
    out, _ = run
    argv = ["demo", "--pack", str(out / "last.pt"), str(tmp_path / "p.pt"), "--bn-data", str(dataset / "val")]
    assert main(argv) == 0
    assert load_checkpoint(tmp_path / "p.pt").confidence_reference is None
    assert "--add-confidence-reference" in capsys.readouterr().out


def test_old_checkpoint_without_the_entry_loads_and_the_notice_falls_back(tmp_path, capsys):
    path, _ = make_small_checkpoint(tmp_path / "new.pt")
    obj = torch.load(path, weights_only=True)
    del obj["confidence_reference"]  # as files written before the entry existed
    assert obj["format"] == FORMAT and obj["version"] == VERSION
    torch.save(obj, tmp_path / "old.pt")
    ck = load_checkpoint(tmp_path / "old.pt")
    assert ck.confidence_reference is None
    meter = ConfidenceMeter(reference=ck.confidence_reference)
    assert meter.limit == LOW
    meter.add(np.full((16, 16), 0.97, np.float32), 2)
    assert "generic threshold" in meter.text()
    assert main(["info", str(tmp_path / "old.pt")]) == 0
    assert "no reference stored" in capsys.readouterr().out


def test_a_damaged_reference_is_refused_naming_the_entry(tmp_path):
    path, _ = make_small_checkpoint(tmp_path / "m.pt")
    obj = torch.load(path, weights_only=True)
    obj["confidence_reference"] = {"mean": 1.7, "p10": 0.5, "images": 3, "source": "validation", "data": None}
    torch.save(obj, tmp_path / "bad.pt")
    with pytest.raises(
        CheckpointError, match=r"confidence_reference mean must be a number from 0 to 1; got 1.7"
    ):
        load_checkpoint(tmp_path / "bad.pt")


def test_make_reference_and_percentile_match_numpy():
    values = [0.9, 0.2, 0.55, 0.61, 0.7, 0.33, 0.8]
    assert percentile(values, 10) == pytest.approx(float(np.percentile(values, 10)))
    ref = make_reference(values, "images", "x/")
    assert ref["mean"] == pytest.approx(np.mean(values), abs=1e-4) and ref["images"] == 7
    assert make_reference([], "validation") is None
    assert make_reference([0.5, float("nan")], "validation") is None  # a diverged model's NaN output


def test_info_adds_a_reference_to_an_old_checkpoint_atomically(dataset, tmp_path, capsys):
    src, _ = make_small_checkpoint(tmp_path / "old.pt", resize_short=64)
    assert main(["demo", "--pack", str(src), str(tmp_path / "half.pt")]) == 0  # float16, as shipped
    before = (tmp_path / "half.pt").read_bytes()
    capsys.readouterr()
    argv = ["info", str(tmp_path / "half.pt"), "--add-confidence-reference", str(dataset / "val"), "-o"]
    assert main([*argv, str(tmp_path / "ref.pt")]) == 0
    printed = capsys.readouterr().out
    assert (tmp_path / "half.pt").read_bytes() == before  # the input is untouched
    ref = load_checkpoint(tmp_path / "ref.pt").confidence_reference
    values = _app_values(tmp_path / "half.pt", sorted((dataset / "val" / "images").glob("*.png")))
    assert ref["images"] == 3 and ref["source"] == "images" and ref["data"] == str(dataset / "val")
    assert ref["mean"] == pytest.approx(float(np.mean(values)), abs=2e-4)
    assert f"{ref['mean']:.3f} mean" in printed and "3 frame(s)" in printed
    raw = torch.load(tmp_path / "ref.pt", weights_only=True)
    assert any(v.dtype == torch.float16 for v in raw["state_dict"].values())  # still half precision
    assert main(["info", str(tmp_path / "ref.pt")]) == 0
    assert f"confidence   {ref['mean']:.3f} mean, {ref['p10']:.3f} 10th percentile on 3 reference" in (
        capsys.readouterr().out
    )
    assert main(["info", str(tmp_path / "ref.pt"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["confidence_reference"] == ref
    # writing over the model itself goes through a temporary name and a rename
    assert main([*argv, str(tmp_path / "half.pt")]) == 0
    assert load_checkpoint(tmp_path / "half.pt").confidence_reference == ref
    assert sorted(p.name for p in tmp_path.iterdir()) == ["half.pt", "old.pt", "ref.pt"]


@pytest.mark.parametrize(
    "folder, output, says",
    [
        ("imgs", None, "give its name with -o OUT.pt"),
        ("imgs", "x.onnx", "a checkpoint file ends in .pt"),
        ("imgs", ".", "is a folder"),
        ("empty", "x.pt", "empty"),
    ],
)
def test_info_reference_bad_input_exits_2(folder, output, says, tmp_path, monkeypatch, capsys):
    from PIL import Image

    monkeypatch.chdir(tmp_path)
    src, _ = make_small_checkpoint(tmp_path / "m.pt", resize_short=64)
    (tmp_path / "empty").mkdir()
    (tmp_path / "imgs").mkdir()
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(tmp_path / "imgs" / "a.png")
    argv = ["info", str(src), "--add-confidence-reference", str(tmp_path / folder)]
    assert main(argv + (["-o", output] if output else [])) == 2
    assert says in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == ["m.pt"]  # nothing written


def test_info_refuses_to_rewrite_an_onnx_model(packed, tmp_path, capsys):
    argv = ["info", str(packed[1]), "--add-confidence-reference", str(tmp_path), "-o", str(tmp_path / "x.pt")]
    assert main(argv) == 2
    assert "export it again" in capsys.readouterr().err
    assert not (tmp_path / "x.pt").exists()
