"""Fixtures for model and checkpoint tests: small real checkpoints written to tmp dirs."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import make_small_checkpoint


@pytest.fixture(scope="session")
def small_checkpoint(tmp_path_factory) -> tuple:
    """A real tiny 2-class mobilenet_v3_large checkpoint (1.4 MB) and the model it was saved from."""
    train = {
        "dataset": "unit-test",
        "epochs": 1,
        "metrics": {"miou": 0.5, "per_class_iou": {"background": 0.9, "rock": None}},
    }
    return make_small_checkpoint(tmp_path_factory.mktemp("ckpt") / "small.pt", train=train)


@pytest.fixture(scope="session")
def fast_ckpt(tmp_path_factory) -> Path:
    """The small real checkpoint run at a 64-pixel shorter side: real inference, fast enough for 100s of frames."""
    path, _ = make_small_checkpoint(tmp_path_factory.mktemp("fast") / "fast.pt", resize_short=64)
    return path
