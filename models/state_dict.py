"""Plain state dicts: recognising them, cleaning their keys, explaining mismatches in words, and loading
the part of one that fits a model (`load_matching`)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
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
    expected: Mapping[str, tuple[int, ...]],
    got: Mapping[str, tuple[int, ...]],
    *,
    backbone: str | None = None,
) -> list[str]:
    """Sentences describing how a state dict differs from what a model expects ([] = it fits)."""
    missing = [k for k in expected if k not in got and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in got if k not in expected]
    wrong = [(k, got[k], expected[k]) for k in expected if k in got and tuple(got[k]) != tuple(expected[k])]
    problems = []
    if missing or unexpected or wrong:
        guess = guess_backbone(got)
        if backbone and guess and guess != backbone:
            problems.append(
                f"the weights look like a {guess} network, not {backbone}: try --backbone {guess}"
            )
    if wrong:
        desc = "; ".join(f"{k}: file {list(g)} vs model {list(e)}" for k, g, e in wrong[:4])
        more = f" (and {len(wrong) - 4} more)" if len(wrong) > 4 else ""
        problems.append(f"{len(wrong)} tensor(s) have other shapes: {desc}{more}")
    if missing:
        problems.append(f"{len(missing)} weight(s) the model needs are not in the file: {_group(missing)}")
    if unexpected:
        problems.append(
            f"{len(unexpected)} weight(s) in the file have no place in the model: {_group(unexpected)}"
        )
    return problems


@dataclass(frozen=True)
class PartialLoad:
    """What `load_matching` did: how many of the model's tensors came from the file, and, in words, each
    tensor of the file that was not loaded and each tensor of the model the file did not provide."""

    loaded: int
    total: int
    skipped: list[str] = field(
        default_factory=list
    )  # "key: file [..] vs model [..]", "key: no place in the model"
    missing: list[str] = field(default_factory=list)  # model keys left as initialised

    def notes(self, origin: str) -> list[str]:
        """One line of what was loaded, and a warning line for what was skipped (never silent)."""
        out = [f"initialised {self.loaded} of {self.total} tensors from {origin}"]
        if self.skipped:
            out.append(
                f"warning: {len(self.skipped)} tensor(s) of {origin} not loaded (their layers keep fresh weights): "
                + "; ".join(self.skipped[:4])
                + (f"; and {len(self.skipped) - 4} more" if len(self.skipped) > 4 else "")
            )
        return out


def load_matching(
    model: torch.nn.Module, state_dict: Mapping[str, torch.Tensor], *, leave_out: Iterable[str] = ()
) -> PartialLoad:
    """Load the tensors of `state_dict` that fit `model` (same name and shape) and say what did not.

    The one partial-loading rule for fine-tuning from a checkpoint and for pretrained weights: a tensor
    whose shape differs (e.g. the class-specific last layer of a net with another class count) or that
    has no place in the model is skipped and listed, never dropped silently.

    Args:
        leave_out: layer names (`classifier.4`) whose tensors are skipped even if they fit, e.g. a last
            layer that must be re-created because the classes changed.
    """
    own = model.state_dict()
    drop = set(leave_out)
    take: dict[str, torch.Tensor] = {}
    skipped: list[str] = []
    for k, v in state_dict.items():
        if k not in own:
            skipped.append(f"{k}: no place in the model")
        elif tuple(v.shape) != tuple(own[k].shape):
            skipped.append(f"{k}: file {list(v.shape)} vs model {list(own[k].shape)}")
        elif k.rsplit(".", 1)[0] in drop:
            skipped.append(f"{k}: re-created")
        else:
            take[k] = v
    model.load_state_dict(take, strict=False)
    missing = [
        k for k in own if k not in take and k not in state_dict and not k.endswith("num_batches_tracked")
    ]
    return PartialLoad(len(take), len(own), skipped, missing)
