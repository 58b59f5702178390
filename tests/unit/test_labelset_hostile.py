"""Label sets under hostile input (issue 24): imports never mix into an existing set, a stopped import says so,
and every reader (labels info, export-cvat, train --check, the app) refuses a broken file with exit 2 and a
message naming the file, the bad value and the fix — never a traceback, never an exit 0 with wrong content."""

from __future__ import annotations

import json
import os
import zipfile

import numpy as np
import pytest
from PIL import Image

from segtool.cli import main
from segtool.core import labelset_io
from segtool.core.labelset import LabelSet, export_cvat

CLASSES = [{"name": "background", "color": [0, 0, 0]}, {"name": "rock", "color": [250, 50, 83]}]


def _frame(seed, h=24, w=32):
    rng = np.random.default_rng(seed)
    rgb = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
    mask = np.full((h, w), 255, np.uint8)
    mask[2:10, 3:12] = 1
    mask[15:20, 20:30] = 0
    return rgb, mask


def make_set(root, n=3, h=24, w=32):
    ls = LabelSet.create(root, CLASSES)
    for i in range(n):
        rgb, mask = _frame(i, h, w)
        ls.save(rgb, mask, source="clip.mp4", frame=i, pts_s=i / 10)
    return ls


def _run(capsys, *argv):
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def _snapshot(root):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


# --- import-cvat never mixes into an existing set ----------------------------------------------------------


def test_import_into_an_existing_set_is_refused_and_changes_nothing(tmp_path, capsys):
    make_set(tmp_path / "old", n=2)  # 32x24 frames clip_000000, clip_000001
    new = make_set(tmp_path / "new", n=2, h=12, w=16)  # the same names, another size
    export_cvat(new, tmp_path / "new.zip")
    before = _snapshot(tmp_path / "old")
    rc, _, err = _run(
        capsys,
        "labels",
        "import-cvat",
        tmp_path / "new.zip",
        "--images",
        tmp_path / "new" / "images",
        "-o",
        tmp_path / "old",
    )
    assert rc == 2
    assert "not empty" in err
    assert "new or empty folder" in err
    assert _snapshot(tmp_path / "old") == before  # not one byte changed
    (tmp_path / "empty").mkdir()  # an existing empty folder is fine (the app's folder dialog picks one)
    rc, _, _ = _run(
        capsys,
        "labels",
        "import-cvat",
        tmp_path / "new.zip",
        "--images",
        tmp_path / "new" / "images",
        "-o",
        tmp_path / "empty",
    )
    assert rc == 0
    assert not (tmp_path / "empty" / "IMPORT_INCOMPLETE.json").exists()
    assert _run(capsys, "labels", "info", tmp_path / "empty")[0] == 0


def test_a_stopped_import_is_visibly_unfinished_everywhere(tmp_path, capsys, monkeypatch):
    src = make_set(tmp_path / "src", n=5)
    export_cvat(src, tmp_path / "c.zip")
    saved = []
    real_save = LabelSet.save

    def save_then_die(self, *a, **k):  # the process is killed after the second frame
        if len(saved) == 2:
            raise KeyboardInterrupt
        saved.append(1)
        return real_save(self, *a, **k)

    monkeypatch.setattr(LabelSet, "save", save_then_die)
    rc, _, _ = _run(
        capsys,
        "labels",
        "import-cvat",
        tmp_path / "c.zip",
        "--images",
        tmp_path / "src" / "images",
        "-o",
        tmp_path / "L",
    )
    assert rc == 130
    monkeypatch.undo()
    assert len(list((tmp_path / "L" / "masks").glob("*.png"))) == 2  # 2 of 5 frames written
    rc, out, err = _run(capsys, "labels", "info", tmp_path / "L")
    assert rc == 2
    assert "UNFINISHED" in out
    assert "unfinished import" in err
    rc, _, err = _run(capsys, "labels", "export-cvat", tmp_path / "L", "-o", tmp_path / "x.zip")
    assert rc == 2
    assert "unfinished import" in err
    assert not (tmp_path / "x.zip").exists()
    rc, _, err = _run(capsys, "train", tmp_path / "L", "--check")
    assert rc == 2
    assert "unfinished import" in err
    rc, _, err = _run(
        capsys,
        "labels",
        "import-cvat",
        tmp_path / "c.zip",
        "--images",
        tmp_path / "src" / "images",
        "-o",
        tmp_path / "L",
    )
    assert rc == 2  # says how to finish it
    assert "delete" in err
    assert LabelSet.open(tmp_path / "L").incomplete  # what the app shows (tests/gui: label mode)


