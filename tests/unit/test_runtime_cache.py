"""The runtime cache under damage: a corrupt, truncated, empty or unrecorded `model.onnx` is rebuilt
(with a note) instead of failing every later run; temporaries of a killed conversion are cleaned."""

from __future__ import annotations

import json
import os
import socket
import time

import numpy as np
import pytest

from segtool.cli import main
from segtool.core.engine import Engine
from segtool.core.runtimes import cache
from segtool.models import load_checkpoint
from tests.helpers import _tiny_checkpoint


@pytest.fixture
def own_cache(tmp_path, monkeypatch):
    """A cache of this test's own, so damage done here reaches no other test."""
    monkeypatch.setenv("SEGTOOL_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "runtimes"


def _entry(ck_path):
    return cache.runtime_cache_root() / cache.checkpoint_key(load_checkpoint(ck_path))


FRAME = (np.arange(64 * 80 * 3) % 251).astype(np.uint8).reshape(64, 80, 3)


@pytest.mark.parametrize(
    "damage",
    [
        "truncated",
        *(
            pytest.param(d, marks=pytest.mark.slow) for d in ("garbage", "empty", "no record", "bad record")
        ),  # ~8 s each
    ],
)
def test_a_damaged_entry_is_rebuilt_with_a_note(own_cache, tmp_path, capsys, damage):
    ck = _tiny_checkpoint(tmp_path / "m.pt", seed=3)
    want = Engine(ck, device="cpu", runtime="onnxruntime").predict_one(FRAME).mask
    entry = _entry(ck)
    model = entry / "model.onnx"
    good = model.read_bytes()
    record = json.loads((entry / cache.RECORD).read_text())
    assert record["size"] == len(good)
    capsys.readouterr()
    if damage == "garbage":  # same size, other bytes: only the hash can tell
        model.write_bytes(bytes(len(good)))
    elif damage == "truncated":
        model.write_bytes(good[: len(good) // 2])
    elif damage == "empty":
        model.write_bytes(b"")
    elif damage == "no record":
        (entry / cache.RECORD).unlink()
    else:
        (entry / cache.RECORD).write_text("[1, 2")
    before = cache.conversions
    got = Engine(ck, device="cpu", runtime="onnxruntime").predict_one(FRAME).mask
    assert cache.conversions == before + 1
    assert np.array_equal(got, want)
    err = capsys.readouterr().err
    assert "rebuilding the runtime cache entry" in err
    assert str(entry) in err
    assert cache.verify_entry(entry) is None
    # and the rebuilt entry is used as it is the next time
    Engine(ck, device="cpu", runtime="onnxruntime")
    assert cache.conversions == before + 1
    assert "rebuilding" not in capsys.readouterr().err


def test_cli_run_after_a_corrupt_entry_succeeds(own_cache, tmp_path, capsys):
    from PIL import Image

    ck = _tiny_checkpoint(tmp_path / "m.pt", seed=4)
    Engine(ck, device="cpu", runtime="openvino")
    (_entry(ck) / "model.onnx").write_bytes(b"not a model")
    Image.fromarray(FRAME).save(tmp_path / "a.png")
    code = main(
        [
            "predict",
            str(tmp_path / "a.png"),
            "-c",
            str(ck),
            "-o",
            str(tmp_path / "out"),
            "--runtime",
            "openvino",
            "-q",
        ]
    )
    assert code == 0, capsys.readouterr().err
    assert (tmp_path / "out" / "summary.json").is_file()


def test_temporaries_of_killed_conversions_are_cleaned(own_cache):
    entry = own_cache / "0123abcd"
    entry.mkdir(parents=True)
    host = socket.gethostname()
    dead = 2**22 + 12345  # above the default pid_max of 4194304: no such process
    killed = entry / f".model.{dead}@{host}.tmp.onnx"
    inner = entry / f"..model.{dead}@{host}.tmp.onnx.x1y2.tmp.onnx"  # export_onnx's own temporary inside it
    mine = entry / f".model.{os.getpid()}@{host}.tmp.onnx"  # a conversion in progress here
    elsewhere = entry / f".model.{dead}@another-machine.tmp.onnx"  # maybe running on another machine
    old = entry / ".model.onnx.abcd.tmp.onnx"  # an older segtool's, no owner in the name
    young = entry / ".model.onnx.efgh.tmp.onnx"
    keep = entry / "model.onnx"
    for p in (killed, inner, mine, elsewhere, old, young, keep):
        p.write_bytes(b"x")
    t = time.time() - cache.STALE_S - 60
    os.utime(old, (t, t))
    removed = cache.clean_stale_temporaries(own_cache)
    assert sorted(removed) == sorted([killed, inner, old])
    assert mine.exists()
    assert elsewhere.exists()
    assert young.exists()
    assert keep.exists()
    # once old enough, another machine's is taken as left over too
    later = cache.clean_stale_temporaries(own_cache, now=time.time() + cache.STALE_S + 60)
    assert set(later) == {mine, elsewhere, young}
    assert keep.exists()
