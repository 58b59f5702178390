"""Property-style tests, one per label-set reader (issue 24): seeded random truncations and edits of valid files
(manifest.json, classes.json, mask and fragment PNGs, a CVAT zip) never give a traceback, and an exit 0 only ever reports
what the files really hold (checked against an independent reading of the edited file).

A seeded generator of our own (hypothesis is not installed); SEGTOOL_FUZZ_N raises the number of cases.
A failure prints the seed and the edit, so it can be replayed.
"""

from __future__ import annotations

import io
import json
import os
import random
import re
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from segtool.cli import main
from segtool.core.labelset import LabelSet, export_cvat

N = int(os.environ.get("SEGTOOL_FUZZ_N", "20"))
CLASSES = [
    {"name": "background", "color": [0, 0, 0]},
    {"name": "rock", "color": [250, 50, 83]},
    {"name": "sky", "color": [0, 0, 255]},
]
H, W = 12, 16


def _masks():
    out = {}
    for i in range(3):
        m = np.full((H, W), 255, np.uint8)
        m[1 + i : 6, 2:9] = 1
        m[8:11, 3 + i : 12] = 0
        m[0, : 2 + i] = 2
        out[f"clip_{i:06d}"] = m
    return out


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz") / "L"
    ls = LabelSet.create(root, CLASSES)
    rng = np.random.default_rng(0)
    for i, m in enumerate(_masks().values()):
        inst = (m == 1).astype(np.uint16) * 7 if i == 0 else None  # one frame with an outlined fragment
        ls.save(
            rng.integers(0, 255, (H, W, 3), dtype=np.uint8),
            m,
            source="clip.mp4",
            frame=i,
            pts_s=i / 5,
            instances=inst,
        )
    export_cvat(ls, root.parent / "c.zip")
    return root


# --- edits ------------------------------------------------------------------------------------------------

_VALUES = [
    None,
    True,
    0,
    -1,
    5,
    2**70,
    1e308,
    float("nan"),
    "",
    "x",
    "../../etc/passwd",
    "a.png",
    "\x00",
    "é" * 300,
    [],
    [1, 2],
    {},
    {"name": "rock"},
]


def _edit_bytes(rnd: random.Random, data: bytes) -> tuple[bytes, str]:
    kind = rnd.choice(["truncate", "flip", "insert", "delete", "zero-tail"])
    n = len(data)
    at = rnd.randrange(max(n, 1))
    if kind == "truncate":
        return data[:at], f"truncate at {at}"
    if kind == "flip":
        b = bytearray(data)
        for _ in range(rnd.randint(1, 4)):
            b[rnd.randrange(n)] = rnd.randrange(256)
        return bytes(b), "flip bytes"
    if kind == "insert":
        return data[:at] + bytes(rnd.randrange(256) for _ in range(rnd.randint(1, 8))) + data[
            at:
        ], f"insert at {at}"
    if kind == "delete":
        return data[:at] + data[at + rnd.randint(1, 8) :], f"delete at {at}"
    return data[:at] + b"\x00" * (n - at), f"zero from {at}"


def _edit_json(rnd: random.Random, doc):
    """Replace one randomly chosen node of the JSON tree (or delete a key / an item)."""
    doc = json.loads(json.dumps(doc))
    path, node = [], doc
    while isinstance(node, (dict, list)) and node and rnd.random() < 0.9:
        key = rnd.choice(list(node)) if isinstance(node, dict) else rnd.randrange(len(node))
        path.append((node, key))
        node = node[key]
    value = rnd.choice(_VALUES)
    if not path:
        return value, f"whole document -> {value!r:.40}"
    parent, key = path[-1]
    if rnd.random() < 0.2:
        del parent[key]
        return doc, f"delete {key!r}"
    parent[key] = value
    return doc, f"{key!r} -> {value!r:.40}"


def _edit(rnd: random.Random, path: Path) -> str:
    data = path.read_bytes()
    if path.suffix == ".json" and rnd.random() < 0.6:
        doc, what = _edit_json(rnd, json.loads(data))
        path.write_text(json.dumps(doc))  # NaN is written as NaN, which json reads back: a hostile value
        return what
    data, what = _edit_bytes(rnd, data)
    path.write_bytes(data)
    return what


def _run(capsys, *argv) -> tuple[int, str, str]:
    rc = main([str(a) for a in argv])  # any exception but UserInputError propagates: that is a traceback
    out, err = capsys.readouterr()
    assert rc in (0, 2), (rc, err)
    if rc == 2 and "--check" not in argv:  # `train --check` prints its report (errors included) on stdout
        assert "segtool: error: " in err, err
        assert len(err) > 40, err
    return rc, out, err


