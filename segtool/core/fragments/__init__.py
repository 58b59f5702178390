"""Rock fragments: split a prediction (or labels) into fragments, measure them, size distributions.

Qt-free and torch-free; the CLI (`segtool fragments`) and the app's Measure panel call the same code.
Entry point for one frame: `analyse_prediction` (see analyse.py); files: report.py; scale: scale.py.
"""

from __future__ import annotations

from .analyse import (
    MIN_SIZE_PX,
    FragmentSettings,
    FragmentSpec,
    FrameFragments,
    analyse_binary,
    analyse_labels,
    analyse_prediction,
    distribution_of,
)
from .distribution import Distribution, d_value, passing
from .fits import fit_rosin_rammler, fit_swebrec, rosin_rammler, swebrec
from .measure import FragmentTable, measure
from .scale import Scale, load_scale, save_scale, sidecar_path
from .split import MIN_DISTANCE, split_by_distance, split_with_centres, split_with_edges

__all__ = [
    "MIN_DISTANCE",
    "MIN_SIZE_PX",
    "Distribution",
    "FragmentSettings",
    "FragmentSpec",
    "FragmentTable",
    "FrameFragments",
    "Scale",
    "analyse_binary",
    "analyse_labels",
    "analyse_prediction",
    "d_value",
    "distribution_of",
    "fit_rosin_rammler",
    "fit_swebrec",
    "load_scale",
    "measure",
    "passing",
    "rosin_rammler",
    "save_scale",
    "sidecar_path",
    "split_by_distance",
    "split_with_centres",
    "split_with_edges",
    "swebrec",
]
