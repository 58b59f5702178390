"""A label set: the folder label mode paints into, in the layout `segtool train` reads as it is.

```
LABELS/images/<name>.png|.jpg     photos, or video frames saved as <video stem>_<frame:06d>.png
LABELS/masks/<name>.png           8-bit class ids; 255 = unknown (never painted), ignored in training
LABELS/instances/<name>.png       16-bit fragment ids (only when fragments were outlined)
LABELS/classes.json               [{"name": ..., "color": [r, g, b]}, ...]
LABELS/manifest.json              {"frames": [{"image": name, "source": path, "frame": i, "pts_s": t}, ...],
                                   "fragments": {"interior": "rock", "edge": "rock_edge"}}  (fragment models)
LABELS/IMPORT_INCOMPLETE.json     only while an import runs: a set that has it is unfinished
```

Every reader validates these files through `training.labelset_schema` (one schema, shared with training).

A label set for a fragment model (a checkpoint with a `fragments` entry naming an edge class) stores the
outlined fragments in instances/ and never paints the edge class: training derives the edge band from the
instances (`training.data.labelset.labelset_classes`).


A propagated frame's entry also has `"propagated_from": <stem>` and `"reviewed": false` until the user
accepts or corrects it (then `true`); `segtool train --propagated exclude` leaves the unreviewed ones out.

Every file is written to a temporary name and renamed, the mask last but one and the manifest last, so a
kill at any instant leaves either the old frame or the new one. CVAT "Segmentation mask 1.1" import and
export (`import_cvat`, `export_cvat`) let labels travel to and from CVAT: CVAT has no "unknown", so
unknown pixels travel as a label named `unknown` and come back as unknown.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from segtool.base.errors import UserInputError
from segtool.core.labelset_io import (  # noqa: F401 (used here; re-exported for labelset_coco)
    check_export_target,
    check_import_target,
    checked_instances,
    checked_masks,
    finish_import,
    mark_import,
    write_export,
)
from segtool.core.sinks._files import atomic_write_bytes
from segtool.training import labelset_schema as schema
from segtool.training.data.labelset import labelset_fragments  # training is below core: allowed
from segtool.training.labelset_schema import CLASSES, INCOMPLETE, MANIFEST, UNKNOWN  # noqa: F401 (re-exported)

UNKNOWN_LABEL = "unknown"  # the CVAT label unknown pixels travel as


@dataclass(frozen=True)
class LabelledFrame:
    """One frame of a label set, as listed in its manifest."""

    image: str  # file name in images/
    source: str | None = None  # the video or photo it came from
    frame: int | None = None  # frame index in that video
    pts_s: float | None = None
    propagated_from: str | None = None  # the frame (stem) whose labels were propagated here; None = painted
    reviewed: bool = True  # False: propagated and not yet accepted or corrected by the user

    @property
    def stem(self) -> str:
        return Path(self.image).stem


def frame_name(source: str | os.PathLike, frame: int | None) -> str:
    """`<stem>_<frame:06d>` for a video frame, the photo's stem for a photo."""
    stem = Path(source).stem
    return stem if frame is None else f"{stem}_{int(frame):06d}"


def _manifest_fragments(doc: Any) -> dict | None:
    """The manifest's `fragments` entry, if it holds a well-formed one (checked against the classes later)."""
    entry = doc.get("fragments") if isinstance(doc, dict) else None
    return entry if isinstance(entry, dict) else None


def _png_bytes(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="PNG")
    return buf.getvalue()


