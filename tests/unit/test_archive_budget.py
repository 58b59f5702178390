"""Dataset zips: declared sizes and ratios are checked before anything is extracted; a full cache disk is
a message naming the folder and the fix, never a traceback."""

from __future__ import annotations

import errno
import shutil
import zipfile

import pytest

from segtool.base.errors import UserInputError
from segtool.training.data import archive
from segtool.training.data.archive import extract_zip


@pytest.fixture
def cache(tmp_path, monkeypatch):
    root = tmp_path / "cache"
    monkeypatch.setenv("SEGTOOL_CACHE", str(root))
    return root


def _extracted_bytes(root):
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file()) if root.exists() else 0


def test_zip_bomb_is_refused_before_extraction(tmp_path, cache):
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("images/a.png", b"\0" * (40 << 20))  # 40 MB of zeros: ~40 KB compressed
    assert bomb.stat().st_size < 1 << 20
    with pytest.raises(UserInputError, match=r"images/a.png.*expand \d+x.*extract it yourself"):
        extract_zip(bomb)
    assert _extracted_bytes(cache) == 0  # nothing was written


def test_archive_larger_than_free_space_is_refused_before_extraction(tmp_path, cache, monkeypatch):
    z = tmp_path / "data.zip"
    with zipfile.ZipFile(z, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("images/a.png", b"x" * 1000)
    real = shutil.disk_usage
    monkeypatch.setattr(archive.shutil, "disk_usage", lambda p: real(p)._replace(free=10 << 20))
    with pytest.raises(UserInputError, match=r"not enough space to extract .*MB free.*SEGTOOL_CACHE"):
        extract_zip(z)
    assert _extracted_bytes(cache) == 0


def test_disk_full_during_extraction_is_a_message(tmp_path, cache, monkeypatch):
    z = tmp_path / "data.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("images/a.png", b"x" * 1000)

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(archive, "_copy_with_budget", full)
    with pytest.raises(UserInputError, match=r"could not extract .*disk full.*SEGTOOL_CACHE"):
        extract_zip(z)
    assert not list((cache / "datasets").iterdir())  # the half-extracted folder is gone


def test_entry_larger_than_declared_is_refused(tmp_path):
    class Src:
        def __init__(self):
            self.data = [b"a" * 10, b"b" * 10, b""]

        def read(self, n):
            return self.data.pop(0)

    import io

    with pytest.raises(UserInputError, match="more data than its header declares"):
        archive._copy_with_budget(Src(), io.BytesIO(), 12, "a.png", tmp_path / "x.zip")


def test_normal_zip_still_extracts(tmp_path, cache):
    z = tmp_path / "ok.zip"
    with zipfile.ZipFile(z, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("labelmap.txt", "# label:color_rgb:parts:actions\nbackground:0,0,0::\n" * 100)
        zf.writestr("images/a.png", bytes(range(256)) * 40)
    root = extract_zip(z)
    assert (root / "images" / "a.png").read_bytes() == bytes(range(256)) * 40
