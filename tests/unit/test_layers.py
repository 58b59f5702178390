"""Layer contracts (docs/architecture.md): the import-linter contracts in pyproject.toml hold on this tree,
and they bite: a copy of the tree with one bad import breaks them.

import-linter is a test dependency (pyproject's `test` and `dev` extras); a missing one fails here rather
than skipping, so the layers are never silently unchecked.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import grimp
import importlinter  # noqa: F401 (fail at collection when the linter is missing, not later)
import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGES = (
    "segtool",
    "models",
    "training",
)  # folders to copy; segtool/models and segtool/training link to the last two


def lint_imports(root: Path) -> subprocess.CompletedProcess:
    """Run import-linter on the packages under `root` with root's pyproject.toml, in a fresh interpreter
    (so `root` comes first on the import path), without writing caches into the tree."""
    env = dict(os.environ, PYTHONPATH=str(root))
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "from importlinter.cli import lint_imports_command; lint_imports_command()",
            "--no-cache",
            "--no-logo",
            str(root / "pyproject.toml"),
        ],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_contracts_hold_on_this_tree():
    res = lint_imports(REPO)
    assert res.returncode == 0, f"import-linter contracts broken:\n{res.stdout}{res.stderr}"
    assert "0 broken" in res.stdout, res.stdout
    assert "KEPT" in res.stdout, res.stdout


@pytest.fixture
def tree_copy(tmp_path) -> Path:
    for pkg in PACKAGES:  # symlinks=True: the copy's segtool/models points at the copy's models/
        shutil.copytree(
            REPO / pkg, tmp_path / pkg, symlinks=True, ignore=shutil.ignore_patterns("__pycache__")
        )
    shutil.copy(REPO / "pyproject.toml", tmp_path)
    return tmp_path


def _add_import(root: Path, module: str, line: str) -> None:
    path = root / module
    path.write_text(path.read_text(encoding="utf-8") + f"\n{line}\n", encoding="utf-8")


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        ("segtool/core/overlay.py", "from PySide6 import QtGui", "Qt only in segtool.gui"),
        ("segtool/core/overlay.py", "import segtool.gui.render", "segtool's layers"),
        ("segtool/gui/render.py", "import segtool.commands.predict", "segtool's layers"),
        ("segtool/gui/wizard/wizard.py", "import segtool.gui.main_window", "segtool.gui's top"),
        ("training/metrics.py", "import segtool.core.frame", "segtool's layers"),
        ("models/classes.py", "import segtool.training.metrics", "segtool's layers"),
        ("segtool/base/atomic.py", "import segtool.models.config", "segtool's layers"),
        ("models/classes.py", "import numpy", "models imports only torch"),
        ("segtool/core/overlay.py", "import models.classes", "no import by the folders' top-level names"),
    ],
)
def test_a_bad_import_breaks_its_contract(tree_copy, module, line, contract):
    _add_import(tree_copy, module, line)
    res = lint_imports(tree_copy)
    assert res.returncode != 0, f"{line!r} in {module} passed the contracts:\n{res.stdout}"
    broken = [ln for ln in res.stdout.splitlines() if ln.rstrip().endswith("BROKEN")]
    assert any(ln.startswith(contract) for ln in broken), res.stdout


def test_a_new_segtool_module_needs_a_layer(tree_copy):
    """The segtool layers contract is exhaustive: a new top-level module fails until it is given a layer."""
    (tree_copy / "segtool" / "newthing.py").write_text("X = 1\n", encoding="utf-8")
    res = lint_imports(tree_copy)
    assert res.returncode != 0, res.stdout
    assert "newthing" in res.stdout, res.stdout


def test_models_imports_only_torch_torchvision_and_stdlib():
    """The allow-list a forbidden contract cannot express (it lists what is forbidden), on import-linter's
    own graph: every package segtool.models imports is torch, torchvision, segtool.base or the standard
    library (and timm in segtool.models.efficientnet_lite alone)."""
    graph = grimp.build_graph(
        "segtool", include_external_packages=True, cache_dir=None
    )  # no cache in the tree
    allowed = {"torch", "torchvision", "segtool.models", "segtool.base"} | set(sys.stdlib_module_names)
    # timm builds the EfficientNet-Lite networks (pure torch modules) and may be imported by that module
    # only, lazily (docs/dependencies.md); anywhere else in models it is an offender like any package.
    exceptions = {("segtool.models.efficientnet_lite", "timm")}

    def top(name: str) -> str:
        return ".".join(name.split(".")[:2]) if name.startswith("segtool.") else name.split(".")[0]

    imported = {
        (m, top(i))
        for m in graph.find_descendants("segtool.models") | {"segtool.models"}
        for i in graph.find_modules_directly_imported_by(m)
    }
    offenders = sorted((m, t) for m, t in imported if t not in allowed and (m, t) not in exceptions)
    assert offenders == [], (
        f"models/ imports beyond torch, torchvision, base and the standard library: {offenders}"
    )