class LabelSet:
    """A label-set folder. Not thread-safe: one owner (the label-mode worker) writes it."""

    def __init__(
        self,
        root: str | os.PathLike,
        classes: list[dict[str, Any]],
        frames: list[LabelledFrame],
        fragments: dict | None = None,
    ) -> None:
        self.root = Path(root)
        self.classes = classes
        self._frames = {f.stem: f for f in frames}
        # Why the set is unfinished (an import was stopped), or None: shown by `labels info` and the app,
        # refused by export and training.
        self.incomplete: str | None = schema.incomplete_import(root)
        # {"interior", "edge"} for a fragment model's set (the edge class is derived, never painted), else None
        self.fragments = labelset_fragments({"fragments": fragments}, [c["name"] for c in classes])

    # --- opening ---------------------------------------------------------------------------------

    @classmethod
    def create(
        cls, root: str | os.PathLike, classes: list[dict[str, Any]], fragments: dict | None = None
    ) -> LabelSet:
        """A new label set (or the existing one at `root` when its classes are the same).

        `fragments`: the model's `fragments` entry; with an edge class, fragments are labelled as instances."""
        root = Path(root)
        classes = schema.check_classes(classes, "the new label set's classes")
        if (root / CLASSES).is_file():
            existing = cls.open(root)
            if [c["name"] for c in existing.classes] != [c["name"] for c in classes]:
                raise UserInputError(
                    f"{root} is already a label set with classes {', '.join(c['name'] for c in existing.classes)}; "
                    "open it as it is, or choose a new folder"
                )
            return existing
        if root.exists() and not root.is_dir():
            raise UserInputError(f"{root} is a file; a label set is a folder — choose another name")
        try:
            for sub in ("images", "masks"):
                (root / sub).mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise UserInputError(
                f"cannot create the label set {root} ({e.strerror or e}); choose a folder you can write to"
            ) from e
        ls = cls(root, classes, [], fragments)
        atomic_write_bytes(root / CLASSES, (json.dumps(classes, indent=2) + "\n").encode())
        ls._write_manifest()
        return ls

    @classmethod
    def open(cls, root: str | os.PathLike) -> LabelSet:
        """Reopen a label set to continue labelling."""
        root = Path(root)
        try:
            is_dir = root.is_dir()
        except OSError as e:  # a name longer than the file system allows
            raise UserInputError(
                f"{root} cannot be opened ({e.strerror or e}); check the label-set folder's path"
            ) from e
        if not is_dir:
            raise UserInputError(
                f"{root} is not a label set (no such folder); create one from the app or pick its folder"
            )
        classes = schema.read_classes(
            root
        )  # the one validation every reader shares (training.labelset_schema)
        entries, doc = schema.load_manifest(root)
        frames = [
            _review_from_entry(LabelledFrame(**{k: e[k] for k in ("image", "source", "frame", "pts_s")}), e)
            for e in entries
        ]
        listed = {f.stem for f in frames}
        for img in sorted((root / "images").glob("*")):  # frames saved before a kill wrote the manifest
            if (
                img.suffix.lower() in (".png", ".jpg", ".jpeg")
                and img.stem not in listed
                and not img.name.startswith(".")
            ):
                frames.append(LabelledFrame(img.name))
        return cls(root, classes, frames, _manifest_fragments(doc))

    # --- reading ---------------------------------------------------------------------------------

    @property
    def frames(self) -> list[LabelledFrame]:
        return list(self._frames.values())

    @property
    def class_names(self) -> list[str]:
        return [c["name"] for c in self.classes]

    def find(self, source: str | os.PathLike, frame: int | None = None) -> LabelledFrame | None:
        f = self._frames.get(self.stem_for(source, frame))
        return f if f is not None and f.source in (None, str(source)) else None

    def stem_for(self, source: str | os.PathLike, frame: int | None = None) -> str:
        """The file stem this frame has (or will get) in the set: `<stem>_<frame:06d>`, made unique when
        another source with the same file name (day1/clip.mp4, day2/clip.mp4) already holds it, so the
        second never overwrites the first's labels."""
        base = frame_name(source, frame)
        stem, n = base, 1
        while (f := self._frames.get(stem)) is not None and f.source not in (None, str(source)):
            n += 1
            stem = f"{base}-{n}"
        return stem

    def load_image(self, stem: str) -> np.ndarray:
        f = self._frames[stem]
        with Image.open(self.root / "images" / f.image) as im:
            return np.asarray(im.convert("RGB")).copy()

    def load_mask(self, stem: str, shape: tuple[int, int] | None = None) -> np.ndarray | None:
        """The saved mask (255 = unknown), or None when the frame has none yet (then all unknown of `shape`)."""
        path = self.root / "masks" / f"{stem}.png"
        if not path.is_file():
            return None if shape is None else np.full(shape, UNKNOWN, np.uint8)
        return schema.read_mask(
            path, UNKNOWN
        )  # 8-bit and decodable, else UserInputError (ids checked on save)

    def checked_mask(self, stem: str) -> np.ndarray | None:
        """The frame's mask validated against its image and the classes (None when it has none yet).

        Raises:
            UserInputError: the image is gone, or the mask is undecodable, not 8-bit, of another size than
                its image or holds ids that are no class; the message names the file, the value and the fix.
        """
        path = self.root / "masks" / f"{stem}.png"
        if not path.is_file():
            return None
        img = self.root / "images" / self._frames[stem].image
        if not img.is_file():
            raise UserInputError(
                f"{img} was deleted but its mask {path} is still there — put the image back, or delete the mask "
                f"(and the frame's entry in {MANIFEST})"
            )
        return schema.read_mask(path, len(self.classes), schema.image_size(img))

    def load_instances(self, stem: str) -> np.ndarray | None:
        path = self.root / "instances" / f"{stem}.png"
        return np.asarray(Image.open(path)).astype(np.uint16) if path.is_file() else None

    # --- writing ---------------------------------------------------------------------------------

    def save(
        self,
        rgb: np.ndarray,
        mask: np.ndarray,
        *,
        source: str | os.PathLike,
        frame: int | None = None,
        pts_s: float | None = None,
        instances: np.ndarray | None = None,
        propagated_from: str | None = None,
    ) -> LabelledFrame:
        """Save one frame's labels: the image once, then the mask (and instances), then the manifest.

        `propagated_from`: the stem of the frame these labels were propagated from; the frame is then marked
        "propagated, not reviewed". A save without it (the user's own labels) marks a propagated frame reviewed.
        """
        if mask.shape != rgb.shape[:2] or mask.dtype != np.uint8:
            raise ValueError(f"mask {mask.shape} {mask.dtype} does not fit image {rgb.shape}")
        bad = np.setdiff1d(np.unique(mask), [*range(len(self.classes)), UNKNOWN])
        if bad.size:
            raise UserInputError(
                f"mask has values {bad.tolist()} that are no class of this label set (0..{len(self.classes) - 1}, 255 unknown)"
            )
        stem = self.stem_for(source, frame)
        entry = _with_review(
            LabelledFrame(f"{stem}.png", str(source), frame, pts_s), self._frames.get(stem), propagated_from
        )
        img_path = self.root / "images" / entry.image
        if not img_path.is_file():
            atomic_write_bytes(img_path, _png_bytes(np.ascontiguousarray(rgb)))
        else:
            self._check_kept_image(img_path, rgb)
        if instances is not None and (
            instances.shape != mask.shape
            or int(instances.max(initial=0)) > 65535
            or int(instances.min(initial=0)) < 0
        ):
            raise ValueError(
                f"instances {instances.shape} {instances.dtype} do not fit mask {mask.shape} as 16-bit ids"
            )
        if instances is not None:
            (self.root / "instances").mkdir(exist_ok=True)
            atomic_write_bytes(
                self.root / "instances" / f"{stem}.png", _png_bytes(instances.astype(np.uint16))
            )
        atomic_write_bytes(self.root / "masks" / f"{stem}.png", _png_bytes(mask))
        self._frames[stem] = entry
        self._write_manifest()
        return entry

    @staticmethod
    def _check_kept_image(img_path: Path, rgb: np.ndarray) -> None:
        """The image already saved for this frame is kept: refuse a mask of another size beside it."""
        w, h = schema.image_size(img_path)
        if (h, w) != rgb.shape[:2]:
            raise UserInputError(
                f"{img_path} is {w}x{h} but this frame is {rgb.shape[1]}x{rgb.shape[0]}: the footage changed since "
                "the frame was labelled — label it in a new label set, or delete the old image and its mask"
            )

    @property
    def paintable(self) -> list[int]:
        """Class ids the user paints: every class but a fragment model's edge (and centre) class (derived in
        training)."""
        derived = (self.fragments["edge"], self.fragments.get("centre")) if self.fragments else ()
        return [i for i, n in enumerate(self.class_names) if n not in derived]

    # --- propagated frames (issue 21) -------------------------------------------------------------

    def unreviewed(self) -> list[LabelledFrame]:
        """Frames marked "propagated, not reviewed", in manifest order."""
        return [f for f in self._frames.values() if not f.reviewed]

    def mark_reviewed(self, stem: str) -> LabelledFrame:
        """The user accepted a propagated frame as it is: clear its "not reviewed" mark (manifest only)."""
        f = self._frames[stem]
        if not f.reviewed:
            self._frames[stem] = f = replace(f, reviewed=True)
            self._write_manifest()
        return f

    def _write_manifest(self) -> None:
        doc = {
            "format": "segtool-labels",
            "version": 1,
            "frames": [
                _review_entry(f, {"image": f.image, "source": f.source, "frame": f.frame, "pts_s": f.pts_s})
                for f in self._frames.values()
            ],
        }
        if self.fragments:
            doc["fragments"] = dict(self.fragments)
        atomic_write_bytes(self.root / MANIFEST, (json.dumps(doc, indent=2) + "\n").encode())


