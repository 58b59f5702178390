"""Scoring a checkpoint against labels, for `segtool eval` and the app alike.

Frames and labels come in pairs from a labelled dataset (`dataset_frames`) or from any source with a
folder of label images, one per frame in order (`label_folder_frames`); `evaluate` runs them through
an `Engine` (the checkpoint's preprocessing, masks at the frame's own size, as `segtool predict`) and
returns the report (`training.metrics.report_dict` fields plus where the numbers came from).
"""

from __future__ import annotations

import fnmatch
import threading
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from segtool.base.errors import UserInputError
from segtool.core.engine import Engine
from segtool.models.checkpoint import Checkpoint
from segtool.training.metrics import ConfusionMatrix, report_dict

LabelledPair = tuple[np.ndarray, Callable[[], np.ndarray]]  # RGB frame, and its label ids read on demand
SPLITS = ("auto", "val", "train", "all")


@dataclass
class LabelledFrames:
    """Frames paired with labels. `pairs` yields each once; `total` is how many; `described` says where
    they came from, for the report (e.g. {"split": "val", "form": "folder"})."""

    pairs: Iterator[LabelledPair]
    total: int
    described: dict[str, Any] = field(default_factory=dict)


def dataset_frames(
    data: str | Path,
    ck: Checkpoint,
    *,
    images: str | None = None,
    classes: str | None = None,
    split: str = "auto",
    checkpoint_label: str = "the checkpoint",
) -> LabelledFrames:
    """The labelled samples of a dataset (any form `segtool train` accepts).

    Args:
        images: image folder for exports without images (CVAT).
        classes: labelmap.txt or classes.json for data without one.
        split: auto (the data's val split if it names one, else all), val, train or all.
        checkpoint_label: how messages name the checkpoint (its path in the CLI).

    Raises:
        UserInputError: the data's classes are not the checkpoint's, or the split has no labelled sample.
    """
    from segtool.training.data import open_dataset

    if split not in SPLITS:
        raise UserInputError(f"--split {split}: use one of {', '.join(SPLITS)}")
    ds = open_dataset(data, images=images, val_fraction=0.0, classes=classes)
    if ds.class_names != ck.class_names:
        raise UserInputError(
            f"{data} has classes {', '.join(ds.class_names)} but {checkpoint_label} predicts "
            f"{', '.join(ck.class_names)}; evaluate with data labelled for this model (or give --classes FILE)"
        )
    labelled = [s for s in ds.samples if s.mask is not None]
    if split == "auto":
        split = "val" if any(s.split == "val" for s in labelled) else "all"
    samples = labelled if split == "all" else [s for s in labelled if s.split == split]
    if not samples:
        raise UserInputError(f"{data} has no labelled {split} samples; use --split all")
    pairs = ((ds.load_image(s), (lambda s=s: ds.load_mask(s))) for s in samples)
    return LabelledFrames(pairs, len(samples), {"split": split, "form": ds.form})


def camvid_void_ids(labels_dir: Path) -> tuple[int, ...]:
    """CamVid's label folders (`*annot` beside the images) use 11 for unlabelled; other folders: none."""
    from segtool.training.data.classes import CAMVID_VOID_ID
    from segtool.training.data.folder import is_camvid

    return (CAMVID_VOID_ID,) if labels_dir.name.endswith("annot") and is_camvid(labels_dir.parent) else ()


