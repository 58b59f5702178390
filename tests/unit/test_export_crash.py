"""Nothing lost when the laptop dies: a `segtool predict` killed with SIGKILL at a random moment resumes
frame-exact; a resume continues only the same job; --overwrite leaves nothing stale.

The kill tests run the real CLI in a subprocess on the real CamVid clip and compare the resumed
export with an uninterrupted one, mask by mask (PNG files and the lossless FFV1 video): no gap, no
duplicate, no corrupt frame. One kill point per format by default; `slow` runs several seeds.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from segtool.base.atomic import is_temp_name
from segtool.cli import main
from segtool.core.engine import Engine
from segtool.core.export import ExportOptions, run_export
from segtool.core.sources import open_source
from segtool.models import load_checkpoint, save_checkpoint

REPO = Path(__file__).resolve().parents[2]
END = 40  # frames exported by the kill tests (the clip has 101)


@pytest.fixture(scope="module")
def fast_ckpt(small_checkpoint, tmp_path_factory):
    ck = load_checkpoint(small_checkpoint[0])
    ck = dataclasses.replace(ck, preprocess=dict(ck.preprocess, resize_short=64))
    return save_checkpoint(ck, tmp_path_factory.mktemp("fast") / "fast.pt")


@pytest.fixture(scope="module")
def other_ckpt(fast_ckpt, tmp_path_factory):
    """Same classes and sizes, one weight changed: masks may differ, so a resume must refuse it."""
    ck = load_checkpoint(fast_ckpt)
    sd = dict(ck.state_dict)
    key = next(k for k in sd if k.endswith("weight") and sd[k].dim() == 4)
    sd[key] = sd[key] * 1.01
    return save_checkpoint(
        dataclasses.replace(ck, state_dict=sd), tmp_path_factory.mktemp("other") / "other.pt"
    )


def _argv(clip, ckpt, out, *extra):
    return [
        "predict",
        str(clip),
        "-c",
        str(ckpt),
        "-o",
        str(out),
        "-q",
        "--threads",
        "1",
        "--end",
        str(END),
        *extra,
    ]


def _masks(out: Path, fmt: str) -> list[np.ndarray]:
    if fmt == "ffv1":
        with av.open(str(out / "masks.mkv")) as c:
            return [f.to_ndarray(format="gray") for f in c.decode(video=0)]
    files = sorted((out / "masks").iterdir())
    assert [f.name for f in files] == [f"{i:06d}.png" for i in range(len(files))], (
        "gap or stray file in masks/"
    )
    return [np.asarray(Image.open(f)) for f in files]


@pytest.fixture(scope="module")
def reference(clip, fast_ckpt, tmp_path_factory):
    """Uninterrupted exports, one per format."""
    refs = {}
    for fmt in ("png", "ffv1"):
        out = tmp_path_factory.mktemp("ref") / fmt
        assert main(_argv(clip, fast_ckpt, out, "--format", fmt)) == 0
        refs[fmt] = _masks(out, fmt)
        assert len(refs[fmt]) == END
    return refs


def _rows(path: Path) -> list[int]:
    return [int(r["frame"]) for r in csv.DictReader(open(path))]


def _kill_mid_export(argv, out: Path, rng: random.Random) -> int:
    """Start the CLI, SIGKILL it after a random number of frames plus a random fraction of one frame.
    Returns the number of coverage rows seen before the kill."""
    target = rng.randint(1, END - 2)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "segtool", *argv],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    rows, deadline = 0, time.monotonic() + 180
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            try:
                rows = max(0, len((out / "coverage.partial.csv").read_text().splitlines()) - 1)
            except OSError:
                rows = 0
            if rows >= target:
                time.sleep(rng.uniform(0, 0.1))  # anywhere inside the next frame's writes
                break
            time.sleep(0.01)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the export finished before it could be killed"
    return rows


def _check_resumed(out: Path, fmt: str, reference, overlay: bool) -> None:
    got = _masks(out, fmt)
    assert len(got) == END
    for i, (a, b) in enumerate(zip(got, reference[fmt])):
        assert np.array_equal(a, b), f"mask {i} differs from the uninterrupted export"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["complete"] is True
    assert summary["frames_written"] == END
    assert _rows(out / "coverage.csv") == list(range(END))
    if overlay:
        with av.open(str(out / "overlay.mp4")) as c:
            assert sum(1 for _ in c.decode(video=0)) == END  # every frame decodes
    left = [
        p.name
        for p in out.rglob("*")
        if ".partial." in p.name or ".resume." in p.name or is_temp_name(p.name)
    ]
    assert left == []


def _kill_and_resume(clip, ckpt, out, fmt, overlay, seed, reference):
    argv = _argv(clip, ckpt, out, "--format", fmt, *(["--overlay"] if overlay else []))
    rows = _kill_mid_export(argv, out, random.Random(seed))
    assert rows >= 1
    assert (out / ".segtool-export.json").exists()
    assert not (out / "summary.json").exists()
    assert main([*argv, "--resume"]) == 0
    _check_resumed(out, fmt, reference, overlay=overlay)
    resumed = json.loads((out / "summary.json").read_text())["frames_resumed"]
    if not overlay:  # the overlay video keeps whole 2-second fragments; masks alone lose at most one frame
        assert resumed >= rows - 1, f"{rows} frames were written before the kill but only {resumed} were kept"


@pytest.mark.parametrize(("fmt", "overlay"), [("png", True), ("ffv1", False)])
def test_export_killed_at_a_random_frame_resumes_frame_exact(
    clip, fast_ckpt, reference, tmp_path, fmt, overlay
):
    _kill_and_resume(clip, fast_ckpt, tmp_path / "out", fmt, overlay, seed=7, reference=reference)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(1, 6))
@pytest.mark.parametrize("overlay", [False, True])
@pytest.mark.parametrize("fmt", ["png", "ffv1"])
def test_export_killed_at_many_random_moments_resumes_frame_exact(
    clip, fast_ckpt, reference, tmp_path, fmt, overlay, seed
):
    out = tmp_path / "out"
    _kill_and_resume(clip, fast_ckpt, out, fmt, overlay, seed, reference)
    # resuming a finished export again is harmless: nothing left to do, nothing changes
    assert (
        main([*_argv(clip, fast_ckpt, out, "--format", fmt, *(["--overlay"] if overlay else [])), "--resume"])
        == 0
    )
    _check_resumed(out, fmt, reference, overlay=overlay)


def test_export_killed_before_any_frame_resumes(clip, fast_ckpt, reference, tmp_path):
    out = tmp_path / "out"
    out.mkdir()  # e.g. killed right after creating the folder, before the job record
    assert main([*_argv(clip, fast_ckpt, out), "--resume"]) == 0
    _check_resumed(out, "png", reference, overlay=False)


# --- a resume must continue the same job --------------------------------------------------------------


def _interrupted(clip, ckpt, out, opts: ExportOptions, after: int = 11):
    cancel = threading.Event()

    def stop(p):
        if p.done >= after:
            cancel.set()

    engine = Engine(ckpt, device="cpu", threads=1, tta=None)
    with open_source(clip) as src:
        res = run_export(src, engine, out, dataclasses.replace(opts, end=END), progress=stop, cancel=cancel)
    assert res.exit_code == 130


def test_resume_with_another_checkpoint_is_refused(clip, fast_ckpt, other_ckpt, tmp_path, capsys):
    out = tmp_path / "o"
    _interrupted(clip, fast_ckpt, out, ExportOptions())
    before = sorted(p.name for p in (out / "masks").iterdir())
    err = _bad([*_argv(clip, other_ckpt, out), "--resume"], capsys)
    assert "checkpoint:" in err
    assert "then" in err
    assert "now" in err
    assert "--overwrite" in err
    assert sorted(p.name for p in (out / "masks").iterdir()) == before  # nothing written
    assert main([*_argv(clip, fast_ckpt, out), "--resume"]) == 0  # the same checkpoint continues


def test_resume_with_other_tta_or_precision_is_refused(clip, fast_ckpt, tmp_path, capsys):
    out = tmp_path / "o"
    _interrupted(clip, fast_ckpt, out, ExportOptions())
    assert 'tta: [] then, ["flip"] now' in _bad(
        [*_argv(clip, fast_ckpt, out), "--resume", "--tta", "flip"], capsys
    )
    assert "precision" in _bad([*_argv(clip, fast_ckpt, out), "--resume", "--precision", "bf16"], capsys)


def test_checkpoint_identity_is_content_not_path(fast_ckpt, tmp_path):
    copy = tmp_path / "renamed.pt"
    copy.write_bytes(Path(fast_ckpt).read_bytes())
    assert Engine(copy, device="cpu").identity() == Engine(fast_ckpt, device="cpu").identity()


# --- overwrite leaves nothing stale ---------------------------------------------------------------------


def test_overwrite_removes_the_old_exports_files(clip, fast_ckpt, tmp_path):
    out = tmp_path / "o"
    argv = ["predict", str(clip), "-c", str(fast_ckpt), "-o", str(out), "-q", "--threads", "1"]
    assert main([*argv, "--end", "6", "--overlay"]) == 0
    assert main([*argv, "--end", "3", "--overwrite"]) == 0
    assert sorted(p.name for p in (out / "masks").iterdir()) == ["000000.png", "000001.png", "000002.png"]
    assert not (out / "overlay.mp4").exists()  # the old overlay (6 frames) is gone too
    assert _rows(out / "coverage.csv") == [0, 1, 2]
    assert json.loads((out / "summary.json").read_text())["frames_written"] == 3


def test_overwrite_keeps_files_that_are_not_the_exports(clip, fast_ckpt, tmp_path):
    out = tmp_path / "o"
    argv = ["predict", str(clip), "-c", str(fast_ckpt), "-o", str(out), "-q", "--threads", "1", "--end", "2"]
    assert main(argv) == 0
    (out / "notes.txt").write_text("mine")
    assert main([*argv, "--overwrite"]) == 0
    assert (out / "notes.txt").read_text() == "mine"


def test_foreign_files_under_output_names_are_not_mixed_in(clip, fast_ckpt, tmp_path, capsys):
    out = tmp_path / "o"
    (out / "masks").mkdir(parents=True)
    (out / "masks" / "000005.png").write_bytes(b"someone else's")
    argv = ["predict", str(clip), "-c", str(fast_ckpt), "-o", str(out), "-q", "--end", "8"]
    err = _bad(argv, capsys)
    assert "masks" in err
    assert "--overwrite" in err
    assert "not a segtool export" in _bad([*argv, "--resume"], capsys)
    assert main([*argv, "--overwrite"]) == 0
    assert len(list((out / "masks").iterdir())) == 8


def test_resume_and_overwrite_together_is_a_usage_error(clip, fast_ckpt, tmp_path, capsys):
    err = _bad([*_argv(clip, fast_ckpt, tmp_path / "o"), "--resume", "--overwrite"], capsys)
    assert "--resume and --overwrite" in err
    assert "only one" in err


# --- bad selections: exit 2 with the fix, never a traceback or a "complete" empty export ------------------


def _bad(argv, capsys, code=2):
    assert main(argv) == code
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err


def test_every_zero_and_start_past_the_end_exit_2(clip, fast_ckpt, tmp_path, capsys):
    base = ["predict", str(clip), "-c", str(fast_ckpt), "-q"]
    assert "--every 0" in _bad([*base, "-o", str(tmp_path / "a"), "--every", "0"], capsys)
    err = _bad([*base, "-o", str(tmp_path / "b"), "--start", "500"], capsys)
    assert "--start 500" in err
    assert "101 frame" in err
    assert "--start 100 or less" in err
    assert not (tmp_path / "b" / "summary.json").exists()


# --- a full disk: stop with exit 2, free space, --resume continues -----------------------------------------


def test_injected_disk_full_then_resume(clip, fast_ckpt, reference, tmp_path, monkeypatch, capsys):
    """The disk-full path without a mount: the 15th mask write fails with ENOSPC, as does summary.json."""
    import errno

    from segtool.base import atomic

    real, calls = atomic.atomic_write, {"n": 0}

    def failing(path, data, **kw):
        calls["n"] += 1
        if calls["n"] > 15:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(path, data, **kw)

    monkeypatch.setattr("segtool.core.sinks._files.atomic_write", failing)
    out = tmp_path / "o"
    err = _bad(_argv(clip, fast_ckpt, out), capsys)
    assert "disk full" in err
    assert "--resume" in err
    assert "summary.json says" not in err  # no claim about a file that is not there
    assert "could not be written" in err
    monkeypatch.undo()
    assert main([*_argv(clip, fast_ckpt, out), "--resume"]) == 0
    _check_resumed(out, "png", reference, overlay=False)


def test_real_disk_full_then_resume(clip, fast_ckpt, reference, tiny_disk, capsys):
    out = tiny_disk / "o"
    assert main([*_argv(clip, fast_ckpt, out, "--format", "ffv1", "--overlay")]) == 2
    assert "disk full" in capsys.readouterr().err
    assert not (out / "overlay.mp4").exists()  # nothing looks complete
    assert not (out / "masks.mkv").exists()
    res = subprocess.run(["mount", "-o", "remount,size=64m", str(tiny_disk)], capture_output=True)
    if res.returncode != 0:
        pytest.skip(f"cannot grow the tmpfs: {res.stderr.decode().strip()}")
    assert main([*_argv(clip, fast_ckpt, out, "--format", "ffv1", "--overlay"), "--resume"]) == 0
    _check_resumed(out, "ffv1", reference, overlay=True)


# --- file names ------------------------------------------------------------------------------------------


def test_a_255_byte_and_a_non_utf8_file_name_export(fast_ckpt, tmp_path):
    src = tmp_path / "photos"
    src.mkdir()
    long_name = "p" * 251 + ".png"
    odd_name = os.fsdecode(b"caf\xe9.png")  # Latin-1, not UTF-8
    for name in (long_name, odd_name):
        Image.fromarray(np.full((16, 16, 3), 90, np.uint8)).save(src / name)
    out = tmp_path / "out"
    assert main(["predict", str(src), "-c", str(fast_ckpt), "-o", str(out), "-q", "--overlay"]) == 0
    assert (out / "masks" / long_name).is_file()
    assert (out / "overlays" / ("p" * 251 + ".jpg")).is_file()
    assert (out / "masks" / odd_name).is_file()


def test_unknown_length_source_ending_before_start_is_not_complete(tmp_path):
    """A source that cannot say its length (a stream file, a damaged index) and has no frame at --start."""
    from segtool.core.sources import Source

    class Empty(Source):
        kind, description = "video", "video short.mp4 (length unknown)"

        def frames(self, start=0, end=None, every=1):
            return iter(())

    class Engine0:
        palette, class_names, device_label = np.zeros((2, 3), np.uint8), ["a", "b"], "none"
        device = __import__("torch").device("cpu")

    res = run_export(Empty(), Engine0(), tmp_path / "o", ExportOptions(start=500))
    assert res.exit_code == 2
    assert res.summary["complete"] is False
    assert "--start 500" in res.summary["stopped"]
    assert "smaller --start" in res.summary["stopped"]
