"""Class lists: names, colours, validation and the default palette."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from segtool.base.errors import UserInputError

# torchvision's COCO-with-VOC-labels categories (its published DeepLabV3 weights predict these 21).
VOC_CLASSES = (
    "__background__",
    "aeroplane",
    "bicycle",
    "bird",
    "boat",
    "bottle",
    "bus",
    "car",
    "cat",
    "chair",
    "cow",
    "diningtable",
    "dog",
    "horse",
    "motorbike",
    "person",
    "pottedplant",
    "sheep",
    "sofa",
    "train",
    "tvmonitor",
)


def voc_color(i: int) -> list[int]:
    """The PASCAL VOC colour map (bit-interleaved), also used as segtool's default palette."""
    r = g = b = 0
    c = i
    for j in range(8):
        r |= ((c >> 0) & 1) << (7 - j)
        g |= ((c >> 1) & 1) << (7 - j)
        b |= ((c >> 2) & 1) << (7 - j)
        c >>= 3
    return [r, g, b]


def default_colors(n: int) -> list[list[int]]:
    """n distinct colours; class 0 (usually background) is black."""
    return [voc_color(i) for i in range(n)]


def parse_class_names(text: str) -> list[str]:
    """Parse `--classes a,b,c` (or the preset `voc`)."""
    if text.strip().lower() == "voc":
        return list(VOC_CLASSES)
    names = [n.strip() for n in text.split(",")]
    if any(not n for n in names):
        raise UserInputError(
            f"--classes {text!r} has an empty name; give names separated by commas, e.g. background,rock"
        )
    return names


_HEX = re.compile(r"^#?([0-9a-fA-F]{6})$")


def parse_colors(text: str) -> list[list[int]]:
    """Parse `--colors`: `R,G,B;R,G,B;…` or `#rrggbb;#rrggbb;…` (`;` or spaces between colours)."""
    items = [t for t in re.split(r"[;\s]+", text.strip()) if t]
    if len(items) == 1 and "," in items[0] and all(_HEX.match(p.strip()) for p in items[0].split(",")):
        items = items[0].split(",")  # "#000000,#fa3253" is unambiguous too
    colors = []
    for item in items:
        m = _HEX.match(item.strip())
        if m:
            v = int(m.group(1), 16)
            colors.append([(v >> 16) & 255, (v >> 8) & 255, v & 255])
            continue
        parts = item.split(",")
        try:
            rgb = [int(p) for p in parts]
        except ValueError:
            rgb = []
        if len(rgb) != 3:
            raise UserInputError(
                f"colour {item!r} is not an RGB triple; write R,G,B with 0-255 each or #rrggbb, colours separated by ';'"
                " (e.g. --colors '0,0,0;250,50,83')"
            )
        colors.append(rgb)
    return [check_color(c, f"colour {i}") for i, c in enumerate(colors)]


def check_color(color: Any, what: str) -> list[int]:
    """Return the colour as [r, g, b] ints, or raise naming `what`."""
    ok = (
        isinstance(color, (list, tuple))
        and len(color) == 3
        and all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 255 for v in color)
    )
    if not ok:
        bad = (
            [v for v in color if isinstance(v, (int, float)) and not 0 <= v <= 255]
            if isinstance(color, (list, tuple))
            else []
        )
        why = f" ({', '.join(map(str, bad))} outside 0-255)" if bad else ""
        raise UserInputError(
            f"{what}: {color!r} is not an RGB triple of integers 0-255{why}; write it like [250, 50, 83]"
        )
    return [int(v) for v in color]


def make_classes(names: Sequence[str], colors: Sequence[Sequence[int]] | None = None) -> list[dict[str, Any]]:
    """Build the checkpoint's class list, validated; missing colours come from the default palette."""
    if colors is not None and len(colors) != len(names):
        raise UserInputError(f"{len(names)} class names but {len(colors)} colours; give one colour per class")
    cols = list(colors) if colors is not None else default_colors(len(names))
    return validate_classes([{"name": n, "color": list(c)} for n, c in zip(names, cols)])


def class_palette(classes: Sequence[dict[str, Any]]) -> list[list[int]]:
    """The [r, g, b] colour of each class, in class-id order: what overlays, legends and indexed PNGs use.

    Raises:
        UserInputError: no classes, or a class without a (valid) colour; the message names the class
            and how to set colours.
    """
    if not classes:
        raise UserInputError(
            "the checkpoint has no classes; rebuild it with `segtool import-weights --classes NAME,...`"
        )
    out = []
    for i, c in enumerate(classes):
        name = c.get("name", f"#{i}")
        how = "set the colours with `segtool import-weights --colors R,G,B;R,G,B;...`"
        if c.get("color") is None:
            raise UserInputError(f"class {i} {name!r} has no colour; {how}")
        try:
            out.append(check_color(c["color"], f"class {i} {name!r} colour"))
        except UserInputError as e:
            raise UserInputError(f"{e}; {how}") from None
    return out


def check_unique_names(names: Sequence[str], where: str = "") -> None:
    """Refuse two classes with the same name (ignoring case and surrounding spaces): the one name check that
    checkpoints, label sets and dataset class files (`classes.json`, `labelmap.txt`) share."""
    seen: dict[str, int] = {}
    for i, name in enumerate(names):
        key = str(name).strip().lower()
        if key in seen:
            raise UserInputError(
                f"{where + ': ' if where else ''}duplicate class name {str(name).strip()!r} (classes {seen[key]} and {i}); "
                "every class needs its own name"
            )
        seen[key] = i


def validate_classes(classes: Any, *, require_colors: bool = True) -> list[dict[str, Any]]:
    """Check a class list: at least two, non-empty unique names, RGB colours.

    Args:
        classes: list of {"name": str, "color": [r, g, b]}.
        require_colors: if False, a class may have no "color" (it is then stored as None).
    """
    if not isinstance(classes, (list, tuple)) or len(classes) < 2:
        raise UserInputError(f"a model needs at least 2 classes (e.g. background and rock); got {classes!r}")
    out = []
    for i, c in enumerate(classes):
        if not isinstance(c, dict) or not isinstance(c.get("name"), str) or not c["name"].strip():
            raise UserInputError(f"class {i} has no name: {c!r}")
    check_unique_names([c["name"] for c in classes])
    for c in classes:
        name = c["name"].strip()
        color = c.get("color")
        if color is None and not require_colors:
            out.append({"name": name, "color": None})
        else:
            out.append({"name": name, "color": check_color(color, f"class {name!r} colour")})
    return out
