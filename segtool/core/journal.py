"""Job journal: a job's identity, written into its output folder before its first output.

Why: a field laptop whose battery dies in the middle of a long export must be able to continue where
it stopped. Writing the summary only at the end made a killed job unrecognisable ("not a segtool
export"), and checking only a few options let a resume mix masks of two checkpoints. So every job
that writes into a folder (export, fragments) first writes `OUT/.segtool-<kind>.json` atomically:

    {"format": "segtool-job", "version": 1, "kind": "export", "state": "running",
     "identity": {... every input that changes the output ...},
     "outputs": ["masks", "coverage.csv", ...], "segtool": "0.x", "started": "2026-…Z"}

and `open_job` decides what may happen in a folder:

- empty or new folder: write the journal, start (also with `--resume`: nothing to continue yet).
- a journal of the same kind: `--resume` continues only when the identity is equal, else it refuses
  naming every input that differs; `--overwrite` removes the old job's outputs (the names listed in
  its journal and in the new one, nothing else) before writing the new journal; neither: refuse.
- an output name of this job but no journal (an older segtool, or files from elsewhere): `--resume`
  refuses; `--overwrite` removes those names; neither: refuse.
- `--resume` with `--overwrite`: a usage error.

The outputs themselves are then resumed from what is on disk (the sinks' business); the journal
only says *which* job the folder holds.

Usage (e.g. `segtool fragments`):

    job = open_job(out, "fragments", identity={"sources": [...], "checkpoint": fp, "min_size": 30},
                   outputs=["fragments.csv", "distribution.csv", "instances", "summary.json"],
                   resume=args.resume, overwrite=args.overwrite)
    if job.resumed: ...continue from the files on disk...
"""

from __future__ import annotations

import contextlib
import json
import shutil
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from segtool.base.atomic import atomic_write, describe_write_error, remove_temp_files
from segtool.base.errors import UserInputError

FORMAT = "segtool-job"
VERSION = 1

__all__ = ["Job", "journal_path", "open_job", "read_journal", "identity_diff"]


@dataclass(frozen=True)
class Job:
    """The job a folder now holds.

    Attributes:
        out: the output folder.
        kind: "export", "fragments", ...
        identity: the inputs that define the output (as written in the journal).
        resumed: True when an earlier run of the same job is being continued.
        journal: the journal's contents.
    """

    out: Path
    kind: str
    identity: dict[str, Any]
    resumed: bool
    journal: dict[str, Any] = field(default_factory=dict)

    @property
    def path(self) -> Path:
        return journal_path(self.out, self.kind)


def journal_path(out: str | Path, kind: str) -> Path:
    """`OUT/.segtool-<kind>.json`."""
    return Path(out) / f".segtool-{kind}.json"


def read_journal(out: str | Path, kind: str) -> dict[str, Any] | None:
    """The journal of `kind` in `out`, or None when there is none.

    Raises:
        UserInputError: it exists but cannot be read (names it and the fix).
    """
    path = journal_path(out, kind)
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise UserInputError(
            f"{path} is unreadable ({e}); replace the old job with --overwrite or choose another -o"
        ) from e
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise UserInputError(
            f"{path} is not a segtool job record; replace the old job with --overwrite or choose another -o"
        )
    return data


def identity_diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """Human-readable differences, one per input: "checkpoint: 3f2a… then, 91bc… now"."""
    out = []
    for key in sorted(set(old) | set(new), key=lambda k: (list(new).index(k) if k in new else len(new), k)):
        a, b = old.get(key, "(not recorded)"), new.get(key, "(not recorded)")
        if _plain(a) != _plain(b):
            out.append(f"{key}: {_short(a)} then, {_short(b)} now")
    return out


