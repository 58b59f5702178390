"""`OUT/batch.json`: the state of every source of a batch, written atomically after each change.

Only one process writes a batch file (the parent of local workers, the Ray driver); workers report
to it. A shard writes `OUT/batch-I-of-N.json` instead, so shards sharing one OUT never overwrite each
other; `merge_batches` (behind `segtool batch-status`) joins the files into one report.

    state = BatchState.create(out, items, command="predict", settings={...}, resume=args.resume)
    state.update("clip", state="running")
    state.update("clip", state="complete", frames_written=101, seconds=9.3)

The file (`format: segtool-batch`, version 1):
    {"command", "settings", "fingerprint", "total_sources", "shard": {"index", "count"} | null,
     "sources": [{"source", "name", "output", "state", "frames_written", "frames_expected", "seconds",
                  "message", "attempts", "worker"}],
     "counts": {state: n}, "frames_written", "complete", "started", "updated"}
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from segtool.core.batch.expand import BatchItem
from segtool.core.errors import UserInputError
from segtool.core.sinks._files import atomic_write_bytes, prepare_dir

STATES = ("pending", "running", "complete", "partial", "failed")
FORMAT = "segtool-batch"
BATCH_FILE = "batch.json"
_SHARD_FILE = re.compile(r"batch-(\d+)-of-(\d+)\.json$")
# When two files report the same source (a shard run twice), the furthest state wins.
_RANK = {"complete": 4, "partial": 3, "running": 2, "failed": 1, "pending": 0}


@dataclass
class SourceState:
    source: str
    name: str
    output: str  # folder relative to OUT (the batch file's folder)
    state: str = "pending"
    frames_written: int = 0
    frames_expected: int | None = None
    seconds: float = 0.0
    message: str = ""
    attempts: int = 0
    worker: str = ""


# --- the one reader of batch files (resume and batch-status) -----------------------------------------

_FIX = "restore it from the batch's own run, or delete it and start again (--overwrite)"
_SOURCE_TYPES: dict[str, tuple[type, ...]] = {
    "source": (str,),
    "name": (str,),
    "output": (str,),
    "state": (str,),
    "frames_written": (int,),
    "frames_expected": (int, type(None)),
    "seconds": (int, float),
    "message": (str,),
    "attempts": (int,),
    "worker": (str,),
}


def _bad(path: str | Path, where: str, value: Any, want: str) -> UserInputError:
    shown = repr(value)
    shown = shown if len(shown) <= 60 else shown[:57] + "..."
    return UserInputError(
        f"{path}: {where} is {shown}, expected {want}; the file was edited or damaged — {_FIX}"
    )


def read_batch_file(path: str | Path) -> dict[str, Any]:
    """Read and check a batch file (`batch.json` or a shard's) against the format in the module docstring.

    Raises:
        UserInputError: unreadable, not JSON, not a segtool batch file, or a field of the wrong type or
            value — naming the file, the field and its value, and the fix.
    """
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise UserInputError(f"{path} is unreadable ({e}); {_FIX}") from e
    if not isinstance(doc, dict):
        raise _bad(path, "the whole file", doc, "a JSON object")
    if doc.get("format") != FORMAT:
        raise UserInputError(f'{path} is not a segtool batch file (no "format": "{FORMAT}"); {_FIX}')
    for key, types, want in (
        ("command", (str,), "a text"),
        ("settings", (dict,), "an object"),
        ("fingerprint", (str,), "a text"),
        ("total_sources", (int,), "a whole number >= 0"),
        ("sources", (list,), "a list of sources"),
    ):
        v = doc.get(key)
        if not isinstance(v, types) or isinstance(v, bool) or (key == "total_sources" and v < 0):
            raise _bad(path, f'"{key}"', v, want)
    shard = doc.get("shard")
    if shard is not None:
        ok = isinstance(shard, dict) and all(
            isinstance(shard.get(k), int) and not isinstance(shard.get(k), bool) for k in ("index", "count")
        )
        if not ok or not 1 <= shard["index"] <= shard["count"]:
            raise _bad(path, '"shard"', shard, 'null or {"index": I, "count": N} with 1 <= I <= N')
    names: set[str] = set()
    for i, s in enumerate(doc["sources"]):
        where = f'"sources"[{i}]'
        if not isinstance(s, dict):
            raise _bad(path, where, s, "an object")
        for key, types in _SOURCE_TYPES.items():
            v = s.get(key)
            if key not in s and key not in ("source", "name", "state"):
                continue  # optional (an older segtool's file may lack it): the default applies
            if not isinstance(v, types) or isinstance(v, bool):
                raise _bad(
                    path,
                    f'{where}["{key}"]',
                    v,
                    " or ".join("null" if t is type(None) else t.__name__ for t in types),
                )
        for key in ("frames_written", "frames_expected", "attempts", "seconds"):
            if isinstance(s.get(key), (int, float)) and s[key] < 0:
                raise _bad(path, f'{where}["{key}"]', s[key], "a number >= 0")
        if s["state"] not in STATES:
            raise _bad(path, f'{where}["state"]', s["state"], f"one of {', '.join(STATES)}")
        if not s["name"] or s["name"] in names or "/" in s["name"] or s["name"] in (".", ".."):
            raise _bad(path, f'{where}["name"]', s["name"], "a unique folder name")
        names.add(s["name"])
    return doc


def parse_shard(text: str) -> tuple[int, int]:
    """`"I/N"` → (I, N) with 1 <= I <= N (shards count from 1, like `sbatch --array=1-N`)."""
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text or "")
    if not m or not (1 <= int(m.group(1)) <= int(m.group(2))):
        raise UserInputError(f"--shard {text!r}: write I/N with 1 <= I <= N, e.g. --shard 1/4 … --shard 4/4")
    return int(m.group(1)), int(m.group(2))


def select_shard(items: Sequence[BatchItem], index: int, count: int) -> list[BatchItem]:
    """Shard `index` of `count` (1-based): every count-th source of the full list, starting at index-1.

    Round-robin over the deterministic expanded list, so the shards are disjoint, their union is the
    whole batch, and long and short videos (usually grouped by name) spread over the machines."""
    return [it for k, it in enumerate(items) if k % count == index - 1]


def fingerprint(items: Iterable[BatchItem]) -> str:
    """Identity of a whole batch's source list: shards of one batch share it. Built from the output
    names only, so machines that mount the same videos at other paths still agree."""
    h = hashlib.sha256()
    for it in items:
        h.update(f"{it.name}\n".encode())
    return h.hexdigest()[:16]


def batch_file_name(shard: tuple[int, int] | None) -> str:
    return BATCH_FILE if shard is None else f"batch-{shard[0]}-of-{shard[1]}.json"


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


@dataclass
class BatchState:
    """The batch file's contents, kept in memory and written whole after each change."""

    out: Path
    command: str
    settings: dict[str, Any]
    fingerprint: str
    total_sources: int
    shard: tuple[int, int] | None
    sources: list[SourceState]
    started: str = field(default_factory=_now)
    _t0: float = field(default_factory=time.monotonic, repr=False)

    @property
    def path(self) -> Path:
        return self.out / batch_file_name(self.shard)

    @classmethod
    def create(
        cls,
        out: str | Path,
        items: Sequence[BatchItem],
        *,
        command: str,
        settings: dict[str, Any],
        all_items: Sequence[BatchItem] | None = None,
        shard: tuple[int, int] | None = None,
        resume: bool = False,
        overwrite: bool = False,
    ) -> BatchState:
        """Start (or, with `resume`, reopen) the batch file in OUT and write it.

        Args:
            items: the sources this process runs (a shard's share, or all).
            settings: what must match to resume (checkpoint, output options).
            all_items: the whole batch before sharding (default `items`).

        Raises:
            UserInputError: OUT already holds a batch and neither resume nor overwrite was asked, or the
                batch to resume had other settings or another source list.
        """
        out = prepare_dir(Path(out))
        all_items = list(all_items if all_items is not None else items)
        state = cls(
            out=out,
            command=command,
            settings=dict(settings),
            fingerprint=fingerprint(all_items),
            total_sources=len(all_items),
            shard=shard,
            sources=[SourceState(it.source, it.name, it.name) for it in items],
        )
        if state.path.exists() and not overwrite:
            if not resume:
                raise UserInputError(
                    f"{out} already holds a batch ({state.path.name} is there); add --resume to continue it "
                    "(complete sources are skipped), --overwrite to redo it, or choose another -o"
                )
            state._adopt(state.path)
        state.save()
        return state

    def _adopt(self, path: Path) -> None:
        old = read_batch_file(path)
        if old.get("settings") != self.settings or old.get("command") != self.command:
            mine, theirs = (
                {"command": self.command, **self.settings},
                {"command": old.get("command"), **(old.get("settings") or {})},
            )
            diff = ", ".join(
                f"{k}: {theirs.get(k)!r} then, {mine.get(k)!r} now"
                for k in mine
                if mine.get(k) != theirs.get(k)
            )
            raise UserInputError(
                f"--resume: {path} was run with other settings ({diff or 'differ'}); use the same ones or another -o"
            )
        if old.get("fingerprint") != self.fingerprint:
            raise UserInputError(
                f"--resume: the SOURCE arguments now name other sources than {path} records "
                f"({old.get('total_sources')} then, {self.total_sources} now, or other files); give the same SOURCEs, "
                "or start a new batch in another -o"
            )
        self.started = old.get("started", self.started)
        by_name = {s.get("name"): s for s in old.get("sources", [])}
        for s in self.sources:
            prev = by_name.get(s.name)
            if prev:
                for k in (
                    "state",
                    "frames_written",
                    "frames_expected",
                    "seconds",
                    "message",
                    "attempts",
                    "worker",
                ):
                    if k in prev:
                        setattr(s, k, prev[k])
                if s.state == "running":  # killed while it ran: its folder resumes like a partial one
                    s.state, s.message = "partial", "interrupted (the batch was stopped while it ran)"

    # --- changes ---------------------------------------------------------------------------------

    def get(self, name: str) -> SourceState:
        for s in self.sources:
            if s.name == name:
                return s
        raise KeyError(name)

    def update(self, name: str, **fields: Any) -> SourceState:
        s = self.get(name)
        for k, v in fields.items():
            if not hasattr(s, k):
                raise AttributeError(k)
            setattr(s, k, v)
        if s.state not in STATES:
            raise ValueError(f"unknown state {s.state!r}")
        self.save()
        return s

    # --- summary ---------------------------------------------------------------------------------

    def counts(self) -> dict[str, int]:
        return {k: sum(1 for s in self.sources if s.state == k) for k in STATES}

    @property
    def complete(self) -> bool:
        return all(s.state == "complete" for s in self.sources)

    def problems(self) -> list[SourceState]:
        """Sources that are partial or failed (exit code 1 when any)."""
        return [s for s in self.sources if s.state in ("partial", "failed")]

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": 1,
            "command": self.command,
            "settings": self.settings,
            "fingerprint": self.fingerprint,
            "total_sources": self.total_sources,
            "shard": None if self.shard is None else {"index": self.shard[0], "count": self.shard[1]},
            "sources": [asdict(s) for s in self.sources],
            "counts": self.counts(),
            "frames_written": sum(s.frames_written for s in self.sources),
            "complete": self.complete,
            "started": self.started,
            "updated": _now(),
            "seconds": round(time.monotonic() - self._t0, 3),
        }

    def save(self) -> Path:
        text = json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n"
        atomic_write_bytes(self.path, text.encode("utf-8"), fsync=True)
        return self.path


