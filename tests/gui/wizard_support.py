"""Fixtures and steps shared by the wizard tests (test modules never import each other)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from tests.helpers import make_dataset

RUN_TIMEOUT_MS = 120_000  # a child process imports torch (a few s) and trains a 64-px mobilenet


def wait_until(cond, timeout_ms: int) -> None:
    """Process events until `cond()` holds.

    Not `qtbot.waitUntil`: pytest-qt waits in a nested QEventLoop, and once any earlier test has run
    `QApplication.exec()` to its end (the app-main tests do), a nested QEventLoop.exec() returns at once
    without processing events — every later waitUntil would time out. QTest.qWait processes events
    directly.
    """
    from PySide6.QtTest import QTest

    deadline = time.monotonic() + timeout_ms / 1000
    while not cond():
        if time.monotonic() > deadline:
            raise TimeoutError(f"condition not met within {timeout_ms} ms")
        QTest.qWait(20)


def training_children() -> list[int]:
    """Pids of this process's children running the training child (Linux /proc; [] elsewhere)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            cmd = (stat.parent / "cmdline").read_bytes()
        except (OSError, ValueError, IndexError):
            continue
        if ppid == os.getpid() and b"segtool.core.train_process" in cmd:
            out.append(int(stat.parent.name))
    return out


@pytest.fixture(autouse=True)
def runs_env(tmp_path, monkeypatch):
    """Runs go to a temporary folder, never the user's; no training process outlives a test."""
    monkeypatch.setenv("SEGTOOL_RUNS", str(tmp_path / "runs"))
    yield tmp_path / "runs"
    assert not training_children(), "a training child process is still running"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return make_dataset(tmp_path_factory.mktemp("wizdata"))


@pytest.fixture
def wizard(qtbot, runs_env):
    from segtool.gui.wizard import TrainingWizard

    wiz = TrainingWizard(None, runs_env)
    qtbot.addWidget(wiz)
    wiz.show()
    yield wiz
    wiz.shutdown()
    wiz.close()


def check_data(qtbot, wiz, data: Path, images: Path | None = None) -> None:
    wiz.data_page.set_path(data, images)
    wait_until(lambda: wiz.data_page.check is not None or "cannot" in wiz.data_page.summary.text(), 60_000)
