"""--select-best: which epoch best.pt keeps (mIoU, val loss, last, or one class's IoU)."""

from __future__ import annotations

import json

import pytest
import torch

from segtool.base.errors import UserInputError
from segtool.cli import main
from segtool.models import load_checkpoint
from segtool.training.config import TrainConfig
from segtool.training.events import TrainingEvents
from segtool.training.trainer import train
from tests.helpers import make_dataset, tiny_config


class Epochs(TrainingEvents):
    def __init__(self) -> None:
        self.rows: list[dict] = []

    def on_epoch_end(self, s) -> None:
        self.rows.append(
            {
                "epoch": s.epoch,
                "miou": s.metrics["miou"],
                "rock": s.metrics["per_class_iou"]["rock"],
                "val_loss": s.val_loss,
                "is_best": s.is_best,
            }
        )


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return make_dataset(tmp_path_factory.mktemp("data"))


def first_best(rows: list[dict], key) -> int:
    best = max(key(r) for r in rows)
    return next(r["epoch"] for r in rows if key(r) == best)


@pytest.mark.parametrize(
    ("how", "key"),
    [
        ("iou:rock", lambda r: r["rock"]),
        ("loss", lambda r: -r["val_loss"]),
        ("last", lambda r: r["epoch"]),
        ("miou", lambda r: r["miou"]),
    ],
)
def test_best_pt_is_the_epoch_the_criterion_ranks_first(dataset, tmp_path, how, key):
    ev = Epochs()
    out = tmp_path / "run"
    result = train(tiny_config(dataset, out, epochs=3, select_best=how), events=ev)
    want = first_best(ev.rows, key)
    assert result.best_epoch == want
    assert result.best_miou == next(r["miou"] for r in ev.rows if r["epoch"] == want)
    report = json.loads((out / "report.json").read_text())
    assert report["epoch"] == want
    assert report["selected_by"] == how
    assert load_checkpoint(out / "best.pt").train["best_epoch"] == want
    assert [r["is_best"] for r in ev.rows].index(True) == 0  # the first epoch is always the best so far
    raw = torch.load(out / "last.pt", weights_only=True)["resume"]
    assert raw["best_epoch"] == want
    assert raw["best_score"] == key(next(r for r in ev.rows if r["epoch"] == want))


def test_resume_keeps_the_selection_score(dataset, tmp_path):
    """An interrupted iou:rock run resumed ends with the best epoch of the uninterrupted one."""
    full = train(tiny_config(dataset, tmp_path / "full", epochs=3, select_best="iou:rock"))

    class StopAfterEpoch2(TrainingEvents):
        def on_epoch_end(self, s) -> None:
            if s.epoch == 2:
                raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(
            tiny_config(dataset, tmp_path / "run", epochs=3, select_best="iou:rock"), events=StopAfterEpoch2()
        )
    resumed = train(tiny_config(dataset, tmp_path / "run"), resume=True)
    assert (resumed.best_epoch, resumed.best_miou) == (full.best_epoch, full.best_miou)


def test_select_best_validation(dataset, tmp_path):
    for bad in ("iou:", "accuracy", ""):
        with pytest.raises(UserInputError, match="--select-best"):
            TrainConfig(data="d", output="o", select_best=bad).validate()
    with pytest.raises(UserInputError, match=r"no class 'rocks'.*background, rock"):
        train(tiny_config(dataset, tmp_path / "run", select_best="iou:rocks"))
    assert not (tmp_path / "run" / "last.pt").exists()


def test_cli_select_best(dataset, tmp_path, capsys):
    out = tmp_path / "run"
    code = main(
        [
            "train",
            str(dataset),
            "-o",
            str(out),
            "--backbone",
            "resnet18",
            "--crop-size",
            "64",
            "--eval-size",
            "64",
            "--batch-size",
            "2",
            "--epochs",
            "2",
            "--select-best",
            "last",
            "--workers",
            "0",
            "--device",
            "cpu",
            "-q",
        ]
    )
    assert code == 0
    assert json.loads((out / "config.json").read_text())["select_best"] == "last"
    assert "best.pt = epoch 2 by last" in capsys.readouterr().out
    assert main(["train", str(dataset), "-o", str(tmp_path / "r2"), "--select-best", "iou:"]) == 2
    assert "--select-best" in capsys.readouterr().err


def test_random_split_replaces_the_datas_own_split(tmp_path):
    """`--random-split`: a dataset with train/ and val/ folders is split at random (seeded) instead."""
    from segtool.training.rundata import open_run_data
    from tests.helpers import make_dataset, tiny_config

    data = make_dataset(tmp_path / "data", n_train=6, n_val=2)
    own = open_run_data(tiny_config(data, tmp_path / "unused"))
    assert (len(own.train), len(own.val)) == (6, 2)
    cfg = tiny_config(data, tmp_path / "unused", random_split=True, val_fraction=0.5)
    forced = open_run_data(cfg)
    assert (len(forced.train), len(forced.val)) == (4, 4)
    assert "replaced on request by a seeded random split" in forced.train_data.split_note
    again = open_run_data(cfg)
    assert [s.image for s in again.val] == [s.image for s in forced.val]  # seeded: the same every time
