"""Detect, before Qt starts, that its X11 platform plugin cannot load, and name the packages to install.

On a fresh Linux desktop Qt aborts with "Could not load the Qt platform plugin "xcb"" and names only
xcb-cursor0, while the libraries actually missing may be libxcb-icccm4, libxcb-keysyms1 and others (seen
on a fresh install). `ldd` on the plugin lists every library that does not resolve; each maps to its
Debian/Ubuntu package. No Qt import here: this runs before the first PySide6 import.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

# shared library -> Debian/Ubuntu package (the same names on most apt-based distributions)
PACKAGES = {
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-util.so.1": "libxcb-util1",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxcb-xinerama.so.0": "libxcb-xinerama0",
    "libxcb-render.so.0": "libxcb-render0",
    "libxcb.so.1": "libxcb1",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libX11.so.6": "libx11-6",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libEGL.so.1": "libegl1",
    "libGL.so.1": "libgl1",
    "libOpenGL.so.0": "libopengl0",
    "libfontconfig.so.1": "libfontconfig1",
    "libfreetype.so.6": "libfreetype6",
    "libdbus-1.so.3": "libdbus-1-3",
    "libglib-2.0.so.0": "libglib2.0-0",
}
# What the README lists for a fresh desktop: the libraries the xcb plugin needs beyond a basic X install.
README_PACKAGES = (
    "libxcb-cursor0",
    "libxcb-icccm4",
    "libxcb-keysyms1",
    "libxcb-image0",
    "libxcb-render-util0",
    "libxcb-shape0",
    "libxcb-xkb1",
    "libxkbcommon-x11-0",
    "libegl1",
)


def xcb_plugin() -> Path | None:
    """PySide6's libqxcb.so, found without importing PySide6."""
    spec = importlib.util.find_spec("PySide6")
    if spec is None or not spec.submodule_search_locations:
        return None
    p = Path(list(spec.submodule_search_locations)[0]) / "Qt" / "plugins" / "platforms" / "libqxcb.so"
    return p if p.is_file() else None


def missing_libraries(ldd_output: str) -> list[str]:
    """Library names `ldd` reported as "not found", in order, without repeats."""
    out: list[str] = []
    for m in re.finditer(r"^\s*(\S+)\s+=>\s+not found", ldd_output, re.MULTILINE):
        if m.group(1) not in out:
            out.append(m.group(1))
    return out


def explain(missing: list[str]) -> str:
    """The message for missing libraries: the exact packages, and the command."""
    pkgs = [PACKAGES[lib] for lib in missing if lib in PACKAGES]
    unknown = [lib for lib in missing if lib not in PACKAGES]
    text = f"Qt's X11 platform plugin (xcb) cannot load: missing {', '.join(missing)}."
    if pkgs:
        text += f" Install them with:\n  sudo apt-get install {' '.join(pkgs)}"
    if unknown:
        text += f"\n(find the package for {', '.join(unknown)} with your distribution's package search)"
    return text + "\nOr run without a display: QT_QPA_PLATFORM=offscreen, or use the segtool command line."


def platform_problem(environ: dict[str, str] | None = None, ldd: str | None = None) -> str | None:
    """A message when the app would use the xcb plugin (Linux, an X display, no other platform chosen)
    and some of its libraries are missing; None otherwise (or when it cannot tell: no ldd, no plugin)."""
    env = os.environ if environ is None else environ
    if not sys.platform.startswith("linux"):
        return None
    chosen = env.get("QT_QPA_PLATFORM", "")
    if chosen and not chosen.startswith("xcb"):
        return None
    if not chosen and env.get("WAYLAND_DISPLAY") and not env.get("DISPLAY"):
        return None
    plugin = xcb_plugin()
    ldd = ldd or shutil.which("ldd")
    if plugin is None or ldd is None:
        return None
    try:
        res = subprocess.run([ldd, str(plugin)], capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    missing = missing_libraries(res.stdout)
    return explain(missing) if missing else None
