"""Before/after per-class IoU on a run's own validation frames (label mode's "Train on my labels")."""

from __future__ import annotations

import pytest

from models.checkpoint import load_checkpoint
from models.errors import UserInputError
from segtool.core.before_after import compare_on_run, format_comparison
from tests.helpers import make_dataset, tiny_config
from training.trainer import train


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
    assert res["frames"] == 2 and res["classes"] == ["background", "rock"]
    # "after" is exactly what the run itself measured on its val split with best.pt
    import json

    own = json.loads((second / "report.json").read_text())
    assert res["after"]["confusion_matrix"] == own["confusion_matrix"]
    assert res["before"]["images"] == 2
    text = format_comparison(res)
    assert "before" in text and "rock" in text and "Few frames" in text


def test_no_model_before_and_other_classes_are_said(finished_run, tmp_path):
    first, second = finished_run
    res = compare_on_run(second, None)
    assert res["before"] is None and "no model before" in res["note"]
    import dataclasses

    from models import make_classes

    ck = load_checkpoint(first / "best.pt")
    other = dataclasses.replace(ck, classes=make_classes(["sky", "road"]))
    res = compare_on_run(second, other)
    assert res["before"] is None and "sky, road" in res["note"]
    with pytest.raises(UserInputError, match="not a finished training run"):
        compare_on_run(tmp_path, None)
