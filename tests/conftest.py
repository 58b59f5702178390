"""Test configuration shared by every test.

Qt runs offscreen (no display needed). Real data lives in ../shared/data beside the repository;
tests that need it skip with a clear reason when it is absent.
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# Tests never write into the user's cache (runtime conversions land there), and `--runtime auto` means
# PyTorch here: converting each test's fresh checkpoint to OpenVINO would add seconds per test. The runtime
# tests (tests/unit/test_runtimes*.py) name their runtime, or clear this to test `auto` itself.
if "SEGTOOL_CACHE" not in os.environ:
    os.environ["SEGTOOL_CACHE"] = _cache = tempfile.mkdtemp(prefix="segtool-test-cache-")
    atexit.register(shutil.rmtree, _cache, ignore_errors=True)
os.environ.setdefault("SEGTOOL_RUNTIME", "torch")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("SEGTOOL_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path to ../shared/data; skips the test when it is absent (a user's machine will not have it)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data not found at {SHARED_DATA} (set SEGTOOL_SHARED_DATA to its location)")
    return SHARED_DATA


@pytest.fixture
def tiny_disk(tmp_path):
    """A 256 KiB tmpfs, to test a full disk for real (needs root and mount rights; skips otherwise)."""
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    if os.geteuid() != 0:
        pytest.skip("disk-full test needs root to mount a tiny tmpfs")
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mnt)], capture_output=True)
    if res.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {res.stderr.decode().strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], check=False)


# Real-footage video fixtures (clip, truth, variants, rotated_mov, vfr_mkv), shared by every test folder.
from tests.videos import clip, rotated_mov, truth, variants, vfr_mkv  # noqa: E402,F401