# --- reading and merging (segtool batch-status) ----------------------------------------------------


def find_batch_files(folders: Sequence[str | Path]) -> list[Path]:
    """`batch.json` and `batch-I-of-N.json` files in each folder (a file path is taken as it is)."""
    found: list[Path] = []
    for f in map(Path, folders):
        if f.is_file():
            found.append(f)
            continue
        if not f.is_dir():
            raise UserInputError(
                f"{str(f)!r} does not exist; give the -o folder of a batch (or its batch.json)"
            )
        here = sorted(p for p in f.iterdir() if p.name == BATCH_FILE or _SHARD_FILE.fullmatch(p.name))
        if not here:
            raise UserInputError(
                f"{str(f)!r} holds no batch.json or batch-I-of-N.json; is it the -o folder of a batch?"
            )
        found += here
    return found


def merge_batches(files: Sequence[Path]) -> dict[str, Any]:
    """Join batch files (shards of one batch, or one whole batch) into one report.

    Returns:
        {"sources": [...each with "output" made absolute...], "counts", "total_sources", "missing": n
         sources no file reports, "missing_shards": ["3/4", ...], "problems": [...partial/failed...],
         "fingerprints": [...], "files": [...], "frames_written", "complete"}.

    Raises:
        UserInputError: a file is unreadable or not a segtool batch file.
    """
    docs = [(Path(f), read_batch_file(f)) for f in files]
    by_name: dict[str, dict[str, Any]] = {}
    for f, d in docs:
        for s in d.get("sources", []):
            s = dict(s, output=str(f.parent / s.get("output", s["name"])), file=str(f))
            old = by_name.get(s["name"])
            if old is None or _RANK.get(s.get("state"), 0) > _RANK.get(old.get("state"), 0):
                by_name[s["name"]] = s
    sources = list(by_name.values())
    total = max((d.get("total_sources", 0) for _, d in docs), default=0)
    shard_counts = {d["shard"]["count"] for _, d in docs if d.get("shard")}
    present = {(d["shard"]["index"], d["shard"]["count"]) for _, d in docs if d.get("shard")}
    missing_shards = [
        f"{i}/{n}" for n in sorted(shard_counts) for i in range(1, n + 1) if (i, n) not in present
    ]
    counts = {k: sum(1 for s in sources if s.get("state") == k) for k in STATES}
    missing = max(0, total - len(sources))
    return {
        "files": [str(f) for f, _ in docs],
        "fingerprints": sorted({d.get("fingerprint") for _, d in docs}),
        "total_sources": total,
        "sources": sources,
        "counts": counts,
        "missing": missing,
        "missing_shards": missing_shards,
        "problems": [s for s in sources if s.get("state") in ("partial", "failed")],
        "frames_written": sum(int(s.get("frames_written") or 0) for s in sources),
        "complete": missing == 0 and all(s.get("state") == "complete" for s in sources) and bool(sources),
    }
