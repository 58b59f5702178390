"""Training end to end on a tiny real dataset: outputs, resume exactness, Ctrl-C, divergence, refusal."""

from __future__ import annotations

import csv
import json
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from segtool.base.errors import UserInputError
from segtool.cli import main
from segtool.models import load_checkpoint
from segtool.training.engine import TrainingDiverged
from segtool.training.trainer import train
from tests.helpers import TINY_DATA_SIZE as SIZE
from tests.helpers import Recorder, make_dataset, tiny_config


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    return make_dataset(tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="module")
def finished_run(dataset, tmp_path_factory):
    """An uninterrupted 2-epoch run (the reference for the resume test)."""
    out = tmp_path_factory.mktemp("runs") / "full"
    rec = Recorder()
    result = train(tiny_config(dataset, out), events=rec)
    return out, result, rec


def state_dict_of(path: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(path).state_dict


def test_run_writes_checkpoints_history_config_report(finished_run, dataset):
    out, result, rec = finished_run
    assert result.stopped is None
    assert result.epochs_done == 2
    assert {p.name for p in out.iterdir()} >= {
        "last.pt",
        "best.pt",
        "history.csv",
        "config.json",
        "report.json",
    }
    rows = list(csv.DictReader((out / "history.csv").open()))
    assert [r["epoch"] for r in rows] == ["1", "2"]
    assert list(rows[0]) == ["epoch", "train_loss", "val_loss", "miou", "pixel_accuracy", "lr", "seconds"]
    assert all(float(r["train_loss"]) > 0 and 0 <= float(r["miou"]) <= 1 for r in rows)
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["backbone"] == "resnet18"
    assert cfg["epochs"] == 2
    assert cfg["data"] == str(dataset)
    report = json.loads((out / "report.json").read_text())
    assert set(report) >= {
        "miou",
        "pixel_accuracy",
        "mean_accuracy",
        "per_class_iou",
        "confusion_matrix",
        "classes",
        "images",
    }
    assert report["images"] == 1
    assert report["classes"] == ["background", "rock"]
    assert (
        sum(map(sum, report["confusion_matrix"])) == SIZE * SIZE
    )  # full-resolution labels of the one val image

    best = load_checkpoint(out / "best.pt")
    assert best.class_names == ["background", "rock"]
    assert best.config.backbone == "resnet18"
    assert best.preprocess["resize_short"] == SIZE
    assert best.train["metrics"]["miou"] == report["miou"]
    assert best.train["epochs"] == report["epoch"]
    assert set(best.train) >= {"dataset", "epochs", "metrics", "config", "seconds"}
    assert set(best.train["metrics"]["per_class_iou"]) == {"background", "rock"}
    # last.pt: a normal checkpoint plus resume state, all loadable without unpickling code
    raw = torch.load(out / "last.pt", weights_only=True)
    assert raw["train"]["epochs"] == 2
    assert raw["resume"]["epoch"] == 2
    assert raw["resume"]["step"] == 0
    assert set(raw["resume"]) >= {"optimizer", "scheduler", "rng", "best_miou", "history"}
    # events in order: start, epoch 1 (2 steps), epoch 2, end
    kinds = [e[0] for e in rec.events]
    assert kinds == [
        "start",
        "epoch_start",
        "batch",
        "batch",
        "epoch_end",
        "epoch_start",
        "batch",
        "batch",
        "epoch_end",
        "end",
    ]


def test_ctrl_c_saves_last_and_resume_matches_uninterrupted_run(finished_run, dataset, tmp_path):
    """Ctrl-C (KeyboardInterrupt from a callback) mid-epoch 2 writes last.pt; --resume then ends with
    exactly the weights and history of the uninterrupted run (same seed, CPU)."""
    full_dir = finished_run[0]
    out = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        train(tiny_config(dataset, out), events=Recorder(stop_at=(2, 1)))
    raw = torch.load(out / "last.pt", weights_only=True)
    assert (raw["resume"]["epoch"], raw["resume"]["step"]) == (1, 1)  # epoch 2 (0-based 1), one step done

    with pytest.raises(UserInputError, match="--resume"):  # an existing run is never overwritten
        train(tiny_config(dataset, out))
    rec = Recorder()
    result = train(tiny_config(dataset, out), resume=True, events=rec)
    assert result.stopped is None
    assert result.epochs_done == 2
    assert [e for e in rec.events if e[0] == "batch"][0][1:3] == (2, 2)  # continued at epoch 2, step 2
    a, b = state_dict_of(full_dir / "last.pt"), state_dict_of(out / "last.pt")
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    full_rows = list(csv.DictReader((full_dir / "history.csv").open()))
    rows = list(csv.DictReader((out / "history.csv").open()))
    assert [(r["epoch"], r["train_loss"], r["miou"]) for r in rows] == [
        (r["epoch"], r["train_loss"], r["miou"]) for r in full_rows
    ]


def test_cancel_event_stops_after_the_step_and_saves_last(dataset, tmp_path):
    """The GUI's cancel: the run returns "cancelled" (no exception) with a resumable last.pt."""
    cancel = threading.Event()
    rec = Recorder(stop_at=(1, 1), cancel=cancel, how="cancel")
    result = train(tiny_config(dataset, tmp_path / "run", epochs=1), events=rec, cancel=cancel)
    assert result.stopped == "cancelled"
    assert result.epochs_done == 0
    assert [e[0] for e in rec.events] == ["start", "epoch_start", "batch", "end"]
    raw = torch.load(tmp_path / "run" / "last.pt", weights_only=True)
    assert (raw["resume"]["epoch"], raw["resume"]["step"]) == (0, 1)
    assert raw["train"]["epochs"] == 0


def test_non_finite_loss_stops_with_message(dataset, tmp_path):
    with pytest.raises(TrainingDiverged, match=r"loss became .* Lower --lr"):
        train(tiny_config(dataset, tmp_path / "run", lr=1e30, epochs=1, warmup_iters=0))


def test_refuses_too_few_images_for_a_batch(dataset, tmp_path):
    with pytest.raises(UserInputError, match="--batch-size 4"):
        train(tiny_config(dataset, tmp_path / "run", batch_size=5))


def test_check_reports_and_training_refuses_a_broken_dataset(tmp_path, capsys):
    data = make_dataset(tmp_path / "data", n_train=2)
    bad = np.zeros((SIZE, SIZE), np.uint8)
    bad[:4, :4] = 7  # not a class id
    Image.fromarray(bad).save(data / "train" / "masks" / "train1.png")
    assert main(["train", "--check", str(data), "-q"]) == 2
    text = capsys.readouterr().out
    assert "train/masks/train1.png" in text
    assert "id 7" in text
    assert "NOT OK" in text

    assert main(["train", str(data), "-o", str(tmp_path / "run"), "--device", "cpu", "-q"]) == 2
    err = capsys.readouterr().err
    assert "train1.png" in err
    assert "--check" in err
    assert not (tmp_path / "run" / "last.pt").exists()


def test_check_ok_dataset_exits_0(dataset, capsys):
    # --batch-size 2: with the default 8, 4 images cannot make one step, and the check says so (issue 19)
    assert main(["train", "--check", str(dataset), "-q", "--batch-size", "2"]) == 0
    out = capsys.readouterr().out
    assert "OK: ready to train" in out
    assert "4 train / 1 val" in out


def test_cli_usage_errors(dataset, tmp_path, capsys):
    assert main(["train", str(dataset)]) == 2
    assert "-o RUN" in capsys.readouterr().err
    assert main(["train", str(dataset), "-o", str(tmp_path / "r"), "--crop-size", "8"]) == 2
    assert "--crop-size" in capsys.readouterr().err
    assert main(["train", str(dataset), "-o", str(tmp_path / "r"), "--resume"]) == 2
    assert "no run to continue" in capsys.readouterr().err


def test_checkpoint_start_records_the_network_it_trains(finished_run, dataset, tmp_path):
    """--init CKPT with the default --backbone: config.json, last.pt and best.pt name the checkpoint's network."""
    from segtool.core.runs import read_run

    out, _, _ = finished_run  # a resnet18 run
    run = tmp_path / "from_ckpt"
    train(
        tiny_config(dataset, run, init=str(out / "best.pt"), backbone="resnet50", output_stride=8, epochs=1)
    )
    cfg = json.loads((run / "config.json").read_text())
    assert (cfg["backbone"], cfg["output_stride"]) == ("resnet18", 16)
    assert load_checkpoint(run / "best.pt").train["config"]["backbone"] == "resnet18"
    assert read_run(run).backbone == "resnet18 /16"  # what the Runs view shows
