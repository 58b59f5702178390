"""Atomic file writes: the one implementation checkpoints, training files and export outputs share.

A file written here is, at every instant (a kill, a full disk, a power cut with `fsync`), either
absent, its old version, or complete: the bytes go to a hidden temporary sibling that is renamed
over the real name (rename within one folder is atomic on POSIX and Windows).

Temporary names always fit: a legal file name (up to the file system's limit, usually 255 bytes)
must not fail because the temporary name adds a prefix and a suffix, so long names are shortened
(with a hash of the full name, so two long names never share a temporary). Every temporary name
starts with "." and ends with ".tmp" (`is_temp_name`), which is how `remove_temp_files` finds the
left-overs of a killed process.

Only the standard library is used (it is the bottom layer, `segtool.base`); errors are the plain
`OSError` of the failed call, after the temporary file was removed, so callers word the message.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import os
import re
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

__all__ = [
    "atomic_write",
    "atomic_writer",
    "describe_write_error",
    "fsync_dir",
    "is_no_space",
    "is_temp_name",
    "name_max",
    "remove_temp_files",
    "temp_sibling",
]

_SUFFIX = ".tmp"
_TEMP_RE = re.compile(r"^\..+\.tmp$", re.DOTALL)


def name_max(folder: str | os.PathLike) -> int:
    """Longest file name (bytes) the file system holding `folder` allows; 255 when it does not say."""
    try:
        return int(os.pathconf(os.fspath(folder), "PC_NAME_MAX"))
    except (AttributeError, OSError, ValueError):
        return 255


def temp_sibling(path: str | os.PathLike, *, limit: int | None = None) -> Path:
    """A fresh hidden temporary name beside `path` (`.NAME.<random>.tmp`) that fits the name limit.

    Args:
        path: the file the temporary will be renamed to.
        limit: the file-name limit in bytes (default: what the file system says, usually 255).
    """
    path = Path(path)
    token = secrets.token_hex(4)
    limit = limit or name_max(path.parent if str(path.parent) else ".")
    name = path.name
    full = f".{name}.{token}{_SUFFIX}"
    if len(os.fsencode(full)) <= limit:
        return path.with_name(full)
    # Too long: keep the start of the name (cut on a byte boundary; surrogateescape keeps any bytes
    # valid) and add a hash of the whole name so different long names get different temporaries.
    digest = hashlib.sha1(os.fsencode(name)).hexdigest()[:8]
    tail = f"~{digest}.{token}{_SUFFIX}"
    room = max(0, limit - 1 - len(tail))
    head = os.fsdecode(_cut_utf8(os.fsencode(name)[:room]))
    return path.with_name(f".{head}{tail}")


def _cut_utf8(data: bytes) -> bytes:
    """Drop a UTF-8 sequence cut in half at the end (purely cosmetic: any bytes would work)."""
    for back in range(1, min(4, len(data)) + 1):
        b = data[-back]
        if b < 0x80:
            return data
        if b >= 0xC0:  # lead byte: is its sequence complete?
            need = 2 if b < 0xE0 else 3 if b < 0xF0 else 4
            return data if back >= need else data[:-back]
    return data


def is_temp_name(name: str) -> bool:
    """True for names `temp_sibling` makes (and the older `.NAME.tmp` form)."""
    return bool(_TEMP_RE.match(name))


def remove_temp_files(folder: str | os.PathLike, *, recursive: bool = False) -> int:
    """Delete the temporary files a killed writer left in `folder`; returns how many.

    Only call it on folders this program owns (an export's output folders, a run folder): the
    names are only recognised by their form.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return 0
    removed = 0
    entries = folder.rglob(".*") if recursive else folder.glob(".*")
    for p in list(entries):
        if is_temp_name(p.name) and p.is_file():
            with contextlib.suppress(FileNotFoundError):
                p.unlink()
                removed += 1
    return removed


def fsync_dir(folder: str | os.PathLike) -> None:
    """Make a rename in `folder` survive a power cut (no-op where folders cannot be opened)."""
    try:
        fd = os.open(os.fspath(folder), os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


class _RecordingFile(io.RawIOBase):
    """A binary file that remembers the first OSError of a write.

    Writers like `torch.save` turn a failed write (full disk) into their own RuntimeError; the
    recorded OSError (with its errno) is what callers need to say "disk full".
    """

    def __init__(self, fh: BinaryIO) -> None:
        super().__init__()
        self._fh = fh
        self.error: OSError | None = None

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:  # type: ignore[override]
        try:
            return self._fh.write(data)
        except OSError as e:
            self.error = self.error or e
            raise

    def flush(self) -> None:
        try:
            self._fh.flush()
        except OSError as e:
            self.error = self.error or e
            raise

    def tell(self) -> int:
        return self._fh.tell()

    def seekable(self) -> bool:
        return False


@contextlib.contextmanager
def atomic_writer(path: str | os.PathLike, *, fsync: bool = True) -> Iterator[BinaryIO]:
    """Open a temporary sibling of `path` for binary writing; on a clean exit rename it over `path`.

    On any exception the temporary file is removed and nothing under `path` changes. When a writer
    wrapped its own error around a failed write (torch.save does), the underlying OSError is raised.

    Args:
        path: the final file.
        fsync: flush the data (and the folder entry) to disk before and after the rename, so a power
            cut cannot leave an empty file under the real name. Costs a few ms per file.
    """
    path = Path(path)
    tmp = temp_sibling(path)
    try:
        with open(tmp, "xb") as raw:
            fh = _RecordingFile(raw)
            try:
                yield fh  # type: ignore[misc]
                fh.flush()
                if fsync:
                    os.fsync(raw.fileno())
            except BaseException as e:
                if fh.error is not None and not isinstance(e, OSError):
                    raise fh.error from e
                raise
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    if fsync:
        fsync_dir(path.parent)


def atomic_write(
    path: str | os.PathLike, data: bytes | str, *, fsync: bool = True, encoding: str = "utf-8"
) -> Path:
    """Write `data` (bytes, or text in `encoding`) to `path` atomically; see `atomic_writer`."""
    if isinstance(data, str):
        data = data.encode(encoding)
    with atomic_writer(path, fsync=fsync) as fh:
        fh.write(data)
    return Path(path)


_NO_SPACE = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
_NO_PERMISSION = {errno.EACCES, errno.EPERM, errno.EROFS}


def is_no_space(exc: BaseException) -> bool:
    """True for errors (OSError, PyAV's errors) that mean the disk or the quota is full."""
    return getattr(exc, "errno", None) in _NO_SPACE


def describe_write_error(path: str | os.PathLike, exc: OSError, *, then: str = "") -> str:
    """A message for a failed write that names the file, the cause and the fix.

    Args:
        path: the file (or folder) that could not be written.
        exc: the error.
        then: what to do once the cause is fixed (e.g. "rerun with --resume"); added to the fix.
    """
    path = Path(path)
    code = getattr(exc, "errno", None)
    after = f", then {then}" if then else ""
    if code in _NO_SPACE:
        free = _free_space(path)
        return f"disk full while writing {str(path)!r}{free}; free some space or choose another -o{after}"
    if code in _NO_PERMISSION:
        return (
            f"cannot write {str(path)!r}: {exc.strerror or exc} (the folder is read-only or not yours); "
            f"choose a writable folder with -o{after}"
        )
    if code == errno.ENAMETOOLONG:
        limit = name_max(_existing_parent(path))
        size = len(os.fsencode(path.name))
        return (
            f"cannot write {str(path)!r}: the name is too long ({size} bytes; this file system allows {limit} "
            f"per name and about 4096 per path); shorten the file name or choose a shorter -o path{after}"
        )
    if code in (errno.ENOTDIR, errno.EEXIST):
        return (
            f"cannot write {str(path)!r}: a file is in the way where a folder is needed ({exc.strerror or exc}); "
            f"move that file or choose another -o{after}"
        )
    return f"cannot write {str(path)!r}: {exc.strerror or exc}; check the output folder and free space{after}"


def _existing_parent(path: Path) -> Path:
    for p in (path.parent, *path.parent.parents):
        if p.is_dir():
            return p
    return Path(".")


def _free_space(path: Path) -> str:
    try:
        free = shutil.disk_usage(_existing_parent(path)).free
    except OSError:
        return ""
    return f" ({free / 1e6:.1f} MB free)"
