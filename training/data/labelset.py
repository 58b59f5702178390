"""Label sets (the folder the app's label mode writes) of a fragment model: the edge class is drawn from the
outlined fragments (`instances/`), exactly as the instance importers draw it, never read from a brush.

A label set is a mask folder (`images/` + `masks/`, 255 = unknown) with `instances/` (16-bit fragment
ids) and `manifest.json`; see docs/labelling.md. This module only derives classes; the folder importer
(`folder.import_folder`) decides whether a folder is such a set.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from scipy import ndimage

from segtool.base.errors import UserInputError

from .instances import CENTRE_FRACTION, EDGE_WIDTH, FRAGMENTS_FIELD, centre_core, edge_band, read_instance_png
from .masks import MaskCoding

LABELSET_FORMAT = "segtool-labels"


def labelset_fragments(manifest: dict | None, names: list[str]) -> dict | None:
    """The `fragments` entry of a label set: the manifest's own, else inferred when the classes hold the
    fragment classes outlines are turned into (rock and rock_edge). None when the set is not for a fragment
    model with an edge class (then nothing is derived). A centre-split model's entry keeps its centre class
    (`"split": "centre"`): that class is derived from the outlines too."""
    entry = manifest.get("fragments") if isinstance(manifest, dict) else None
    if isinstance(entry, dict) and entry.get("interior") in names and entry.get("edge") in names:
        out = {"interior": entry["interior"], "edge": entry["edge"]}
        if entry.get("split") == "centre" and entry.get("centre") in names:
            out.update(centre=entry["centre"], split="centre")
        return out
    if FRAGMENTS_FIELD["interior"] in names and FRAGMENTS_FIELD["edge"] in names:
        return dict(FRAGMENTS_FIELD)
    return None


def read_labelset_manifest(root: Path) -> dict | None:
    """`root/manifest.json` when it is a segtool label set's manifest (any other or a damaged file: None)."""
    try:
        doc = json.loads((Path(root) / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) and doc.get("format") == LABELSET_FORMAT else None


def labelset_instances_path(mask_path: Path) -> Path:
    """Where a label set keeps the fragment ids of the frame whose mask is `mask_path`."""
    return mask_path.parent.parent / "instances" / f"{mask_path.stem}.png"


def labelset_classes(
    mask: np.ndarray,
    instances: np.ndarray | None,
    interior: int,
    edge: int,
    edge_width: int = EDGE_WIDTH,
    ignore: int = 255,
    centre: int | None = None,
    centre_fraction: float | None = None,
) -> np.ndarray:
    """The class ids a fragment model learns from one label-set frame (HxW uint8).

    Outlined fragments (`instances` > 0) become `interior` with the edge band of `edge_band` — the same
    band the instance importers give — as `edge`. Rock painted without an outline (a brush stroke) has no
    outline to say where its edge is: its pixels within `edge_width` of other labelled pixels
    (background, another class, a fragment) become `ignore`, never background, and the rest stay
    `interior`. Background, other classes, unknown and edge pixels kept from a prediction stay as painted.
    With `centre` (a centre-split model) the outlined fragments' cores (`centre_core`) become `centre`;
    centre pixels kept from a prediction outside any outline become `interior` (a core needs an outline).
    """
    ids = np.array(mask, np.uint8, copy=True)
    frag = np.zeros(ids.shape, bool) if instances is None else np.asarray(instances) > 0
    if frag.any():
        ids[frag] = interior
        ids[edge_band(np.where(frag, instances, 0), edge_width)] = edge
        if centre is not None:
            core = centre_core(
                np.where(frag, instances, 0), centre_fraction or CENTRE_FRACTION, float(edge_width)
            )
            ids[core] = centre
    if centre is not None:
        ids[(np.asarray(mask) == centre) & ~frag] = interior
    plain = (np.asarray(mask) == interior) & ~frag
    if plain.any():
        other = (np.asarray(mask) != ignore) & (np.asarray(mask) != edge) & ~plain
        if other.any():
            near = ndimage.distance_transform_edt(~other) <= edge_width
            ids[plain & near] = ignore
    return ids


def decode_labelset_fragments(
    ids: np.ndarray, mask_path: Path, names: list[str], coding: MaskCoding, fragments: dict, ignore: int
) -> np.ndarray:
    """Class ids of a label-set frame of a fragment model: `ids` (the decoded mask) with its instances
    PNG (if any) applied by `labelset_classes`."""
    p = labelset_instances_path(Path(mask_path))
    inst = read_instance_png(p) if p.is_file() else None
    if inst is not None and inst.shape != ids.shape:
        raise UserInputError(
            f"instance mask {p} is {inst.shape[1]}×{inst.shape[0]} but its mask is "
            f"{ids.shape[1]}×{ids.shape[0]} — re-save the frame in label mode or remove the file"
        )
    return labelset_classes(
        ids,
        inst,
        names.index(fragments["interior"]),
        names.index(fragments["edge"]),
        coding.edge_width,
        ignore,
        names.index(fragments["centre"]) if fragments.get("split") == "centre" else None,
        coding.centre,
    )