# --- export-cvat refuses what would change labels on the round trip ---------------------------------------


def _mask_path(root, stem="clip_000001"):
    return root / "masks" / f"{stem}.png"


@pytest.mark.parametrize("kind", ["id7", "size", "rgb", "16bit", "undecodable", "no-image"])
def test_export_and_info_refuse_a_bad_mask_naming_frame_and_value(tmp_path, capsys, kind):
    make_set(tmp_path / "L")
    p = _mask_path(tmp_path / "L")
    _, mask = _frame(1)
    expect = {
        "id7": "class id(s) 7",
        "size": "16x12 but its image is 32x24",
        "rgb": "RGB colour image",
        "16bit": "16-bit image",
        "undecodable": "cannot decode",
        "no-image": "was deleted",
    }[kind]
    if kind == "id7":
        mask[0, 0] = 7
        Image.fromarray(mask).save(p)
    elif kind == "size":
        Image.fromarray(mask[:12, :16]).save(p)
    elif kind == "rgb":
        Image.fromarray(np.stack([mask] * 3, -1)).save(p)
    elif kind == "16bit":
        Image.fromarray(mask.astype(np.uint16)).save(p)
    elif kind == "undecodable":
        p.write_bytes(p.read_bytes()[:60])
    else:
        (tmp_path / "L" / "images" / "clip_000001.png").unlink()
    rc, _, err = _run(capsys, "labels", "export-cvat", tmp_path / "L", "-o", tmp_path / "c.zip")
    assert rc == 2
    assert expect in err
    assert "clip_000001" in err
    assert "Traceback" not in err
    assert not (tmp_path / "c.zip").exists()
    rc, out, err = _run(capsys, "labels", "info", tmp_path / "L")
    assert rc == 2
    assert expect in err
    line = next(t for t in out.splitlines() if "clip_000001.png" in t)
    assert "PROBLEM" in line  # no invented shares
    assert "background" not in line.split("PROBLEM")[0]
    assert "clip_000000.png (frame 0 of clip.mp4): background" in out  # the good frames are still listed


