"""Fixtures for model and checkpoint tests: small real checkpoints written to tmp dirs."""

from __future__ import annotations

import pytest
import torch

from models import Checkpoint, build_deeplabv3, make_classes, save_checkpoint
from tests.helpers import randomize_bn_stats


@pytest.fixture(scope="session")
def small_checkpoint(tmp_path_factory) -> tuple:
    """A real 2-class mobilenet_v3_large checkpoint (about 44 MB) and the model it was saved from."""
    torch.manual_seed(0)
    model = randomize_bn_stats(build_deeplabv3(backbone="mobilenet_v3_large", num_classes=2, aux_head=False)).eval()
    with torch.no_grad():
        # A random DeepLab predicts nearly the same logits everywhere; amplify the spatial differences and
        # centre the bias so that both classes occur on structured images (tests then compare real masks).
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
        train={"dataset": "unit-test", "epochs": 1, "metrics": {"miou": 0.5, "per_class_iou": {"background": 0.9, "rock": None}}},
    )
    path = tmp_path_factory.mktemp("ckpt") / "small.pt"
    save_checkpoint(ckpt, path)
    return path, model
