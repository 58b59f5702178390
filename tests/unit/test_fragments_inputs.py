"""`segtool fragments` and `suggest` under hostile input: numeric flags (0, -5, nan, inf, 1e308), scale
sidecars with wrong types (and seeded random edits of a valid one), -o a file or under a file, an
undecodable PNG or a video among --from-masks inputs, an edited frames.jsonl on --resume; `demo --make-data` under a file."""

from __future__ import annotations

import json
import os
import random

import numpy as np
import pytest
from PIL import Image

from segtool.cli import main
from segtool.core.fragments.job import RECORDS
from segtool.core.fragments.scale import Scale, from_line, load_scale, save_scale


def _blobs(seed: int = 0) -> np.ndarray:
    """An instance mask with a few square fragments (ids 1..n)."""
    rng = np.random.default_rng(seed)
    m = np.zeros((60, 80), np.uint8)
    for k in range(1, 7):
        y, x = rng.integers(2, 45), rng.integers(2, 65)
        m[y : y + 12, x : x + 12] = k
    return m


@pytest.fixture
def masks(tmp_path):
    d = tmp_path / "instances"
    d.mkdir()
    for i in range(3):
        Image.fromarray(_blobs(i)).save(d / f"f{i}.png")
    return d


def _run(*args: str) -> int:
    return main(["fragments", *args, "-q"])


@pytest.mark.parametrize(
    ("flag", "value"),
    [
        ("--window", "0"),
        ("--window", "-5"),
        ("--window", "nan"),
        ("--scale", "inf"),
        ("--scale", "1e308"),
        ("--scale", "nan"),
        ("--scale", "0"),
        ("--sieve", "10,nan"),
        ("--sieve", "inf"),
    ],
)
def test_bad_numbers_are_refused_before_anything_is_written(masks, tmp_path, capsys, flag, value):
    out = tmp_path / "out"
    assert _run(str(masks), "--from-masks", "instances", "-o", str(out), flag, value) == 2
    err = capsys.readouterr().err
    assert flag in err
    assert "Traceback" not in err
    assert not out.exists()


BAD_SIDECARS = {
    "reference a text": {"reference": "line"},
    "points not pairs": {"reference": {"kind": "line", "points": ["ab", 3]}},
    "unknown kind": {"reference": {"kind": "triangle"}},
    "mm_per_px a text": {"mm_per_px": "0.4"},
    "mm_per_px huge": {"mm_per_px": 1e308},
    "length_mm negative": {"reference": {"kind": "line", "length_mm": -3}},
    "image_size a text": {"image_size": "640x480"},
    "note a number": {"note": 5},
    "a list": None,
}


@pytest.mark.parametrize("case", list(BAD_SIDECARS))
def test_a_bad_scale_sidecar_is_exit_2_naming_file_field_and_fix(masks, tmp_path, capsys, case):
    good = from_line((0, 0), (100, 0), 50.0).to_dict()
    edit = BAD_SIDECARS[case]
    doc = [good] if edit is None else {**good, **edit}
    side = tmp_path / "instances.scale.json"
    side.write_text(json.dumps(doc))
    out = tmp_path / "out"
    assert _run(str(masks), "--from-masks", "instances", "-o", str(out)) == 2
    err = capsys.readouterr().err
    assert str(side) in err, err
    assert "fix the value or delete the file" in err or "fix or delete" in err, err
    assert not out.exists()  # refused before OUT is touched
    if edit is not None:
        key = next(iter(edit))
        assert key in err


def _sidecar_mutations(text: str, rng: random.Random):
    for _ in range(80):
        yield text[: rng.randrange(len(text))]
    values = [
        None,
        True,
        -1,
        0,
        2.5,
        float("nan"),
        1e308,
        "x",
        "",
        [],
        {},
        [1],
        ["ab", 3],
        [[1, 2]],
        {"a": 1},
    ]
    for _ in range(250):
        d = json.loads(text)
        target = d["reference"] if rng.random() < 0.5 else d
        key = rng.choice(sorted(target))
        if rng.random() < 0.2:
            del target[key]
        else:
            target[key] = rng.choice(values)
        yield json.dumps(d)
    for _ in range(80):
        i = rng.randrange(len(text))
        yield text[:i] + rng.choice('{}[]",:0-.e') + text[i + 1 :]