def _with_review(
    entry: LabelledFrame, old: LabelledFrame | None, propagated_from: str | None
) -> LabelledFrame:
    """A saved frame's review mark: propagated → not reviewed; the user's save of a propagated frame → reviewed
    (where it came from is kept)."""
    if propagated_from is not None:
        return replace(entry, propagated_from=propagated_from, reviewed=False)
    if old is not None and old.propagated_from is not None:
        return replace(entry, propagated_from=old.propagated_from, reviewed=True)
    return entry


def _review_entry(f: LabelledFrame, entry: dict[str, Any]) -> dict[str, Any]:
    """Manifest fields of a propagated frame (none for a painted one, so older readers see no change)."""
    if f.propagated_from is not None:
        entry.update(propagated_from=f.propagated_from, reviewed=bool(f.reviewed))
    return entry


def _review_from_entry(f: LabelledFrame, entry: dict[str, Any]) -> LabelledFrame:
    if entry.get("propagated_from") is None:
        return f
    return replace(
        f, propagated_from=str(entry["propagated_from"]), reviewed=bool(entry.get("reviewed", False))
    )


# --- CVAT "Segmentation mask 1.1" ----------------------------------------------------------------


def _free_color(used: list[list[int]]) -> list[int]:
    for c in ([128, 128, 128], [255, 255, 255], [1, 1, 1], [254, 0, 254]):
        if c not in used:
            return c
    return next([v, v, v] for v in range(2, 254) if [v, v, v] not in used)


