"""Fine-tuning from a checkpoint (`--init CKPT`) keeps what the start knew, scores the start on the same
validation frames, and a run that diverges stops and says so (issue 19)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from segtool.cli import main
from segtool.models import load_checkpoint
from segtool.training import finetune
from segtool.training.config import TrainConfig
from segtool.training.data import ValidationReport
from segtool.training.data.check import check_schedule
from segtool.training.divergence import VAL_LOSS_FACTOR, diverged
from segtool.training.engine import TrainingDiverged
from segtool.training.metrics import ConfusionMatrix, report_dict
from segtool.training.trainer import train
from tests.helpers import (
    TINY_ASPP,
    TINY_DATA_SIZE,
    TINY_WIDTH,
    make_centre_checkpoint,
    make_dataset,
    make_fragment_checkpoint,
    make_outlines,
    make_small_checkpoint,
)

START_COLOURS = [[0, 0, 0], [200, 120, 60], [255, 230, 0]]


@pytest.fixture(scope="module")
def fragment_start(tmp_path_factory) -> Path:
    """A tiny 3-class fragment model (background, rock, rock_edge) as the shipped one is made: its own
    colours (START_COLOURS), resize_short 48, a `fragments` entry."""
    return make_fragment_checkpoint(tmp_path_factory.mktemp("start") / "frag.pt", resize_short=48)


@pytest.fixture(scope="module")
def scribbles(tmp_path_factory) -> Path:
    """Names-only classes.json with the start's three classes; the edge class has no pixel (nobody can
    stroke a 3-px band): 2 training photos, 1 validation photo."""
    root = make_dataset(tmp_path_factory.mktemp("scrib"), n_train=2, n_val=1)
    (root / "classes.json").write_text(json.dumps(["background", "rock", "rock_edge"]))
    return root


def cli_train(data: Path, run: Path, *extra: str) -> int:
    return main(
        [
            "train",
            str(data),
            "-o",
            str(run),
            "--device",
            "cpu",
            "--workers",
            "0",
            "-q",
            "--batch-size",
            "2",
            "--crop-size",
            str(TINY_DATA_SIZE),
            *extra,
        ]
    )


@pytest.fixture(scope="module")
def finetuned(fragment_start, scribbles, tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("runs") / "fine"
    assert cli_train(scribbles, run, "--init", str(fragment_start), "--epochs", "1") == 0
    return run


def test_finetune_keeps_colours_preprocessing_fragments_and_names_the_real_network(finetuned):
    for name in ("best.pt", "last.pt"):
        ck = load_checkpoint(finetuned / name)
        assert [c["color"] for c in ck.classes] == START_COLOURS  # not the names-only palette's (128, 0, 0)
        assert ck.preprocess["resize_short"] == 48  # the start's, not the from-scratch 520
        assert ck.fragments == {"interior": "rock", "edge": "rock_edge"}
    cfg = json.loads((finetuned / "config.json").read_text())
    # the start's network as `segtool info` reports it, not the --width-mult / --aspp-channels defaults
    assert (cfg["width_mult"], cfg["aspp_channels"], cfg["backbone"]) == (
        TINY_WIDTH,
        TINY_ASPP,
        "mobilenet_v3_large",
    )
    # options not typed are the measured fine-tuning defaults; --epochs was typed
    assert cfg["lr"] == finetune.FINETUNE_DEFAULTS["lr"]
    assert cfg["optimizer"] == finetune.FINETUNE_DEFAULTS["optimizer"]
    assert cfg["epochs"] == 1
    assert cfg["eval_size"] == 48
    assert "epochs" not in cfg["auto"]


def test_default_frozen_backbone_keeps_weights_and_batchnorm_statistics(finetuned, fragment_start):
    """The measured default freezes the backbone: its weights and running statistics are the start's
    bit for bit, while the heads learned."""
    start, new = load_checkpoint(fragment_start).state_dict, load_checkpoint(finetuned / "best.pt").state_dict
    backbone = [k for k in start if k.startswith("backbone.")]
    assert any("running_mean" in k for k in backbone)
    assert all(torch.equal(start[k], new[k]) for k in backbone)
    assert any(not torch.equal(start[k], new[k]) for k in start if k.startswith("classifier.") and k in new)


def test_explicit_colours_and_eval_size_win_over_the_start(fragment_start, scribbles, tmp_path):
    data = tmp_path / "data"
    make_dataset(data, n_train=2, n_val=1)
    mine = [[0, 0, 0], [10, 200, 10], [0, 0, 255]]
    (data / "classes.json").write_text(
        json.dumps([{"name": n, "color": c} for n, c in zip(["background", "rock", "rock_edge"], mine)])
    )
    assert (
        cli_train(data, tmp_path / "run", "--init", str(fragment_start), "--epochs", "1", "--eval-size", "64")
        == 0
    )
    ck = load_checkpoint(tmp_path / "run" / "best.pt")
    assert [c["color"] for c in ck.classes] == mine
    assert ck.preprocess["resize_short"] == 64


def test_fragments_entry_follows_the_classes_that_remain():
    frag = {"interior": "rock", "edge": "rock_edge"}
    assert finetune.kept_fragments(frag, ["background", "rock", "rock_edge"], {}) == (frag, None)
    kept, note = finetune.kept_fragments(frag, ["background", "rock"], {})
    assert kept == {"interior": "rock", "edge": None}
    assert "split by distance" in note
    kept, note = finetune.kept_fragments(frag, ["background", "stone"], {})
    assert kept is None
    assert "'rock'" in note
    assert finetune.kept_fragments(
        frag, ["background", "stone", "rim"], {"rock": "stone", "rock_edge": "rim"}
    )[0] == {"interior": "stone", "edge": "rim"}


def test_start_is_scored_on_the_same_frames_and_agrees_with_segtool_eval(tmp_path, capsys):
    """report.json `start` (the app's swap dialog reads it): the start checkpoint's score on the run's
    validation frames equals what `segtool eval` measures for it there; the CLI prints both models."""
    data = make_dataset(tmp_path / "data", n_train=2, n_val=2)  # both classes labelled in val
    start, _ = make_small_checkpoint(tmp_path / "start.pt", resize_short=TINY_DATA_SIZE)
    assert cli_train(data, tmp_path / "run", "--init", str(start), "--epochs", "1") == 0
    out = capsys.readouterr().out
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    s = report["start"]
    assert set(s) == {"checkpoint", "miou", "pixel_accuracy", "per_class_iou", "images"}
    assert s["checkpoint"] == str(start)
    assert s["images"] == report["images"] == 2
    assert (
        main(
            [
                "eval",
                str(start),
                str(data),
                "--split",
                "val",
                "--device",
                "cpu",
                "-o",
                str(tmp_path / "ev.json"),
            ]
        )
        == 0
    )
    ev = json.loads((tmp_path / "ev.json").read_text())
    assert s["miou"] == pytest.approx(ev["miou"], abs=1e-6)
    assert s["per_class_iou"] == pytest.approx(ev["per_class_iou"], abs=1e-6)
    assert f"start model {start}: mIoU {s['miou']:.4f}" in out
    assert f"mIoU {report['miou']:.4f}" in out
    worse = [w for w in report["warnings"] if w["problem"] == "worse_than_start"]
    assert bool(worse) == (report["miou"] < s["miou"])


def test_worse_than_start_warning():
    start = {"checkpoint": "a.pt", "miou": 0.657, "images": 3}
    w = finetune.worse_than_start({"miou": 0.322}, start)
    assert w["problem"] == "worse_than_start"
    assert "0.322 against 0.657" in w["message"]
    assert "3 validation" in w["message"]
    assert finetune.worse_than_start({"miou": 0.657}, start) is None
    assert finetune.worse_than_start({"miou": None}, start) is None


def test_start_scoring_maps_classes_by_name():
    """Data classes the start lacks are never predicted by it; start classes the data lacks are extra
    channels, so a pixel given to one of them is an error, not its runner-up class."""

    class Fixed(torch.nn.Module):
        def forward(self, x):  # logits for start classes (background, moss, rock): moss wins everywhere
            return {"out": torch.tensor([1.0, 3.0, 2.0]).view(1, 3, 1, 1).expand(x.shape[0], 3, 2, 2)}

    names = ["background", "rock", "sand"]
    order = [0, 2, -1] + [1]  # data order, then the start's extra class
    out = finetune._AsDataClasses(Fixed(), order)(torch.zeros(1, 3, 2, 2))["out"]
    assert out.shape[1] == 4
    assert torch.isneginf(out[:, 2]).all()
    assert out.argmax(1).eq(3).all()
    cm = ConfusionMatrix(4)
    cm.update(out.argmax(1), torch.tensor([[[0, 1], [1, 255]]]))
    rep = report_dict(cm, [*names, "moss"], 1, labelled_only=True)
    assert rep["miou"] == 0.0
    assert rep["per_class_iou"]["sand"] is None
    assert rep["per_class_iou"]["moss"] is None


def test_labelled_only_leaves_out_a_class_nobody_labelled():
    cm = ConfusionMatrix(3)
    cm.update(np.array([0, 1, 2, 1]), np.array([0, 1, 1, 1]))  # class 2 predicted once, never labelled
    assert (
        report_dict(cm, ["b", "r", "e"], 1)["per_class_iou"]["e"] == 0.0
    )  # the standard definition (segtool eval)
    rep = report_dict(cm, ["b", "r", "e"], 1, labelled_only=True)
    assert rep["per_class_iou"]["e"] is None
    assert rep["miou"] == pytest.approx((1.0 + 2 / 3) / 2)


def test_auto_options_resolve_to_finetune_or_scratch_defaults(fragment_start):
    auto = ["epochs", "lr", "optimizer", "freeze_backbone", "eval_size"]
    cfg, notes = finetune.resolve_auto(
        TrainConfig(init=str(fragment_start), auto=auto, epochs=30, eval_size=520), 48
    )
    assert (cfg.epochs, cfg.lr, cfg.eval_size) == (
        finetune.FINETUNE_DEFAULTS["epochs"],
        finetune.FINETUNE_DEFAULTS["lr"],
        48,
    )
    assert "fine-tuning defaults" in notes[0]
    cfg, notes = finetune.resolve_auto(TrainConfig(init="scratch", auto=auto, epochs=7), None)
    assert (cfg.epochs, cfg.lr, cfg.eval_size, notes) == (30, 0.0, 520, [])
    cfg, _ = finetune.resolve_auto(TrainConfig(init=str(fragment_start), auto=[], epochs=3, lr=0.05), 48)
    assert (cfg.epochs, cfg.lr) == (3, 0.05)  # typed options are never replaced
    cfg, _ = finetune.resolve_auto(TrainConfig(init=str(fragment_start), auto=["lr"], optimizer="sgd"), 48)
    assert (cfg.optimizer, cfg.lr) == (
        "sgd",
        finetune.FINETUNE_LR[("sgd", False)],
    )  # measured for sgd, backbone training
    cfg, _ = finetune.resolve_auto(
        TrainConfig(init=str(fragment_start), auto=["lr", "optimizer"], freeze_backbone=False), 48
    )
    assert cfg.lr == finetune.FINETUNE_LR[("adamw", False)] == 1e-4  # a training backbone: 1e-4 (measured)


def test_divergence_rules():
    ref = 0.45
    assert (
        diverged(3, 0.5, ref * VAL_LOSS_FACTOR * 1.01, 1.5, ref, "the start model's")["problem"] == "diverged"
    )
    assert diverged(3, 0.5, ref * VAL_LOSS_FACTOR * 0.99, 1.5, ref, "the start model's") is None
    assert "no longer a number" in diverged(2, float("nan"), 1.0, 1.0, ref, "x")["message"]
    assert "training loss rose" in diverged(4, 20.0, None, 1.5, None, "x")["message"]
    assert (
        diverged(1, 1.5, 0.9, None, None, "x") is None
    )  # the first epoch of a run from scratch has no reference


def test_exploding_run_stops_and_report_records_it(fragment_start, scribbles, tmp_path, capsys):
    """SGD at lr 50 on the start: the loss explodes; the run stops (exit 2), says what to try, and
    report.json's warnings record it next to the start's score."""
    run = tmp_path / "run"
    assert cli_train(scribbles, run, "--init", str(fragment_start), "--epochs", "4", "--lr", "50") == 2
    err = capsys.readouterr().err
    assert "learning rate 10 times lower" in err or "Lower --lr" in err
    report = json.loads((run / "report.json").read_text())
    assert any(w["problem"] == "diverged" for w in report["warnings"])
    assert "start" in report
    assert (run / "last.pt").exists()


def test_divergence_stop_raises_for_the_app(fragment_start, scribbles, tmp_path):
    with pytest.raises(TrainingDiverged, match="diverged|loss became"):
        train(
            TrainConfig(
                data=str(scribbles),
                output=str(tmp_path / "r"),
                init=str(fragment_start),
                epochs=4,
                lr=50.0,
                batch_size=2,
                crop_size=TINY_DATA_SIZE,
                device="cpu",
                workers=0,
            )
        )


def test_schedule_check_flags_label_sets_too_small():
    rep = check_schedule(
        ValidationReport(), train=1, val=1, batch_size=8, repeat=1, epochs=10, fine_tune=True
    )
    assert "--repeat 8" in rep.errors[0]
    assert "only 1 validation image" in rep.warnings[0]
    rep = check_schedule(ValidationReport(), train=4, val=0, batch_size=2, repeat=1, epochs=30)
    assert not rep.errors
    assert any("no validation images" in w for w in rep.warnings)
    assert any("from scratch" in w for w in rep.warnings)
    rep = check_schedule(
        ValidationReport(), train=2, val=5, batch_size=2, repeat=8, epochs=30, fine_tune=True
    )
    assert any("240 times" in w for w in rep.warnings)
    assert (
        check_schedule(ValidationReport(), train=40, val=10, batch_size=8, repeat=1, epochs=30).warnings == []
    )


def test_check_refuses_a_label_set_too_small_for_the_batch(scribbles, capsys):
    """`train --check` said "OK: ready to train" for a set that training then refused (2 images, batch 8)."""
    assert main(["train", "--check", str(scribbles), "-q"]) == 2
    out = capsys.readouterr().out
    assert "--batch-size 8" in out
    assert "NOT OK" in out


def test_one_photo_label_set_fine_tunes_with_no_schedule_options(fragment_start, tmp_path, capsys):
    """The issue's command on a 2-photo label set (1 trains, 1 validates): with the from-scratch batch of 8
    it was refused; fine-tuning picks --batch-size 4 and enough --repeat for 8 crops an epoch, and
    --check agrees that it can train."""
    data = make_dataset(tmp_path / "data", n_train=1, n_val=1)
    (data / "classes.json").write_text(json.dumps(["background", "rock", "rock_edge"]))
    assert main(["train", "--check", str(data), "--init", str(fragment_start), "-q"]) == 0
    run = tmp_path / "run"
    assert (
        main(
            [
                "train",
                str(data),
                "-o",
                str(run),
                "--init",
                str(fragment_start),
                "--epochs",
                "1",
                "--device",
                "cpu",
                "--workers",
                "0",
                "--crop-size",
                str(TINY_DATA_SIZE),
                "-q",
            ]
        )
        == 0
    )
    cfg = json.loads((run / "config.json").read_text())
    assert (cfg["batch_size"], cfg["repeat"]) == (4, 8)
    assert {"batch_size", "repeat"} <= set(cfg["auto"])
    assert main(["train", "--check", str(data), "-q"]) == 2  # from scratch: one step of 8 cannot be filled


def test_run_messages_name_no_command_line_option(fragment_start, tmp_path):
    """The trainer's notes reach the app's log too (the wizard shows them as they are): no `--option`."""
    from segtool.training.events import TrainingEvents

    class Notes(TrainingEvents):
        def __init__(self):
            self.lines = []

        def on_message(self, text):
            self.lines.append(text)

    data = make_dataset(tmp_path / "data", n_train=1, n_val=1)
    (data / "classes.json").write_text(json.dumps(["background", "rock", "rock_edge"]))
    notes = Notes()
    train(
        TrainConfig(
            data=str(data),
            output=str(tmp_path / "r"),
            init=str(fragment_start),
            epochs=1,
            crop_size=TINY_DATA_SIZE,
            device="cpu",
            workers=0,
            auto=["batch_size", "repeat", "lr", "optimizer", "freeze_backbone"],
        ),
        events=notes,
    )
    assert any("each shown 8 times" in n for n in notes.lines)
    assert any("start model" in n for n in notes.lines)
    assert not [n for n in notes.lines if "--" in n.replace(str(tmp_path), "")]


def test_outlines_fine_tuned_from_a_centre_split_start_keep_its_centres(tmp_path, capsys):
    """`--fragment-classes` left out with a centre-split start: the outlines become 4 classes and the new
    model splits by centres, as the start does; `--fragment-classes edge` typed: 3 classes, and the run says
    the centres are dropped."""
    data = make_outlines(tmp_path / "outlines", n_train=2, n_val=1)
    start = make_centre_checkpoint(tmp_path / "centre.pt")
    names4 = ["background", "rock", "rock_edge", "rock_centre"]
    assert cli_train(data, tmp_path / "kept", "--init", str(start), "--epochs", "1") == 0
    kept = load_checkpoint(tmp_path / "kept" / "best.pt")
    assert kept.class_names == names4
    assert kept.fragments == {
        "interior": "rock",
        "edge": "rock_edge",
        "centre": "rock_centre",
        "split": "centre",
    }
    cfg = json.loads((tmp_path / "kept" / "config.json").read_text())
    assert cfg["fragment_classes"] == "edge+centre" and "fragment_classes" in cfg["auto"]
    first = capsys.readouterr()
    assert "the start splits fragments by centres" not in first.out + first.err
    run = tmp_path / "edges"
    assert cli_train(data, run, "--init", str(start), "--epochs", "1", "--fragment-classes", "edge") == 0
    edges = load_checkpoint(run / "best.pt")
    assert edges.class_names == names4[:3]
    assert edges.fragments == {"interior": "rock", "edge": "rock_edge"}
    out = capsys.readouterr()
    assert "the start splits fragments by centres (rock_centre)" in out.out + out.err
    # the same outlines from scratch stay 3 classes unless asked: the default follows a start only
    assert (
        finetune.resolve_auto(TrainConfig(init="scratch", auto=["fragment_classes"]), None)[
            0
        ].fragment_classes
        == "edge"
    )
