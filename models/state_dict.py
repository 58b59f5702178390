"""Plain state dicts: recognising them, cleaning their keys, and explaining mismatches in words."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

import torch

_PREFIXES = ("module.", "_orig_mod.")  # DataParallel/DistributedDataParallel, torch.compile


def is_state_dict(obj: Any) -> bool:
    """A non-empty mapping of string keys to tensors."""
    return (
        isinstance(obj, Mapping)
        and len(obj) > 0
        and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items())
    )


def strip_prefixes(sd: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Remove `module.` and `_orig_mod.` wherever they lead a key (also nested, e.g. `module._orig_mod.`)."""
    out = {}
    for k, v in sd.items():
        changed = True
        while changed:
            changed = False
            for p in _PREFIXES:
                if k.startswith(p):
                    k, changed = k[len(p) :], True
        out[k] = v
    return out


def guess_backbone(keys: Any) -> str | None:
    """Which of our backbones a state dict's `backbone.*` keys come from, or None."""
    keys = set(keys)
    if any(k.startswith("backbone.16.") or k.startswith("backbone.15.block") for k in keys):
        return "mobilenet_v3_large"
    if any(k.startswith("backbone.layer3.22.") for k in keys):
        return "resnet101"
    if any(k.startswith("backbone.layer1.0.conv3.") for k in keys):
        return "resnet50"
    if any(k.startswith("backbone.layer3.5.") for k in keys):
        return "resnet34"
    if any(k.startswith("backbone.layer1.0.conv1.") for k in keys):
        return "resnet18"
    return None


def _group(keys: list[str]) -> str:
    """Summarise keys by their first two path components: 'backbone.layer4 (30 keys), …'."""
    counts = Counter(".".join(k.split(".")[:2]) for k in keys)
    parts = [f"{p} ({n} key{'s' if n > 1 else ''})" for p, n in sorted(counts.items())]
    return ", ".join(parts[:6]) + (f", … {len(parts) - 6} more groups" if len(parts) > 6 else "")


def explain_mismatch(
    expected: Mapping[str, tuple[int, ...]], got: Mapping[str, tuple[int, ...]], *, backbone: str | None = None
) -> list[str]:
    """Sentences describing how a state dict differs from what a model expects ([] = it fits)."""
    missing = [k for k in expected if k not in got and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in got if k not in expected]
    wrong = [(k, got[k], expected[k]) for k in expected if k in got and tuple(got[k]) != tuple(expected[k])]
    problems = []
    if missing or unexpected or wrong:
        guess = guess_backbone(got)
        if backbone and guess and guess != backbone:
            problems.append(f"the weights look like a {guess} network, not {backbone}: try --backbone {guess}")
    if wrong:
        desc = "; ".join(f"{k}: file {list(g)} vs model {list(e)}" for k, g, e in wrong[:4])
        more = f" (and {len(wrong) - 4} more)" if len(wrong) > 4 else ""
        problems.append(f"{len(wrong)} tensor(s) have other shapes: {desc}{more}")
    if missing:
        problems.append(f"{len(missing)} weight(s) the model needs are not in the file: {_group(missing)}")
    if unexpected:
        problems.append(f"{len(unexpected)} weight(s) in the file have no place in the model: {_group(unexpected)}")
    return problems
