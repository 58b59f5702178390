"""File-system helpers shared by the sinks: writable folders, atomic writes, disk-full messages."""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterator
from pathlib import Path

from segtool.base.atomic import atomic_write, describe_write_error
from segtool.core.errors import UserInputError

# Errors that mean "no room left" rather than a bug: the user can fix them and resume.
_NO_SPACE = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


def prepare_dir(folder: Path) -> Path:
    """Create `folder` (and parents) and prove a file can be created in it.

    Raises:
        UserInputError: the folder cannot be created or written; names it and suggests `-o`.
    """
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        # os.access() lies for root and for read-only mounts; creating a file is the real test.
        probe = folder / f".segtool-write-test-{os.getpid()}"
        probe.touch()
        probe.unlink()
    except OSError as exc:
        if exc.errno in _NO_SPACE:
            raise disk_full(folder, exc) from exc
        if exc.errno == errno.ENAMETOOLONG:
            raise UserInputError(describe_write_error(folder, exc)) from exc
        raise UserInputError(
            f"cannot write to output folder {str(folder)!r} ({exc.strerror or exc}); "
            f"choose a writable folder with -o"
        ) from exc
    return folder


def disk_full(path: Path, exc: BaseException) -> UserInputError:
    """The error to raise when writing `path` failed for lack of space."""
    return UserInputError(
        f"disk full while writing {str(path)!r} ({exc}); free space then rerun with --resume"
    )


def is_disk_full(exc: BaseException) -> bool:
    """True for OSError-like errors (PyAV's included) that mean the disk or quota is full."""
    return getattr(exc, "errno", None) in _NO_SPACE


@contextlib.contextmanager
def disk_full_as_user_error(path: Path) -> Iterator[None]:
    """Turn ENOSPC/EDQUOT raised inside the block into a `UserInputError` naming `path`."""
    try:
        yield
    except UserInputError:
        raise
    except Exception as exc:
        if is_disk_full(exc):
            raise disk_full(path, exc) from exc
        raise


def atomic_write_bytes(path: Path, data: bytes, *, fsync: bool = False) -> None:
    """Write `data` to `path` so that `path` is either absent/old or complete, never half-written
    (`models.atomic.atomic_write`: hidden temporary sibling whose name always fits, then rename).
    `fsync` also survives power loss, at a cost per file.

    Raises:
        UserInputError: the disk is full, or the name is too long (names the limit and the fix).
    """
    try:
        atomic_write(path, data, fsync=fsync)
    except OSError as exc:
        if exc.errno in _NO_SPACE:
            raise disk_full(path, exc) from exc
        if exc.errno == errno.ENAMETOOLONG:
            raise UserInputError(describe_write_error(path, exc)) from exc
        raise


def remove_quietly(*paths: Path) -> None:
    """Delete files that may not exist."""
    for p in paths:
        with contextlib.suppress(FileNotFoundError):
            p.unlink()
