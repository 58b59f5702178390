"""`segtool predict` batches end to end on real footage: the CamVid clip, copies of it in other containers,
a truncated copy (partial) and a garbage file (failed); resume after SIGKILL; shards; worker processes; Ray."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from segtool.cli import main
from segtool.models import load_checkpoint, save_checkpoint

REPO = Path(__file__).resolve().parents[2]
END = 12  # frames per source: enough to compare masks, few enough for 2 shared cores
# Every run here uses one model thread per process: another OpenMP split changes float sums, and the
# argmax at near-ties with them, so masks are only bit-identical between runs with the same count.
T1 = ["--threads", "1"]


@pytest.fixture(scope="module")
def fast_ckpt(small_checkpoint, tmp_path_factory):
    ck = load_checkpoint(small_checkpoint[0])
    ck = dataclasses.replace(ck, preprocess=dict(ck.preprocess, resize_short=64))
    return save_checkpoint(ck, tmp_path_factory.mktemp("fast") / "fast.pt")


@pytest.fixture(scope="module")
def field(clip, variants, tmp_path_factory) -> Path:
    """A field trip's folder: the clip twice under one stem (.mp4 and a VP9 .mkv), an MJPEG .avi,
    a truncated copy and a file that is no video at all."""
    d = tmp_path_factory.mktemp("batch") / "field"
    d.mkdir()
    shutil.copy(clip, d / "clip.mp4")
    shutil.copy(variants["mkv_vp9"], d / "clip.mkv")
    shutil.copy(variants["avi_mjpeg"], d / "day2.avi")
    data = clip.read_bytes()
    (d / "cut.mp4").write_bytes(data[: len(data) * 8 // 100])  # decodes 5 frames, then breaks
    (d / "junk.mp4").write_bytes(b"this is not a video\n" * 50)
    return d


def masks(folder: Path) -> dict[str, np.ndarray]:
    return {p.name: np.asarray(Image.open(p)) for p in sorted((folder / "masks").glob("*.png"))}


def same_masks(a: Path, b: Path, *, first: bool = False) -> bool:
    """Masks in `a` equal those in `b` (with `first`: `a` may hold more frames than `b`)."""
    ma, mb = masks(a), masks(b)
    if first:
        ma = {k: v for k, v in ma.items() if k in mb}
    return bool(ma) and ma.keys() == mb.keys() and all(np.array_equal(ma[k], mb[k]) for k in ma)


@pytest.fixture(scope="module")
def singles(field, fast_ckpt, tmp_path_factory) -> dict[str, Path]:
    """Reference: each good video exported alone (the single-source layout, OUT/ directly)."""
    root = tmp_path_factory.mktemp("single")
    out = {}
    for f in ("clip.mp4", "clip.mkv", "day2.avi"):
        o = root / f.replace(".", "_")
        assert (
            main(
                [
                    "predict",
                    str(field / f),
                    "-c",
                    str(fast_ckpt),
                    "-o",
                    str(o),
                    "-q",
                    "--end",
                    str(END),
                    "--device",
                    "cpu",
                    *T1,
                ]
            )
            == 0
        )
        out[f] = o
    return out


def _batch(out: Path) -> dict:
    return json.loads((out / "batch.json").read_text())


def test_folder_batch_records_broken_sources_and_goes_on(field, fast_ckpt, singles, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(
        [
            "predict",
            str(field),
            "-c",
            str(fast_ckpt),
            "-o",
            str(out),
            "-q",
            "--end",
            str(END),
            "--device",
            "cpu",
            *T1,
        ]
    )
    err = capsys.readouterr().err
    assert code == 1
    doc = _batch(out)
    by = {s["name"]: s for s in doc["sources"]}
    assert list(by) == ["clip_mkv", "clip_mp4", "cut", "day2", "junk"]  # same stem: made unique by extension
    assert {n: by[n]["state"] for n in by} == {
        "clip_mkv": "complete",
        "clip_mp4": "complete",
        "cut": "partial",
        "day2": "complete",
        "junk": "failed",
    }
    assert by["clip_mp4"]["frames_written"] == END
    assert by["clip_mp4"]["seconds"] > 0
    assert by["cut"]["frames_written"] == 5
    assert "frame 5" in by["cut"]["message"]
    assert "junk.mp4" in by["junk"]["message"]
    assert doc["complete"] is False
    assert "junk.mp4" in err  # the list of what failed and why
    assert "cut.mp4" in err
    for name, single in (("clip_mp4", "clip.mp4"), ("clip_mkv", "clip.mkv"), ("day2", "day2.avi")):
        assert same_masks(out / name, singles[single]), f"{name} differs from its single-source export"
        assert json.loads((out / name / "summary.json").read_text())["complete"] is True
    # batch-status reads the same story back
    assert main(["batch-status", str(out)]) == 1
    assert "junk.mp4" in capsys.readouterr().err


def test_list_and_glob_forms_and_single_source_layout_unchanged(field, fast_ckpt, singles, tmp_path, capsys):
    lst = tmp_path / "today.txt"
    lst.write_text(f"# one clip from the list, the rest from the glob\n{field / 'day2.avi'}\n")
    out = tmp_path / "out"
    argv = [
        "predict",
        f"@{lst}",
        str(field / "clip.*"),
        "-c",
        str(fast_ckpt),
        "-o",
        str(out),
        "-q",
        "--end",
        "4",
        "--device",
        "cpu",
    ]
    assert main(argv) == 0
    assert sorted(p.name for p in out.iterdir()) == ["batch.json", "clip_mkv", "clip_mp4", "day2"]
    assert _batch(out)["complete"] is True
    assert len(masks(out / "day2")) == 4
    assert "--resume" in (capsys.readouterr(), main(argv), capsys.readouterr().err)[2]  # no silent mixing
    one = tmp_path / "one"  # a single file keeps OUT/ itself: no batch.json, no subfolder
    assert (
        main(["predict", str(field / "day2.avi"), "-c", str(fast_ckpt), "-o", str(one), "-q", "--end", "4"])
        == 0
    )
    assert (one / "summary.json").exists()
    assert not (one / "batch.json").exists()


def test_resume_after_sigkill_mid_batch(field, fast_ckpt, singles, tmp_path):
    out = tmp_path / "out"
    n = 60  # long enough per source to kill it half-way on a busy machine
    srcs = [str(field / "day2.avi"), str(field / "clip.mp4"), str(field / "clip.mkv")]
    argv = [
        "predict",
        *srcs,
        "-c",
        str(fast_ckpt),
        "-o",
        str(out),
        "-q",
        "--end",
        str(n),
        "--device",
        "cpu",
        "--threads",
        "1",
    ]
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen(
        [sys.executable, "-m", "segtool", *argv],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 180
    try:
        while time.monotonic() < deadline and proc.poll() is None:  # kill when the 2nd source is part done
            time.sleep(0.02)
            try:
                states = [s["state"] for s in _batch(out)["sources"]]
            except (OSError, ValueError, KeyError):
                continue
            if (
                states[:2] == ["complete", "running"]
                and len(list((out / "clip_mp4").glob("masks/*.png"))) >= 3
            ):
                break
        else:
            pytest.fail(
                f"not killed mid-source (exit {proc.poll()}): {proc.stderr.read().decode() if proc.poll() is not None else 'timeout'}"
            )
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    doc = _batch(out)
    assert [s["state"] for s in doc["sources"]] == ["complete", "running", "pending"]
    assert 3 <= len(masks(out / "clip_mp4")) < n
    first = {p: p.stat().st_mtime_ns for p in (out / "day2" / "masks").glob("*.png")}
    assert main([*argv, "--resume"]) == 0
    doc = _batch(out)
    assert doc["complete"] is True
    assert all(s["frames_written"] == n for s in doc["sources"])
    assert [s["attempts"] for s in doc["sources"]] == [1, 2, 1]
    assert {
        p: p.stat().st_mtime_ns for p in (out / "day2" / "masks").glob("*.png")
    } == first  # skipped, not redone
    assert all(len(masks(out / s["name"])) == n for s in doc["sources"])
    assert same_masks(out / "day2", singles["day2.avi"], first=True)
    assert same_masks(out / "clip_mp4", singles["clip.mp4"], first=True)
    assert same_masks(out / "clip_mkv", singles["clip.mkv"], first=True)


def test_shards_union_equals_the_whole_batch(field, fast_ckpt, singles, tmp_path, capsys):
    srcs = [str(field / f) for f in ("clip.mp4", "clip.mkv", "day2.avi", "junk.mp4")]
    common = ["-c", str(fast_ckpt), "-q", "--end", "6", "--device", "cpu", *T1]
    whole, shards = tmp_path / "whole", tmp_path / "shards"
    assert main(["predict", *srcs, *common, "-o", str(whole)]) == 1
    assert main(["predict", *srcs, *common, "-o", str(shards), "--shard", "1/2"]) == 0
    capsys.readouterr()
    assert main(["batch-status", str(shards)]) == 1
    assert "2/2" in capsys.readouterr().err  # a shard that never reported is named
    assert (
        main(["predict", *srcs, *common, "-o", str(shards), "--shard", "2/2"]) == 1
    )  # junk.mp4 is in shard 2
    a = json.loads((shards / "batch-1-of-2.json").read_text())["sources"]
    b = json.loads((shards / "batch-2-of-2.json").read_text())["sources"]
    assert not {s["name"] for s in a} & {s["name"] for s in b}
    assert sorted(s["name"] for s in a + b) == sorted(s["name"] for s in _batch(whole)["sources"])
    for s in _batch(whole)["sources"]:
        if s["state"] == "complete":
            assert same_masks(shards / s["name"], whole / s["name"])
    capsys.readouterr()
    assert main(["batch-status", str(shards), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["missing"] == 0
    assert report["counts"]["complete"] == 3
    assert report["counts"]["failed"] == 1


@pytest.mark.slow  # spawns two interpreters that each import torch: ~30 s on 2 busy cores
def test_two_worker_processes_give_the_same_masks(field, fast_ckpt, singles, tmp_path):
    out = tmp_path / "out"
    srcs = [str(field / "clip.mp4"), str(field / "day2.avi"), str(field / "junk.mp4")]
    assert (
        main(
            [
                "predict",
                *srcs,
                "-c",
                str(fast_ckpt),
                "-o",
                str(out),
                "-q",
                "--end",
                str(END),
                "--workers",
                "2",
                "--threads",
                "2",
            ]
        )
        == 1
    )
    doc = _batch(out)
    assert [s["state"] for s in doc["sources"]] == ["complete", "complete", "failed"]
    workers = {s["worker"] for s in doc["sources"][:2]}
    assert all("(1 thread)" in w for w in workers)  # 2 threads divided between 2 worker processes
    assert same_masks(out / "clip", singles["clip.mp4"])
    assert same_masks(out / "day2", singles["day2.avi"])


def test_missing_ray_is_a_clear_usage_error(field, fast_ckpt, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    assert (
        main(
            [
                "predict",
                str(field / "clip.mp4"),
                "-c",
                str(fast_ckpt),
                "-o",
                str(tmp_path / "o"),
                "-q",
                "--ray",
            ]
        )
        == 2
    )
    assert "segtool[cluster]" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
    two = [
        str(field / "clip.mp4"),
        str(field / "day2.avi"),
        "-c",
        str(fast_ckpt),
        "-o",
        str(tmp_path / "o"),
        "-q",
    ]
    assert (
        main(["predict", *two, "--workers", "2", "--devices", "cpu,cpu"]) == 2
    )  # never one silently ignored
    assert "drop --workers" in capsys.readouterr().err
    assert main(["predict", *two, "--shard", "3/2"]) == 2
    assert "I/N" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


@pytest.mark.slow
def test_local_ray_run_matches_the_local_run(field, fast_ckpt, singles, tmp_path):
    pytest.importorskip("ray")
    out = tmp_path / "ray"
    srcs = [str(field / "clip.mp4"), str(field / "day2.avi"), str(field / "junk.mp4")]
    os.environ.setdefault("PYTHONPATH", str(REPO))  # Ray workers import this checkout's segtool
    assert (
        main(
            [
                "predict",
                *srcs,
                "-c",
                str(fast_ckpt),
                "-o",
                str(out),
                "-q",
                "--end",
                str(END),
                "--ray",
                "--device",
                "cpu",
                *T1,
            ]
        )
        == 1
    )
    doc = _batch(out)
    assert [s["state"] for s in doc["sources"]] == ["complete", "complete", "failed"]
    assert "junk.mp4" in doc["sources"][2]["message"]
    assert same_masks(out / "clip", singles["clip.mp4"])
    assert same_masks(out / "day2", singles["day2.avi"])


def test_a_batch_runs_an_exported_onnx_model_and_refuses_an_unknown_hidden_class_up_front(
    fast_ckpt, tmp_path, capsys
):
    """The batch checks the model file before it starts: an exported .onnx (its checkpoint is metadata)
    was refused as 'not a PyTorch file'; a --hide class the model lacks failed every source one by one."""
    onnx_path = tmp_path / "m.onnx"
    assert main(["export-onnx", str(fast_ckpt), "-o", str(onnx_path)]) == 0
    srcs = []
    for name in ("a.png", "b.png"):
        Image.fromarray(np.random.default_rng(len(srcs)).integers(0, 255, (48, 64, 3), dtype=np.uint8)).save(
            tmp_path / name
        )
        srcs.append(str(tmp_path / name))
    out = tmp_path / "out"
    assert (
        main(["predict", *srcs, "-c", str(onnx_path), "-o", str(out), "-q", "--runtime", "onnxruntime"]) == 0
    )
    assert [s["state"] for s in _batch(out)["sources"]] == ["complete", "complete"]
    assert (out / "a" / "masks" / "a.png").is_file()
    assert (out / "b" / "masks" / "b.png").is_file()
    capsys.readouterr()
    bad = tmp_path / "bad"
    assert (
        main(["predict", *srcs, "-c", str(fast_ckpt), "-o", str(bad), "-q", "--overlay", "--hide", "sky"])
        == 2
    )
    assert "--hide sky" in capsys.readouterr().err
    assert not bad.exists()  # refused before OUT was touched