def label_folder_frames(
    source: str | Path,
    ck: Checkpoint,
    labels: str | Path,
    *,
    labels_glob: str = "*",
    void_ids: Sequence[int] | None = None,
) -> LabelledFrames:
    """An image, folder or video whose frames pair, in order, with the label images in `labels`
    (`labels_glob` picks them, natural sort): e.g. a CamVid clip and `camvid/valannot` filtered to `0016E5_*`.

    Args:
        void_ids: label values that mean unlabelled besides 255; None = automatic (11 for CamVid folders).

    Raises:
        UserInputError: no such folder or matching file, frame and label counts differ (also found
            while reading a source that cannot count its frames first), a label value that is no class.
    """
    from segtool.core.sources import open_source
    from segtool.training.data.classes import ClassInfo
    from segtool.training.data.files import list_images, natural_key
    from segtool.training.data.masks import MaskCoding, decode_raster, read_mask_image

    labels_dir = Path(labels)
    if not labels_dir.is_dir():
        raise UserInputError(f"--labels {labels_dir} is not a folder; give the folder of label images")
    files = sorted(
        (p for p in list_images(labels_dir, recursive=False) if fnmatch.fnmatch(p.name, labels_glob)),
        key=lambda p: natural_key(p.name),
    )
    if not files:
        raise UserInputError(f"--labels {labels_dir}: no image file matches {labels_glob!r}")
    void = tuple(void_ids) if void_ids is not None else camvid_void_ids(labels_dir)
    infos = [ClassInfo(c["name"], tuple(c.get("color") or (0, 0, 0))) for c in ck.classes]
    coding = MaskCoding("index", void_ids=void, colors_known=all(c.get("color") for c in ck.classes))

    def decode(path: Path) -> Callable[[], np.ndarray]:
        def load() -> np.ndarray:
            ids, unknown = decode_raster(read_mask_image(path), infos, coding, ck.ignore_index)
            if unknown:
                top = ", ".join(f"{k} ×{v} px" for k, v in list(unknown.items())[:3])
                raise UserInputError(
                    f"label {path.name} has values that are not classes of the checkpoint: {top} — "
                    "if they mean 'unlabelled' pass --void-ids, else check the label folder"
                )
            return ids

        return load

    src = open_source(source)
    n_frames = src.frames_expected
    if n_frames is not None and n_frames != len(files):
        src.close()
        raise UserInputError(count_mismatch(source, n_frames, labels_dir, files, labels_glob))

    def pairs() -> Iterator[LabelledPair]:
        with src:
            n = 0
            for frame in src.frames():
                if n >= len(files):
                    raise UserInputError(count_mismatch(source, None, labels_dir, files, labels_glob))
                yield frame.rgb, decode(files[n])
                n += 1
            if n != len(files):
                raise UserInputError(count_mismatch(source, n, labels_dir, files, labels_glob))

    return LabelledFrames(
        pairs(),
        n_frames or len(files),
        {"labels": str(labels_dir), "labels_glob": labels_glob, "void_ids": list(void)},
    )


def count_mismatch(
    data: str | Path, n_frames: int | None, labels_dir: Path, files: list[Path], glob: str
) -> str:
    """Frames and label files do not pair one to one: say which to add or remove.

    Args:
        n_frames: frames of DATA (None: more than there are labels, exact count unknown).
    """
    have = f"{labels_dir} has {len(files)} label file(s) matching {glob!r}"
    if n_frames is None or n_frames > len(files):
        missing = "" if n_frames is None else f" {n_frames - len(files)}"
        frames = "" if n_frames is None else f" ({n_frames} frames)"
        return (
            f"{data}{frames} has more frames than labels: {have}, one per frame in sorted order is needed; add the"
            f"{missing} missing label file(s) for the frames after {files[-1].name if files else 'the start'}, "
            "or evaluate only the labelled frames (cut DATA to them)"
        )
    extra = files[n_frames:]
    return (
        f"{data} has {n_frames} frame(s) but {have}; remove the {len(extra)} extra label file(s) from {extra[0].name} "
        f"on (they pair with no frame), or narrow the match with --labels-glob"
    )


def evaluate(
    engine: Engine,
    frames: LabelledFrames,
    *,
    batch_size: int | None = None,
    checkpoint_label: str = "",
    data_label: str = "",
    progress: Callable[[int], None] | None = None,
    cancel: threading.Event | None = None,
) -> dict[str, Any]:
    """Predict every frame and count it against its label; returns the report.

    Args:
        batch_size: frames per forward pass (default 4 on CUDA, 1 elsewhere).
        progress: called with the number of frames scored so far.
        cancel: set to stop early; the report then covers the frames scored (its "images" says how many).

    Returns:
        `report_dict` fields (miou, accuracies, per-class IoU, confusion matrix, …), then "checkpoint",
        "data", where the frames came from (`frames.described`) and "device".

    Raises:
        UserInputError: a label and its frame differ in size, or from reading the frames and labels.
    """
    ck = engine.checkpoint
    batch = batch_size or (4 if engine.device.type == "cuda" else 1)
    if batch < 1:
        raise UserInputError(f"--batch-size {batch}: use 1 or more")
    cm = ConfusionMatrix(len(ck.classes), ck.ignore_index)
    images = 0
    pending: list[tuple[np.ndarray, np.ndarray]] = []

    def flush() -> None:
        nonlocal images
        for (_, label), pred in zip(pending, engine.predict([rgb for rgb, _ in pending])):
            if pred.mask.shape != label.shape:
                raise UserInputError(
                    f"label {label.shape[::-1]} and frame {pred.mask.shape[::-1]} sizes differ (w×h)"
                )
            cm.update(pred.mask, label)
            images += 1
            if progress is not None:
                progress(images)
        pending.clear()

    try:
        for rgb, label in frames.pairs:
            if cancel is not None and cancel.is_set():
                break
            pending.append((rgb, label()))
            if len(pending) >= batch:
                flush()
        flush()
    finally:
        if isinstance(frames.pairs, Generator):
            frames.pairs.close()  # releases the video or camera a stop left open
    report = report_dict(cm, ck.class_names, images)
    report.update(
        {
            "checkpoint": checkpoint_label,
            "data": data_label,
            **frames.described,
            "device": engine.device_label,
        }
    )
    return report
