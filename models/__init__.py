"""DeepLabV3 family (torchvision parts) and self-describing checkpoints. Imports torch/torchvision only.

The names below load on first use (PEP 562): `models.config` and `models.errors` are torch-free, and
importing them must not import torch through this package — `segtool --help` builds its parser from
`models.config.BACKBONES` and must answer in a fraction of a second.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_WHERE = {
    "Checkpoint": "segtool.models.checkpoint",
    "default_preprocess": "segtool.models.checkpoint",
    "load_checkpoint": "segtool.models.checkpoint",
    "save_checkpoint": "segtool.models.checkpoint",
    "make_classes": "segtool.models.classes",
    "BACKBONES": "segtool.models.config",
    "DECODERS": "segtool.models.config",
    "OUTPUT_STRIDES": "segtool.models.config",
    "ModelConfig": "segtool.models.config",
    "DeepLabV3": "segtool.models.deeplab",
    "build_deeplabv3": "segtool.models.deeplab",
    "build_from_config": "segtool.models.deeplab",
    "CheckpointError": "segtool.base.errors",
    "PretrainedWeightsUnavailable": "segtool.base.errors",
    "UserInputError": "segtool.base.errors",
}

__all__ = [
    "BACKBONES",
    "DECODERS",
    "OUTPUT_STRIDES",
    "Checkpoint",
    "CheckpointError",
    "DeepLabV3",
    "ModelConfig",
    "PretrainedWeightsUnavailable",
    "UserInputError",
    "build_deeplabv3",
    "build_from_config",
    "default_preprocess",
    "load_checkpoint",
    "make_classes",
    "save_checkpoint",
]

if TYPE_CHECKING:  # static tools see the real names
    from segtool.base.errors import CheckpointError, PretrainedWeightsUnavailable, UserInputError
    from segtool.models.checkpoint import Checkpoint, default_preprocess, load_checkpoint, save_checkpoint
    from segtool.models.classes import make_classes
    from segtool.models.config import BACKBONES, DECODERS, OUTPUT_STRIDES, ModelConfig
    from segtool.models.deeplab import DeepLabV3, build_deeplabv3, build_from_config


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'models' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
