"""Image scale (mm per pixel) and its sidecar file.

The scale of a source is stored beside it as `<source>.scale.json` (`pile.jpg` → `pile.jpg.scale.json`,
a folder `photos/` → `photos.scale.json`, a video `belt.mp4` → `belt.mp4.scale.json`); an image inside
a folder may have its own, which wins over the folder's. Format (plain JSON):

    {"format": "segtool-scale", "version": 1, "mm_per_px": 0.39,
     "reference": {"kind": "line" | "box" | "circle" | "given",
                   "points": [[x, y], ...],           # image pixels: line ends, box corners, circle centre + rim point
                   "length_mm": 500.0,                # line: its length; box: its width; circle: its diameter
                   "height_mm": 300.0 | null,         # box only: its height (null = square)
                   "length_px": 1282.1},
     "image_size": [width, height] | null, "note": "…"}

`mm_per_px` is what every tool reads; `reference` says how it was obtained so the app can draw it again.
`Scale.from_dict` is the one reader (the CLI and the app's scale tool both use `load_scale`): any field
of the wrong type or out of range is refused with the file, the field, its value and the fix.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from segtool.base.errors import UserInputError

FORMAT = "segtool-scale"
SUFFIX = ".scale.json"
KINDS = ("line", "box", "circle", "given")
# 1 km per pixel: far beyond any photo of rock, and small enough that areas (mm_per_px²) stay finite
MAX_MM_PER_PX = 1e6
_FIX = "fix the value or delete the file (the Measure panel's scale tool writes a new one)"


def check_mm_per_px(value: Any, what: str, fix: str = "") -> float:
    """`value` as millimetres per pixel: a finite number in (0, MAX_MM_PER_PX]; else UserInputError."""
    if (
        not isinstance(value, (int, float))
        or isinstance(value, bool)
        or not math.isfinite(value)
        or not 0 < value <= MAX_MM_PER_PX
    ):
        raise UserInputError(
            f"{what} is {value!r}: give millimetres per pixel, a positive number up to {MAX_MM_PER_PX:g} "
            f"(e.g. 0.39){'; ' + fix if fix else ''}"
        )
    return float(value)


def _field(where: str, name: str, value: Any, want: str) -> UserInputError:
    shown = repr(value)
    shown = shown if len(shown) <= 60 else shown[:57] + "..."
    return UserInputError(f"{where}: {name} is {shown}, expected {want}; {_FIX}")


def _opt_positive(where: str, name: str, v: Any) -> float | None:
    if v is None:
        return None
    if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v) or v <= 0:
        raise _field(where, name, v, "a positive number or null")
    return float(v)


def _points(where: str, v: Any) -> list[list[float]]:
    if v is None:
        return []
    ok = (
        isinstance(v, list)
        and len(v) <= 16
        and all(
            isinstance(p, list)
            and len(p) == 2
            and all(isinstance(c, (int, float)) and not isinstance(c, bool) and math.isfinite(c) for c in p)
            for p in v
        )
    )
    if not ok:
        raise _field(where, "reference.points", v, "a list of [x, y] pixel pairs")
    return [[float(a), float(b)] for a, b in v]


@dataclass
class Scale:
    """mm per pixel and how it was measured."""

    mm_per_px: float
    kind: str = "given"
    points: list[list[float]] = field(default_factory=list)
    length_mm: float | None = None
    height_mm: float | None = None
    length_px: float | None = None
    image_size: list[int] | None = None
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": 1,
            "mm_per_px": float(self.mm_per_px),
            "reference": {
                "kind": self.kind,
                "points": [[float(a), float(b)] for a, b in self.points],
                "length_mm": self.length_mm,
                "height_mm": self.height_mm,
                "length_px": self.length_px,
            },
            "image_size": self.image_size,
            "note": self.note,
        }

    @classmethod
    def from_dict(cls, d: Any, where: str = "scale file") -> Scale:
        """Read the sidecar format (module docstring), checking every field.

        Raises:
            UserInputError: not a scale file, or a field of the wrong type or out of range.
        """
        if not isinstance(d, dict) or d.get("format") != FORMAT:
            raise UserInputError(f'{where} is not a segtool scale file (no "format": "{FORMAT}"); {_FIX}')
        mm = check_mm_per_px(d.get("mm_per_px"), f"{where}: mm_per_px", _FIX)
        ref = d.get("reference")
        if ref is None:
            ref = {}
        if not isinstance(ref, dict):
            raise _field(
                where, "reference", ref, 'an object like {"kind": "line", "points": [[x, y], [x, y]], ...}'
            )
        kind = ref.get("kind", "given")
        if kind not in KINDS:
            raise _field(where, "reference.kind", kind, f"one of {', '.join(KINDS)}")
        lengths = [
            _opt_positive(where, f"reference.{k}", ref.get(k))
            for k in ("length_mm", "height_mm", "length_px")
        ]
        size = d.get("image_size")
        if size is not None and not (
            isinstance(size, list)
            and len(size) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in size)
        ):
            raise _field(where, "image_size", size, "[width, height] in pixels or null")
        note = d.get("note", "")
        if note is None:
            note = ""
        if not isinstance(note, str):
            raise _field(where, "note", note, "a text")
        return cls(mm, kind, _points(where, ref.get("points")), *lengths, size, note)


def _positive(value: float, what: str) -> float:
    if not isinstance(value, (int, float)) or not value > 0 or not math.isfinite(value):
        raise UserInputError(f"{what} must be a positive number; got {value!r}")
    return float(value)


def given(mm_per_px: float) -> Scale:
    return Scale(check_mm_per_px(mm_per_px, "--scale (mm per pixel)"), "given")


def from_line(p0: tuple[float, float], p1: tuple[float, float], length_mm: float) -> Scale:
    """A line drawn along something of known length."""
    px = math.dist(p0, p1)
    if px < 2:
        raise UserInputError("the reference line is shorter than 2 pixels; draw it along the whole object")
    mm = _positive(length_mm, "the reference length (mm)")
    return Scale(mm / px, "line", [list(p0), list(p1)], mm, None, px)


def from_box(
    p0: tuple[float, float], p1: tuple[float, float], width_mm: float, height_mm: float | None = None
) -> Scale:
    """A box drawn around a scale object of known width (and height): the mean of both ratios."""
    w, h = abs(p1[0] - p0[0]), abs(p1[1] - p0[1])
    if w < 2 or h < 2:
        raise UserInputError(
            "the reference box is less than 2 pixels wide or high; draw it around the whole object"
        )
    wm = _positive(width_mm, "the reference width (mm)")
    hm = _positive(height_mm, "the reference height (mm)") if height_mm is not None else wm
    return Scale((wm / w + hm / h) / 2, "box", [list(p0), list(p1)], wm, hm, (w + h) / 2)


def from_circle(centre: tuple[float, float], rim: tuple[float, float], diameter_mm: float) -> Scale:
    """A circle drawn over a round scale object (a ball, a disc) of known diameter."""
    d = 2 * math.dist(centre, rim)
    if d < 2:
        raise UserInputError("the reference circle is smaller than 2 pixels; draw it over the whole object")
    mm = _positive(diameter_mm, "the reference diameter (mm)")
    return Scale(mm / d, "circle", [list(centre), list(rim)], mm, None, d)


def sidecar_path(source: str | os.PathLike) -> Path:
    p = Path(source)
    return p.with_name(p.name.rstrip("/") + SUFFIX)


def save_scale(source: str | os.PathLike, scale: Scale) -> Path:
    """Write `<source>.scale.json` atomically; returns its path."""
    path = sidecar_path(source)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(scale.to_dict(), f, indent=2)
            f.write("\n")
        os.chmod(tmp, 0o644)  # mkstemp makes 0600
        os.replace(tmp, path)
    except OSError as e:
        Path(tmp).unlink(missing_ok=True)
        raise UserInputError(f"cannot write {path}: {e.strerror or e}; check permissions") from e
    return path


def load_scale(
    source: str | os.PathLike, *, image: str | os.PathLike | None = None
) -> tuple[Scale, Path] | None:
    """The scale saved for `image` (inside the folder `source`) or for `source`, with the file it came
    from; None when there is none. A damaged file raises UserInputError (never ignored silently)."""
    for cand in ([image] if image is not None else []) + [source]:
        path = sidecar_path(cand)
        if path.is_file():
            try:
                doc = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as e:  # UnicodeDecodeError is a ValueError
                raise UserInputError(f"cannot read scale file {path}: {e} — fix or delete it") from e
            return Scale.from_dict(doc, str(path)), path
    return None
