"""Layer contracts (ARCHITECTURE.md): Qt only in segtool/gui; models/ and training/ never import segtool;
models/ imports only torch, torchvision and the standard library."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def _py_files(*folders: str) -> list[Path]:
    files = [p for f in folders for p in (REPO / f).rglob("*.py")]
    assert files, f"no python files under {folders}"
    return files


def test_qt_only_in_gui():
    offenders = [
        str(p.relative_to(REPO))
        for p in _py_files("segtool", "models", "training")
        if {"PySide6", "shiboken6", "pyqtgraph"} & _imports(p) and "gui" not in p.relative_to(REPO).parts[:2]
    ]
    assert offenders == [], f"Qt imported outside segtool/gui: {offenders}"


def test_lower_layers_do_not_import_the_app():
    offenders = [str(p.relative_to(REPO)) for p in _py_files("models", "training") if "segtool" in _imports(p)]
    assert offenders == [], f"models/ or training/ import segtool: {offenders}"


def test_models_depends_on_torch_only():
    allowed = {"torch", "torchvision", "models", "__future__"} | set(sys.stdlib_module_names)
    offenders = {str(p.relative_to(REPO)): sorted(_imports(p) - allowed) for p in _py_files("models")}
    assert {k: v for k, v in offenders.items() if v} == {}
