"""Frames of a segtool label set that were propagated along a video and not yet reviewed by a person.

segtool's label set (segtool/core/labelset.py) marks such frames in its manifest.json with
`"propagated_from": <stem>, "reviewed": false`. Training reads the mark here (training never imports
segtool) so that `--propagated exclude` can leave them out of both training and validation.
"""

from __future__ import annotations

import json
from pathlib import Path

from .dataset import Sample

PROPAGATED_CHOICES = ("exclude", "include")


def unreviewed_stems(root: str | Path) -> set[str]:
    """Image stems the label set at `root` marks "propagated, not reviewed" (empty for any other data)."""
    man = Path(root) / "manifest.json"
    if not man.is_file():
        return set()
    try:
        doc = json.loads(man.read_text(encoding="utf-8"))
        frames = doc.get("frames", []) if doc.get("format") == "segtool-labels" else []
        return {
            Path(f["image"]).stem
            for f in frames
            if f.get("propagated_from") is not None and not f.get("reviewed", False)
        }
    except (ValueError, TypeError, AttributeError, KeyError):
        return set()  # a damaged manifest: the check reports the data itself; nothing is marked


def drop_unreviewed(samples: list[Sample], stems: set[str]) -> tuple[list[Sample], int]:
    """`samples` without the unreviewed propagated frames, and how many were left out."""
    kept = [s for s in samples if s.image.stem not in stems]
    return kept, len(samples) - len(kept)
