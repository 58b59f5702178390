"""ConfusionMatrix and report_dict against hand-computed cases."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from segtool.training.metrics import ConfusionMatrix, report_dict

# 3 classes, 2x4 image. Label row 1 has two ignore pixels.
TARGET = np.array([[0, 0, 1, 1], [2, 2, 255, 255]], np.uint8)
PRED = np.array([[0, 1, 1, 1], [2, 0, 1, 2]], np.uint8)
# counted pixels: (0,0) (0,1) (1,1) (1,1) (2,2) (2,0) → mat[t, p]
MAT = np.array([[1, 1, 0], [0, 2, 0], [1, 0, 1]])


def test_matrix_counts_and_skips_ignore():
    cm = ConfusionMatrix(3)
    cm.update(PRED, TARGET)
    np.testing.assert_array_equal(cm.mat, MAT)


def test_hand_computed_metrics():
    cm = ConfusionMatrix(3)
    cm.update(PRED, TARGET)
    r = cm.compute()
    # IoU_c = TP / (label_c + pred_c - TP): class0 1/(2+2-1), class1 2/(2+3-2), class2 1/(2+1-1)
    assert r["iou"] == pytest.approx([1 / 3, 2 / 3, 1 / 2])
    assert r["miou"] == pytest.approx((1 / 3 + 2 / 3 + 1 / 2) / 3)
    assert r["pixel_accuracy"] == pytest.approx(4 / 6)
    assert r["mean_accuracy"] == pytest.approx((1 / 2 + 1 + 1 / 2) / 3)
    assert r["fw_iou"] == pytest.approx((2 / 6) * (1 / 3) + (2 / 6) * (2 / 3) + (2 / 6) * (1 / 2))
    assert r["pixel_share"] == pytest.approx([1 / 3, 1 / 3, 1 / 3])
    assert r["pixels"] == 6


def test_absent_class_is_none_and_left_out_of_means():
    cm = ConfusionMatrix(4)  # class 3 never in labels nor predictions
    cm.update(PRED, TARGET)
    r = cm.compute()
    assert r["iou"][3] is None
    assert r["miou"] == pytest.approx((1 / 3 + 2 / 3 + 1 / 2) / 3)
    assert r["mean_accuracy"] == pytest.approx((1 / 2 + 1 + 1 / 2) / 3)


def test_class_only_predicted_has_iou_zero_and_counts_in_miou():
    cm = ConfusionMatrix(3)
    cm.update(np.array([1, 1]), np.array([0, 0]))  # class 1 predicted, never labelled
    r = cm.compute()
    assert r["iou"] == [0.0, 0.0, None]
    assert r["miou"] == 0.0
    assert r["mean_accuracy"] == 0.0  # only class 0 is in the labels


def test_torch_input_and_merge_and_reduce():
    a, b = ConfusionMatrix(3), ConfusionMatrix(3)
    a.update(torch.from_numpy(PRED), torch.from_numpy(TARGET))
    b.update(PRED[None], TARGET[None])  # a batch dimension changes nothing
    a.merge(b)
    np.testing.assert_array_equal(a.mat, 2 * MAT)
    a.reduce_(lambda t: t.mul_(3))  # in-place, like torch.distributed.all_reduce
    np.testing.assert_array_equal(a.mat, 6 * MAT)
    a.reduce_(lambda t: t // 6)  # returning a new tensor works too
    np.testing.assert_array_equal(a.mat, MAT)


def test_empty_matrix_gives_none():
    r = ConfusionMatrix(2).compute()
    assert r["miou"] is None
    assert r["pixel_accuracy"] is None
    assert r["iou"] == [None, None]


@pytest.mark.parametrize(
    "pred, target, msg",
    [
        (np.zeros((2, 2)), np.zeros((2, 3)), "shape"),
        (np.array([3]), np.array([0]), "prediction value 3"),
        (np.array([0]), np.array([7]), "label value 7"),
    ],
)
def test_bad_input_is_named(pred, target, msg):
    cm = ConfusionMatrix(3)
    with pytest.raises(ValueError, match=msg):  # a shape at once; values when the matrix is read
        cm.update(pred, target)
        cm.compute()


def test_matrix_stays_where_the_batches_are_and_is_read_back_once(monkeypatch):
    """The update path copies nothing to the host: the counts are one tensor, added to in place on the
    batches' device; the host copy happens when the matrix is read (and is cached until the next batch)."""
    cm = ConfusionMatrix(3)
    pred, target = torch.from_numpy(PRED), torch.from_numpy(TARGET)
    cm.update(pred, target)
    kept = cm.tensor
    copies = []
    real_cpu, real_numpy = torch.Tensor.cpu, torch.Tensor.numpy
    monkeypatch.setattr(
        torch.Tensor, "cpu", lambda self, *a, **k: copies.append("cpu") or real_cpu(self, *a, **k)
    )
    monkeypatch.setattr(
        torch.Tensor, "numpy", lambda self, *a, **k: copies.append("numpy") or real_numpy(self, *a, **k)
    )
    monkeypatch.setattr(torch.Tensor, "item", lambda self: copies.append("item"))
    monkeypatch.setattr(torch.Tensor, "__bool__", lambda self: copies.append("bool") or True)
    for _ in range(4):
        cm.update(pred, target)
    assert copies == []  # no .cpu(), .numpy(), .item() or truth test of a tensor (each waits for a GPU)
    assert cm.tensor.data_ptr() == kept.data_ptr()
    assert cm.tensor.device == target.device
    np.testing.assert_array_equal(cm.mat, 5 * MAT)
    assert copies == ["cpu", "numpy"]  # one read-back
    cm.compute()
    report_dict(cm, ["a", "b", "c"], images=5)
    assert copies == ["cpu", "numpy"]  # cached until the next update


def test_report_dict_fields_and_json():
    cm = ConfusionMatrix(4)
    cm.update(PRED, TARGET)
    rep = report_dict(cm, ["bg", "rock", "sky", "unused"], images=1)
    assert set(rep) == {
        "miou",
        "pixel_accuracy",
        "mean_accuracy",
        "per_class_iou",
        "confusion_matrix",
        "classes",
        "images",
        "fw_iou",
        "pixel_share",
        "warnings",
    }
    assert rep["per_class_iou"] == pytest.approx({"bg": 1 / 3, "rock": 2 / 3, "sky": 1 / 2, "unused": None})
    assert rep["confusion_matrix"][2] == [1, 0, 1, 0]
    assert rep["classes"] == ["bg", "rock", "sky", "unused"]
    assert rep["images"] == 1
    assert json.loads(json.dumps(rep)) == rep  # plain JSON types (null for absent classes)
    with pytest.raises(ValueError):
        report_dict(cm, ["a"], images=1)
