"""Fine-tuning from a segtool checkpoint (`--init CKPT`): what the new model keeps of the start, the
settings chosen for fine-tuning, and the start model's score on the run's validation frames.

A fine-tuned model is the start model corrected, not a new one: same-named classes keep their colours
(when the data only names its classes), the start's preprocessing (its `resize_short`) and its
`fragments` entry stay, and the learning-rate schedule is one for a trained network. The start is
scored on the same validation frames as the new model, so report.json can say which one is better.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from segtool.models.checkpoint import splits_by_centres
from segtool.training.config import AUTO_OPTIONS, INITS, TrainConfig, parse_class_map

# Options a fine-tuning run chooses itself unless the user set them (TrainConfig.auto lists them). The
# values are measured on the scribble case (docs/training.md "Fine-tuning a model"): strokes on 2 gravel
# photos, `--init assets/rock_fragments.pt`, scored on the gravel hold-out (fragment F1 0.392 before).
# Training the backbone lost fragments at every rate tried (SGD 0.001: F1 0.29, SGD 1e-4: 0.33, AdamW
# 1e-4: 0.28; SGD 0.01 and AdamW 0.001 diverged); frozen: SGD 0.001 0.386, AdamW 1e-4 0.395, AdamW
# 0.001 0.404 (twice, identical), SGD 0.01 0.265. AdamW 0.001 was the default until it was measured on a
# new material (issue 20, docs/fragments.md "Adapting to a new site", the site design: tiles of one photo
# labelled, the rest of it scored): there it destroyed the start model in many runs (fragment F1 down to 0
# with strokes on 4 tiles) while 1e-4 kept or raised it; on the scribble case 1e-4 costs 0.009 F1.
FINETUNE_DEFAULTS: dict[str, Any] = {
    "optimizer": "adamw",
    "lr": 1e-4,
    "epochs": 10,
    "freeze_backbone": True,
    "batch_size": 4,
}
CROPS_PER_EPOCH = (
    8  # fine-tuning a few photos: --repeat so that an epoch has at least this many crops (as measured)
)
# --lr not given: the rate measured best for the optimiser and the frozen (True) or training backbone
FINETUNE_LR = {("adamw", True): 1e-4, ("adamw", False): 1e-4, ("sgd", True): 1e-3, ("sgd", False): 1e-4}
assert set(FINETUNE_DEFAULTS) | {"eval_size", "repeat", "fragment_classes"} == set(AUTO_OPTIONS)


def is_checkpoint_start(cfg: TrainConfig) -> bool:
    return cfg.init not in INITS


def resolve_auto(
    cfg: TrainConfig, start_resize_short: int | None, start_fragments: dict | None = None
) -> tuple[TrainConfig, list[str]]:
    """Fill in the options named in `cfg.auto`: for a checkpoint start the fine-tuning defaults, the
    start's resize_short (as eval_size) and its split (fragment outlines become rock_centre too when the
    start splits by centres); otherwise the from-scratch defaults. Returns (config, notes)."""
    auto = set(cfg.auto)
    if not auto:
        return cfg, []
    fine = is_checkpoint_start(cfg)
    values: dict[str, Any] = {}
    base = TrainConfig()
    for name in FINETUNE_DEFAULTS:
        if name in auto:
            values[name] = FINETUNE_DEFAULTS[name] if fine else getattr(base, name)
    if fine and "lr" in auto:
        values["lr"] = FINETUNE_LR[
            (values.get("optimizer", cfg.optimizer), values.get("freeze_backbone", cfg.freeze_backbone))
        ]
    if "eval_size" in auto:
        values["eval_size"] = (start_resize_short or 0) if fine else base.eval_size
    if "fragment_classes" in auto:
        centre = fine and splits_by_centres(start_fragments)
        values["fragment_classes"] = "edge+centre" if centre else base.fragment_classes
    new = dataclasses.replace(cfg, **values)
    notes = []
    if fine:
        chosen = ", ".join(f"{k.replace('_', '-')} {v}" for k, v in values.items())
        notes.append(f"fine-tuning defaults (options not given): {chosen}")
    return new, notes


def auto_repeat(cfg: TrainConfig, train_images: int) -> tuple[TrainConfig, str | None]:
    """--repeat when it is in `cfg.auto`: for a checkpoint start, enough to fill CROPS_PER_EPOCH crops per
    epoch from the training images (a label set of 1-2 photos trains; the scribble case was measured
    with 1 photo, --repeat 8, --batch-size 4); otherwise 1."""
    if "repeat" not in cfg.auto:
        return cfg, None
    if not is_checkpoint_start(cfg) or not train_images:
        return dataclasses.replace(cfg, repeat=1), None
    repeat = max(1, -(-CROPS_PER_EPOCH // train_images))
    note = (
        f"fine-tuning on {train_images} image(s): each shown {repeat} times an epoch" if repeat > 1 else None
    )
    return dataclasses.replace(cfg, repeat=repeat), note


def kept_fragments(
    start_fragments: dict | None, names: Sequence[str], mapping: dict[str, str]
) -> tuple[dict | None, str | None]:
    """The start's `fragments` entry in the new model's class names, or None when its interior class is
    gone; an edge class the data lacks becomes None (the distance split). Returns (entry, note)."""
    if not start_fragments:
        return None, None
    interior = mapping.get(start_fragments["interior"], start_fragments["interior"])
    edge = start_fragments.get("edge")
    edge = mapping.get(edge, edge) if edge else None
    if interior not in names:
        return None, (
            f"the start's fragments entry is dropped: its interior class {interior!r} is not among the "
            f"data's classes ({', '.join(names)})"
        )
    if edge is not None and edge not in names:
        return {"interior": interior, "edge": None}, (
            f"the start's edge class {edge!r} is not among the data's classes: fragments are split by distance"
        )
    centre = start_fragments.get("centre")
    centre = mapping.get(centre, centre) if centre else None
    if splits_by_centres(start_fragments):
        if centre in names and edge is not None:
            return {"interior": interior, "edge": edge, "centre": centre, "split": "centre"}, None
        return {"interior": interior, "edge": edge}, (
            f"the start's centre class {centre!r} is not among the data's classes: fragments are split by edges"
        )
    return {"interior": interior, "edge": edge}, None


def dropped_centres(start_fragments: dict | None, new_fragments: dict | None) -> str | None:
    """A note when the start splits by centres and the new model will not (its data has no rock_centre:
    `--fragment-classes edge` typed, or data that are not fragment outlines)."""
    if not splits_by_centres(start_fragments) or splits_by_centres(new_fragments):
        return None
    how = (
        "by edges" if (new_fragments or {}).get("edge") else "by distance" if new_fragments else "not at all"
    )
    return (
        f"the start splits fragments by centres ({start_fragments.get('centre')}); the new model has no centre "
        f"class and splits them {how}: for fragment outlines, leave out --fragment-classes (or give "
        "edge+centre) to keep the centres"
    )


def start_colours(
    start_classes: Sequence[dict],
    names: Sequence[str],
    colours: Sequence[Sequence[int]],
    mapping: dict[str, str],
) -> list[list[int]]:
    """The data's class colours with those of same-named start classes (after --class-map) put back."""
    by_name = {mapping.get(c["name"], c["name"]): list(c["color"]) for c in start_classes}
    return [by_name.get(n, list(col)) for n, col in zip(names, colours, strict=True)]


