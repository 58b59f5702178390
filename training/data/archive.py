"""Safe extraction of dataset archives (CVAT exports are zips) into a cache folder."""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import tempfile
import zipfile
from pathlib import Path, PurePosixPath

from models.errors import UserInputError


def cache_root() -> Path:
    """Where archives are extracted: $SEGTOOL_CACHE, else $XDG_CACHE_HOME/segtool, else ~/.cache/segtool."""
    env = os.environ.get("SEGTOOL_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or (Path.home() / ".cache")
    return Path(base) / "segtool"


def _unsafe_reason(info: zipfile.ZipInfo) -> str | None:
    name = info.filename.replace("\\", "/")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        return "is an absolute path"
    if ".." in PurePosixPath(name).parts:
        return "contains '..'"
    if stat.S_ISLNK(info.external_attr >> 16):
        return "is a symbolic link"
    return None


def check_zip(path: Path) -> zipfile.ZipFile:
    """Open `path` as a zip and refuse it when any entry would land outside the extraction folder."""
    try:
        zf = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        raise UserInputError(
            f"cannot open {path} as a zip archive: {exc} — re-download or re-export it"
        ) from exc
    for info in zf.infolist():
        reason = _unsafe_reason(info)
        if reason:
            zf.close()
            raise UserInputError(
                f"refusing to extract {path}: entry {info.filename!r} {reason} and would be written outside "
                "the extraction folder — re-create the archive with relative paths only"
            )
    return zf


def extract_zip(path: Path) -> Path:
    """Extract `path` once into the cache (keyed by path, size and mtime) and return the folder.

    Extraction goes to a temporary sibling that is renamed into place, so an interrupted or concurrent
    extraction never leaves a half-written dataset behind.
    """
    path = Path(path).resolve()
    st = path.stat()
    key = hashlib.sha1(f"{path}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()[:12]
    safe_stem = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in path.stem)[:60]
    dest = cache_root() / "datasets" / f"{safe_stem}-{key}"
    if dest.is_dir():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    with check_zip(path) as zf:
        tmp = Path(tempfile.mkdtemp(prefix=".extract-", dir=dest.parent))
        try:
            for info in zf.infolist():
                target = (tmp / info.filename.replace("\\", "/")).resolve()
                if tmp.resolve() not in target.parents and target != tmp.resolve():
                    raise UserInputError(
                        f"refusing to extract {path}: entry {info.filename!r} escapes the folder"
                    )
                if info.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, open(target, "wb") as out:
                    shutil.copyfileobj(src, out)
            try:
                tmp.rename(dest)
            except OSError:  # another process won the race; theirs is complete
                shutil.rmtree(tmp, ignore_errors=True)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return dest
