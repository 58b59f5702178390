"""Qt platform-plugin check: missing libraries from `ldd` become the exact packages to install."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from segtool.gui.qt_platform import explain, missing_libraries, platform_problem, xcb_plugin

LDD = """\
\tlinux-vdso.so.1 (0x00007ffd)
\tlibQt6XcbQpa.so.6 => /venv/PySide6/Qt/lib/libQt6XcbQpa.so.6 (0x00007f)
\tlibxcb-cursor.so.0 => /lib/x86_64-linux-gnu/libxcb-cursor.so.0 (0x00007f)
\tlibxcb-icccm.so.4 => not found
\tlibxcb-keysyms.so.1 => not found
\tlibxcb-icccm.so.4 => not found
\tlibweird.so.9 => not found
"""


def test_missing_libraries_map_to_packages():
    missing = missing_libraries(LDD)
    assert missing == ["libxcb-icccm.so.4", "libxcb-keysyms.so.1", "libweird.so.9"]
    text = explain(missing)
    assert "sudo apt-get install libxcb-icccm4 libxcb-keysyms1" in text
    assert "libweird.so.9" in text  # only what is really missing
    assert "libxcb-cursor0" not in text


def test_fake_ldd_reports_the_problem(tmp_path):
    fake = tmp_path / "ldd"
    fake.write_text(f"#!/bin/sh\ncat <<'X'\n{LDD}X\n")
    fake.chmod(0o755)
    if xcb_plugin() is None or not sys.platform.startswith("linux"):
        return  # nothing to check without PySide6's xcb plugin
    msg = platform_problem({"DISPLAY": ":0"}, ldd=str(fake))
    assert msg
    assert "libxcb-keysyms1" in msg
    assert platform_problem({"DISPLAY": ":0", "QT_QPA_PLATFORM": "offscreen"}, ldd=str(fake)) is None


def test_this_machine_has_what_the_plugin_needs():
    # Real ldd on the real plugin: nothing missing here (the test environment installs the packages).
    assert platform_problem({"DISPLAY": ":0"}) is None


def test_readme_lists_the_packages():
    from segtool.gui.qt_platform import README_PACKAGES

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert all(p in readme for p in README_PACKAGES)


def test_app_exits_2_with_the_packages_instead_of_aborting(tmp_path):
    fake = tmp_path / "ldd"
    fake.write_text(f"#!/bin/sh\ncat <<'X'\n{LDD}X\n")
    fake.chmod(0o755)
    code = (
        "import sys, segtool.gui.qt_platform as q, shutil;"
        f"shutil.which = lambda name: {str(fake)!r};"
        "from segtool.gui.app import main; rc = main(['--no-demo']);"
        "print('torch' in sys.modules, 'PySide6.QtWidgets' in sys.modules); sys.exit(rc)"
    )
    env = {"DISPLAY": ":99", "PATH": "/usr/bin:/bin", "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    if xcb_plugin() is None:
        return
    assert r.returncode == 2, r.stderr
    assert "sudo apt-get install libxcb-icccm4 libxcb-keysyms1" in r.stderr
    assert r.stdout.split() == ["False", "False"]  # nothing heavy loaded before the check