def test_info_refuses_300_classes_and_train_check_refuses_rock_twice(tmp_path, capsys):
    make_set(tmp_path / "L")
    many = [{"name": f"c{i}", "color": [i % 256, i // 256, 7]} for i in range(300)]
    (tmp_path / "L" / "classes.json").write_text(json.dumps(many))
    rc, _, err = _run(capsys, "labels", "info", tmp_path / "L")
    assert rc == 2
    assert "300 classes" in err
    assert "at most 255" in err
    twice = [*CLASSES, {"name": "rock", "color": [0, 0, 255]}]
    (tmp_path / "L" / "classes.json").write_text(json.dumps(twice))
    for argv in (["labels", "info", tmp_path / "L"], ["train", tmp_path / "L", "--check"]):
        rc, _, err = _run(capsys, *argv)
        assert rc == 2, argv
        assert "duplicate class name 'rock'" in err, argv
    # a plain images/ + masks/ dataset's classes.json (not a label set) gets the same check
    (tmp_path / "L" / "manifest.json").unlink()
    rc, _, err = _run(capsys, "train", tmp_path / "L", "--check")
    assert rc == 2
    assert "duplicate class name 'rock'" in err


@pytest.mark.parametrize(
    "entry",
    [
        {"image": 5},
        {"image": "../x.png"},
        {"image": "a.png", "frame": "7"},
        {"image": "a.png", "pts_s": "nan"},
        "a.png",
    ],
)
def test_a_malformed_manifest_entry_is_exit_2_naming_it(tmp_path, capsys, entry):
    make_set(tmp_path / "L")
    man = tmp_path / "L" / "manifest.json"
    doc = json.loads(man.read_text())
    doc["frames"].append(entry)
    man.write_text(json.dumps(doc))
    for argv in (
        ["labels", "info", tmp_path / "L"],
        ["labels", "export-cvat", tmp_path / "L", "-o", tmp_path / "c.zip"],
        ["train", tmp_path / "L", "--check"],
    ):
        rc, _, err = _run(capsys, *argv)
        assert rc == 2, (argv, err)
        assert "frame entry 3" in err, (argv, err)
        assert "delete" in err, (argv, err)


def test_export_to_a_folder_or_under_a_file_or_read_only_is_exit_2(tmp_path, capsys):
    make_set(tmp_path / "L")
    (tmp_path / "dir.zip").mkdir()
    rc, _, err = _run(capsys, "labels", "export-cvat", tmp_path / "L", "-o", tmp_path / "dir.zip")
    assert rc == 2
    assert "is a folder" in err
    (tmp_path / "afile").write_text("x")
    rc, _, err = _run(capsys, "labels", "export-cvat", tmp_path / "L", "-o", tmp_path / "afile" / "c.zip")
    assert rc == 2
    assert "is a file, not a folder" in err
    # the write itself failing (what a read-only folder does): the same message path, without needing root
    target = tmp_path / ("n" * 300 + ".zip")  # a name longer than the file system allows
    rc, _, err = _run(capsys, "labels", "export-cvat", tmp_path / "L", "-o", target)
    assert rc == 2
    assert "too long" in err


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root writes into read-only folders"
)
def test_export_into_a_read_only_folder_is_exit_2(tmp_path, capsys):
    make_set(tmp_path / "L")
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        rc, _, err = _run(capsys, "labels", "export-cvat", tmp_path / "L", "-o", ro / "c.zip")
    finally:
        ro.chmod(0o755)
    assert rc == 2
    assert "read-only" in err
    assert "-o" in err


def test_write_error_is_turned_into_a_message(tmp_path, monkeypatch):
    """The read-only path without root: the write raises PermissionError as a read-only folder does."""
    from segtool.base.errors import UserInputError

    ls = make_set(tmp_path / "L")

    def refuse(path, data, **k):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(labelset_io, "atomic_write_bytes", refuse)
    with pytest.raises(UserInputError, match="read-only"):
        export_cvat(ls, tmp_path / "c.zip")


def test_round_trip_still_exact_after_validation(tmp_path):
    ls = make_set(tmp_path / "L")
    z = export_cvat(ls, tmp_path / "c.zip")
    with zipfile.ZipFile(z) as zf:
        assert sorted(n for n in zf.namelist() if n.startswith("SegmentationClass/")) == [
            f"SegmentationClass/clip_{i:06d}.png" for i in range(3)
        ]


def test_import_of_a_labelmap_that_is_not_utf8_is_exit_2(tmp_path, capsys):
    src = make_set(tmp_path / "src", n=1)
    export_cvat(src, tmp_path / "c.zip")
    with zipfile.ZipFile(tmp_path / "c.zip") as z:
        members = {n: z.read(n) for n in z.namelist()}
    members["labelmap.txt"] = members["labelmap.txt"].replace(b"rock", b"r\xc1ck")
    with zipfile.ZipFile(tmp_path / "bad.zip", "w") as z:
        for n, d in members.items():
            z.writestr(n, d)
    rc, _, err = _run(
        capsys,
        "labels",
        "import-cvat",
        tmp_path / "bad.zip",
        "--images",
        tmp_path / "src" / "images",
        "-o",
        tmp_path / "L",
    )
    assert rc == 2
    assert "labelmap.txt" in err
    assert "UTF-8" in err
    assert not (tmp_path / "L").exists()  # refused before anything was written


def test_saving_a_frame_of_another_size_beside_its_kept_image_is_refused(tmp_path):
    from segtool.base.errors import UserInputError

    ls = make_set(tmp_path / "L", n=1)
    before = _snapshot(tmp_path / "L")
    rgb, mask = _frame(0, h=12, w=16)  # the same source and frame, but the footage was replaced
    with pytest.raises(UserInputError, match="32x24 but this frame is 16x12"):
        ls.save(rgb, mask, source="clip.mp4", frame=0)
    assert _snapshot(tmp_path / "L") == before


@pytest.mark.parametrize("bad", ["undecodable", "rgb", "size"])
def test_export_refuses_a_broken_fragment_file(tmp_path, capsys, bad):
    ls = LabelSet.create(tmp_path / "L", CLASSES)
    rgb, mask = _frame(0)
    ls.save(rgb, mask, source="a.jpg", instances=(mask == 1).astype(np.uint16))
    p = tmp_path / "L" / "instances" / "a.png"
    if bad == "undecodable":
        p.write_bytes(b"garbage")
    elif bad == "rgb":
        Image.fromarray(rgb).save(p)
    else:
        Image.fromarray(np.zeros((5, 5), np.uint16)).save(p)
    rc, _, err = _run(capsys, "labels", "export-cvat", tmp_path / "L", "-o", tmp_path / "c.zip")
    assert rc == 2
    assert "instances/a.png" in err
    assert not (tmp_path / "c.zip").exists()


@pytest.mark.slow
def test_a_real_kill_during_import_leaves_a_set_that_says_it_is_unfinished(tmp_path, capsys):
    """The issue's case for real: `import-cvat` of 60 frames killed (SIGKILL) once some masks are written."""
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    src = make_set(tmp_path / "src", n=60, h=240, w=320)
    export_cvat(src, tmp_path / "c.zip")
    repo = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(repo), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "segtool",
            "labels",
            "import-cvat",
            str(tmp_path / "c.zip"),
            "--images",
            str(tmp_path / "src" / "images"),
            "-o",
            str(tmp_path / "L"),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    masks = tmp_path / "L" / "masks"
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline:
        if masks.is_dir() and len(list(masks.glob("*.png"))) >= 8:
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.005)
    proc.wait(30)
    written = len(list(masks.glob("*.png")))
    assert proc.returncode == -signal.SIGKILL, (proc.returncode, written)
    assert 8 <= written < 60, (proc.returncode, written)
    rc, out, err = _run(capsys, "labels", "info", tmp_path / "L")
    assert rc == 2
    assert "UNFINISHED" in out
    rc, _, err = _run(capsys, "train", tmp_path / "L", "--check")
    assert rc == 2
    assert "unfinished import" in err


def test_coco_import_and_export_follow_the_same_rules(tmp_path, capsys):
    """import-coco: never into a non-empty folder, marked until done; export-coco: bad masks, unfinished sets
    and a folder as -o are refused, as export-cvat does."""
    frag_classes = [*CLASSES, {"name": "rock_edge", "color": [255, 255, 0]}]
    ls = LabelSet.create(tmp_path / "F", frag_classes, fragments={"interior": "rock", "edge": "rock_edge"})
    rgb, mask = _frame(0)
    ls.save(rgb, mask, source="pile.jpg", instances=(mask == 1).astype(np.uint16))
    out = tmp_path / "f.json"
    assert _run(capsys, "labels", "export-coco", tmp_path / "F", "-o", out)[0] == 0
    make_set(tmp_path / "old", n=1)
    before = _snapshot(tmp_path / "old")
    rc, _, err = _run(
        capsys, "labels", "import-coco", out, "--images", tmp_path / "F" / "images", "-o", tmp_path / "old"
    )
    assert rc == 2
    assert "not empty" in err
    assert _snapshot(tmp_path / "old") == before
    rc, _, _ = _run(
        capsys, "labels", "import-coco", out, "--images", tmp_path / "F" / "images", "-o", tmp_path / "new"
    )
    assert rc == 0
    assert not (tmp_path / "new" / "IMPORT_INCOMPLETE.json").exists()
    (tmp_path / "dir.json").mkdir()
    rc, _, err = _run(capsys, "labels", "export-coco", tmp_path / "F", "-o", tmp_path / "dir.json")
    assert rc == 2
    assert "is a folder" in err
    Image.fromarray(np.stack([mask] * 3, -1)).save(tmp_path / "F" / "masks" / "pile.png")
    rc, _, err = _run(capsys, "labels", "export-coco", tmp_path / "F", "-o", tmp_path / "g.json")
    assert rc == 2
    assert "RGB colour image" in err
    assert not (tmp_path / "g.json").exists()
    (tmp_path / "new" / "IMPORT_INCOMPLETE.json").write_text("{}")
    rc, _, err = _run(capsys, "labels", "export-coco", tmp_path / "new", "-o", tmp_path / "h.json")
    assert rc == 2
    assert "unfinished import" in err
