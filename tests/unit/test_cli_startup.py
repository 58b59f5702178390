"""`segtool --help`, `--version` and usage errors answer without importing torch or Qt (they took 6.5 s,
1.9× `import torch`, when the parser pulled torch in through `models`)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PROBE = (
    "import sys\nfrom segtool.cli import main\ntry:\n    code = main(sys.argv[1:])\nexcept SystemExit as e:\n"
    "    code = e.code\nheavy = [m for m in ('torch', 'torchvision', 'PySide6', 'cv2', 'av') if m in sys.modules]\n"
    "print('HEAVY', ','.join(heavy))\nsys.exit(code)\n"
)


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["--help"], 0),
        (["--version"], 0),
        (["predict", "--help"], 0),
        (["train", "--help"], 0),
        (["gui", "--help"], 0),
        (["predict", "x.mp4"], 2),
        (["--no-such-option"], 2),
        (["frobnicate"], 2),
    ],
)
def test_light_commands_do_not_import_torch_or_qt(args, code):
    r = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
    )
    assert r.returncode == code, r.stderr
    assert r.stdout.strip().splitlines()[-1] == "HEAVY", r.stdout[-300:]


def test_app_module_imports_without_torch():
    code = "import sys, segtool.gui.app, segtool.gui.startup; print('torch' in sys.modules)"
    r = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
    )
    assert r.stdout.strip() == "False", r.stderr