def test_random_sidecar_edits_never_give_a_traceback_or_a_wrong_scale(tmp_path):
    """The reader the CLI and the app share: every edit is either refused (UserInputError) or read as a
    well-formed Scale whose mm_per_px is exactly the file's (never a made-up or unusable number)."""
    from segtool.base.errors import UserInputError

    img = tmp_path / "pile.jpg"
    save_scale(img, from_line((10, 20), (300, 40), 500.0))
    side = tmp_path / "pile.jpg.scale.json"
    text = side.read_text()
    rng = random.Random(24)
    accepted = refused = 0
    for mutated in _sidecar_mutations(text, rng):
        side.write_text(mutated)
        try:
            found = load_scale(img)
        except UserInputError:
            refused += 1
            continue
        accepted += 1
        sc, path = found
        assert isinstance(sc, Scale)
        assert path == side
        assert json.loads(mutated)["mm_per_px"] == sc.mm_per_px
        assert 0 < sc.mm_per_px <= 1e6
        assert all(len(p) == 2 and all(np.isfinite(p)) for p in sc.points)
        assert all(
            v is None or (np.isfinite(v) and v > 0) for v in (sc.length_mm, sc.height_mm, sc.length_px)
        )
        Scale.from_dict(sc.to_dict())  # what was read writes back as a valid file
    assert accepted > 0
    assert refused > 0


def test_output_a_file_or_under_a_file_is_exit_2(masks, tmp_path, capsys):
    f = tmp_path / "results.txt"
    f.write_text("keep me")
    assert _run(str(masks), "--from-masks", "instances", "-o", str(f)) == 2
    assert "is a file" in capsys.readouterr().err
    assert f.read_text() == "keep me"
    # a read-only place without root: a folder cannot be made under a regular file
    assert _run(str(masks), "--from-masks", "instances", "-o", str(f / "out")) == 2
    err = capsys.readouterr().err
    assert str(f / "out") in err
    assert "Traceback" not in err


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root writes into read-only folders")
def test_output_in_a_read_only_folder_is_exit_2(masks, tmp_path, capsys):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        assert _run(str(masks), "--from-masks", "instances", "-o", str(ro / "out")) == 2
        assert str(ro / "out") in capsys.readouterr().err
    finally:
        ro.chmod(0o755)


def test_an_undecodable_png_among_masks_is_exit_2_naming_it(masks, tmp_path, capsys):
    bad = masks / "f1.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"broken" * 20)
    out = tmp_path / "out"
    assert _run(str(masks), "--from-masks", "instances", "-o", str(out)) == 2
    err = capsys.readouterr().err
    assert str(bad) in err
    assert "replace or remove it" in err
    assert "Traceback" not in err
    summary = json.loads((out / "summary.json").read_text())  # what was measured before it is kept
    assert summary["complete"] is False
    assert summary["frames"] == 1
    Image.fromarray(_blobs(1)).save(bad)  # fixed: --resume completes the run
    assert _run(str(masks), "--from-masks", "instances", "-o", str(out), "--resume") == 0
    assert json.loads((out / "summary.json").read_text())["frames"] == 3


def test_from_masks_given_a_video_is_refused_up_front(tmp_path, capsys):
    video = tmp_path / "belt.mp4"
    video.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(100))
    out = tmp_path / "out"
    assert _run(str(video), "--from-masks", "binary", "-o", str(out)) == 2
    err = capsys.readouterr().err
    assert "is a video" in err
    assert "-c CHECKPOINT" in err
    assert not out.exists()


@pytest.mark.parametrize(
    "edit", ["rows a text", "frame a text", "a list", "garbage line", "duplicate", "coverage 7"]
)
def test_resume_after_frames_jsonl_was_edited_is_exit_2_and_keeps_it(masks, tmp_path, capsys, edit):
    out = tmp_path / "out"
    assert _run(str(masks), "--from-masks", "instances", "-o", str(out)) == 0
    path = out / RECORDS
    lines = path.read_text().splitlines()
    rec = json.loads(lines[0])
    if edit == "rows a text":
        rec["rows"] = "many"
    elif edit == "frame a text":
        rec["frame"] = "first"
    elif edit == "a list":
        rec = [rec]
    elif edit == "coverage 7":
        rec["coverage"] = 7
    new = (
        [json.dumps(rec)]
        if edit not in ("garbage line", "duplicate")
        else ["{not json"]
        if edit == "garbage line"
        else [lines[0], lines[0]]
    )
    edited = "\n".join(new + lines[1:2]) + "\n"  # the third frame is to be measured again
    path.write_text(edited)
    assert _run(str(masks), "--from-masks", "instances", "-o", str(out), "--resume") == 2
    err = capsys.readouterr().err
    assert f"{path} line" in err, err
    assert "--overwrite" in err, err
    assert "Traceback" not in err, err
    assert path.read_text() == edited  # nothing dropped from the user's file


