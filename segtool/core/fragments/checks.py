"""What `segtool fragments` reads, checked before it is used: the numeric flags, the output folder, the
`--from-masks` inputs and the per-frame records (`frames.jsonl`) a `--resume` continues from.

Every refusal is a `UserInputError` (exit 2) naming the file or flag, the bad value and the fix; nothing
in OUT is touched before the flags and sources are known to be usable.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from segtool.base.errors import UserInputError

from .scale import check_mm_per_px

MASK_EXTS = (".png", ".tif", ".tiff", ".bmp")


def check_numbers(*, scale: float | None, window_s: float, every: int) -> None:
    """--scale, --window and --every: finite, positive, in range (`nan` and `inf` parse as floats)."""
    if scale is not None:
        check_mm_per_px(scale, "--scale (millimetres per pixel)")
    if not isinstance(window_s, (int, float)) or not math.isfinite(window_s) or window_s <= 0:
        raise UserInputError(
            f"--window {window_s}: give the window length in seconds, a positive number (e.g. 10)"
        )
    if every < 1:
        raise UserInputError(f"--every {every}: use 1 or more")


def check_output(out: Path) -> None:
    """-o must be a folder (or not exist yet), not a file."""
    if out.exists() and not out.is_dir():
        raise UserInputError(
            f"-o {str(out)!r} is a file; give a folder for the results (it is created when missing)"
        )


def check_mask_sources(sources: list[str]) -> None:
    """--from-masks takes folders of mask images or single mask images; a video or a photo in another
    format is refused up front, before anything is written."""
    for src in sources:
        p = Path(src)
        if p.is_file() and p.suffix.lower() not in MASK_EXTS:
            from segtool.core.batch.expand import is_video_file

            what = "a video" if is_video_file(p) else f"a {p.suffix or 'suffix-less'} file"
            raise UserInputError(
                f"--from-masks: {src} is {what}; give a folder of mask images ({', '.join(MASK_EXTS)}) "
                "or measure the footage with a model: -c CHECKPOINT"
            )


def read_mask(path: Path) -> np.ndarray:
    """One mask image as integer ids; an undecodable or colour file is a UserInputError naming it."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im.load()
            arr = np.asarray(im)
    except (
        UnidentifiedImageError,
        OSError,
        ValueError,
        SyntaxError,
    ) as e:  # PIL raises all of these on damage
        raise UserInputError(
            f"{path} cannot be read as an image ({e}); replace or remove it, then rerun with --resume"
        ) from e
    if arr.ndim == 3:
        if not ((arr[..., 0] == arr[..., 1]).all() and (arr[..., 1] == arr[..., 2]).all()):
            raise UserInputError(
                f"{path} is a colour image; --from-masks needs one-channel masks (ids or 0/1)"
            )
        arr = arr[..., 0]
    if arr.ndim != 2 or arr.dtype.kind not in "uib":
        raise UserInputError(
            f"{path} is not a mask ({arr.dtype} {arr.shape}); --from-masks needs one-channel integer masks"
        )
    return arr.astype(np.int64)


# --- frames.jsonl ----------------------------------------------------------------------------------

_FIX = "restore the file, or start again with --overwrite"


def _number(v: Any, *, optional: bool = False, low: float | None = None, high: float | None = None) -> bool:
    if v is None:
        return optional
    if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v):
        return False
    return (low is None or v >= low) and (high is None or v <= high)


def check_record(rec: Any) -> str | None:
    """None when `rec` is a frame record as `run_fragments` writes it; else what is wrong. Fields other
    than these (added by later versions) are left alone."""
    if not isinstance(rec, dict):
        return f"{type(rec).__name__} instead of an object"
    missing = [
        k
        for k in ("key", "source", "frame", "pts_s", "name", "mm_per_px", "coverage", "rows")
        if k not in rec
    ]
    if missing:
        return f"{', '.join(missing)} missing"
    for key in ("key", "source", "name"):
        if not isinstance(rec.get(key), str) or not rec[key]:
            return f'"{key}" is {rec.get(key)!r}, expected a text'
    if not isinstance(rec.get("frame"), int) or isinstance(rec["frame"], bool) or rec["frame"] < 0:
        return f'"frame" is {rec.get("frame")!r}, expected a whole number >= 0'
    if not _number(rec.get("pts_s"), optional=True, low=0):
        return f'"pts_s" is {rec.get("pts_s")!r}, expected seconds >= 0 or null'
    mm = rec.get("mm_per_px")
    if mm is not None and not _number(mm, low=1e-300):
        return f'"mm_per_px" is {mm!r}, expected a positive number or null'
    if not _number(rec.get("coverage"), low=0, high=1):
        return f'"coverage" is {rec.get("coverage")!r}, expected a share from 0 to 1'
    rows = rec.get("rows")
    if not isinstance(rows, list):
        return f'"rows" is {type(rows).__name__}, expected a list of fragments'
    need = ("area_px", "diameter_px") + (("area_mm2", "diameter_mm") if mm is not None else ())
    for i, r in enumerate(rows):
        if not isinstance(r, dict):
            return f'"rows"[{i}] is {type(r).__name__}, expected an object'
        for key in need:
            if not _number(r.get(key), low=0):
                return f'"rows"[{i}]["{key}"] is {r.get(key)!r}, expected a number >= 0'
        for key in ("fines", "in_distribution", "touches_border"):
            if r.get(key) not in (0, 1):  # True/False compare equal to 1/0
                return f'"rows"[{i}]["{key}"] is {r.get(key)!r}, expected 0 or 1'
    return None


def read_records(path: Path) -> list[dict]:
    """The frame records of frames.jsonl, checked. A torn last line (a crash mid-write) is dropped; any
    other line that is not a frame record, or a frame recorded twice, is refused (dropping it, or every
    line after it, would lose measured frames silently)."""
    if not path.is_file():
        return []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise UserInputError(f"--resume: {path} is unreadable ({e}); {_FIX}") from e
    out: list[dict] = []
    seen: set[str] = set()
    for n, line in enumerate(lines, 1):
        try:
            rec = json.loads(line)
        except ValueError:
            if n == len(lines):
                break  # torn by a crash: that frame is measured again
            raise UserInputError(f"--resume: {path} line {n} is not JSON ({line[:40]!r}…); {_FIX}") from None
        problem = check_record(rec)
        if problem is None and rec["key"] in seen:
            problem = f"frame {rec['key']!r} is recorded twice"
        if problem is not None:
            raise UserInputError(
                f"--resume: {path} line {n} is not a frame record as segtool wrote it: {problem}; {_FIX}"
            )
        seen.add(rec["key"])
        out.append(rec)
    return out
