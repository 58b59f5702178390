"""`check_dataset`: read every mask once and report what would make training wrong or impossible."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from segtool.base.errors import UserInputError

from ..diagnose import rare_classes
from .dataset import LabelledData, Sample, describe_unknown
from .files import image_size

LIST_LIMIT = 10  # files named per problem; the rest are counted
NEAR = 40  # max channel difference for an unknown colour to count as "near" a class colour


@dataclass
class ValidationReport:
    """What `check_dataset` found. `errors` block training; `warnings` do not.

    Attributes:
        errors: one line per problem, naming the file and the fix.
        warnings: things worth fixing that training can live with.
        summary: header lines (form, source, split, counts).
        classes: per class: id, name, color, pixels, share (of labelled pixels), images.
        ignore_pixels: pixels set to the ignore index (void / unlabelled).
        counts: images, masks, pairs, train, val, unmatched_images, unmatched_masks.
    """

    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    summary: list[str] = field(default_factory=list)
    classes: list[dict] = field(default_factory=list)
    ignore_pixels: int = 0
    counts: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors

    def raise_for_errors(self) -> None:
        """Raise UserInputError naming the first problems (training calls this before it starts)."""
        if self.errors:
            # Lead with the error itself: the first line is what a user reads (and what the app shows).
            first, rest = self.errors[0], self.errors[1:5]
            others = "".join(f"\n  {e}" for e in rest)
            more = f"\n  … and {len(self.errors) - 5} more" if len(self.errors) > 5 else ""
            count = f"{len(self.errors) - 1} more dataset error(s):{others}{more}\n" if rest else ""
            raise UserInputError(
                f"{first}\n{count}(`segtool train --check DATA` prints the full dataset report)"
            )

    def to_dict(self) -> dict:
        """Plain types for JSON."""
        return {
            "ok": self.ok,
            "errors": list(self.errors),
            "warnings": list(self.warnings),
            "summary": list(self.summary),
            "classes": [dict(c) for c in self.classes],
            "ignore_pixels": self.ignore_pixels,
            "counts": dict(self.counts),
        }

    def as_text(self) -> str:
        """The human report `segtool train --check` prints."""
        out = list(self.summary)
        if self.classes:
            out.append("")
            out.append(f"  {'id':>3}  {'class':<20} {'colour':<16} {'pixels':>13} {'share':>8} {'images':>7}")
            for c in self.classes:
                col = "({}, {}, {})".format(*c["color"])
                out.append(
                    f"  {c['id']:>3}  {c['name'][:20]:<20} {col:<16} {c['pixels']:>13,} "
                    f"{c['share'] * 100:>7.2f}% {c['images']:>7}"
                )
            out.append(f"  ignored (void/unknown) pixels: {self.ignore_pixels:,}")
        out.append("")
        out.append(f"ERRORS ({len(self.errors)}) — training refuses to start until these are fixed:")
        out.extend(f"  ✗ {e}" for e in self.errors) if self.errors else out.append("  none")
        out.append(f"WARNINGS ({len(self.warnings)}):")
        out.extend(f"  ! {w}" for w in self.warnings) if self.warnings else out.append("  none")
        out.append("")
        out.append("OK: ready to train" if self.ok else "NOT OK: fix the errors above")
        return "\n".join(out)


def _names(data: LabelledData, paths: list[Path]) -> str:
    shown = ", ".join(data.display(p) for p in paths[:LIST_LIMIT])
    return shown + (f" … and {len(paths) - LIST_LIMIT} more" if len(paths) > LIST_LIMIT else "")


def _capped(lines: list[str], what: str) -> list[str]:
    if len(lines) <= LIST_LIMIT:
        return lines
    return lines[:LIST_LIMIT] + [f"… and {len(lines) - LIST_LIMIT} more {what}"]


def _near_class(rgb: tuple, classes) -> tuple[int, int] | None:
    """(class id, max channel difference) of the nearest class colour, if within NEAR."""
    best = None
    for i, c in enumerate(classes):
        d = max(abs(int(a) - int(b)) for a, b in zip(rgb, c.color, strict=True))
        if d <= NEAR and (best is None or d < best[1]):
            best = (i, d)
    return best


def _jpeg_hint(data: LabelledData, sample: Sample, unknown: dict) -> str | None:
    """Explain masks whose stray colours are small deviations of class colours: lossy compression
    (JPEG) or anti-aliased edges. Snapping them would guess at exactly the boundary pixels that matter,
    so this stays an error with the reason spelled out."""
    colours = [(k, n) for k, n in unknown.items() if isinstance(k, tuple)]
    if not colours or data.coding.kind != "color" and not data.coding.colors_known:
        return None
    total = sum(n for _, n in colours)
    near = [(k, n, _near_class(k, data.classes)) for k, n in colours]
    near_px = sum(n for _, n, m in near if m)
    is_jpeg = sample.mask is not None and sample.mask.suffix.lower() in (".jpg", ".jpeg")
    if not is_jpeg and (len(colours) < 8 or near_px < 0.8 * total):
        return None
    k, n, m = max((x for x in near if x[2]), key=lambda x: x[1], default=(colours[0][0], colours[0][1], None))
    example = f"e.g. {k} ×{n} px" + (f" ≈ {data.classes[m[0]].name} {data.classes[m[0]].color}" if m else "")
    return (
        f"mask {data.display(sample.mask)} looks JPEG-compressed or anti-aliased: {len(colours)} colours not in "
        f"{data.class_source} ({total:,} px, {near_px:,} of them within {NEAR} of a class colour; {example}) — "
        "export the masks as PNG (lossless) with anti-aliasing off; JPEG changes the colours along every edge"
    )


def check_dataset(
    data: LabelledData, *, progress: Callable[[int, int], None] | None = None, decode_images: bool = False
) -> ValidationReport:
    """Validate `data`: pairing, sizes, class values, unreadable files, class balance.

    Reads every mask once and every image header (not the pixels, unless `decode_images`).

    Args:
        data: from `open_dataset`.
        progress: called as progress(done, total) after each sample (the GUI shows it).
        decode_images: also decode every image fully (finds truncated files; slower).

    Returns:
        The report; `report.errors` empty means training may start.
    """
    rep = ValidationReport()
    n_cls = data.num_classes
    pixels = np.zeros(n_cls, np.int64)
    images_with = np.zeros(n_cls, np.int64)
    split_pixels = {"train": np.zeros(n_cls, np.int64), "val": np.zeros(n_cls, np.int64)}
    unknown_errors: list[str] = []
    unknown_files: list[Path] = []
    unknown_total: dict = {}
    size_errors: list[str] = []
    unreadable: list[str] = []
    only_bg: list[Path] = []
    all_ignored: list[Path] = []
    labelled = [s for s in data.samples if s.mask is not None]

    for done, s in enumerate(labelled, 1):
        try:
            if decode_images:
                h, w = data.load_image(s).shape[:2]
                img_size = (w, h)
            else:
                img_size = image_size(s.image)
        except UserInputError as exc:
            unreadable.append(str(exc))
            img_size = None
        except (OSError, ValueError, SyntaxError) as exc:
            unreadable.append(
                f"cannot read image {data.display(s.image)}: {exc} — replace or remove the file"
            )
            img_size = None
        try:
            ids, unknown = data.decode_mask(s)
        except UserInputError as exc:
            unreadable.append(str(exc))
            continue
        finally:
            if progress is not None:
                progress(done, len(labelled))
        mh, mw = ids.shape
        if img_size is not None and img_size != (mw, mh):
            size_errors.append(
                f"image {data.display(s.image)} is {img_size[0]}×{img_size[1]} but mask {data.display(s.mask)} "
                f"is {mw}×{mh} — re-export the mask at the image size (or fix the pairing)"
            )
        if unknown:
            unknown_files.append(s.mask)
            unknown_errors.append(_jpeg_hint(data, s, unknown) or describe_unknown(data, s, unknown))
            for k, n in unknown.items():
                unknown_total[k] = unknown_total.get(k, 0) + n
        counts = np.bincount(ids.ravel(), minlength=256)
        cls_counts = counts[:n_cls]
        pixels += cls_counts
        images_with += cls_counts > 0
        if s.split in split_pixels:
            split_pixels[s.split] += cls_counts
        rep.ignore_pixels += int(counts[data.ignore_index]) if data.ignore_index < 256 else 0
        if cls_counts.sum() == 0:
            all_ignored.append(s.mask)
        elif n_cls > 1 and cls_counts[0] == cls_counts.sum():
            only_bg.append(s.mask)

    _summary(rep, data, labelled)
    labelled_px = int(pixels.sum())
    for i, c in enumerate(data.classes):
        rep.classes.append(
            {
                "id": i,
                "name": c.name,
                "color": list(c.color),
                "pixels": int(pixels[i]),
                "share": float(pixels[i] / labelled_px) if labelled_px else 0.0,
                "images": int(images_with[i]),
                # a fragment label set's edge class: drawn from the outlines, never painted
                "derived": bool(data.fragments and c.name == data.fragments.get("edge")),
            }
        )

    # --- errors ---
    if not labelled:
        rep.errors.append(f"no image has a mask in {data.display(data.root)} — nothing to train on")
    rep.errors.extend(_capped(unreadable, "unreadable files"))
    rep.errors.extend(_capped(size_errors, "size mismatches"))
    rep.errors.extend(_capped(unknown_errors, "masks with unknown values"))
    if len(unknown_files) > 1:
        top = sorted(unknown_total.items(), key=lambda kv: -kv[1])[:5]
        vals = ", ".join(f"{k} ×{n:,} px" for k, n in top)
        rep.errors.append(
            f"in all, {len(unknown_files)} masks hold values not in {data.class_source}: {vals} "
            f"(first: {_names(data, unknown_files[:3])})"
        )
    if labelled and not data.split("train"):
        rep.errors.append("no training samples (every sample is in val) — put some images in train/")

    # --- warnings ---
    rep.warnings.extend(data.warnings)
    if data.unmatched_images:
        rep.warnings.append(
            f"{len(data.unmatched_images)} image(s) have no mask and are not used: {_names(data, data.unmatched_images)}"
            " — add their masks or ignore this if they are unlabelled"
        )
    if data.unmatched_masks:
        rep.warnings.append(
            f"{len(data.unmatched_masks)} mask(s) have no image with the same name and are not used: "
            f"{_names(data, data.unmatched_masks)} — rename them to match their image"
        )
    if labelled and not data.split("val"):
        rep.warnings.append(
            "no validation samples: training cannot report mIoU — add a val/ folder or use --val"
        )
    if labelled_px:
        for i, c in enumerate(data.classes):
            if pixels[i] == 0 and data.fragments is not None and c.name == data.fragments.get("edge"):
                rep.summary.append(
                    f"note: class {i} {c.name!r} has no pixels: no fragment is outlined yet, so the edge band is "
                    "unknown (not trained on, not scored) — outline fragments in label mode to teach it"
                )
            elif pixels[i] == 0:
                rep.warnings.append(
                    f"class {i} {c.name!r} has no pixels in any mask — label some, or remove it from "
                    f"{data.class_source}; it is left out of mIoU"
                )
            elif data.split("val") and split_pixels["train"][i] == 0:
                rep.warnings.append(
                    f"class {i} {c.name!r} appears only in val masks — the model never sees it in training"
                )
    rare = rare_classes([c["share"] for c in rep.classes], [c["name"] for c in rep.classes])
    if rare:
        shares = ", ".join(f"{name!r} covers only {100 * share:.2f} %" for name, share in rare)
        rep.warnings.append(
            f"{shares} of the labelled pixels — if the photos show more of it than that, the labels are sparse and "
            "every unpainted pixel teaches the model 'background'. Paint all of it, or mark unpainted pixels as "
            "unknown (--unknown-class NAME for the class they were saved as, then paint some real background in "
            "label mode); class weights also help a rare class"
        )
    if all_ignored:
        rep.warnings.append(
            f"{len(all_ignored)} mask(s) are entirely void/ignored: {_names(data, all_ignored)}"
        )
    if only_bg and len(only_bg) == len(labelled) and len(labelled) > 1:
        rep.warnings.append(
            f"every mask is only class 0 ({data.classes[0].name}) — is the class list right for these masks?"
        )
    elif only_bg:
        rep.warnings.append(
            f"{len(only_bg)} mask(s) contain only {data.classes[0].name!r}: {_names(data, only_bg)}"
        )
    return rep


def _summary(rep: ValidationReport, data: LabelledData, labelled: list[Sample]) -> None:
    n_train, n_val = len(data.split("train")), len(data.split("val"))
    rep.counts = {
        "pairs": len(labelled),
        "train": n_train,
        "val": n_val,
        "unmatched_images": len(data.unmatched_images),
        "unmatched_masks": len(data.unmatched_masks),
        "classes": data.num_classes,
    }
    src = data.source if data.source is not None else data.root
    rep.summary = [
        f"dataset: {src}",
        f"form: {data.form}; classes from {data.class_source}; ignore index {data.ignore_index}",
        f"pairs: {len(labelled)} image/mask pairs matched; unmatched: {len(data.unmatched_images)} images, "
        f"{len(data.unmatched_masks)} masks",
        f"split: {data.split_note}",
    ]
    rep.summary.extend(f"note: {n}" for n in data.notes)


SCRATCH_MIN_IMAGES = 10  # fewer labelled images than this: a model from scratch learns little
FEW_VAL_IMAGES = 3  # scores on fewer validation images than this say little
MAX_PASSES_FEW = 100  # fine-tuning on 1-3 images: each shown more often than this is learnt by heart


def check_schedule(
    rep: ValidationReport,
    *,
    train: int,
    val: int,
    batch_size: int,
    repeat: int,
    epochs: int,
    world_size: int = 1,
    fine_tune: bool = False,
) -> ValidationReport:
    """Add to `rep` what makes the label set too small for the chosen schedule (in place; returns it).

    An error when not one step can be taken (training refuses it too: rundata.require_trainable);
    warnings for a validation split too small to judge a model by, a from-scratch run on a handful of
    images, and fine-tuning that shows a few images so often that the model learns them by heart
    (MAX_PASSES_FEW is a rule of thumb: in the scribble case of docs/training.md the best epoch by
    validation came within 6 epochs × 8 = 48 showings in every run). The warnings name no command-line
    option: the trainer passes them to the app too.
    """
    per_step = batch_size * world_size
    if train and train * repeat < per_step:
        rep.errors.append(
            f"only {train} training image(s) × --repeat {repeat} but one step needs {per_step} "
            f"(--batch-size {batch_size}); use --batch-size {max(1, (train * repeat) // world_size)} "
            f"or --repeat {-(-per_step // train)}"
        )
    if val == 0:
        rep.warnings.append(
            "no validation images: nothing scores the model (best.pt is simply the last epoch) and a "
            "fine-tuned model cannot be compared with its start; label one more image or give a validation set"
        )
    elif val < FEW_VAL_IMAGES:
        rep.warnings.append(
            f"only {val} validation image(s): mIoU and the comparison with the start model rest on "
            "them alone; label more images for a score worth trusting"
        )
    if not fine_tune and 0 < train < SCRATCH_MIN_IMAGES:
        rep.warnings.append(
            f"{train} training image(s) are too few to train a model from scratch; start from an "
            "existing model instead (fine-tune it) or label more images"
        )
    passes = epochs * repeat
    if fine_tune and 0 < train <= 3 and passes > MAX_PASSES_FEW:
        rep.warnings.append(
            f"fine-tuning on {train} image(s) for {epochs} epoch(s), each repeated {repeat} times "
            f"an epoch, shows each image {passes} times: the model learns these labels by heart and forgets the rest; "
            f"use fewer epochs (the fine-tuning default is measured in docs/training.md)"
        )
    return rep
