"""Training and eval on the real data in ../shared/data (skipped where it is absent; slow)."""

from __future__ import annotations

import json

import pytest
import torch

from segtool.cli import main
from segtool.models import Checkpoint, build_deeplabv3, save_checkpoint
from segtool.training.data import CAMVID_CLASSES

pytestmark = pytest.mark.slow


def test_camvid_recipe_runs_one_epoch_on_a_subset(shared_data, tmp_path, monkeypatch, capsys):
    """The CamVid command (mobilenet, crop 240, eval 180) works end to end; --limit keeps it short."""
    monkeypatch.setenv("SEGTOOL_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "camvid"
    code = main(
        [
            "train",
            str(shared_data / "camvid"),
            "--backbone",
            "mobilenet_v3_large",
            "--crop-size",
            "240",
            "--eval-size",
            "180",
            "--batch-size",
            "2",
            "--epochs",
            "1",
            "--limit",
            "4",
            "--workers",
            "0",
            "--device",
            "cpu",
            "-o",
            str(out),
            "-q",
        ]
    )
    assert code == 0, capsys.readouterr().err
    report = json.loads((out / "report.json").read_text())
    assert report["classes"] == [c.name for c in CAMVID_CLASSES]
    assert report["images"] == 4
    assert (
        sum(map(sum, report["confusion_matrix"])) > 0.5 * 4 * 480 * 360
    )  # full-size labels, void (11) left out
    assert torch.load(out / "best.pt", weights_only=True)["preprocess"]["resize_short"] == 180


def test_rocks_zip_with_images_one_epoch(shared_data, tmp_path, monkeypatch):
    monkeypatch.setenv("SEGTOOL_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "rocks"
    code = main(
        [
            "train",
            str(shared_data / "rocks" / "cvat_annotations_segmentation mask 1.1.zip"),
            "--images",
            str(shared_data / "rocks"),
            "--backbone",
            "resnet18",
            "--crop-size",
            "128",
            "--eval-size",
            "128",
            "--batch-size",
            "3",
            "--epochs",
            "1",
            "--class-weights",
            "log",
            "--workers",
            "0",
            "--device",
            "cpu",
            "-o",
            str(out),
            "-q",
        ]
    )
    assert code == 0
    report = json.loads((out / "report.json").read_text())
    assert report["images"] == 1  # val/4.jpeg
    assert set(report["per_class_iou"]) == {"background", "rocks"}


def test_eval_camvid_clip_against_label_frames(shared_data, tmp_path, capsys):
    """The real clip's 101 frames pair with camvid/valannot/0016E5_*; id 11 is ignored automatically."""
    torch.manual_seed(0)
    model = build_deeplabv3(backbone="mobilenet_v3_large", num_classes=11, aux_head=False)
    ckpt = tmp_path / "camvid.pt"
    classes = [{"name": c.name, "color": list(c.color)} for c in CAMVID_CLASSES]
    save_checkpoint(
        Checkpoint(
            config=model.config,
            classes=classes,
            state_dict=model.state_dict(),
            preprocess={"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225], "resize_short": 90},
        ),
        ckpt,
    )
    rep = tmp_path / "clip.json"
    code = main(
        [
            "eval",
            str(ckpt),
            str(shared_data / "clips" / "camvid_0016E5_val_15fps.mp4"),
            "--labels",
            str(shared_data / "camvid" / "valannot"),
            "--labels-glob",
            "0016E5_*",
            "--device",
            "cpu",
            "-o",
            str(rep),
            "-q",
        ]
    )
    assert code == 0, capsys.readouterr().err
    report = json.loads(rep.read_text())
    assert report["images"] == 101
    assert report["void_ids"] == [11]
