"""DeepLabV3 family (torchvision parts) and self-describing checkpoints. Imports torch/torchvision only."""

from models.checkpoint import Checkpoint, default_preprocess, load_checkpoint, save_checkpoint
from models.classes import make_classes
from models.config import BACKBONES, DECODERS, OUTPUT_STRIDES, ModelConfig
from models.deeplab import DeepLabV3, build_deeplabv3, build_from_config
from models.errors import CheckpointError, PretrainedWeightsUnavailable, UserInputError

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
