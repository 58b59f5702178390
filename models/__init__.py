"""DeepLabV3 family (torchvision parts) and self-describing checkpoints. Imports torch/torchvision only.

The names below load on first use (PEP 562): `models.config` and `models.errors` are torch-free, and
importing them must not import torch through this package — `segtool --help` builds its parser from
`models.config.BACKBONES` and must answer in a fraction of a second.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_WHERE = {
    "Checkpoint": "models.checkpoint",
    "default_preprocess": "models.checkpoint",
    "load_checkpoint": "models.checkpoint",
    "save_checkpoint": "models.checkpoint",
    "make_classes": "models.classes",
    "BACKBONES": "models.config",
    "DECODERS": "models.config",
    "OUTPUT_STRIDES": "models.config",
    "ModelConfig": "models.config",
    "DeepLabV3": "models.deeplab",
    "build_deeplabv3": "models.deeplab",
    "build_from_config": "models.deeplab",
    "CheckpointError": "models.errors",
    "PretrainedWeightsUnavailable": "models.errors",
    "UserInputError": "models.errors",
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
    from models.checkpoint import Checkpoint, default_preprocess, load_checkpoint, save_checkpoint
    from models.classes import make_classes
    from models.config import BACKBONES, DECODERS, OUTPUT_STRIDES, ModelConfig
    from models.deeplab import DeepLabV3, build_deeplabv3, build_from_config
    from models.errors import CheckpointError, PretrainedWeightsUnavailable, UserInputError


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'models' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