# --- independent readings (the oracle) ---------------------------------------------------------------------


def _truth_classes(root: Path):
    """The class names the set really has, read without segtool, or None when classes.json is not valid."""
    try:
        doc = json.loads((root / "classes.json").read_text(encoding="utf-8"))
    except ValueError:
        return None
    if not isinstance(doc, list) or not 2 <= len(doc) <= 255:
        return None
    names = []
    for c in doc:
        if not isinstance(c, dict) or not isinstance(c.get("name"), str) or not c["name"].strip():
            return None
        col = c.get("color")
        if not (
            isinstance(col, list) and len(col) == 3 and all(type(v) is int and 0 <= v <= 255 for v in col)
        ):
            return None
        names.append(c["name"].strip())
    return names if len({n.lower() for n in names}) == len(names) else None


def _truth_mask(path: Path, n_classes: int):
    """The mask's class ids read without segtool, or None when the file is no valid mask of this set."""
    try:
        with Image.open(path) as im:
            if im.mode not in ("L", "P"):
                return None
            m = np.asarray(im).copy()
    except Exception:  # noqa: BLE001 - anything PIL cannot read is simply "not a valid mask"
        return None
    if m.shape != (H, W) or m.dtype != np.uint8:
        return None
    return m if np.isin(m, [*range(n_classes), 255]).all() else None


def _shares_line(names, m):
    shares = ", ".join(f"{n} {100 * float((m == i).mean()):.1f} %" for i, n in enumerate(names))
    return f"{shares}, unknown {100 * float((m == 255).mean()):.1f} %"


def _check_info_output(root: Path, out: str):
    """An exit 0 of `labels info`: every mask on disk is listed with its true shares, under the true classes."""
    names = _truth_classes(root)
    assert names is not None, "exit 0 with an invalid classes.json"
    assert f"classes: {', '.join(names)}" in out
    for p in sorted((root / "masks").glob("*.png")):
        m = _truth_mask(p, len(names))
        assert m is not None, f"exit 0 with an invalid mask {p.name}"
        line = next((t for t in out.splitlines() if t.strip().startswith(f"{p.stem}.png")), None)
        assert line is not None, (p.name, line)
        assert line.endswith(_shares_line(names, m)), (p.name, line)


def _check_export(root: Path, zpath: Path):
    """An exit 0 of `labels export-cvat`: the zip holds every mask, colour for colour."""
    names = _truth_classes(root)
    assert names is not None
    classes = json.loads((root / "classes.json").read_text())
    with zipfile.ZipFile(zpath) as z:
        lm = {
            ln.split(":")[0]: tuple(map(int, ln.split(":")[1].split(",")))
            for ln in z.read("labelmap.txt").decode().splitlines()
            if not ln.startswith("#")
        }
        for p in sorted((root / "masks").glob("*.png")):
            m = _truth_mask(p, len(names))
            assert m is not None, f"exit 0 with an invalid mask {p.name}"
            rgb = np.asarray(Image.open(io.BytesIO(z.read(f"SegmentationClass/{p.stem}.png"))).convert("RGB"))
            for i, c in enumerate(classes):
                assert (rgb[m == i] == c["color"]).all()
            if (m == 255).any():
                assert (rgb[m == 255] == lm["unknown"]).all()
    inst = root / "instances" / "clip_000000.png"
    if inst.is_file():  # an exit 0 means the fragment file was a valid one of the frame's size
        with Image.open(inst) as im:
            assert im.mode in ("I;16", "I;16B", "I;16L", "I", "L")
            assert im.size == (W, H)
            np.asarray(im)


def _check_import(zpath: Path, ls: LabelSet, truth: dict) -> None:
    """An exit 0 of `labels import-cvat`: every imported mask says what the (edited) zip says, pixel for pixel —
    class colours as in its labelmap, `unknown` as unknown. An edit may rename a label (`unknown` misspelt is
    then a class of its own): the content still matches the file. With the labelmap untouched, the ids are
    exactly the exported ones."""
    with zipfile.ZipFile(zpath) as z:
        labelmap = z.read("labelmap.txt")
        colors = {}
        for line in labelmap.decode("utf-8-sig").splitlines():
            parts = line.strip().split(":")
            if line.strip() and not line.startswith("#") and len(parts) >= 2:
                colors[parts[0].strip()] = [int(v) for v in parts[1].split(",")]
        lut = np.zeros((256, 3), np.int64)
        lut[: len(ls.classes)] = [c["color"] for c in ls.classes]
        if "unknown" in colors:
            lut[255] = colors["unknown"]
        for f in ls.frames:
            m = ls.load_mask(f.stem)
            rgb = np.asarray(Image.open(io.BytesIO(z.read(f"SegmentationClass/{f.stem}.png"))).convert("RGB"))
            assert m is not None, f.stem
            assert (lut[m] == rgb).all(), f.stem
            if "unknown" in colors and len(colors) == 4:  # the pristine labelmap's shape: ids as exported
                assert np.array_equal(m, truth[f.stem]), f.stem