def open_job(
    out: str | Path,
    kind: str,
    identity: Mapping[str, Any],
    *,
    outputs: Iterable[str],
    resume: bool = False,
    overwrite: bool = False,
    version: str = "",
) -> Job:
    """Claim `out` for a job, as the module docstring says; the journal is on disk when this returns.

    Args:
        out: the output folder (created).
        kind: the job kind; also names the journal file.
        identity: JSON-able inputs that change the output; a resume must match them all.
        outputs: names (relative to `out`; files or folders) this job writes, including partial and
            summary files. `--overwrite` removes exactly these (and those the old journal lists).
        resume: continue the job in `out`.
        overwrite: replace the job in `out`.
        version: the program version, recorded.

    Raises:
        UserInputError: both flags; a folder that cannot be written; a folder holding another job or
            other files under the output names (without --overwrite); a resume whose inputs differ.
    """
    out = Path(out)
    if resume and overwrite:
        raise UserInputError(
            "--resume and --overwrite contradict each other (--resume continues the job in the output folder, "
            "--overwrite replaces it); pass only one"
        )
    identity = _plain(dict(identity))
    outputs = list(dict.fromkeys(outputs))
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserInputError(describe_write_error(out, e)) from e
    if not out.is_dir():
        raise UserInputError(f"{out} is a file, not a folder; choose another output folder with -o")
    old = read_journal(out, kind)
    present = [name for name in outputs if (out / name).exists()]
    what = f"a segtool {kind}"
    if old is not None and old.get("state") == "overwriting":
        if not overwrite:
            raise UserInputError(
                f"{out}: an --overwrite of the {kind} there was interrupted; run it again with --overwrite, or choose another -o"
            )
    if old is not None and not overwrite:
        if not resume:
            raise UserInputError(
                f"{out} already holds {what} ({journal_path(out, kind).name}); add --resume to continue it, "
                "--overwrite to replace it, or choose another -o"
            )
        diff = identity_diff(old.get("identity") or {}, identity)
        if diff:
            raise UserInputError(
                f"--resume: {out} holds {what} made with other inputs ({'; '.join(diff)}); resume with the same ones, "
                "use --overwrite to start again, or choose another -o"
            )
        remove_temp_files(out)
        return Job(out, kind, identity, True, old)
    if present and not overwrite:
        if resume:
            raise UserInputError(
                f"{out} holds {', '.join(present)} but no {journal_path(out, kind).name}, so it is not {what} "
                "this segtool can resume; use --overwrite to replace those files, or choose another -o"
            )
        raise UserInputError(
            f"{out} already holds {', '.join(present)} (from an earlier run or another program); add --overwrite "
            "to replace them, or choose another -o"
        )
    if old is not None or present:  # overwrite
        doomed = list(dict.fromkeys([*(old or {}).get("outputs", []), *outputs]))
        if old is not None:
            _write(out, kind, {**old, "state": "overwriting"})
        _remove_outputs(out, doomed)
    journal = {
        "format": FORMAT,
        "version": VERSION,
        "kind": kind,
        "state": "running",
        "identity": identity,
        "outputs": outputs,
        "segtool": version,
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    remove_temp_files(out)
    _write(out, kind, journal)
    return Job(out, kind, identity, False, journal)


def _write(out: Path, kind: str, journal: dict[str, Any]) -> None:
    path = journal_path(out, kind)
    try:
        # ASCII escapes keep file names that are not UTF-8 (surrogate escapes) exact and the file valid.
        atomic_write(path, json.dumps(journal, indent=2) + "\n")
    except OSError as e:
        raise UserInputError(describe_write_error(path, e)) from e


def _remove_outputs(out: Path, names: Iterable[str]) -> None:
    """Delete the listed outputs; only plain names inside `out` (a journal is data, not trusted paths)."""
    root = out.resolve()
    for name in names:
        target = out / name
        if (
            ".." in Path(name).parts
            or Path(name).is_absolute()
            or not target.parent.resolve().is_relative_to(root)
        ):
            continue
        try:
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)
            else:
                with contextlib.suppress(FileNotFoundError):
                    target.unlink()
        except OSError as e:
            raise UserInputError(
                f"--overwrite could not remove {target}: {e.strerror or e}; remove it yourself or choose another -o"
            ) from e


def _plain(value: Any) -> Any:
    """What JSON gives back (tuples become lists), so an identity compares equal to its stored self."""
    return json.loads(json.dumps(value, default=str))


def _short(value: Any) -> str:
    text = json.dumps(value, default=str, ensure_ascii=False) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 80 else text[:77] + "…"
