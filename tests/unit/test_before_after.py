"""Before/after per-class IoU on a run's own validation frames (label mode's "Train on my labels")."""

from __future__ import annotations

import pytest

from segtool.base.errors import UserInputError
from segtool.core.before_after import compare_on_run, format_comparison
from segtool.models.checkpoint import load_checkpoint
from segtool.training.trainer import train
from tests.helpers import make_dataset, tiny_config


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("ba")
    data = make_dataset(root / "data", n_train=4, n_val=2)
    first = root / "first"
    train(tiny_config(data, first, epochs=1))
    second = root / "second"
    train(tiny_config(data, second, epochs=2, init=str(first / "best.pt")))
    return first, second


def test_before_and_after_are_scored_on_the_runs_val_frames(finished_run):
    first, second = finished_run
    res = compare_on_run(second, first / "best.pt")
    assert res["frames"] == 2
    assert res["classes"] == ["background", "rock"]
    # "after" is exactly what the run itself measured on its val split with best.pt
    import json

    own = json.loads((second / "report.json").read_text())
    assert res["after"]["confusion_matrix"] == own["confusion_matrix"]
    assert res["before"]["images"] == 2
    text = format_comparison(res)
    assert "before" in text
    assert "rock" in text
    assert "Few frames" in text


def test_no_model_before_and_other_classes_are_said(finished_run, tmp_path):
    first, second = finished_run
    res = compare_on_run(second, None)
    assert res["before"] is None
    assert "no model before" in res["note"]
    import dataclasses

    from segtool.models import make_classes

    ck = load_checkpoint(first / "best.pt")
    other = dataclasses.replace(ck, classes=make_classes(["sky", "road"]))
    res = compare_on_run(second, other)
    assert res["before"] is None
    assert "sky, road" in res["note"]
    with pytest.raises(UserInputError, match="not a finished training run"):
        compare_on_run(tmp_path, None)


def test_recorded_start_scores_in_report_json_are_used_and_the_verdict_compares_them(finished_run, tmp_path):
    import json
    import shutil

    from segtool.core.before_after import comparison_for_run, comparison_from_report, verdict

    first, second = finished_run
    # training from a checkpoint records "start" (issue 19): the comparison reads it from report.json
    recorded = comparison_from_report(second)
    assert recorded["from"] == "report.json"
    assert recorded["before"]["checkpoint"] == str(first / "best.pt")
    older = tmp_path / "older"  # a run written before "start" existed: scored here instead
    shutil.copytree(second, older)
    rep = json.loads((older / "report.json").read_text())
    rep.pop("start")
    (older / "report.json").write_text(json.dumps(rep))
    assert comparison_from_report(older) is None
    scored = comparison_for_run(older, first / "best.pt")
    assert "from" not in scored
    assert scored["before"] is not None
    run = tmp_path / "run"
    shutil.copytree(second, run)
    report = json.loads((run / "report.json").read_text())
    start = {
        "checkpoint": str(first / "best.pt"),
        "miou": 0.9,
        "pixel_accuracy": 0.95,
        "per_class_iou": {"background": 0.95, "rock": 0.85},
        "images": 2,
    }
    report["start"], report["warnings"] = start, []
    (run / "report.json").write_text(json.dumps(report))
    assert "from" not in comparison_for_run(run, second / "best.pt")  # recorded for another start model
    res = comparison_for_run(run, load_checkpoint(first / "best.pt"), before_path=first / "best.pt")
    assert res["from"] == "report.json"
    assert res["frames"] == 2
    assert res["before"]["miou"] == 0.9
    assert res["after"]["miou"] == report["miou"]
    assert res["classes"] == ["background", "rock"]
    assert "mean IoU" in format_comparison(res)
    v = verdict(res)
    assert v.before == 0.9
    assert v.after == report["miou"]
    assert v.better is (report["miou"] >= 0.9)


def test_verdict_at_least_as_good_worse_and_not_comparable():
    from segtool.core.before_after import verdict

    def res(b, a, frames=3):
        return {
            "frames": frames,
            "classes": ["background", "rock"],
            "before": None
            if b is None
            else {"miou": b[0], "per_class_iou": {"background": b[1], "rock": b[2]}},
            "after": {"miou": a[0], "per_class_iou": {"background": a[1], "rock": a[2]}},
        }

    worse = verdict(res((0.657, 0.977, 0.337), (0.322, 0.085, 0.559)))  # the walk
    assert worse.better is False
    assert worse.worst == ("background", 0.977, 0.085)
    assert "old model 0.657, new model 0.322" in worse.text()
    assert "background 0.977 → 0.085" in worse.text()
    assert "few frames" in worse.text()
    assert verdict(res((0.5, 0.6, 0.4), (0.5, 0.5, 0.5), frames=8)).better is True  # equal is good enough
    assert "few frames" not in verdict(res((0.5, 0.6, 0.4), (0.5, 0.5, 0.5), frames=8)).text()
    assert verdict(res(None, (0.5, 0.5, 0.5))).better is None
    assert verdict(res((float("nan"), 0.5, None), (0.5, 0.5, 0.5))).better is None
