"""segtool.base.atomic: the one atomic write (checkpoints, training files, export outputs)."""

from __future__ import annotations

import errno
import io
import os

import pytest
import torch

from segtool.base import atomic
from segtool.base.atomic import (
    atomic_write,
    describe_write_error,
    is_temp_name,
    remove_temp_files,
    temp_sibling,
)
from segtool.base.errors import UserInputError
from segtool.models.checkpoint import atomic_torch_save
from segtool.training.state import write_text_atomic


@pytest.mark.parametrize("name", ["a" * 255, "é" * 127 + "a", "x" * 251 + ".png"])
def test_a_legal_255_byte_name_is_written(tmp_path, name):
    assert len(os.fsencode(name)) <= 255
    path = tmp_path / name
    atomic_write(path, b"data")
    assert path.read_bytes() == b"data"
    assert [p.name for p in tmp_path.iterdir()] == [name]  # no temporary left
    tmp = temp_sibling(path)
    assert len(os.fsencode(tmp.name)) <= 255
    assert is_temp_name(tmp.name)
    assert tmp.parent == tmp_path


def test_long_names_get_distinct_temporaries(tmp_path):
    a, b = temp_sibling(tmp_path / ("a" * 250 + "1")), temp_sibling(tmp_path / ("a" * 250 + "2"))
    assert a.name.split("~")[1][:8] != b.name.split("~")[1][:8]  # the hash of the full name differs
    short = temp_sibling(tmp_path / "mask.png", limit=30)
    assert len(os.fsencode(short.name)) <= 30
    assert is_temp_name(short.name)


def test_non_utf8_name_is_written(tmp_path):
    name = os.fsdecode(b"caf\xe9-" + b"b" * 249)  # Latin-1 byte: not UTF-8, 255 bytes
    path = tmp_path / name
    atomic_write(path, "text")
    assert path.read_text() == "text"


def test_failure_leaves_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "f.json"
    atomic_write(path, b"old")
    with pytest.raises(RuntimeError):
        with atomic.atomic_writer(path) as fh:
            fh.write(b"half")
            raise RuntimeError("killed")
    assert path.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["f.json"]


def test_remove_temp_files_only_removes_temporaries(tmp_path):
    (tmp_path / "keep.png").write_bytes(b"x")
    (tmp_path / ".hidden").write_bytes(b"x")
    temp_sibling(tmp_path / "keep.png").write_bytes(b"half")
    (tmp_path / ".old-form.png.tmp").write_bytes(b"half")
    (tmp_path / "sub").mkdir()
    temp_sibling(tmp_path / "sub" / "a.png").write_bytes(b"half")
    assert remove_temp_files(tmp_path) == 2
    assert remove_temp_files(tmp_path, recursive=True) == 1
    assert sorted(os.listdir(tmp_path)) == [".hidden", "keep.png", "sub"]
    assert os.listdir(tmp_path / "sub") == []


class _FullDisk(io.RawIOBase):
    """A file that fills up after `room` bytes (ENOSPC), like a real full disk."""

    def __init__(self, real, room):
        self.real, self.room = real, room

    def writable(self):
        return True

    def write(self, data):
        if self.room < len(data):
            raise OSError(errno.ENOSPC, "No space left on device")
        self.room -= len(data)
        return self.real.write(data)

    def close(self):
        self.real.close()
        super().close()

    def fileno(self):
        return self.real.fileno()


@pytest.fixture
def full_disk(monkeypatch):
    real_open = open

    def fake_open(path, mode="r", *a, **k):
        return _FullDisk(real_open(path, mode, *a, **k), room=500)

    monkeypatch.setattr(atomic, "open", fake_open, raising=False)


def test_torch_save_on_full_disk_is_a_user_error(tmp_path, full_disk):
    path = tmp_path / "last.pt"
    with pytest.raises(UserInputError, match=r"disk full while writing .*last\.pt.*MB free.*free some space"):
        atomic_torch_save({"w": torch.zeros(10_000)}, path)
    assert os.listdir(tmp_path) == []  # nothing half-written, not even a temporary


def test_training_text_on_full_disk_is_a_user_error(tmp_path, full_disk):
    with pytest.raises(UserInputError, match="disk full"):
        write_text_atomic(tmp_path / "history.csv", "x" * 10_000)


def test_write_error_messages_name_the_fix(tmp_path):
    p = tmp_path / "x.png"
    assert "read-only" in describe_write_error(p, OSError(errno.EROFS, "Read-only file system"))
    long = describe_write_error(tmp_path / ("a" * 300), OSError(errno.ENAMETOOLONG, "File name too long"))
    assert "300 bytes" in long
    assert "allows 255" in long
    assert "shorten" in long
    assert "a file is in the way" in describe_write_error(p, OSError(errno.ENOTDIR, "Not a directory"))
