"""Labelled datasets: import any supported form into one `LabelledData`, and validate it.

    data = open_dataset("rocks.zip", images="rocks_images/")
    report = check_dataset(data)
    print(report.as_text()); report.raise_for_errors()
    ids = data.load_mask(data.samples[0])      # HxW uint8, void → data.ignore_index

Forms and how they are detected: docs/datasets.md.
"""

from __future__ import annotations

from .archive import extract_zip
from .check import ValidationReport, check_dataset
from .classes import CAMVID_CLASSES, ClassInfo, read_class_file
from .dataset import LabelledData, Sample
from .detect import open_dataset
from .masks import MaskCoding

__all__ = [
    "CAMVID_CLASSES",
    "ClassInfo",
    "LabelledData",
    "MaskCoding",
    "Sample",
    "ValidationReport",
    "check_dataset",
    "extract_zip",
    "open_dataset",
    "read_class_file",
]
