"""Turn a plain state dict (torchvision's published files, a seed notebook's `model.state_dict()`) into a
segtool checkpoint, explaining every mismatch in words."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from segtool.base.errors import CheckpointError
from segtool.models.checkpoint import FORMAT, Checkpoint, default_preprocess, load_weights, safe_torch_load
from segtool.models.classes import make_classes
from segtool.models.config import ModelConfig
from segtool.models.deeplab import build_from_config
from segtool.models.heads import AUX_FINAL_KEY, final_layer_key
from segtool.models.state_dict import guess_backbone, is_state_dict, strip_prefixes

# torchvision's DeepLabV3 builders use ASPP rates 12/24/36 for every backbone, with ResNets at output
# stride 8 and MobileNetV3 at 16. Importing with these defaults reproduces torchvision's predictions.
TORCHVISION_RATES = (12, 24, 36)


def torchvision_output_stride(backbone: str) -> int:
    return 16 if backbone.startswith("mobilenet") else 8


def _unwrap(obj: Any, path: Path, notes: list[str]) -> dict:
    if isinstance(obj, dict) and obj.get("format") == FORMAT:
        raise CheckpointError(f"{path} is already a segtool checkpoint; `segtool info {path}` describes it")
    if is_state_dict(obj):
        return obj
    for key in ("model", "state_dict", "model_state_dict"):
        if isinstance(obj, dict) and is_state_dict(obj.get(key)):
            notes.append(f"took the weights from the file's '{key}' entry (a training checkpoint)")
            return obj[key]
    kind = type(obj).__name__
    raise CheckpointError(
        f"{path} holds a {kind}, not a state dict (a mapping of parameter names to tensors); "
        "save one with torch.save(model.state_dict(), 'weights.pth')"
    )


def _classes_in(sd: dict, key: str) -> int | None:
    w = sd.get(f"{key}.weight")
    return int(w.shape[0]) if w is not None else None


def import_state_dict(
    path: str | os.PathLike,
    *,
    backbone: str,
    class_names: Sequence[str],
    colors: Sequence[Sequence[int]] | None = None,
    output_stride: int | None = None,
    aspp_rates: Sequence[int] | None = None,
    multi_grid: Sequence[int] | None = None,
    decoder: str | None = None,
    preprocess: dict[str, Any] | None = None,
) -> tuple[Checkpoint, list[str]]:
    """Read a plain state dict and return a checkpoint plus notes on what was adapted.

    Defaults follow torchvision's own configuration (see TORCHVISION_RATES), so an imported torchvision
    model predicts exactly what torchvision predicts. `module.` and `_orig_mod.` prefixes are stripped.
    An auxiliary head whose class count differs from `class_names` (a seed notebook that replaced only the
    main classifier) is dropped with a note: it only serves training.

    Raises:
        CheckpointError / UserInputError: the file is unusable or does not fit; the message says why.
    """
    path = Path(path)
    notes: list[str] = []
    raw = _unwrap(safe_torch_load(path), path, notes)
    sd = strip_prefixes(raw)
    if len(sd) != len(raw) or any(a != b for a, b in zip(sd, raw)):
        notes.append("removed 'module.' / '_orig_mod.' key prefixes (DataParallel / torch.compile)")
    if not any(k.startswith("backbone.") for k in sd):
        raise CheckpointError(
            f"{path} has no 'backbone.*' weights, so it is not a DeepLabV3 state dict in torchvision's layout "
            f"(first keys: {', '.join(list(sd)[:3])}); for an ImageNet classification network use it as "
            "backbone initialisation in training instead"
        )
    if decoder is None:
        decoder = "v3plus" if any(k.startswith("classifier.aspp.") for k in sd) else "none"
    names = list(class_names)
    k_file = _classes_in(sd, final_layer_key(decoder))
    if k_file is None:
        raise CheckpointError(
            f"{path} has no classifier weights ('{final_layer_key(decoder)}.weight' is missing)"
        )
    if k_file != len(names):
        hint = " (torchvision's COCO/VOC weights: use --classes voc)" if k_file == 21 else ""
        raise CheckpointError(
            f"the weights predict {k_file} classes ({final_layer_key(decoder)}.weight has {k_file} rows) but --classes "
            f"names {len(names)}: {', '.join(names)}; give exactly {k_file} names{hint}"
        )
    k_aux = _classes_in(sd, AUX_FINAL_KEY)
    aux_head = k_aux is not None
    if aux_head and k_aux != k_file:
        sd = {k: v for k, v in sd.items() if not k.startswith("aux_classifier.")}
        aux_head = False
        notes.append(
            f"dropped the auxiliary head: it has {k_aux} outputs but the main classifier has {k_file} "
            "(it is only used for the training loss)"
        )
    guess = guess_backbone(sd)
    if guess and guess != backbone:
        raise CheckpointError(f"{path} looks like a {guess} network, not {backbone}; use --backbone {guess}")
    os_ = output_stride or torchvision_output_stride(backbone)
    config = ModelConfig.create(
        backbone=backbone,
        num_classes=k_file,
        output_stride=os_,
        aspp_rates=aspp_rates or TORCHVISION_RATES,
        multi_grid=multi_grid,
        decoder=decoder,
        aux_head=aux_head,
    )
    load_weights(build_from_config(config), sd, what=f"the weights in {path.name}")
    ckpt = Checkpoint(
        config=config,
        classes=make_classes(names, colors),
        state_dict=sd,
        preprocess=preprocess or default_preprocess(),
        train={"source": f"imported from {path.name}", "notes": notes},
    )
    return ckpt, notes
