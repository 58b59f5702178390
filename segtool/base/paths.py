"""Where segtool keeps files of its own: one cache folder, overridable by the environment."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """segtool's cache folder: `$SEGTOOL_CACHE`, else `$XDG_CACHE_HOME/segtool`, else `~/.cache/segtool`.

    The demo clip (`segtool.demo`) and the runtimes' converted models (`segtool.core.runtimes.cache`) live
    under it.
    """
    if os.environ.get("SEGTOOL_CACHE"):
        return Path(os.environ["SEGTOOL_CACHE"]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "segtool"
