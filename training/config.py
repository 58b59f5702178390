"""`TrainConfig`: every setting of a training run, stored as `RUN/config.json` so `--resume` and readers
of old runs know exactly what was done."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from segtool.base.atomic import atomic_write, describe_write_error
from segtool.base.errors import UserInputError
from segtool.models.config import BACKBONES, DECODERS, OUTPUT_STRIDES

INITS = ("scratch", "imagenet", "coco")  # or the path of a segtool checkpoint
OPTIMIZERS = ("sgd", "adamw")
CLASS_WEIGHTS = ("none", "log", "median")
SELECT_BEST = ("miou", "loss", "last")  # or "iou:CLASS"
# Options `auto` may name: chosen by the run (training.finetune) for a checkpoint start, else the defaults.
AUTO_OPTIONS = (
    "optimizer",
    "lr",
    "epochs",
    "freeze_backbone",
    "eval_size",
    "batch_size",
    "repeat",
    "fragment_classes",
)


@dataclass
class TrainConfig:
    """Settings of one training run (plain types only; `to_dict` is what config.json holds).

    Attributes:
        data: dataset path (any form `training.data.open_dataset` accepts).
        output: run folder (last.pt, best.pt, history.csv, config.json, report.json).
        val: a separate validation dataset; then every labelled sample of `data` is used for training.
        images: image folder for exports that hold no images (CVAT).
        classes: class file (labelmap.txt / classes.json) for data without one.
        unknown_classes: class names whose pixels are read as unknown (not trained on, not scored):
            sparse exports where every unpainted pixel was saved as "background".
        val_fraction: share of samples put in val when the data names no split.
        random_split: ignore the split the data names (train/val folders, ImageSets) and use a seeded random
            split with `val_fraction` instead.
        propagated: a segtool label set's frames propagated along a video and not yet reviewed:
            "exclude" (default: only labels a person painted or accepted) or "include".
        backbone, output_stride, decoder, aux_head: the network (see docs/models.md).
        width_mult: MobileNetV3 channel multiplier (mobilenet_v3_large only; 1.0 = standard).
        aspp_channels: width of the ASPP module and the layers after it (256 = standard).
        init: "scratch", "imagenet", "coco" or the path of a segtool checkpoint to fine-tune.
        weights_file: local .pth for imagenet/coco init (offline machines).
        epochs: passes over the training set (times `repeat`).
        repeat: the training set is shown this many times per epoch (tiny datasets: fewer, longer epochs).
        batch_size: images per step (per process under torchrun).
        crop_size: square training crop in network pixels.
        eval_size: shorter side the image is resized to for validation and inference (stored in the
            checkpoint's preprocess); 0 = the image's own size. Training scales are relative to it.
        scale_min, scale_max: random scale range (relative to eval_size) before cropping.
        hflip: random horizontal flips.
        color_jitter: random brightness/contrast/saturation/hue.
        field_augment: rotation, exposure, white balance, blur and JPEG as in field footage.
        optimizer: "sgd" (momentum 0.9) or "adamw".
        lr: base learning rate (backbone); 0 = 0.01 for SGD, 1e-4 for AdamW.
        weight_decay: 1e-4 (5e-4 is the other common choice; AdamW default 1e-2 when left at 0).
        head_lr_mult: the heads learn this many times faster (10 is usual with a pretrained backbone).
        warmup_iters: linear warm-up steps; -1 = automatic (5% of all steps, at most 500).
        poly_power: poly learning-rate decay power.
        aux_weight: weight of the auxiliary head's loss (0 builds no auxiliary head).
        class_weights: "none", "log" (1/ln(1.02+p), ENet) or "median" (median-frequency balancing).
        select_best: the epoch `best.pt` keeps: "miou" (highest validation mIoU), "loss" (lowest
            validation loss), "last", or "iou:CLASS" (highest IoU of one class, e.g. "iou:rocks": with
            sparse labels mIoU prefers an epoch that predicts only background).
        amp: mixed precision on CUDA.
        channels_last: NHWC memory format (faster with cuDNN and oneDNN).
        workers: data-loading processes.
        device: auto, cpu, cuda, cuda:N, mps.
        seed: seeds the split, initialisation, augmentations and order.
        limit: use only the first N training and N validation samples (quick trials); 0 = all.
        fragments: "INTERIOR[,EDGE[,CENTRE]]": the classes a fragment's inside, edge and core are, written to the
            checkpoint's `fragments` entry; "" = automatic (rock,rock_edge for fragment-outline data).
        edge_width, unlabelled, background_categories: how fragment outlines (instance PNGs, COCO) become
            classes (see training/data/instances.py).
        fragment_classes: "edge" (background / rock / rock_edge, the edge split) or "edge+centre" (+
            rock_centre, the core of every fragment: the learned centre split); for fragment outlines.
        freeze_backbone: the backbone's weights and BatchNorm statistics stay as loaded; only the heads learn.
        auto: options (from AUTO_OPTIONS) the run chooses itself: with a checkpoint start the measured
            fine-tuning defaults (training.finetune.FINETUNE_DEFAULTS) and the start's resize_short as
            eval_size; otherwise this class's defaults. The CLI lists here every such option not typed.
    """

    data: str = ""
    output: str = ""
    val: str | None = None
    images: str | None = None
    classes: str | None = None
    unknown_classes: list[str] = field(default_factory=list)
    val_fraction: float = 0.2
    random_split: bool = False
    propagated: str = "exclude"
    backbone: str = "resnet50"
    output_stride: int = 16
    decoder: str = "none"
    width_mult: float = 1.0
    aspp_channels: int = 256
    init: str = "scratch"
    weights_file: str | None = None
    epochs: int = 30
    repeat: int = 1
    batch_size: int = 8
    crop_size: int = 512
    eval_size: int = 520
    scale_min: float = 0.5
    scale_max: float = 2.0
    hflip: bool = True
    color_jitter: bool = False
    field_augment: bool = False
    optimizer: str = "sgd"
    lr: float = 0.0
    weight_decay: float = 1e-4
    head_lr_mult: float = 1.0
    warmup_iters: int = -1
    poly_power: float = 0.9
    aux_weight: float = 0.4
    class_weights: str = "none"
    select_best: str = "miou"
    amp: bool = True
    channels_last: bool = True
    workers: int = 0
    device: str = "auto"
    seed: int = 0
    limit: int = 0
    class_map: str = ""  # "old=new,…": a checkpoint's class renamed in the data keeps its trained classifier
    fragments: str = ""
    edge_width: int = 3
    unlabelled: str = "auto"
    background_categories: list[str] = field(default_factory=list)
    fragment_classes: str = "edge"
    freeze_backbone: bool = False
    auto: list[str] = field(default_factory=list)

    def instance_options(self):
        from segtool.training.data.instances import CENTRE_FRACTION, InstanceOptions

        if self.fragment_classes not in ("edge", "edge+centre"):
            raise UserInputError(
                f"--fragment-classes must be edge or edge+centre; got {self.fragment_classes!r}"
            )
        centre = CENTRE_FRACTION if self.fragment_classes == "edge+centre" else None
        return InstanceOptions(
            self.edge_width, self.unlabelled, tuple(self.background_categories), centre
        ).validate()

    @property
    def base_lr(self) -> float:
        if self.lr > 0:
            return self.lr
        return 0.01 if self.optimizer == "sgd" else 1e-4

    @property
    def aux_head(self) -> bool:
        return self.aux_weight > 0

    def validate(self) -> TrainConfig:
        """Check values a user typed; raises UserInputError naming the option and the accepted values."""

        def bad(opt: str, value: Any, want: str) -> UserInputError:
            return UserInputError(f"--{opt.replace('_', '-')} {value!r}: {want}")

        if not self.data:
            raise UserInputError("no dataset given; pass DATA (a folder or .zip)")
        if not self.output:
            raise UserInputError("no run folder given; pass -o RUN")
        if self.propagated not in ("exclude", "include"):
            raise bad("propagated", self.propagated, "use exclude or include")
        if self.backbone not in BACKBONES:
            raise bad("backbone", self.backbone, f"choose one of {', '.join(BACKBONES)}")
        if self.output_stride not in OUTPUT_STRIDES:
            raise bad("output_stride", self.output_stride, "use 8 or 16")
        if self.decoder not in DECODERS:
            raise bad("decoder", self.decoder, "use none or v3plus")
        if self.init not in INITS and not Path(self.init).is_file():
            raise bad("init", self.init, f"use {', '.join(INITS)} or the path of a segtool checkpoint (.pt)")
        if self.optimizer not in OPTIMIZERS:
            raise bad("optimizer", self.optimizer, "use sgd or adamw")
        if self.class_weights not in CLASS_WEIGHTS:
            raise bad("class_weights", self.class_weights, "use none, log or median")
        if self.select_best not in SELECT_BEST and not (
            self.select_best.startswith("iou:") and self.select_best[4:]
        ):
            raise bad("select_best", self.select_best, "use miou, loss, last or iou:CLASS (e.g. iou:rocks)")
        for name in ("epochs", "batch_size", "repeat"):
            if getattr(self, name) < 1:
                raise bad(name, getattr(self, name), "use 1 or more")
        if self.crop_size < 32:
            raise bad("crop_size", self.crop_size, "use 32 or more (e.g. 512)")
        if self.eval_size != 0 and self.eval_size < 32:
            raise bad("eval_size", self.eval_size, "use 32 or more, or 0 for the images' own size")
        if not 0 < self.scale_min <= self.scale_max:
            raise bad("scale_min", self.scale_min, "need 0 < scale-min <= scale-max")
        if self.lr < 0 or self.weight_decay < 0 or self.head_lr_mult <= 0:
            raise UserInputError("--lr and --weight-decay must be >= 0 and --head-lr-mult > 0")
        if not 0 <= self.val_fraction < 1:
            raise bad("val_fraction", self.val_fraction, "use a fraction in [0, 1), e.g. 0.2")
        if self.aux_weight < 0:
            raise bad("aux_weight", self.aux_weight, "use 0 (no auxiliary head) or a weight such as 0.4")
        if self.workers < 0 or self.limit < 0:
            raise UserInputError("--workers and --limit must be >= 0")
        self.instance_options()
        if self.fragments and not self.fragments.split(",")[0].strip():
            raise bad(
                "fragments", self.fragments, "use INTERIOR or INTERIOR,EDGE class names, e.g. rock,rock_edge"
            )
        parse_class_map(self.class_map)
        unknown = [a for a in self.auto if a not in AUTO_OPTIONS]
        if unknown:
            raise UserInputError(
                f"auto {unknown}: only {', '.join(AUTO_OPTIONS)} can be chosen automatically"
            )
        return self

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        """Rebuild from config.json; unknown keys (from a newer segtool) are ignored."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    def save(self, path: str | os.PathLike) -> None:
        """Write config.json atomically; a full disk or read-only folder is a UserInputError naming it."""
        try:
            atomic_write(path, json.dumps(self.to_dict(), indent=2) + "\n")
        except OSError as e:
            raise UserInputError(describe_write_error(path, e)) from e

    @classmethod
    def load(cls, path: str | os.PathLike) -> TrainConfig:
        try:
            return cls.from_dict(json.loads(Path(path).read_text()))
        except (OSError, ValueError, TypeError) as e:
            raise UserInputError(
                f"cannot read {path}: {e}; the run folder is damaged — start a new run"
            ) from e


def parse_class_map(text: str) -> dict[str, str]:
    """`"rock=rocks,sand=fines"` -> {"rock": "rocks", "sand": "fines"} (checkpoint name -> dataset name)."""
    out: dict[str, str] = {}
    for part in (p.strip() for p in (text or "").split(",")):
        if not part:
            continue
        old, sep, new = (x.strip() for x in part.partition("="))
        if not sep or not old or not new:
            raise UserInputError(
                f"--class-map {part!r}: write OLD=NEW (the checkpoint's class name = the data's), "
                "e.g. --class-map rock=rocks"
            )
        out[old] = new
    return out
