"""The installed package takes no generic top-level names: models/ and training/ install as segtool.models
and segtool.training, so a user's project with its own `models` or `training` package works beside it.

Built and installed for real: a wheel of this checkout goes into a fresh virtual environment (no pip
inside it; the project's pip installs into it), which reaches torch and the other dependencies through
a path file naming this environment's site-packages (a path line does not run that folder's own .pth
files, so this checkout's editable install stays out of it).
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

from tests.helpers import make_small_checkpoint

REPO = Path(__file__).resolve().parents[2]


def _run(cmd: list[str], cwd: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(cwd), "SEGTOOL_CACHE": str(cwd / "cache")}
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(out),
            str(REPO),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if res.returncode != 0:
        pytest.fail(f"building the wheel failed:\n{res.stdout}{res.stderr}")
    (path,) = out.glob("segtool-*.whl")
    return path


def test_the_wheel_holds_only_segtool(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names if not n.startswith("segtool-")}
    assert tops == {"segtool"}, tops
    assert "segtool/models/checkpoint.py" in names
    assert "segtool/training/trainer.py" in names
    assert "segtool/base/errors.py" in names


def test_a_project_with_its_own_models_and_training_packages(wheel, tmp_path):
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False)
    py = env_dir / "bin" / "python"
    clean = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # the checkout must not look installed
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(py),
            "install",
            "--no-deps",
            "--ignore-installed",
            "-q",
            str(wheel),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=clean,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    site = Path(
        subprocess.check_output(
            [str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], text=True
        ).strip()
    )
    (site / "segtool_test_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    project = tmp_path / "project"  # a typical ML project: its own models/ and training/ packages
    for name in ("models", "training"):
        (project / name).mkdir(parents=True)
        (project / name / "__init__.py").write_text(
            f'raise ImportError("the project\'s own {name} package")\n'
        )
    ckpt, _ = make_small_checkpoint(project / "tiny.pt")

    res = _run([str(py), "-m", "segtool", "info", str(ckpt)], project)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "tiny.pt" in res.stdout or "classes" in res.stdout.lower(), res.stdout
    where = _run(
        [str(py), "-c", "import segtool, segtool.models, segtool.training.trainer as t; print(t.__file__)"],
        project,
    )
    assert where.returncode == 0, where.stderr
    assert where.stdout.strip().startswith(str(site)), where.stdout  # the installed copy, not the checkout
