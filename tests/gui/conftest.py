"""GUI tests: every test here is marked `gui`; a test that leaves a QThread running fails."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from models import Checkpoint, build_deeplabv3, make_classes, save_checkpoint
from models.checkpoint import load_checkpoint
from tests.helpers import randomize_bn_stats


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/gui/" in str(item.fspath).replace("\\", "/"):
            item.add_marker(pytest.mark.gui)


@pytest.fixture(autouse=True)
def no_dangling_qthreads(qapp):
    """Fail any test that leaves a QThread running (napari's `_dangling_qthreads` idea)."""
    from PySide6.QtCore import QThread

    yield
    qapp.processEvents()
    running = [t for t in qapp.findChildren(QThread) if t.isRunning()]
    for w in qapp.topLevelWidgets():
        running += [t for t in w.findChildren(QThread) if t.isRunning()]
    assert not running, f"test left {len(running)} QThread(s) running"


@pytest.fixture(scope="session")
def gui_checkpoint(tmp_path_factory):
    """A real 2-class mobilenet_v3_large checkpoint at a 64-px short side: real inference, a few ms a frame.

    Like tests/unit/conftest.py::small_checkpoint: the head is amplified and its bias centred so that both
    classes appear on real frames (the tests compare real masks, not constant ones).
    """
    torch.manual_seed(0)
    model = randomize_bn_stats(build_deeplabv3(backbone="mobilenet_v3_large", num_classes=2, aux_head=False)).eval()
    with torch.no_grad():
        model.classifier[4].weight.mul_(100.0)
        model.classifier[4].bias.zero_()
        g = torch.Generator().manual_seed(0)
        probe = torch.rand(1, 3, 96, 128, generator=g)
        probe[:, :, :48] /= 4
        logits = model((probe - 0.45) / 0.225)["out"]
        model.classifier[4].bias[1] = -(logits[:, 1] - logits[:, 0]).median()
    ckpt = Checkpoint(
        config=model.config,
        classes=make_classes(["background", "rock"], [[0, 0, 0], [250, 50, 83]]),
        state_dict=model.state_dict(),
        train={"dataset": "gui-test", "metrics": {"miou": 0.612, "per_class_iou": {"background": 0.9, "rock": 0.55}}},
    )
    ck = dataclasses.replace(ckpt, preprocess=dict(ckpt.preprocess, resize_short=64))
    return save_checkpoint(ck, tmp_path_factory.mktemp("gui") / "rocks.pt")


@pytest.fixture(scope="session")
def reference_engine(gui_checkpoint):
    """An Engine of the test checkpoint, to recompute what the app should show (same thread count as the
    app's engines: a different OpenMP split changes float sums, and argmax at near-ties with them)."""
    from segtool.core.engine import Engine
    from segtool.gui.workers import app_cpu_threads

    return Engine(load_checkpoint(gui_checkpoint), device="cpu", threads=app_cpu_threads())


@pytest.fixture
def settings(tmp_path):
    """Settings in a temporary file: tests never read or write the user's settings."""
    from segtool.gui.settings import AppSettings, ini_settings

    return AppSettings(ini_settings(tmp_path / "segtool.ini"))


@pytest.fixture
def window(qtbot, settings):
    from segtool.gui.main_window import MainWindow

    win = MainWindow(settings)
    qtbot.addWidget(win)
    win.show()
    yield win
    win.close()


def nearest_frame(rgb: np.ndarray, truth: list[np.ndarray]) -> int:
    """Index of the ground-truth frame closest to `rgb` (the clip is lossy H.264, so not equal)."""
    a = rgb.astype(np.int16)
    return int(np.argmin([np.abs(a - t).mean() for t in truth]))
