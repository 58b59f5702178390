"""Batches under hostile input: an edited batch.json (a list, `sources` a dict, `"frames_written": "many"`)
in `batch-status` and `--resume`; seeded random edits and truncations of a valid file; `--workers 100`
capped by the work and the machine; a `@list.txt` saved with a UTF-8 BOM."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from segtool.cli import main
from segtool.core.batch import BatchState, expand_sources
from segtool.core.batch.expand import BatchItem
from segtool.core.batch.local import cap_workers
from segtool.core.batch.state import merge_batches, read_batch_file
from segtool.core.errors import UserInputError

ITEMS = [BatchItem(f"/field/clip{i}.mp4", f"clip{i}") for i in range(3)]
SETTINGS = {"every": 1}


@pytest.fixture
def batch_dir(tmp_path) -> Path:
    """A real batch.json as `segtool predict` writes it: one complete, one partial, one pending source."""
    out = tmp_path / "out"
    st = BatchState.create(out, ITEMS, command="predict", settings=SETTINGS)
    st.update("clip0", state="complete", frames_written=12, frames_expected=12, seconds=1.5)
    st.update("clip1", state="partial", frames_written=5, message="source broke at frame 5")
    return out


EDITS = {
    "a list": lambda d: [d],
    "sources a dict": lambda d: {**d, "sources": {"clip0": d["sources"][0]}},
    "frames_written many": lambda d: {
        **d,
        "sources": [{**d["sources"][0], "frames_written": "many"}, *d["sources"][1:]],
    },
    "state unknown": lambda d: {**d, "sources": [{**d["sources"][0], "state": "done"}, *d["sources"][1:]]},
    "a source a text": lambda d: {**d, "sources": ["clip0", *d["sources"][1:]]},
    "shard a text": lambda d: {**d, "shard": "1/2"},
    "total_sources null": lambda d: {**d, "total_sources": None},
    "settings a list": lambda d: {**d, "settings": [1]},
}


@pytest.mark.parametrize("edit", list(EDITS))
def test_an_edited_batch_file_is_exit_2_in_batch_status_and_resume(batch_dir, capsys, edit):
    path = batch_dir / "batch.json"
    path.write_text(json.dumps(EDITS[edit](json.loads(path.read_text()))))
    assert main(["batch-status", str(batch_dir)]) == 2
    err = capsys.readouterr().err
    assert str(path) in err
    assert "--overwrite" in err
    assert "Traceback" not in err
    with pytest.raises(UserInputError, match="batch.json"):  # what predict --resume runs before anything
        BatchState.create(batch_dir, ITEMS, command="predict", settings=SETTINGS, resume=True)


def test_frames_written_many_through_predict_resume(batch_dir, tmp_path, capsys, small_checkpoint):
    path = batch_dir / "batch.json"
    doc = json.loads(path.read_text())
    doc["sources"][0]["frames_written"] = "many"
    path.write_text(json.dumps(doc))
    for name in ("clip0.png", "clip1.png", "clip2.png"):  # the batch's three source names
        Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(tmp_path / name)
    img = tmp_path / "clip0.png"
    code = main(
        [
            "predict",
            str(img),
            str(tmp_path / "clip1.png"),
            str(tmp_path / "clip2.png"),
            "-c",
            str(small_checkpoint[0]),
            "-o",
            str(batch_dir),
            "--resume",
            "-q",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2, err
    assert '"frames_written"' in err, err
    assert "'many'" in err, err
    assert str(path) in err, err


def _mutations(text: str, rng: random.Random):
    """Seeded truncations and edits of a valid batch file: cut anywhere, a value swapped for another type,
    a key dropped, a character replaced."""
    doc = json.loads(text)
    for _ in range(60):
        yield text[: rng.randrange(len(text))]
    values = [None, True, -1, 2.5, "x", "", [], {}, [1], {"a": 1}, "many", 10**30]
    for _ in range(150):
        d = json.loads(text)
        target = d if rng.random() < 0.4 else rng.choice(d["sources"])
        key = rng.choice(sorted(target))
        if rng.random() < 0.25:
            del target[key]
        else:
            target[key] = rng.choice(values)
        yield json.dumps(d)
    for _ in range(60):
        i = rng.randrange(len(text))
        yield text[:i] + rng.choice('{}[]",:0a') + text[i + 1 :]
    assert doc  # the valid file itself is read below


def test_random_edits_never_give_a_traceback_or_wrong_content(batch_dir):
    path = batch_dir / "batch.json"
    text = path.read_text()
    good = merge_batches([path])
    rng = random.Random(24)
    accepted = 0
    for mutated in _mutations(text, rng):
        path.write_text(mutated)
        try:
            doc = read_batch_file(path)
            report = merge_batches([path])
        except UserInputError:
            continue
        accepted += 1
        # what is accepted is well typed: the report's numbers are numbers, every state a known one
        assert isinstance(report["frames_written"], int)
        assert report["frames_written"] >= 0
        assert all(
            s["state"] in ("pending", "running", "complete", "partial", "failed") for s in report["sources"]
        )
        assert isinstance(doc["sources"], list)
        if mutated == text:
            assert report["counts"] == good["counts"]
    assert accepted > 0  # some edits are harmless (a message changed, an optional field dropped)


def test_workers_are_capped_by_sources_and_cores():
    assert cap_workers(100, 2, cores=16) == (2, "--workers 100: starting 2 worker(s) (2 source(s) to run)")
    n, why = cap_workers(100, 50, cores=4)
    assert n == 4
    assert "4 CPU core(s)" in why
    assert cap_workers(3, 5, cores=8) == (3, None)
    assert cap_workers(8, 0, cores=8)[0] == 1


def test_workers_3_for_one_source_runs_one_worker_with_a_note(small_checkpoint, tmp_path, capsys):
    img = tmp_path / "a.png"
    Image.fromarray((np.arange(48 * 64 * 3) % 251).astype(np.uint8).reshape(48, 64, 3)).save(img)
    out = tmp_path / "out"
    code = main(
        [
            "predict",
            str(img),
            "-c",
            str(small_checkpoint[0]),
            "-o",
            str(out),
            "--workers",
            "3",
            "-q",
            "--device",
            "cpu",
        ]
    )
    err = capsys.readouterr().err
    assert code == 0, err
    assert "--workers 3: starting 1 worker(s) (1 source(s) to run" in err
    doc = json.loads((out / "batch.json").read_text())
    assert doc["sources"][0]["state"] == "complete"
    assert f":{os.getpid()} " in doc["sources"][0]["worker"]  # ran in this process: no worker process started


def test_a_list_file_saved_with_a_bom_is_read(tmp_path):
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"x")
    lst = tmp_path / "list.txt"
    lst.write_bytes("\ufeff# my list\nclip.mp4\n".encode())
    items, batch = expand_sources([f"@{lst}"])
    assert batch
    assert [i.name for i in items] == ["clip"]
