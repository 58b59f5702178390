"""The one dataset type every importer returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from segtool.base.errors import UserInputError

from .classes import ClassInfo
from .files import image_size, seeded_split
from .masks import MaskCoding, decode_labelme, decode_raster, read_labelme, read_mask_image

__all__ = ["ClassInfo", "Sample", "LabelledData"]


@dataclass
class Sample:
    """One image and its label file.

    Attributes:
        image: the image file.
        mask: the label file (mask image or labelme JSON); None for an image without labels.
        split: "train" or "val".
    """

    image: Path
    mask: Path | None
    split: str


@dataclass
class LabelledData:
    """A labelled segmentation dataset, whatever form it came in.

    Attributes:
        classes: class list; the class id is the position.
        samples: image/label pairs in a stable (natural-sorted) order.
        form: detected form: "folder", "cvat", "voc", "labelme", "camvid", "instances" or "coco".
        root: the folder the data was read from (the extraction folder for a zip).
        ignore_index: the id that void / unlabelled pixels get (never counted in loss or metrics).
        coding: how labels are stored (see `MaskCoding`).
        class_source: where the classes came from, used in messages ("labelmap.txt", ...).
        source: what the user pointed at (the zip for an archive), for messages.
        split_note: how train/val were decided, e.g. "seeded random split (seed 0, 20% val)".
        unmatched_images: images with no label file.
        unmatched_masks: label files with no image.
        notes: informational lines for the report.
        warnings: problems found while importing that do not stop training.
        unknown_ids: class ids whose pixels are read as unknown (`ignore_index`): sparse exports where
            unpainted pixels were saved as "background" (see `set_unknown_classes`).
        fragments: for a label set of a fragment model (`{"interior": ..., "edge": ...}`): the edge class
            is derived from the outlined fragments (instances/), never read from the masks alone
            (see `labelset.labelset_classes`); None for every other dataset.
    """

    classes: list[ClassInfo]
    samples: list[Sample]
    form: str
    root: Path
    ignore_index: int = 255
    coding: MaskCoding = field(default_factory=MaskCoding)
    class_source: str = ""
    source: Path | None = None
    split_note: str = ""
    unmatched_images: list[Path] = field(default_factory=list)
    unmatched_masks: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    unknown_ids: tuple[int, ...] = ()
    fragments: dict | None = None

    @property
    def class_names(self) -> list[str]:
        return [c.name for c in self.classes]

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def split(self, name: str) -> list[Sample]:
        """Labelled samples of split `name` ("train" or "val")."""
        return [s for s in self.samples if s.split == name and s.mask is not None]

    def display(self, path: Path | None) -> str:
        """A short name for messages: the path relative to the dataset root when inside it."""
        if path is None:
            return "-"
        try:
            return Path(path).relative_to(self.root).as_posix()
        except ValueError:
            return str(path)

    def set_unknown_classes(self, names: list[str] | tuple[str, ...]) -> None:
        """Read the pixels of the classes `names` as unknown (never trained on, never scored).

        For sparse exports (CVAT, the seed's rock photos) where a few objects were painted and every
        unpainted pixel was saved as "background": training on them as they are teaches the model that
        the unpainted objects are background.

        Raises:
            UserInputError: a name is not a class of the data (the message lists the classes).
        """
        ids = []
        for name in names:
            matches = [i for i, c in enumerate(self.classes) if c.name == name]
            if not matches:
                matches = [i for i, c in enumerate(self.classes) if c.name.lower() == name.lower()]
            if not matches:
                raise UserInputError(
                    f"--unknown-class {name!r}: the data has no such class; its classes are "
                    f"{', '.join(self.class_names)}"
                )
            ids.append(matches[0])
        if len(set(ids)) >= self.num_classes:
            raise UserInputError(
                f"--unknown-class {', '.join(names)}: that leaves no class to learn; mark only the "
                "class that stands for unpainted pixels (usually background) as unknown"
            )
        self.unknown_ids = tuple(sorted(set(ids)))
        self.notes.append(
            "pixels of "
            + ", ".join(repr(self.classes[i].name) for i in self.unknown_ids)
            + " are read as unknown (not trained on, not scored)"
        )

    # -- reading -----------------------------------------------------------------------------------

    def load_image(self, sample: Sample) -> np.ndarray:
        """The image as HxWx3 uint8 RGB, upright (EXIF orientation applied)."""
        try:
            with Image.open(sample.image) as im:
                return np.asarray(ImageOps.exif_transpose(im).convert("RGB")).copy()
        except (OSError, ValueError) as exc:
            raise UserInputError(
                f"cannot read image {self.display(sample.image)}: {exc} — replace or remove the file"
            ) from exc

    def decode_mask(self, sample: Sample) -> tuple[np.ndarray, dict]:
        """(ids, unknown): HxW uint8 class ids, and pixel counts of values not in the class list.

        Unknown pixels are set to `ignore_index` in `ids`. Raises UserInputError when the file cannot
        be read at all.
        """
        if sample.mask is None:
            raise UserInputError(f"image {self.display(sample.image)} has no mask")
        try:
            if self.coding.kind in ("instances", "coco"):
                from .instances import decode_instance_sample  # the importer module imports this one

                return decode_instance_sample(sample, self.coding, self.ignore_index)
            if self.coding.kind == "labelme":
                doc = read_labelme(sample.mask)
                size = None
                if not (doc.get("imageWidth") and doc.get("imageHeight")):
                    size = image_size(sample.image)
                ids, unknown = decode_labelme(doc, self.classes, self.ignore_index, size)
            else:
                ids, unknown = decode_raster(
                    read_mask_image(sample.mask), self.classes, self.coding, self.ignore_index
                )
                if self.fragments is not None:
                    from .labelset import decode_labelset_fragments  # it imports this module

                    ids = decode_labelset_fragments(
                        ids, sample.mask, self.class_names, self.coding, self.fragments, self.ignore_index
                    )
        except UserInputError as exc:
            raise UserInputError(f"mask {self.display(sample.mask)}: {exc}") from exc
        except (OSError, ValueError, SyntaxError) as exc:  # PIL raises SyntaxError for some corrupt PNGs
            raise UserInputError(
                f"cannot read mask {self.display(sample.mask)}: {exc} — re-export the mask or remove the pair"
            ) from exc
        if self.unknown_ids:
            ids[np.isin(ids, self.unknown_ids)] = self.ignore_index
        return ids, unknown

    def load_mask(self, sample: Sample) -> np.ndarray:
        """HxW uint8 class ids; void → `ignore_index`.

        Raises:
            UserInputError: the mask holds values not in the class list. Refusing here (rather than
                mapping them to background) is what keeps a wrong labelmap from training a model on
                empty labels; `check_dataset` reports every such file at once.
        """
        ids, unknown = self.decode_mask(sample)
        if unknown:
            raise UserInputError(describe_unknown(self, sample, unknown))
        return ids

    # -- splitting ---------------------------------------------------------------------------------

    def random_split(self, val_fraction: float, seed: int) -> str:
        """Give every labelled sample a seeded random split (replacing any it had); returns a description."""
        labelled = [s for s in self.samples if s.mask is not None]
        for s, name in zip(labelled, seeded_split(len(labelled), val_fraction, seed), strict=True):
            s.split = name
        n_val = sum(s.split == "val" for s in labelled)
        return f"seeded random split (seed {seed}, val_fraction {val_fraction:g}): {len(labelled) - n_val} train / {n_val} val"

    def assign_splits(self, val_fraction: float, seed: int, origin: str) -> None:
        """Give samples without a split one: a seeded random split when none has a split yet, else
        "train" (the user chose the val set explicitly). Records how in `split_note`."""
        labelled = [s for s in self.samples if s.mask is not None]
        open_ = [s for s in labelled if s.split not in ("train", "val")]
        if open_ and len(open_) == len(labelled):
            self.split_note = f"no split given: {self.random_split(val_fraction, seed)}"
        else:
            for s in open_:
                s.split = "train"
            n_train = sum(s.split == "train" for s in labelled)
            n_val = len(labelled) - n_train
            self.split_note = f"split from {origin}: {n_train} train / {n_val} val"
            if open_:
                self.split_note += f" ({len(open_)} without a split put in train)"
        for s in self.samples:
            if s.split not in ("train", "val"):
                s.split = "train"


def describe_unknown(data: LabelledData, sample: Sample, unknown: dict, limit: int = 3) -> str:
    """One-line error for a mask with values outside the class list, naming values, counts and the fix."""
    items = sorted(unknown.items(), key=lambda kv: -kv[1])
    shown = ", ".join(f"{_fmt_value(v)} ×{n} px" for v, n in items[:limit])
    if len(items) > limit:
        shown += f" and {len(items) - limit} more"
    name = data.display(sample.mask)
    src = data.class_source or "the class list"
    first = items[0][0]
    if isinstance(first, tuple) and data.coding.kind != "color" and not data.coding.colors_known:
        return (
            f"mask {name} is a colour image ({shown}) but {src} gives no colours — add a labelmap.txt "
            "(name:R,G,B per line) or classes.json with the class colours"
        )
    if isinstance(first, str):
        return f"labelme file {name} has labels not in {src}: {shown} — add the label or fix the shape"
    kind = "colours" if isinstance(first, tuple) else "class ids"
    return f"mask {name} has {kind} not in {src}: {shown} — add the class or fix the mask"


def _fmt_value(v) -> str:
    if isinstance(v, tuple):
        return "(" + ", ".join(str(x) for x in v) + ")"
    if isinstance(v, str):
        return repr(v)
    return f"id {v}"
