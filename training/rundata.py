"""The datasets of a run: open, validate (refusing errors), split, limit, and the class weights."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from segtool.base.errors import UserInputError
from segtool.training.config import TrainConfig
from segtool.training.data import LabelledData, Sample, ValidationReport, check_dataset, open_dataset
from segtool.training.data.propagated import drop_unreviewed, unreviewed_stems
from segtool.training.losses import class_pixel_stats, class_weights


@dataclass
class RunData:
    """Training and validation samples with the datasets that read them."""

    train_data: LabelledData
    train: list[Sample]
    val_data: LabelledData
    val: list[Sample]
    reports: list[ValidationReport] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # lines the run reports before training

    @property
    def class_names(self) -> list[str]:
        return self.train_data.class_names


def open_run_data(cfg: TrainConfig) -> RunData:
    """Open `cfg.data` (and `cfg.val`) without reading every mask.

    With `val`, every labelled sample of `data` trains and every labelled sample of `val` validates.
    """
    unknown = tuple(cfg.unknown_classes or ())
    opts = cfg.instance_options()
    data = open_dataset(
        cfg.data,
        images=cfg.images,
        val_fraction=0.0 if cfg.val else cfg.val_fraction,
        seed=cfg.seed,
        classes=cfg.classes,
        unknown_classes=unknown,
        instances=opts,
    )
    if cfg.val:
        # The validation set is scored as labelled: --unknown-class is about how the training labels were made.
        # --images names the photos of an export without images; it applies to --val only when --val is
        # such an export too (a CVAT export trained against a folder of photos with masks is common).
        try:
            vdata = open_dataset(
                cfg.val,
                images=cfg.images,
                val_fraction=0.0,
                seed=cfg.seed,
                classes=cfg.classes,
                instances=opts,
            )
        except UserInputError as e:
            if cfg.images is None or "--images is for" not in str(e):
                raise
            vdata = open_dataset(
                cfg.val, val_fraction=0.0, seed=cfg.seed, classes=cfg.classes, instances=opts
            )
        if vdata.class_names != data.class_names:
            raise UserInputError(
                f"--val {cfg.val} has classes {', '.join(vdata.class_names)} but {cfg.data} has "
                f"{', '.join(data.class_names)}; both need the same classes in the same order (use --classes FILE)"
            )
        train = [s for s in data.samples if s.mask is not None]
        val = [s for s in vdata.samples if s.mask is not None]
    else:
        if cfg.random_split:  # replace the split the data names, on request
            data.split_note = (
                f"{data.split_note}; replaced on request by a {data.random_split(cfg.val_fraction, cfg.seed)}"
            )
        vdata, train, val = data, data.split("train"), data.split("val")
    notes = []
    train, val = _propagated(cfg, data, train, vdata, val, notes)
    if cfg.limit:
        train, val = train[: cfg.limit], val[: cfg.limit]
    return RunData(data, train, vdata, val, notes=notes)


def _propagated(
    cfg: TrainConfig,
    data: LabelledData,
    train: list[Sample],
    vdata: LabelledData,
    val: list[Sample],
    notes: list[str],
) -> tuple[list[Sample], list[Sample]]:
    """Leave out (or count in) the label set's frames propagated along a video and not yet reviewed."""
    stems = unreviewed_stems(data.root)
    vstems = stems if vdata is data else unreviewed_stems(vdata.root)
    if not stems and not vstems:
        return train, val
    if cfg.propagated == "include":
        notes.append(
            f"{len(stems | vstems)} propagated frame(s) not reviewed are used as labels (--propagated include)"
        )
        return train, val
    train, a = drop_unreviewed(train, stems)
    val, b = drop_unreviewed(val, vstems)
    if a + b:
        notes.append(
            f"{a + b} propagated frame(s) not reviewed left out ({a} train, {b} val); accept them in "
            "label mode, or pass --propagated include to train on them as they are"
        )
    return train, val


def check_run_data(rd: RunData, progress: Callable[[int, int], None] | None = None) -> list[ValidationReport]:
    """Validate every dataset of the run (reads every mask once); `progress(done, total)` per mask."""
    reports = [check_dataset(rd.train_data, progress=progress)]
    if rd.val_data is not rd.train_data:
        reports.append(check_dataset(rd.val_data, progress=progress))
    rd.reports = reports
    return reports


def require_trainable(rd: RunData, batch_size: int, repeat: int, world_size: int) -> None:
    """Refuse a run that could not take a single step, saying how to fix it."""
    for rep in rd.reports:
        rep.raise_for_errors()
    n = len(rd.train)
    if n == 0:
        raise UserInputError(
            f"{rd.train_data.source or rd.train_data.root}: no training samples; put images in train/ "
            "or lower --val-fraction"
        )
    per_step = batch_size * world_size
    if n * repeat < per_step:
        raise UserInputError(
            f"only {n} training image(s) × --repeat {repeat} but one step needs {per_step} "
            f"(--batch-size {batch_size}{f' × {world_size} processes' if world_size > 1 else ''}); "
            f"use --batch-size {max(1, (n * repeat) // world_size)} or --repeat {-(-per_step // n)}"
        )


def run_class_weights(rd: RunData, method: str) -> tuple[torch.Tensor | None, str | None]:
    """Class weights from the training labels (reads each training mask once); (None, None) for "none"."""
    if method == "none":
        return None, None
    d = rd.train_data
    pixels, image_pixels = class_pixel_stats(
        (d.load_mask(s) for s in rd.train), d.num_classes, d.ignore_index
    )
    w = class_weights(method, pixels, image_pixels)
    shown = ", ".join(f"{n} {v:.2f}" for n, v in zip(d.class_names, w.tolist()))
    return w, f"class weights ({method}): {shown}"
