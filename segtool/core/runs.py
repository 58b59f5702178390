"""Training runs kept in a runs folder: list them and read their config, history and report (no Qt).

A run folder is what `segtool train -o RUN` (or the app's training wizard) writes: `config.json`,
`history.csv`, `report.json`, `last.pt`, `best.pt` (docs/training.md). This module only reads the small
text files, so listing a hundred runs never loads a checkpoint.

    root = default_runs_dir()                  # $SEGTOOL_RUNS, else the user's data folder
    for run in list_runs([root]):
        print(run.name, run.best_miou, run.schedule)
"""

from __future__ import annotations

import csv
import json
import os
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

RUNS_ENV = "SEGTOOL_RUNS"
# Settings that never explain a difference in results (where the files went, how many loader processes).
NOT_COMPARED = ("data", "output", "workers", "images", "classes", "val")


def default_runs_dir() -> Path:
    """Where runs are kept: `$SEGTOOL_RUNS`, else the per-user data folder.

    Linux `~/.local/share/segtool/runs` (or `$XDG_DATA_HOME/segtool/runs`), macOS
    `~/Library/Application Support/segtool/runs`, Windows `%LOCALAPPDATA%\\segtool\\runs`.
    """
    env = os.environ.get(RUNS_ENV)
    if env:
        return Path(env).expanduser()
    home = Path.home()
    if sys.platform == "darwin":
        base = home / "Library" / "Application Support"
    elif os.name == "nt":
        base = Path(os.environ.get("LOCALAPPDATA", home / "AppData" / "Local"))
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or home / ".local" / "share")
    return base / "segtool" / "runs"


def new_run_dir(root: str | os.PathLike, label: str, *, now: float | None = None) -> Path:
    """A fresh, not yet existing folder `root/<YYYY-mm-dd_HHMM>_<label>` (suffixed -2, -3 … if taken)."""
    stamp = time.strftime("%Y-%m-%d_%H%M", time.localtime(now))
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in label).strip("_") or "run"
    return unused_path(Path(root) / f"{stamp}_{safe}", "-")


def unused_path(base: Path, sep: str) -> Path:
    """`base` if nothing is there, else the first of `base<sep>2`, `base<sep>3`, … that is free."""
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}{sep}{n}")
    return path


def _num(v: str | None) -> float | None:
    if v is None or v == "":
        return None
    try:
        return float(v)
    except ValueError:
        return None


def read_history(run_dir: str | os.PathLike) -> list[dict[str, float | None]]:
    """Rows of `history.csv` as numbers (empty cells → None); [] when there is none yet."""
    path = Path(run_dir) / "history.csv"
    try:
        with path.open(newline="", encoding="utf-8") as f:
            return [{k: _num(v) for k, v in row.items() if k} for row in csv.DictReader(f)]
    except (OSError, csv.Error):
        return []


def read_json(path: str | os.PathLike) -> dict[str, Any] | None:
    """A JSON object from `path`, or None when it is missing or damaged (a run being written)."""
    try:
        obj = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return obj if isinstance(obj, dict) else None


def read_report(run_dir: str | os.PathLike) -> dict[str, Any] | None:
    """`report.json` (the best epoch's validation report), or None."""
    return read_json(Path(run_dir) / "report.json")


def describe_schedule(cfg: dict[str, Any]) -> str:
    """One line: epochs, crop, optimizer and learning rate, batch size (what a comparison needs)."""
    opt = cfg.get("optimizer", "sgd")
    lr = cfg.get("lr") or (0.01 if opt == "sgd" else 1e-4)
    return (
        f"{cfg.get('epochs', '?')} ep · crop {cfg.get('crop_size', '?')} · {opt} lr {lr:g} · "
        f"batch {cfg.get('batch_size', '?')}"
    )


@dataclass
class RunSummary:
    """One row of the Runs view.

    Attributes:
        path: the run folder.
        config: config.json as a dict.
        history: history.csv rows.
        report: report.json or None.
        started: when the run was configured (config.json's time), seconds since the epoch.
        state: "finished" (every epoch ran), "stopped" (last.pt can be resumed), "empty" (no epoch yet).
    """

    path: Path
    config: dict[str, Any]
    history: list[dict[str, float | None]] = field(default_factory=list)
    report: dict[str, Any] | None = None
    started: float = 0.0
    state: str = "empty"

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def data(self) -> str:
        return Path(str(self.config.get("data", ""))).name or "?"

    @property
    def backbone(self) -> str:
        os_ = self.config.get("output_stride", 16)
        return f"{self.config.get('backbone', '?')} /{os_}"

    @property
    def schedule(self) -> str:
        return describe_schedule(self.config)

    @property
    def epochs_done(self) -> int:
        return len(self.history)

    @property
    def best_miou(self) -> float | None:
        vals = [r["miou"] for r in self.history if r.get("miou") is not None]
        if vals:
            return max(vals)
        return self.report.get("miou") if self.report else None

    @property
    def seconds(self) -> float:
        """Training time summed over the finished epochs (validation excluded)."""
        return float(sum(r.get("seconds") or 0.0 for r in self.history))

    @property
    def date(self) -> str:
        return datetime.fromtimestamp(self.started).strftime("%Y-%m-%d %H:%M") if self.started else "?"

    @property
    def best_checkpoint(self) -> Path | None:
        for name in ("best.pt", "last.pt"):
            if (self.path / name).is_file():
                return self.path / name
        return None

    def per_class_iou(self) -> dict[str, float | None]:
        return dict((self.report or {}).get("per_class_iou") or {})


def read_run(run_dir: str | os.PathLike) -> RunSummary | None:
    """The run in `run_dir`, or None when it holds no config.json (not a run)."""
    path = Path(run_dir)
    cfg = read_json(path / "config.json")
    if cfg is None:
        return None
    history = read_history(path)
    try:
        started = (path / "config.json").stat().st_mtime
    except OSError:
        started = 0.0
    epochs = int(cfg.get("epochs") or 0)
    if history and len(history) >= epochs:
        state = "finished"
    elif (path / "last.pt").exists():
        state = "stopped"
    else:
        state = "empty"
    return RunSummary(path, cfg, history, read_report(path), started, state)


def list_runs(roots: Iterable[str | os.PathLike]) -> list[RunSummary]:
    """Every run in `roots` (a root that is itself a run counts too, and its direct subfolders), newest first."""
    seen: set[Path] = set()
    runs: list[RunSummary] = []
    for root in roots:
        root = Path(root)
        if not root.is_dir():
            continue
        candidates = [root] + sorted(p for p in root.iterdir() if p.is_dir())
        for p in candidates:
            key = p.resolve()
            if key in seen:
                continue
            run = read_run(p)
            if run is not None:
                seen.add(key)
                runs.append(run)
    runs.sort(key=lambda r: r.started, reverse=True)
    return runs


def config_differences(runs: Sequence[RunSummary]) -> dict[str, list[Any]]:
    """Settings whose values differ between `runs` (in their order): {setting: [value per run]}.

    This is the answer to "what did I change between these runs?" (lr, crop, optimizer …); paths and
    loader processes are left out.
    """
    if len(runs) < 2:
        return {}
    keys = sorted({k for r in runs for k in r.config} - set(NOT_COMPARED))
    out: dict[str, list[Any]] = {}
    for k in keys:
        vals = [r.config.get(k) for r in runs]
        if any(v != vals[0] for v in vals[1:]):
            out[k] = vals
    return out