def _case(pristine: Path, tmp_path: Path, i: int) -> Path:
    root = tmp_path / f"case{i}" / "L"
    shutil.copytree(pristine, root)
    return root


# --- one property per reader -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "target", ["manifest.json", "classes.json", "masks/clip_000001.png", "instances/clip_000000.png"]
)
def test_edited_label_set_files_never_traceback_nor_lie(pristine, tmp_path, capsys, target):
    rnd = random.Random(f"labels-{target}")
    outcomes = {0: 0, 2: 0}
    for i in range(N):
        root = _case(pristine, tmp_path, i)
        what = _edit(rnd, root / target)
        ctx = f"case {i} ({target}: {what})"
        try:
            rc, out, _ = _run(capsys, "labels", "info", root)
            outcomes[rc] += 1
            if rc == 0:
                _check_info_output(root, out)
            rc, _, _ = _run(capsys, "labels", "export-cvat", root, "-o", root.parent / "c.zip")
            outcomes[rc] += 1  # (info does not read fragment files: export does)
            if rc == 0:
                _check_export(root, root.parent / "c.zip")
            else:
                assert not (root.parent / "c.zip").exists()
            if i % 4 == 0:  # training reads the same files (slower: a dataset check)
                _run(capsys, "train", root, "--check")
        except AssertionError as e:
            raise AssertionError(f"{ctx}: {e}") from None
        shutil.rmtree(root.parent)
    assert outcomes[2] > 0, outcomes  # the edits did hit something


def test_edited_cvat_zip_never_tracebacks_nor_imports_wrong_masks(pristine, tmp_path, capsys):
    rnd = random.Random("cvat-zip")
    truth = _masks()
    zdata = (pristine.parent / "c.zip").read_bytes()
    outcomes = {0: 0, 2: 0}
    # cheap cases: 40 reach a labelmap edited into invalid UTF-8, 60 a member whose compression method is
    # unknown (both tracebacks before)
    for i in range(3 * N):
        case = tmp_path / f"z{i}"
        case.mkdir()
        if (
            rnd.random() < 0.5
        ):  # edit a member (the bytes inside), then re-zip: the reader sees valid zip framing
            with zipfile.ZipFile(io.BytesIO(zdata)) as z:
                members = {n: z.read(n) for n in z.namelist()}
            name = rnd.choice(sorted(members))
            (case / "m").write_bytes(members[name])
            what = f"{name}: {_edit(rnd, case / 'm')}"
            members[name] = (case / "m").read_bytes()
            buf = io.BytesIO()
            with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
                for n, d in members.items():
                    z.writestr(n, d)
            (case / "c.zip").write_bytes(buf.getvalue())
        else:
            (case / "c.zip").write_bytes(zdata)
            what = f"zip bytes: {_edit(rnd, case / 'c.zip')}"
        try:
            rc, _, _ = _run(
                capsys,
                "labels",
                "import-cvat",
                case / "c.zip",
                "--images",
                pristine / "images",
                "-o",
                case / "L",
            )
            outcomes[rc] += 1
            if rc == 0:
                ls = LabelSet.open(case / "L")
                assert ls.incomplete is None
                assert {f.stem for f in ls.frames} <= set(truth)
                _check_import(case / "c.zip", ls, truth)
                _run(capsys, "labels", "info", case / "L")
        except AssertionError as e:
            raise AssertionError(f"case {i} ({what}): {e}") from None
        shutil.rmtree(case)
    assert outcomes[2] > 0, outcomes


def test_the_oracle_accepts_the_pristine_set(pristine, capsys, tmp_path):
    root = _case(pristine, tmp_path, 0)
    rc, out, _ = _run(capsys, "labels", "info", root)
    assert rc == 0
    _check_info_output(root, out)
    assert re.search(r"clip_000001\.png \(frame 1 of clip\.mp4\): background", out)
