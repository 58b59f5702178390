"""A model's confidence as one number per image, and the checkpoint's `confidence_reference` entry.

`rescaled_mean` is the one implementation of "how sure the model is on this picture": the trainer
measures it on the validation images (stored in the checkpoint as the model's reference), the app
measures it on the footage shown (`segtool.core.confidence`), and the notice compares the two.

No torch or numpy import: `rescaled_mean` takes a numpy array or a torch tensor (both slice, clip and
average alike), so training (tensors) and core (arrays) share it.
"""

from __future__ import annotations

import math
from typing import Any

from segtool.base.errors import UserInputError

# Where a reference was measured: the run's validation images, or images named by the user later
# (`segtool info CKPT --add-confidence-reference IMAGES -o OUT.pt`).
SOURCES = ("validation", "images")


def rescaled_mean(confidence: Any, num_classes: int) -> float:
    """Mean of (confidence - 1/K) / (1 - 1/K) over an HxW map of the winning class's probability
    (every 4th pixel in each direction: plenty for a mean): 0 = a coin flip between the K classes,
    1 = certain.

    Args:
        confidence: HxW float array (numpy) or tensor (torch) of max-softmax probabilities.
        num_classes: the model's class count K (at least 2 is assumed).
    """
    floor = 1.0 / max(num_classes, 2)
    sample = confidence[::4, ::4]
    return float(((sample - floor) / (1.0 - floor)).clip(0.0, 1.0).mean())


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100) with linear interpolation between the sorted values (numpy's default)."""
    if not values:
        raise ValueError("percentile of no values")
    s = sorted(values)
    pos = (len(s) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def make_reference(values: list[float], source: str, data: str | None = None) -> dict[str, Any] | None:
    """The checkpoint's `confidence_reference` from per-image `rescaled_mean` values (None for none):
    {"mean", "p10" (10th percentile of the per-image values), "images", "source", "data"}.
    A model whose output is not finite on some image (a diverged run) has no reference: None."""
    if not values or not all(math.isfinite(v) for v in values):
        return None
    return check_reference(
        {
            "mean": round(sum(values) / len(values), 4),
            "p10": round(percentile(values, 10), 4),
            "images": len(values),
            "source": source,
            "data": data,
        }
    )


def check_reference(value: Any) -> dict[str, Any] | None:
    """Validate a checkpoint's `confidence_reference` entry: None, or a mapping with `mean` and `p10` in
    [0, 1], `images` >= 1, `source` one of SOURCES and `data` a string or null."""
    if value is None:
        return None
    shape = (
        '{"mean": 0..1, "p10": 0..1, "images": N, "source": "validation" or "images", "data": TEXT or null}'
    )
    if not isinstance(value, dict):
        raise UserInputError(f"confidence_reference must be {shape}; got {value!r}")
    for key in ("mean", "p10"):
        v = value.get(key)
        if not isinstance(v, (int, float)) or isinstance(v, bool) or not 0.0 <= float(v) <= 1.0:
            raise UserInputError(f"confidence_reference {key} must be a number from 0 to 1; got {v!r}")
    n = value.get("images")
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise UserInputError(f"confidence_reference images must be a count >= 1; got {n!r}")
    if value.get("source") not in SOURCES:
        raise UserInputError(
            f"confidence_reference source must be one of {', '.join(SOURCES)}; got {value.get('source')!r}"
        )
    data = value.get("data")
    if data is not None and not isinstance(data, str):
        raise UserInputError(f"confidence_reference data must be text or null; got {data!r}")
    return {
        "mean": float(value["mean"]),
        "p10": float(value["p10"]),
        "images": n,
        "source": value["source"],
        "data": data,
    }
