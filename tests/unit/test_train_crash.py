"""Training killed with SIGKILL at a random moment (CLI and the app's training child) resumes from the last
complete last.pt, never a half-written one, and ends where an uninterrupted run ends; full disk and
read-only run folders are messages, not tracebacks."""

from __future__ import annotations

import contextlib
import csv
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch

from segtool.base.atomic import is_temp_name, temp_sibling
from segtool.base.errors import UserInputError
from segtool.cli import main
from segtool.core.train_process import TrainProcess
from segtool.models import load_checkpoint
from segtool.training.trainer import train
from tests.helpers import Recorder, make_dataset, tiny_config

REPO = Path(__file__).resolve().parents[2]
EPOCHS = 4
SMALL = [
    "--backbone",
    "mobilenet_v3_large",
    "--width-mult",
    "0.5",
    "--aspp-channels",
    "32",
    "--aux-weight",
    "0",
]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    return make_dataset(tmp_path_factory.mktemp("data"))


def _argv(dataset, out):
    return [
        "train",
        str(dataset),
        "-o",
        str(out),
        *SMALL,
        "--epochs",
        str(EPOCHS),
        "--batch-size",
        "2",
        "--crop-size",
        "64",
        "--eval-size",
        "64",
        "--device",
        "cpu",
        "--workers",
        "0",
        "-q",
    ]


