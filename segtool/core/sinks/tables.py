"""Text outputs: per-frame class coverage (`OUT/coverage.csv`) and the run summary (`OUT/summary.json`)."""

from __future__ import annotations

import csv
import io
import json
import math
import os
from pathlib import Path

import numpy as np

from segtool.base.atomic import remove_temp_files
from segtool.core import overlay
from segtool.core.errors import UserInputError
from segtool.core.frame import Frame, Prediction
from segtool.core.sinks._files import (
    atomic_write_bytes,
    disk_full_as_user_error,
    prepare_dir,
    remove_quietly,
)
from segtool.core.sinks.base import Sink
from segtool.core.sinks.video import partial_path

__all__ = ["CoverageCsvSink", "write_summary"]


class CoverageCsvSink(Sink):
    """One row per frame: `frame, [name,] pts_s, <class 0>, <class 1>, ...` (pixel fractions).

    The `name` column (relative path) is present for images and folders, i.e. when frames have names;
    it is decided by the first frame (or by the file being resumed). Fractions have 6 decimals and sum
    to 1 per row unless the mask holds ids beyond the classes. `pts_s` is empty for still images.

    Like the videos, the file is `coverage.partial.csv` until `close(complete=True)`. Each row is
    flushed as it is written, so a killed run keeps its rows; a torn last line is dropped on resume.

    Args:
        path: `OUT/coverage.csv`.
        class_names: the checkpoint's class names, in id order.
    """

    def __init__(self, path: str | Path, class_names: list[str]):
        self.path = Path(path)
        self.partial = partial_path(self.path)
        self.class_names = list(class_names)
        self._named: bool | None = None
        self._kept: list[str] = []  # restored data lines, each ending in "\n"
        self._fh: io.TextIOWrapper | None = None
        self._writer = None

    def _header(self, named: bool) -> list[str]:
        return ["frame", *(["name"] if named else []), "pts_s", *self.class_names]

    def open(self, *, resume: bool) -> int:
        prepare_dir(self.path.parent)
        remove_temp_files(self.partial.parent)
        self._named, self._kept = None, []
        if not resume:
            remove_quietly(self.path, self.partial)
            return 0
        best: tuple[bool, list[str]] | None = None
        for candidate in (self.path, self.partial):
            if candidate.is_file():
                restored = self._read(candidate)
                if best is None or len(restored[1]) > len(best[1]):
                    best = restored
        if best is not None:
            self._named, self._kept = best
        return len(self._kept)

    def keep_first(self, n: int) -> None:
        del self._kept[max(0, int(n)) :]

    def write(self, frame: Frame, pred: Prediction) -> None:
        if self._fh is None:
            self._start(named=frame.name is not None)
        fractions = overlay.coverage(pred.mask, len(self.class_names))
        pts = "" if frame.pts_s is None else f"{frame.pts_s:.6f}"
        row = [str(frame.index), *([readable_name(frame.name or "")] if self._named else []), pts]
        row += [f"{f:.6f}" for f in fractions]
        with disk_full_as_user_error(self.partial):
            self._writer.writerow(row)
            # One flush per row: a crash then loses at most the row being written.
            self._fh.flush()

    def finish(self) -> None:
        with disk_full_as_user_error(self.partial):
            if self._fh is None:
                if self._named is None:
                    return  # no frame ever: leave no file
                self._start(named=self._named)
            fh, self._fh, self._writer = self._fh, None, None
            fh.close()

    def promote(self) -> None:
        if self.partial.exists():
            os.replace(self.partial, self.path)

    def _start(self, named: bool) -> None:
        """Write header + kept rows to a new partial file (atomically), then append from there."""
        if self._named is None:
            self._named = named
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerow(self._header(self._named))
        buf.write("".join(self._kept))
        atomic_write_bytes(self.partial, buf.getvalue().encode("utf-8"))
        remove_quietly(self.path)  # the restored rows now live in the partial file
        self._fh = open(self.partial, "a", encoding="utf-8", newline="")
        self._writer = csv.writer(self._fh, lineterminator="\n")

    def _read(self, path: Path) -> tuple[bool, list[str]]:
        """(named, complete data lines) of an earlier coverage file; checks it has our columns."""
        text = path.read_text(encoding="utf-8", errors="replace")
        lines = text.splitlines(keepends=True)
        if not lines:
            return False, []
        header = next(csv.reader([lines[0]]))
        named = "name" in header[:2]
        if header != self._header(named):
            raise UserInputError(
                f"{str(path)!r} has columns {header} but this checkpoint gives {self._header(named)}; "
                f"write to a new folder with -o, or rerun without --resume"
            )
        kept = []
        for line in lines[1:]:
            # A line without its newline, or with missing fields, was cut by a crash: stop there.
            if not line.endswith("\n"):
                break
            fields = next(csv.reader([line]), [])
            if len(fields) != len(header):
                break
            kept.append(line)
        return named, kept


def readable_name(name: str) -> str:
    """A file name as valid UTF-8 text: bytes that are not UTF-8 (a Latin-1 name on Linux arrive as
    surrogate escapes) are shown as `\\xe9`, so CSV and JSON files stay readable by any tool."""
    try:
        name.encode("utf-8")
        return name
    except UnicodeEncodeError:
        return os.fsencode(name).decode("utf-8", "backslashreplace")


def write_summary(out_dir: str | Path, summary: dict) -> Path:
    """Write `OUT/summary.json` atomically (temporary file, fsync, rename).

    Args:
        out_dir: OUT.
        summary: plain data. Paths become strings, numpy scalars/arrays become numbers/lists, and
            non-finite floats become null so the file stays strict JSON.

    Returns:
        The path written.
    """
    out_dir = prepare_dir(Path(out_dir))
    path = out_dir / "summary.json"
    text = json.dumps(_plain(summary), indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    with disk_full_as_user_error(path):
        atomic_write_bytes(path, text.encode("utf-8"), fsync=True)
    return path


def _plain(value):
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, np.generic):
        return _plain(value.item())
    if isinstance(value, Path):
        return readable_name(str(value))
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, str):
        return readable_name(value)
    return value
