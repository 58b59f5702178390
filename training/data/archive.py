"""Safe extraction of dataset archives (CVAT exports are zips) into a cache folder."""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import tempfile
import zipfile
import zlib
from pathlib import Path, PurePosixPath

from segtool.base.atomic import describe_write_error
from segtool.base.errors import UserInputError


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


#: An entry that expands more than this many times (and to more than MIN_BOMB_BYTES) is refused: real
#: images and masks are already compressed (ratio ~1), label text files reach ~10; zip bombs reach 1000.
MAX_RATIO = 100
MIN_BOMB_BYTES = 16 << 20
SPACE_MARGIN = 64 << 20  # left free on the cache's disk after extraction


def check_zip_budget(path: Path, zf: zipfile.ZipFile, dest_dir: Path) -> int:
    """Check the declared sizes before extracting anything; returns the bytes extraction will write.

    Raises:
        UserInputError: an entry expands suspiciously (a zip bomb), or the cache's disk has no room.
    """
    total = 0
    for info in zf.infolist():
        if info.is_dir():
            continue
        total += info.file_size
        ratio = info.file_size / max(1, info.compress_size)
        if info.file_size > MIN_BOMB_BYTES and ratio > MAX_RATIO:
            raise UserInputError(
                f"refusing to extract {path}: entry {info.filename!r} would expand {ratio:.0f}x "
                f"({info.compress_size / 1e6:.1f} MB to {info.file_size / 1e6:.0f} MB), which datasets never do "
                "(images and masks are already compressed); check where the archive came from, or extract it "
                "yourself and pass the folder"
            )
    free = shutil.disk_usage(dest_dir).free
    if total + SPACE_MARGIN > free:
        raise UserInputError(
            f"not enough space to extract {path}: it holds {total / 1e6:.0f} MB, {dest_dir} has {free / 1e6:.0f} MB "
            "free; free some space, set SEGTOOL_CACHE to a folder on a bigger disk, or extract it yourself and "
            "pass the folder"
        )
    return total


def _copy_with_budget(src, out, declared: int, name: str, path: Path) -> None:
    """Copy one entry, never writing more than it declared (a lying header cannot fill the disk)."""
    left = declared
    while True:
        chunk = src.read(min(1 << 20, left + 1))
        if not chunk:
            return
        left -= len(chunk)
        if left < 0:
            raise UserInputError(
                f"refusing to extract {path}: entry {name!r} holds more data than its header declares "
                f"({declared} bytes); the archive is damaged or crafted — re-create it"
            )
        out.write(chunk)


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
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserInputError(
            describe_write_error(dest.parent, e) + " (or set SEGTOOL_CACHE to a writable folder)"
        ) from e
    with check_zip(path) as zf:
        check_zip_budget(path, zf, dest.parent)
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
                    _copy_with_budget(src, out, info.file_size, info.filename, path)
            try:
                tmp.rename(dest)
            except OSError:  # another process won the race; theirs is complete
                shutil.rmtree(tmp, ignore_errors=True)
        except OSError as e:  # a full or read-only cache disk: say which folder and what to do
            shutil.rmtree(tmp, ignore_errors=True)
            raise UserInputError(
                f"could not extract {path}: "
                + describe_write_error(getattr(e, "filename", None) or tmp, e)
                + " (or set SEGTOOL_CACHE to a folder on another disk)"
            ) from e
        except (zipfile.BadZipFile, EOFError, zlib.error, NotImplementedError, RuntimeError, ValueError) as e:
            # NotImplementedError: an unknown compression method; RuntimeError: encrypted; ValueError: a NUL in a name
            shutil.rmtree(tmp, ignore_errors=True)
            raise UserInputError(
                f"{path} is damaged or unsupported ({e}); re-download or re-export it"
            ) from e
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return dest