def export_cvat(ls: LabelSet, out: str | os.PathLike) -> Path:
    """Write `ls` as a CVAT "Segmentation mask 1.1" zip (labelmap.txt, SegmentationClass/,
    SegmentationObject/ when fragments were outlined, ImageSets/Segmentation/default.txt).

    CVAT has no "unknown": unknown pixels are painted with a label named `unknown` (added only when some
    frame has them), which `import_cvat` reads back as unknown.
    """
    out = check_export_target(Path(out))
    colors = [list(c["color"]) for c in ls.classes]
    masks = checked_masks(ls)
    if not masks:
        raise UserInputError(f"{ls.root} has no labelled frame to export yet")
    has_unknown = any((m == UNKNOWN).any() for m in masks.values())
    lut = np.zeros((256, 3), np.uint8)
    lut[: len(colors)] = colors
    lines = ["# label:color_rgb:parts:actions"] + [
        f"{c['name']}:{','.join(map(str, c['color']))}::" for c in ls.classes
    ]
    if has_unknown:
        unk = _free_color(colors)
        lut[UNKNOWN] = unk
        lines.append(f"{UNKNOWN_LABEL}:{','.join(map(str, unk))}::")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("labelmap.txt", "\n".join(lines) + "\n")
        z.writestr("ImageSets/Segmentation/default.txt", "\n".join(sorted(masks)) + "\n")
        for stem, m in sorted(masks.items()):
            z.writestr(f"SegmentationClass/{stem}.png", _png_bytes(lut[m]))
            inst = checked_instances(ls, stem, m.shape)
            if inst is not None:
                z.writestr(f"SegmentationObject/{stem}.png", _png_bytes(_instance_colors(inst)))
    write_export(out, buf.getvalue())
    return out


def _instance_colors(inst: np.ndarray) -> np.ndarray:
    """Instance ids as distinct RGB colours (CVAT's SegmentationObject); 0 stays black."""
    ids = inst.astype(np.uint32)
    rgb = np.stack([(ids * 67) % 251 + 1, (ids * 131) % 241 + 1, (ids * 29) % 239 + 1], -1).astype(np.uint8)
    rgb[ids == 0] = 0
    return rgb


