"""segtool.core.journal: the job record an export (and fragments) writes before its first output."""

from __future__ import annotations

import json
import os

import pytest

from segtool.base.errors import UserInputError
from segtool.core.journal import identity_diff, journal_path, open_job, read_journal

OUTS = ["masks", "table.csv", "summary.json"]


def test_new_folder_gets_a_record_before_any_output(tmp_path):
    out = tmp_path / "new" / "out"
    job = open_job(out, "export", {"checkpoint": "abc", "tta": ("flip",)}, outputs=OUTS, version="9")
    assert not job.resumed
    assert job.path == journal_path(out, "export") == out / ".segtool-export.json"
    rec = read_journal(out, "export")
    assert rec["identity"] == {"checkpoint": "abc", "tta": ["flip"]}
    assert rec["state"] == "running"
    assert rec["outputs"] == OUTS
    assert rec["segtool"] == "9"
    assert os.listdir(out) == [".segtool-export.json"]


def test_same_identity_resumes_other_identity_is_refused_naming_each_input(tmp_path):
    open_job(tmp_path, "export", {"checkpoint": "abc", "every": 1, "tta": []}, outputs=OUTS)
    assert open_job(
        tmp_path, "export", {"checkpoint": "abc", "every": 1, "tta": []}, outputs=OUTS, resume=True
    ).resumed
    with pytest.raises(UserInputError) as e:
        open_job(tmp_path, "export", {"checkpoint": "xyz", "every": 2, "tta": []}, outputs=OUTS, resume=True)
    assert "checkpoint: 'abc' then, 'xyz' now" in str(e.value)
    assert "every: 1 then, 2 now" in str(e.value)
    assert "tta" not in str(e.value)


def test_existing_job_needs_a_flag_and_both_flags_are_refused(tmp_path):
    open_job(tmp_path, "export", {"a": 1}, outputs=OUTS)
    with pytest.raises(UserInputError, match="--resume to continue it, --overwrite to replace it"):
        open_job(tmp_path, "export", {"a": 1}, outputs=OUTS)
    with pytest.raises(UserInputError, match="--resume and --overwrite"):
        open_job(tmp_path, "export", {"a": 1}, outputs=OUTS, resume=True, overwrite=True)


def test_overwrite_removes_only_the_listed_outputs(tmp_path):
    open_job(tmp_path, "export", {"a": 1}, outputs=[*OUTS, "old-only.csv"])
    (tmp_path / "masks").mkdir()
    (tmp_path / "masks" / "000005.png").write_bytes(b"old")
    (tmp_path / "old-only.csv").write_text("old")
    (tmp_path / "summary.json").write_text("{}")
    (tmp_path / "mine.txt").write_text("user file")
    job = open_job(tmp_path, "export", {"a": 2}, outputs=OUTS, overwrite=True)
    assert not job.resumed
    assert read_journal(tmp_path, "export")["identity"] == {"a": 2}
    assert sorted(os.listdir(tmp_path)) == [".segtool-export.json", "mine.txt"]


def test_interrupted_overwrite_must_be_repeated(tmp_path):
    open_job(tmp_path, "export", {"a": 1}, outputs=OUTS)
    rec = json.loads(journal_path(tmp_path, "export").read_text())
    journal_path(tmp_path, "export").write_text(json.dumps({**rec, "state": "overwriting"}))
    with pytest.raises(UserInputError, match="interrupted; run it again with --overwrite"):
        open_job(tmp_path, "export", {"a": 1}, outputs=OUTS, resume=True)
    assert not open_job(tmp_path, "export", {"a": 1}, outputs=OUTS, overwrite=True).resumed


def test_kinds_do_not_mix_and_foreign_files_are_not_adopted(tmp_path):
    open_job(tmp_path / "a", "fragments", {"a": 1}, outputs=["fragments.csv"])
    (tmp_path / "a" / "fragments.csv").write_text("x")
    with pytest.raises(UserInputError, match="no .segtool-export.json"):
        open_job(tmp_path / "a", "export", {"a": 1}, outputs=["fragments.csv"], resume=True)
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "table.csv").write_text("someone else's")
    with pytest.raises(UserInputError, match="table.csv.*--overwrite"):
        open_job(tmp_path / "b", "export", {"a": 1}, outputs=OUTS)


def test_resume_of_an_empty_folder_starts_the_job(tmp_path):
    assert not open_job(tmp_path, "export", {"a": 1}, outputs=OUTS, resume=True).resumed


def test_unreadable_record_and_file_as_folder(tmp_path):
    journal_path(tmp_path, "export").write_text("{half")
    with pytest.raises(UserInputError, match="unreadable.*--overwrite"):
        open_job(tmp_path, "export", {"a": 1}, outputs=OUTS, resume=True)
    (tmp_path / "f").write_text("x")
    with pytest.raises(UserInputError, match="choose another -o"):
        open_job(tmp_path / "f", "export", {"a": 1}, outputs=OUTS)


def test_non_utf8_names_survive_the_record(tmp_path):
    name = os.fsdecode(b"caf\xe9.mp4")
    open_job(tmp_path, "export", {"source": name}, outputs=OUTS)
    assert open_job(tmp_path, "export", {"source": name}, outputs=OUTS, resume=True).resumed


def test_identity_diff_lists_missing_inputs():
    assert identity_diff({"a": 1}, {"a": 1, "b": 2}) == ["b: '(not recorded)' then, 2 now"]
