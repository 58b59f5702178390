"""The rules every label-set import and export shares (CVAT and COCO): an export checks the whole set and its
target before writing one file; an import goes only into a new or empty folder and carries the
unfinished-import mark from its first file to its last. Split from `labelset` to keep that file readable."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from segtool.base.atomic import describe_write_error
from segtool.base.errors import UserInputError
from segtool.core.sinks._files import atomic_write_bytes
from segtool.training import labelset_schema as schema
from segtool.training.labelset_schema import INCOMPLETE

if TYPE_CHECKING:
    from segtool.core.labelset import LabelSet


def check_export_target(out: Path) -> Path:
    """Refuse, before any work, an export path that is a folder, lies under a file or cannot be named."""
    try:
        is_dir, parent_ok = out.is_dir(), out.parent.is_dir()
    except OSError as e:  # e.g. a name longer than the file system allows
        raise UserInputError(describe_write_error(out, e)) from e
    if is_dir:
        raise UserInputError(
            f"{out} is a folder; the CVAT export is one .zip file — give a file name, e.g. {out / 'labels.zip'}"
        )
    parent = out.parent
    if not parent_ok:
        what = "is a file, not a folder" if parent.exists() else "does not exist"
        raise UserInputError(f"cannot write {out}: {parent} {what} — choose an existing folder for -o")
    return out


def write_export(out: Path, data: bytes) -> None:
    """Write an export file atomically; a failed write (read-only folder, ...) is a `UserInputError`."""
    try:
        atomic_write_bytes(out, data)
    except OSError as e:  # read-only folder, not ours, ... (disk full and long names come as UserInputError)
        raise UserInputError(describe_write_error(out, e)) from e


def checked_instances(ls: LabelSet, stem: str, shape: tuple[int, int]) -> np.ndarray | None:
    """The frame's fragment ids validated against its mask's `shape` (None when it has none)."""
    path = ls.root / "instances" / f"{stem}.png"
    return schema.read_instances(path, shape) if path.is_file() else None


def checked_masks(ls: LabelSet) -> dict[str, np.ndarray]:
    """Every labelled frame's mask, validated (image present, 8-bit ids that are classes, image's size);
    refuses an unfinished import. The first problem is raised; the message names the frame and the fix."""
    if ls.incomplete:
        raise UserInputError(ls.incomplete)
    masks = {f.stem: ls.checked_mask(f.stem) for f in ls.frames}
    return {k: m for k, m in masks.items() if m is not None}


def finish_import(ls: LabelSet) -> None:
    """Remove the unfinished-import mark: the last thing an import does."""
    (ls.root / INCOMPLETE).unlink()
    ls.incomplete = None


def check_import_target(root: Path) -> None:
    """An import goes into a new or empty folder only: merging into a set would replace masks painted there
    and leave its images beside masks of another size."""
    try:
        exists, is_dir = root.exists(), root.is_dir()
        full = is_dir and any(root.iterdir())
    except OSError as e:  # a name too long, a folder we may not list
        raise UserInputError(describe_write_error(root, e)) from e
    if exists and not is_dir:
        raise UserInputError(
            f"{root} is a file; an import makes a label-set folder — choose a new folder name with -o"
        )
    if full:
        why = schema.incomplete_import(root)
        if why:
            raise UserInputError(why)
        raise UserInputError(
            f"{root} is not empty; an import never mixes into an existing folder or label set (it would replace "
            "the masks there) — import into a new or empty folder, e.g. -o "
            f"{root.with_name(root.name + '_cvat')}"
        )


def mark_import(root: Path, export: str | os.PathLike) -> None:
    """Create `root` with the unfinished-import mark in it: the first thing an import writes."""
    try:
        root.mkdir(parents=True, exist_ok=True)
        doc = {
            "export": str(export),
            "note": "an import into this folder has not finished; delete the folder and import again",
        }
        atomic_write_bytes(root / INCOMPLETE, (json.dumps(doc, indent=2) + "\n").encode())
    except OSError as e:
        raise UserInputError(describe_write_error(root, e)) from e