def import_cvat(
    export: str | os.PathLike,
    images: str | os.PathLike | None,
    root: str | os.PathLike,
    *,
    unknown_classes: list[str] | tuple[str, ...] = (),
) -> LabelSet:
    """Read a CVAT "Segmentation mask 1.1" export (zip or folder; images in it or in `images`) into a
    label set at `root`. A label named `unknown` becomes unknown (255).

    `unknown_classes`: classes whose pixels become unknown while the class stays in the set — for sparse
    exports whose unpainted pixels were saved as "background": import with `["background"]`, then paint
    some real background in label mode.
    """
    from segtool.training.data import check_dataset, open_dataset  # training is below core: allowed

    check_import_target(Path(root))
    data = open_dataset(export, images=images, val_fraction=0.0, unknown_classes=unknown_classes)
    report = check_dataset(data)
    report.raise_for_errors()
    names = data.class_names
    unknown_id = names.index(UNKNOWN_LABEL) if UNKNOWN_LABEL in names else None
    classes = [{"name": c.name, "color": list(c.color)} for c in data.classes if c.name != UNKNOWN_LABEL]
    mark_import(Path(root), export)  # first: a kill from here on leaves a set that says it is unfinished
    ls = LabelSet.create(root, classes)
    objects = Path(data.root) / "SegmentationObject"
    remap = np.arange(256, dtype=np.uint8)
    if unknown_id is not None:
        remap[unknown_id] = UNKNOWN
        remap[unknown_id + 1 : len(names)] = np.arange(unknown_id, len(names) - 1, dtype=np.uint8)
    for s in data.samples:
        if s.mask is None:
            continue
        ls.save(
            data.load_image(s),
            remap[data.load_mask(s)],
            source=s.image.name,
            instances=_read_cvat_objects(objects / f"{s.mask.stem}.png"),
        )
    finish_import(ls)
    return ls


def _read_cvat_objects(path: Path) -> np.ndarray | None:
    """A CVAT SegmentationObject PNG as 16-bit fragment ids (None when there is none)."""
    if not path.is_file():
        return None
    try:
        with Image.open(path) as im:
            rgb = np.asarray(im.convert("RGB"))
    except (OSError, ValueError, SyntaxError) as e:
        raise UserInputError(f"cannot read {path}: {e} — re-export from CVAT or remove the file") from e
    return instance_ids_from_colors(rgb)


_VOC_VOID = (224, 224, 192)  # VOC/CVAT draw object borders in this colour: no object


def instance_ids_from_colors(rgb: np.ndarray) -> np.ndarray:
    """Instance colours (SegmentationObject) → HxW uint16 ids, 0 = none (black, VOC's border colour).

    Colours written by `export_cvat` decode to the ids they were made from (a round trip keeps them);
    any other colouring (CVAT's own) is numbered 1, 2, … in colour order."""
    code = (rgb[..., 0].astype(np.uint32) << 16) | (rgb[..., 1].astype(np.uint32) << 8) | rgb[..., 2]
    uniq, inv = np.unique(code, return_inverse=True)
    cols = [((int(c) >> 16) & 255, (int(c) >> 8) & 255, int(c) & 255) for c in uniq]
    objects = [c for c in cols if c not in ((0, 0, 0), _VOC_VOID)]
    ours = {c: _id_of_color(c) for c in objects}
    if any(v is None for v in ours.values()) or len(set(ours.values())) != len(ours):
        ours = {c: k + 1 for k, c in enumerate(objects)}
    if len(ours) > 65535:
        raise UserInputError(
            f"{len(ours)} objects in one SegmentationObject image; at most 65535 fit a 16-bit instance PNG"
        )
    lut = np.array([ours.get(c, 0) for c in cols], np.uint16)
    return lut[inv.reshape(code.shape)]


def _id_of_color(c: tuple[int, int, int]) -> int | None:
    """The id `_instance_colors` gave colour `c` (Chinese remainder over its three channels), or None."""
    residues = []
    for v, mult, mod in ((c[0], 67, 251), (c[1], 131, 241), (c[2], 29, 239)):
        if not 1 <= v <= mod:
            return None
        residues.append(((v - 1) * pow(mult, -1, mod) % mod, mod))
    x, m = 0, 1
    for r, mod in residues:  # the moduli are primes: combine one at a time
        x += m * ((r - x) * pow(m, -1, mod) % mod)
        m *= mod
    if not 0 < x <= 65535 or tuple(_instance_colors(np.array([x]))[0]) != c:
        return None
    return x
