"""Output paths the file system refuses (a name longer than it allows, a file where a folder is needed)
are exit 2 naming the path and the fix in every command (`segtool.cli` maps them), never a traceback."""

from __future__ import annotations

import errno

import numpy as np
import pytest
from PIL import Image

from segtool.cli import main, os_error_message

LONG = "D" * 300  # over the 255-byte name limit of ext4, xfs, btrfs, APFS and NTFS


@pytest.fixture
def masks(tmp_path):
    d = tmp_path / "instances"
    d.mkdir()
    m = np.zeros((40, 50), np.uint8)
    m[5:20, 5:20], m[22:35, 25:45] = 1, 2
    Image.fromarray(m).save(d / "a.png")
    return d


def test_fragments_output_name_too_long_is_exit_2(masks, tmp_path, capsys):
    out = tmp_path / LONG
    assert main(["fragments", str(masks), "--from-masks", "instances", "-o", str(out), "-q"]) == 2
    err = capsys.readouterr().err
    assert "too long (300 bytes)" in err
    assert str(out) in err
    assert "shorter path" in err
    assert "Traceback" not in err


def test_suggest_output_name_too_long_is_exit_2(small_checkpoint, tmp_path, capsys):
    img = tmp_path / "a.png"
    Image.fromarray((np.arange(48 * 64 * 3) % 251).astype(np.uint8).reshape(48, 64, 3)).save(img)
    out = tmp_path / LONG / "picks"
    assert main(["suggest", str(img), "-c", str(small_checkpoint[0]), "-o", str(out), "-q"]) == 2
    err = capsys.readouterr().err
    assert "too long (300 bytes)" in err
    assert "Traceback" not in err


def test_only_path_errors_become_exit_2():
    assert "too long" in os_error_message(OSError(errno.ENAMETOOLONG, "File name too long", "/x/" + LONG))
    assert "a file stands where a folder is needed" in os_error_message(
        NotADirectoryError(errno.ENOTDIR, "Not a directory", "/f/x")
    )
    assert (
        os_error_message(OSError(errno.ENAMETOOLONG, "File name too long")) is None
    )  # no path: not the user's
    assert (
        os_error_message(OSError(errno.ECONNRESET, "reset", "/x")) is None
    )  # not a path problem: stays a traceback