@contextlib.contextmanager
def one_thread():
    """Every run compared here uses one CPU thread: float sums depend on the thread count, and other
    tests change it in this process (the killed subprocesses get OMP_NUM_THREADS=1)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@pytest.fixture(scope="module")
def uninterrupted(dataset, tmp_path_factory):
    out = tmp_path_factory.mktemp("full") / "run"
    with one_thread():
        assert main(_argv(dataset, out)) == 0
    return out


def small_config(dataset, run, **kw):
    return tiny_config(
        dataset,
        run,
        workers=0,
        backbone="mobilenet_v3_large",
        width_mult=0.5,
        aspp_channels=32,
        aux_weight=0.0,
        **kw,
    )


def _history(run: Path) -> list[tuple[str, str]]:
    return [(r["epoch"], r["train_loss"]) for r in csv.DictReader((run / "history.csv").open())]


def _same_weights(a: Path, b: Path) -> None:
    sa, sb = load_checkpoint(a).state_dict, load_checkpoint(b).state_dict
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k


def _kill_after_first_save(proc_alive, kill, run: Path, rng: random.Random) -> None:
    """Wait for the first two saves of last.pt, then kill at a random moment of the third epoch (of 4).

    The delay is a random share of the measured epoch time, not a fixed one: on a quiet machine an epoch
    of this tiny run takes ~0.15 s, on a loaded one over 1 s, and a fixed delay either let the run finish
    before the kill or always hit the same moment."""
    deadline = time.monotonic() + 300
    last = run / "last.pt"

    def saved() -> int | None:
        try:
            st = last.stat()
        except FileNotFoundError:
            return None
        return st.st_ino * 10**20 + st.st_mtime_ns  # atomic saves replace the file: a new inode/mtime

    first = None
    while first is None:
        assert proc_alive(), "training ended before its first checkpoint"
        assert time.monotonic() < deadline
        time.sleep(0.005)
        first = saved()
    t1 = time.monotonic()
    while saved() == first:
        assert proc_alive(), "training ended before its second checkpoint"
        assert time.monotonic() < deadline
        time.sleep(0.005)
    epoch_s = time.monotonic() - t1
    time.sleep(rng.uniform(0.0, epoch_s))
    assert proc_alive(), "training finished before the kill"
    kill()


def _check_resumed(run: Path, uninterrupted: Path) -> None:
    assert _history(run) == _history(uninterrupted)  # every epoch once, same losses
    _same_weights(run / "last.pt", uninterrupted / "last.pt")
    assert not [p.name for p in run.iterdir() if is_temp_name(p.name)]


def _cli_kill_and_resume(dataset, uninterrupted, run, seed):
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "segtool", *_argv(dataset, run)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _kill_after_first_save(
            lambda: proc.poll() is None, lambda: proc.send_signal(signal.SIGKILL), run, random.Random(seed)
        )
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    load_checkpoint(run / "last.pt")  # whatever the moment, last.pt is a whole checkpoint
    with one_thread():
        assert main([*_argv(dataset, run), "--resume"]) == 0
    _check_resumed(run, uninterrupted)


def test_cli_training_killed_at_a_random_moment_resumes(dataset, uninterrupted, tmp_path):
    _cli_kill_and_resume(dataset, uninterrupted, tmp_path / "run", seed=3)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(4))
def test_cli_training_killed_at_many_random_moments_resumes(dataset, uninterrupted, tmp_path, seed):
    _cli_kill_and_resume(dataset, uninterrupted, tmp_path / "run", seed=seed + 10)


@pytest.mark.slow  # the same train() as the CLI test, started the app's way; ~1 min on a loaded CPU
def test_app_training_child_killed_then_resumed(dataset, uninterrupted, tmp_path):
    run = tmp_path / "run"
    cfg = small_config(dataset, run, epochs=EPOCHS).to_dict()
    proc = TrainProcess(cfg, threads=1).start()
    try:
        _kill_after_first_save(lambda: proc._proc.poll() is None, proc.kill, run, random.Random(5))
        proc.wait(30)
        assert proc.outcome().kind == "died"
    finally:
        proc.shutdown()
    again = TrainProcess(cfg, resume=True, threads=1).start()
    try:
        assert again.wait(300)
        assert again.outcome().kind == "finished", again.outcome()
    finally:
        again.shutdown()
    _check_resumed(run, uninterrupted)


def test_half_written_checkpoint_is_never_resumed_from(dataset, tmp_path):
    """A kill inside torch.save leaves only a temporary file beside the last complete last.pt."""
    run = tmp_path / "run"
    cancel = threading.Event()
    rec = Recorder(stop_at=(1, 1), cancel=cancel, how="cancel")
    assert train(small_config(dataset, run, epochs=1), events=rec, cancel=cancel).stopped == "cancelled"
    whole = (run / "last.pt").read_bytes()
    half = temp_sibling(run / "last.pt")
    half.write_bytes(whole[: len(whole) // 2])
    with (run / "history.csv").open("a") as f:  # killed after history.csv got a row, before last.pt did
        f.write("1,9.0,,,,0.01,1.0\n")
    result = train(small_config(dataset, run, epochs=1), resume=True)
    assert result.stopped is None
    assert result.epochs_done == 1
    assert not half.exists()
    assert [e for e, _ in _history(run)] == ["1"]  # last.pt's history wins
    assert _history(run)[0][1] != "9.0"


def test_resume_before_the_first_save_starts_over(dataset, tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    small_config(dataset, run, epochs=1).save(run / "config.json")  # killed before last.pt was written
    assert main([*_argv(dataset, run)[:-1], "--epochs", "1", "--resume"]) == 0
    assert "starting the run from the beginning" in capsys.readouterr().err
    assert [e for e, _ in _history(run)] == ["1"]


def test_run_folder_that_is_a_file_or_full_is_a_message(dataset, tmp_path, capsys, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(_argv(dataset, blocker / "run")) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "a file is in the way" in err
    assert "-o" in err
    import shutil

    real = shutil.disk_usage
    monkeypatch.setattr(shutil, "disk_usage", lambda p: real(p)._replace(free=1_000_000))
    assert main(_argv(dataset, tmp_path / "full")) == 2
    err = capsys.readouterr().err
    assert "not enough free space" in err
    assert "MB free" in err
    assert "-o" in err
    assert not (tmp_path / "full" / "config.json").exists()  # stopped before writing anything


def test_read_only_run_folder_is_a_message(dataset, tmp_path, capsys):
    if os.geteuid() == 0:
        pytest.skip(
            "running as root: chmod does not stop root writing (the file-in-the-way test covers the path)"
        )
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        assert main(_argv(dataset, ro / "run")) == 2
        assert "Permission denied" in capsys.readouterr().err
    finally:
        ro.chmod(0o755)


def test_full_disk_during_training_is_a_message(dataset, tiny_disk, capsys):
    """A real full disk (tmpfs of 256 KiB): refused before the first epoch, naming the free space."""
    assert main(_argv(dataset, tiny_disk / "run")) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "not enough free space" in err


def test_checkpoint_save_on_full_disk_is_a_message(dataset, tmp_path, monkeypatch):
    """When the disk fills during a save (after the check), the message names the file; no traceback."""
    import errno

    from segtool.base import atomic

    real_open = open

    class Full:
        def __init__(self, fh):
            self.fh = fh

        def __getattr__(self, name):
            return getattr(self.fh, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.fh.close()

        def write(self, data):
            if data:  # the empty write probe passes; the first real bytes do not fit
                raise OSError(errno.ENOSPC, "No space left on device")
            return 0

    monkeypatch.setattr(
        atomic, "open", lambda p, m="r", *a, **k: Full(real_open(p, m, *a, **k)), raising=False
    )
    with pytest.raises(
        UserInputError, match=r"disk full while writing .*config\.json|disk full while writing .*last\.pt"
    ):
        train(small_config(dataset, tmp_path / "run", epochs=1))