def test_a_torn_last_line_is_still_measured_again(masks, tmp_path, capsys):
    out = tmp_path / "out"
    assert _run(str(masks), "--from-masks", "instances", "-o", str(out)) == 0
    path = out / RECORDS
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:2]) + "\n" + lines[2][:30])  # a crash mid-write
    assert _run(str(masks), "--from-masks", "instances", "-o", str(out), "--resume") == 0
    assert len(path.read_text().splitlines()) == 3


def test_suggest_output_an_existing_file_is_exit_2(small_checkpoint, tmp_path, capsys):
    img = tmp_path / "a.png"
    Image.fromarray((np.arange(48 * 64 * 3) % 251).astype(np.uint8).reshape(48, 64, 3)).save(img)
    f = tmp_path / "picks.txt"
    f.write_text("keep me")
    assert main(["suggest", str(img), "-c", str(small_checkpoint[0]), "-o", str(f), "-q"]) == 2
    err = capsys.readouterr().err
    assert f"-o {str(f)!r} is a file" in err
    assert "Traceback" not in err
    assert f.read_text() == "keep me"


def test_demo_make_data_under_a_file_names_the_file_and_the_fix(tmp_path, capsys):
    f = tmp_path / "notes.txt"
    f.write_text("keep me")
    assert main(["demo", "--make-data", str(f / "data"), "--train", "1", "--val", "0", "-q"]) == 2
    err = capsys.readouterr().err
    assert f"{str(f)!r} is a file, not a folder" in err
    assert "move or rename that file" in err
    assert f.read_text() == "keep me"


def test_resume_with_settings_edited_to_a_list_is_exit_2(masks, tmp_path, capsys):
    out = tmp_path / "out"
    assert _run(str(masks), "--from-masks", "instances", "-o", str(out)) == 0
    (out / "fragments_settings.json").write_text("[]")
    assert _run(str(masks), "--from-masks", "instances", "-o", str(out), "--resume") == 2
    err = capsys.readouterr().err
    assert "fragments_settings.json is not a settings object" in err
    assert "--overwrite" in err


def test_random_record_edits_are_refused_or_build_the_results(masks, tmp_path):
    """frames.jsonl's reader: seeded edits of a valid record either are refused (UserInputError) or give
    records the result builder (the same `finish` a run ends with) turns into results without an error."""
    import dataclasses

    from segtool.base.errors import UserInputError
    from segtool.core.fragments import results
    from segtool.core.fragments.checks import read_records
    from segtool.core.fragments.job import FragmentsOptions
    from segtool.core.fragments.results import finish

    out = tmp_path / "out"
    assert _run(str(masks), "--from-masks", "instances", "-o", str(out), "--scale", "0.5") == 0
    path = out / RECORDS
    lines = path.read_text().splitlines()
    opts = dataclasses.replace(FragmentsOptions(from_masks="instances"), scale=0.5)
    rng = random.Random(24)
    values = [None, True, -1, 0, 0.5, 7, float("nan"), "x", "", [], {}, [1], {"a": 1}]
    accepted = 0
    for _ in range(120):
        rec = json.loads(lines[0])
        target = rec
        if rec["rows"] and rng.random() < 0.5:
            target = rng.choice(rec["rows"])
        key = rng.choice(sorted(target))
        if rng.random() < 0.2:
            del target[key]
        else:
            target[key] = rng.choice(values)
        path.write_text("\n".join([json.dumps(rec), *lines[1:]]) + "\n")
        try:
            records = read_records(path)
        except UserInputError:
            continue
        accepted += 1
        try:  # a UserInputError here is a message too (e.g. one frame without a scale among scaled ones)
            if accepted == 1:  # every result file, plots included, takes a moment: once
                finish(
                    out, records, opts, complete=True, seconds=0.0, stopped=None, model=None, method="test"
                )
            else:  # the parts that read the records' numbers, for every accepted edit
                unit = results._unit(records)
                results._dist(records, opts.settings, unit)
                results._windows(records, opts.settings, unit, opts.window_s)
        except UserInputError:
            pass
    assert accepted > 0