class _AsDataClasses(torch.nn.Module):
    """The start model with its logits reordered into the data's class ids: a data class the start lacks
    gets -inf (never predicted); start classes the data lacks stay as extra channels after the data's, so
    a pixel the start gives to one of them counts as a wrong prediction, not as its runner-up class."""

    def __init__(self, net: torch.nn.Module, order: list[int]) -> None:
        super().__init__()
        self.net, self.order = net, order

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        out = self.net(x)["out"]
        n, _, h, w = out.shape
        missing = torch.full((n, 1, h, w), -math.inf, dtype=out.dtype, device=out.device)
        cols = [out[:, i : i + 1] if i >= 0 else missing for i in self.order]
        return {"out": torch.cat(cols, dim=1)}


def start_model_for_scoring(
    path: str | Path, names: Sequence[str], class_map: str
) -> tuple[torch.nn.Module, dict, list[str]]:
    """(model whose logits follow the data's class ids plus the start's other classes, the start's
    preprocess, names of those other classes)."""
    from segtool.models import load_checkpoint
    from segtool.models.checkpoint import load_weights
    from segtool.models.deeplab import build_from_config

    ckpt = load_checkpoint(path)
    net = build_from_config(ckpt.config)
    load_weights(net, ckpt.state_dict, what=f"{path}'s weights")
    mapping = parse_class_map(class_map)
    renamed = [mapping.get(n, n) for n in ckpt.class_names]
    order = [renamed.index(n) if n in renamed else -1 for n in names]
    extra = [i for i, n in enumerate(renamed) if n not in names]
    return _AsDataClasses(net, order + extra), dict(ckpt.preprocess), [renamed[i] for i in extra]


def score_start(
    cfg: TrainConfig,
    names: list[str],
    loader,
    device: torch.device,
    *,
    ignore_index: int,
    weight: torch.Tensor | None,
    amp_dtype,
) -> tuple[dict[str, Any], float | None]:
    """Score the start checkpoint on the run's validation `loader` with its own preprocessing, as the new
    model is scored (classes without a labelled pixel left out of mIoU). Returns (report.json's `start`,
    the start's validation loss: the reference for divergence)."""
    from segtool.training.engine import evaluate
    from segtool.training.metrics import report_dict

    net, pre, extra = start_model_for_scoring(cfg.init, names, cfg.class_map)
    w = None if weight is None else torch.cat([weight.cpu(), torch.ones(len(extra))])
    r = evaluate(
        net.to(device),
        loader,
        device,
        num_classes=len(names) + len(extra),
        preprocess_cfg=pre,
        ignore_index=ignore_index,
        weight=w,
        amp_dtype=amp_dtype,
    )
    rep = report_dict(r.matrix, names + extra, r.images, labelled_only=True)
    rep["per_class_iou"] = {n: rep["per_class_iou"][n] for n in names}
    return start_entry(cfg.init, rep), r.loss


def start_entry(checkpoint: str, report: dict[str, Any]) -> dict[str, Any]:
    """report.json's `start` object (a contract: the app's swap dialog reads `start.miou`)."""
    return {
        "checkpoint": checkpoint,
        "miou": report.get("miou"),
        "pixel_accuracy": report.get("pixel_accuracy"),
        "per_class_iou": report.get("per_class_iou", {}),
        "images": report.get("images", 0),
    }


def worse_than_start(new: dict[str, Any], start: dict[str, Any]) -> dict | None:
    """A report.json warning when the new model scores a lower mIoU than the start on the same frames."""
    a, b = new.get("miou"), start.get("miou")
    if a is None or b is None or a >= b:
        return None
    return {
        "class": None,
        "problem": "worse_than_start",
        "message": f"the new model is worse than the one it started from: mIoU {a:.3f} against {b:.3f} "
        f"on the same {start.get('images', 0)} validation image(s); keep using {start['checkpoint']}",
        "try": ["a lower learning rate", "fewer epochs", "more labelled images (or more strokes per image)"],
    }
