"""Batch source expansion, unique names, shard selection and batch.json merging (no model needed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from segtool.core.batch import BatchState, expand_sources, merge_batches, parse_shard, select_shard
from segtool.core.batch.expand import implies_batch
from segtool.core.batch.state import find_batch_files
from segtool.core.errors import UserInputError


def _touch(p: Path, data: bytes = b"x") -> Path:
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data)
    return p


@pytest.fixture
def field(tmp_path):
    d = tmp_path / "field"
    for rel in ("GX010.MP4", "GX002.mp4", "clip.mp4", "clip.mkv", "notes.txt", "shot.jpg", "sub/clip.mp4"):
        _touch(d / rel)
    return d


def test_folder_of_videos_is_one_source_per_video_plus_its_images(field):
    items, batch = expand_sources([str(field)])
    assert batch
    # natural order; the folder's images are one more source named after the folder; subfolders not searched
    assert [Path(i.source).name for i in items] == ["clip.mkv", "clip.mp4", "GX002.mp4", "GX010.MP4", "field"]
    assert [i.name for i in items] == ["clip_mkv", "clip_mp4", "GX002", "GX010", "field"]
    assert all(Path(i.source).is_absolute() for i in items)


def test_name_collisions_across_folders_and_case(tmp_path, field):
    a = _touch(tmp_path / "other" / "CLIP.mp4")
    items, _ = expand_sources(
        [str(field / "clip.mp4"), str(field / "sub" / "clip.mp4"), str(a), str(field / "clip.mkv")]
    )
    names = [i.name for i in items]
    assert names == ["clip_mp4", "clip_mp4-2", "CLIP_mp4-3", "clip_mkv"]
    assert len({n.lower() for n in names}) == len(names)  # distinct on case-insensitive file systems too


def test_list_file_and_glob_forms(tmp_path, field, monkeypatch):
    lst = tmp_path / "lists" / "today.txt"
    lst.parent.mkdir()
    lst.write_text(f"# field day\n\n../field/GX002.mp4\n{field / 'clip.mp4'}\ncam:2\n../field/sub/*.mp4\n")
    items, batch = expand_sources([f"@{lst}"])
    assert batch
    assert [i.name for i in items] == ["GX002", "clip_mp4", "cam2", "clip_mp4-2"]
    monkeypatch.chdir(tmp_path)
    g, batch = expand_sources(["field/GX*.*", "field/GX002.mp4"])  # the same file twice is kept once
    assert batch
    assert [i.name for i in g] == ["GX002", "GX010"]
    assert implies_batch("field/*.mp4")
    assert implies_batch(str(field))
    assert implies_batch(f"@{lst}")
    assert not implies_batch(str(field / "clip.mp4"))
    assert not implies_batch("cam:0")
    only_images = tmp_path / "photos"
    _touch(only_images / "a.png")
    assert not implies_batch(str(only_images))  # a folder of images stays the single-source form
    assert expand_sources([str(only_images)]) == ([expand_sources([str(only_images)])[0][0]], False)


def test_bad_forms_name_the_problem(tmp_path, field):
    with pytest.raises(UserInputError, match="nope.mp4.*does not exist"):
        expand_sources([str(field / "clip.mp4"), str(tmp_path / "nope.mp4")])
    with pytest.raises(UserInputError, match="matches nothing"):
        expand_sources([str(tmp_path / "*.mov")])
    lst = _touch(tmp_path / "l.txt", b"# nothing\n")
    with pytest.raises(UserInputError, match="names no sources"):
        expand_sources([f"@{lst}"])
    bad = _touch(tmp_path / "bad.txt", f"{field / 'clip.mp4'}\nmissing.mp4\n".encode())
    with pytest.raises(UserInputError, match=r"bad.txt:2: .*missing.mp4"):
        expand_sources([f"@{bad}"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserInputError, match="no videos"):
        expand_sources([str(tmp_path / "empty"), str(field)])


def test_shards_are_disjoint_and_their_union_is_the_whole(field):
    items, _ = expand_sources([str(field)])
    for n in (1, 2, 3, 7):
        parts = [select_shard(items, i, n) for i in range(1, n + 1)]
        flat = [it for p in parts for it in p]
        assert sorted(flat, key=items.index) == items
        assert len(flat) == len(set(flat))
    assert parse_shard("2/4") == (2, 4)
    for bad in ("0/4", "5/4", "1", "a/b"):
        with pytest.raises(UserInputError, match="I/N"):
            parse_shard(bad)


def test_batch_state_resume_rules_and_merge(tmp_path, field):
    items, _ = expand_sources([str(field)])
    out = tmp_path / "out"
    st = BatchState.create(
        out,
        select_shard(items, 1, 2),
        command="predict",
        settings={"every": 1},
        all_items=items,
        shard=(1, 2),
    )
    assert st.path.name == "batch-1-of-2.json"
    st.update(st.sources[0].name, state="running")
    st.update(st.sources[1].name, state="complete", frames_written=5)
    with pytest.raises(UserInputError, match="--resume"):
        BatchState.create(
            out,
            select_shard(items, 1, 2),
            command="predict",
            settings={"every": 1},
            all_items=items,
            shard=(1, 2),
        )
    with pytest.raises(UserInputError, match="other settings"):
        BatchState.create(
            out,
            select_shard(items, 1, 2),
            command="predict",
            settings={"every": 2},
            all_items=items,
            shard=(1, 2),
            resume=True,
        )
    again = BatchState.create(
        out,
        select_shard(items, 1, 2),
        command="predict",
        settings={"every": 1},
        all_items=items,
        shard=(1, 2),
        resume=True,
    )
    assert again.sources[0].state == "partial"  # killed while running
    assert "interrupted" in again.sources[0].message
    assert again.sources[1].state == "complete"
    report = merge_batches(find_batch_files([out]))
    assert report["missing_shards"] == ["2/2"]
    assert report["missing"] == len(items) - len(again.sources)
    assert not report["complete"]
    st2 = BatchState.create(
        out,
        select_shard(items, 2, 2),
        command="predict",
        settings={"every": 1},
        all_items=items,
        shard=(2, 2),
    )
    for s in st2.sources:
        st2.update(s.name, state="complete")
    report = merge_batches(find_batch_files([out]))
    assert report["missing_shards"] == []
    assert report["missing"] == 0
    assert sorted(s["name"] for s in report["sources"]) == sorted(i.name for i in items)
    assert [s["name"] for s in report["problems"]] == [again.sources[0].name]
    doc = json.loads((out / "batch-2-of-2.json").read_text())
    assert doc["format"] == "segtool-batch"
    assert doc["complete"] is True
    assert doc["shard"] == {"index": 2, "count": 2}


def test_workers_divide_threads_and_devices_get_one_worker_each():
    from segtool.core.batch.local import plan_workers
    from segtool.core.batch.runner import EngineSpec

    spec = EngineSpec("m.pt", device="cpu", threads=8)
    assert [s.threads for s in plan_workers(spec, 3)] == [2, 2, 2]
    assert [s.threads for s in plan_workers(EngineSpec("m.pt", threads=1), 4)] == [
        1,
        1,
        1,
        1,
    ]  # at least one each
    assert plan_workers(spec, 1) == [spec]
    gpus = plan_workers(EngineSpec("m.pt"), 1, ["cuda:0", " cuda:1"])
    assert [s.device for s in gpus] == ["cuda:0", "cuda:1"]
    with pytest.raises(UserInputError, match="--workers 0"):
        plan_workers(spec, 0)


def test_ray_task_resources_follow_the_device():
    from segtool.core.batch.ray_runner import task_resources
    from segtool.core.batch.runner import EngineSpec

    assert task_resources(EngineSpec("m.pt", device="cpu", threads=4), 0)[:2] == (4, 0)
    cpus, gpus, spec = task_resources(EngineSpec("m.pt"), 0)  # auto on a CPU-only cluster: 1 CPU, 1 thread
    assert (cpus, gpus, spec.device, spec.threads) == (1, 0, "cpu", 1)
    cpus, gpus, spec = task_resources(EngineSpec("m.pt"), 8)  # auto with GPUs: one GPU per task
    assert (cpus, gpus, spec.device) == (1, 1, "cuda")
    assert task_resources(EngineSpec("m.pt", device="cuda:3"), 8)[2].device == "cuda"  # Ray picks the GPU
