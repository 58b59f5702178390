"""Warnings for a model that scores well on paper but never predicts a class (training.diagnose)."""

from __future__ import annotations

import json

import numpy as np

from segtool.cli import main
from segtool.training.diagnose import model_warnings, rare_classes
from segtool.training.metrics import ConfusionMatrix, report_dict


def _cm(labels: np.ndarray, preds: np.ndarray, n: int = 2) -> ConfusionMatrix:
    cm = ConfusionMatrix(n)
    cm.update(preds, labels)
    return cm


def test_background_everywhere_on_sparse_rocks_warns_although_scores_look_good():
    labels = np.zeros((100, 100), np.uint8)
    labels[:6, :10] = 1  # rocks: 0.6 % of the pixels
    rep = report_dict(_cm(labels, np.zeros_like(labels)), ["background", "rocks"], images=1)
    assert rep["pixel_accuracy"] > 0.99  # what looked like a success
    assert rep["miou"] > 0.49
    problems = {(w["class"], w["problem"]) for w in rep["warnings"]}
    assert problems == {("rocks", "never_predicted"), ("background", "predicts_one_class")}
    rocks = next(w for w in rep["warnings"] if w["class"] == "rocks")
    assert "IoU 0.00" in rocks["message"]
    assert "0.60 %" in rocks["message"]
    tries = " ".join(rocks["try"])
    for hint in ("unknown", "class weights", "more epochs", "pretrained"):
        assert hint in tries
    json.dumps(rep)  # plain types for report.json


def test_wrong_predictions_count_as_iou_zero():
    labels = np.zeros((10, 10), np.uint8)
    labels[:5] = 1
    preds = np.zeros_like(labels)
    preds[5:, :5] = 1  # predicts rocks, but never where they are
    assert [(w["class"], w["problem"]) for w in model_warnings(_cm(labels, preds).mat, ["bg", "rocks"])] == [
        ("rocks", "iou_zero")
    ]


def test_a_model_that_works_gets_no_warning():
    labels = np.zeros((10, 10), np.uint8)
    labels[:3] = 1
    preds = labels.copy()
    preds[0, 0] = 0
    assert model_warnings(_cm(labels, preds).mat, ["bg", "rocks"]) == []
    # A class absent from the labels (and predictions) is not a problem.
    assert model_warnings(_cm(labels, preds, 3).mat, ["bg", "rocks", "sky"]) == []


def test_rare_classes_skip_background_and_absent_classes():
    assert rare_classes([0.99, 0.006, 0.0, 0.2], ["bg", "rocks", "sky", "road"]) == [("rocks", 0.006)]


def test_eval_cli_prints_the_warning(tmp_path, capsys):
    import torch
    from PIL import Image

    from segtool.models import Checkpoint, build_deeplabv3, make_classes, save_checkpoint

    net = build_deeplabv3(backbone="mobilenet_v3_large", num_classes=2, aux_head=False).eval()
    with torch.no_grad():  # a model that paints background everywhere, whatever the photo
        net.classifier[4].weight.zero_()
        net.classifier[4].bias.copy_(torch.tensor([10.0, -10.0]))
    ck = save_checkpoint(
        Checkpoint(
            config=net.config, classes=make_classes(["background", "rock"]), state_dict=net.state_dict()
        ),
        tmp_path / "m.pt",
    )
    (tmp_path / "d" / "images").mkdir(parents=True)
    (tmp_path / "d" / "masks").mkdir()
    Image.new("RGB", (64, 48), (0, 0, 0)).save(
        tmp_path / "d" / "images" / "a.png"
    )  # dark: predicted background
    mask = np.zeros((48, 64), np.uint8)
    mask[:10, :10] = 1
    Image.fromarray(mask).save(tmp_path / "d" / "masks" / "a.png")
    (tmp_path / "d" / "classes.json").write_text(json.dumps(["background", "rock"]))
    code = main(["eval", str(ck), str(tmp_path / "d"), "-o", str(tmp_path / "r.json")])
    out = capsys.readouterr().out
    report = json.loads((tmp_path / "r.json").read_text())
    assert code == 0
    assert report["per_class_iou"]["rock"] == 0.0
    assert "WARNING: the model never predicts 'rock'" in out
    assert "--class-weights" in out
    assert any(w["class"] == "rock" for w in report["warnings"])
