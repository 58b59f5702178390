"""segtool.core.runs: listing runs and reading their config, history and report (no Qt, no torch)."""

from __future__ import annotations

import json

from segtool.core.runs import (
    config_differences,
    default_runs_dir,
    list_runs,
    new_run_dir,
    read_history,
    read_run,
)
from segtool.core.train_progress import TrainProgress, format_duration
from tests.helpers import fake_run


def test_list_and_read_runs(tmp_path):
    fake_run(tmp_path, "a", lr=0.01, crop=256, mious=[0.2, 0.4], mtime=1_000_000)
    fake_run(tmp_path, "b", lr=0.001, crop=384, mious=[0.1, None, 0.5], epochs=5, mtime=2_000_000)
    (tmp_path / "not_a_run").mkdir()
    (tmp_path / "damaged").mkdir()
    (tmp_path / "damaged" / "config.json").write_text("{not json")
    runs = list_runs([tmp_path, tmp_path / "a"])  # a root that is itself a run is listed once
    assert [r.name for r in runs] == ["b", "a"]  # newest first
    b, a = runs
    assert a.state == "finished"
    assert b.state == "stopped"
    assert (a.best_miou, b.best_miou) == (0.4, 0.5)
    assert b.epochs_done == 3
    assert b.seconds == 31.5
    assert a.data == "rocks"
    assert a.backbone == "resnet18 /16"
    assert a.schedule == "2 ep · crop 256 · sgd lr 0.01 · batch 4"
    assert b.per_class_iou()["moss"] is None
    assert b.best_checkpoint == tmp_path / "b" / "best.pt"
    assert read_history(tmp_path / "b")[1]["miou"] is None
    assert config_differences([a, b]) == {"crop_size": [256, 384], "epochs": [2, 5], "lr": [0.01, 0.001]}


def test_empty_run_and_missing_files(tmp_path):
    run = tmp_path / "r"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"epochs": 3}))
    r = read_run(run)
    assert r.state == "empty"
    assert r.best_miou is None
    assert r.history == []
    assert r.report is None
    assert read_run(tmp_path / "nothing") is None
    assert list_runs([tmp_path / "missing"]) == []


def test_default_runs_dir_and_new_run_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("SEGTOOL_RUNS", str(tmp_path / "mine"))
    assert default_runs_dir() == tmp_path / "mine"
    monkeypatch.delenv("SEGTOOL_RUNS")
    assert default_runs_dir().parts[-2:] == ("segtool", "runs")
    a = new_run_dir(tmp_path, "rocks data/resnet18", now=0)
    assert "/" not in a.name[len("1970-01-01_0000_") :]
    assert a.name.endswith("rocks_data_resnet18")
    a.mkdir()
    assert new_run_dir(tmp_path, "rocks data/resnet18", now=0).name == a.name + "-2"


def test_progress_from_events(tmp_path):
    p = TrainProgress()
    p.update(
        {
            "event": "start",
            "run_dir": str(tmp_path),
            "classes": ["a", "b"],
            "device": "cpu",
            "epochs": 2,
            "steps_per_epoch": 4,
            "start_epoch": 0,
        },
        now=0.0,
    )
    p.update({"event": "epoch_start", "epoch": 1, "epochs": 2}, now=0.0)
    p.update(
        {
            "event": "batch",
            "epoch": 1,
            "epochs": 2,
            "step": 1,
            "steps": 4,
            "loss": 1.0,
            "lr": 0.1,
            "images_per_s": 2.0,
            "memory": "1 GiB RAM",
        },
        now=1.0,
    )
    p.update(
        {
            "event": "batch",
            "epoch": 1,
            "epochs": 2,
            "step": 3,
            "steps": 4,
            "loss": 0.5,
            "lr": 0.1,
            "images_per_s": 2.0,
            "memory": "1 GiB RAM",
        },
        now=3.0,
    )
    assert p.fraction() == 3 / 8
    assert p.losses == [(0.25, 1.0), (0.75, 0.5)]
    assert abs(p.eta_s(now=3.0) - 2.0 * (5 / 8) / (2 / 8)) < 1e-9  # 2 s for 2 steps, 5 steps left
    p.update(
        {
            "event": "epoch_end",
            "epoch": 1,
            "epochs": 2,
            "train_loss": 0.7,
            "val_loss": 0.8,
            "lr": 0.1,
            "seconds": 3,
            "metrics": {"miou": 0.3, "per_class_iou": {"a": 0.6, "b": None}},
            "is_best": True,
        }
    )
    assert p.best_miou == 0.3
    assert p.last_metrics["per_class_iou"]["b"] is None
    p.update({"event": "end", "stopped": None})
    assert p.phase == "ended"
    assert format_duration(None) == "—"
    assert format_duration(40) == "40 s"
    assert format_duration(3900) == "1 h 05 min"
