"""Export a source's masks to a folder: the job behind `segtool predict` and the app's Export dialog.

Chooses the sinks for the source kind (ARCHITECTURE.md "predict output layout"), refuses to mix a new
export into an old one, resumes an interrupted one, runs the pipeline and writes `summary.json` last.
"""

from __future__ import annotations

import itertools
import json
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from models.errors import UserInputError
from segtool import __version__
from segtool.core.engine import Engine
from segtool.core.pipeline import Progress, RunResult, run_pipeline
from segtool.core.sinks import (
    CoverageCsvSink,
    Ffv1MaskSink,
    OverlayJpgSink,
    OverlayVideoSink,
    PngMaskSink,
    SinkGroup,
    write_summary,
)
from segtool.core.sources import Source

FORMATS = ("png", "ffv1")
SUMMARY = "summary.json"


@dataclass(frozen=True)
class ExportOptions:
    """What to write and which frames (the `predict` flags)."""

    format: str = "png"
    overlay: bool = False
    start: int = 0
    end: int | None = None
    every: int = 1
    batch_size: int | None = None  # None: 4 on CUDA, 1 elsewhere
    resume: bool = False
    overwrite: bool = False
    # How overlays look: the app passes its view (opacity, ticked classes) so the export is what was seen.
    overlay_alpha: float = 0.5
    overlay_visible: tuple[bool, ...] | None = None  # per class; None = every class coloured

    def overlay_style(self, class_names: list[str]) -> dict[str, Any]:
        """What summary.json records about the overlay's look."""
        vis = self.overlay_visible
        hidden = [n for i, n in enumerate(class_names) if vis is not None and i < len(vis) and not vis[i]]
        return {"opacity": round(float(self.overlay_alpha), 3), "hidden_classes": hidden}

    def selection(self) -> dict[str, Any]:
        """The options that must match when resuming."""
        return {"format": self.format, "overlay": self.overlay, "start": self.start, "end": self.end, "every": self.every}


@dataclass
class ExportResult:
    run: RunResult
    summary: dict[str, Any]
    out: Path

    @property
    def exit_code(self) -> int:
        """0 complete, 1 partial (the source broke; what was written is valid), 2 bad input, 130 cancelled."""
        if self.run.error is not None:
            return 2
        if self.run.interrupted is not None:
            return 1
        return 0 if self.run.complete else 130


def expected_frames(source: Source, opts: ExportOptions) -> int | None:
    n = source.frames_expected
    if n is None:
        return None
    end = n if opts.end is None else min(opts.end, n)
    return len(range(opts.start, end, opts.every))


def _check_options(source: Source, opts: ExportOptions) -> None:
    if opts.format not in FORMATS:
        raise UserInputError(f"--format {opts.format!r} is not supported; use png or ffv1")
    if opts.start < 0 or opts.every < 1 or (opts.end is not None and opts.end <= opts.start):
        raise UserInputError(
            f"frame selection --start {opts.start} --end {opts.end} --every {opts.every} selects nothing; "
            "use --start >= 0, --end > --start and --every >= 1"
        )
    still = source.kind in ("image", "folder")
    if still and opts.format == "ffv1":
        raise UserInputError("--format ffv1 writes a mask video; it is for videos, cameras and streams, not images")
    if source.is_live and opts.resume:
        raise UserInputError("--resume needs a file source; a camera or stream cannot be rewound")


def _prepare_folder(out: Path, source: Source, opts: ExportOptions) -> None:
    """Create OUT; refuse to mix with an old export unless resuming (same job) or overwriting."""
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserInputError(f"cannot create output folder {out}: {e.strerror}; choose another -o") from e
    if not os.access(out, os.W_OK):
        raise UserInputError(f"output folder {out} is not writable; choose another -o")
    summary_path = out / SUMMARY
    if not summary_path.exists():
        if opts.resume and any(out.iterdir()):
            raise UserInputError(f"{out} has no {SUMMARY}, so it is not a segtool export to resume; choose another -o")
        return
    if opts.overwrite:
        summary_path.unlink()
        return
    if not opts.resume:
        raise UserInputError(
            f"{out} already holds an export ({SUMMARY} is there); add --resume to continue it, "
            "--overwrite to replace it, or choose another -o"
        )
    try:
        old = json.loads(summary_path.read_text())
    except (OSError, ValueError) as e:
        raise UserInputError(f"{summary_path} is unreadable ({e}); remove the folder or choose another -o") from e
    mine = {"source": str(source.description), **opts.selection()}
    theirs = {"source": old.get("source_description"), **(old.get("options") or {})}
    if mine != theirs:
        diff = ", ".join(f"{k}: {theirs.get(k)!r} then, {mine[k]!r} now" for k in mine if mine[k] != theirs.get(k))
        raise UserInputError(f"--resume: {out} was exported with other settings ({diff}); use the same ones or another -o")


def _sinks(source: Source, engine: Engine, out: Path, opts: ExportOptions) -> SinkGroup:
    palette = engine.palette
    sinks = []
    if source.kind in ("image", "folder"):
        sinks.append(PngMaskSink(out, palette))
        if opts.overlay:
            sinks.append(OverlayJpgSink(out, palette, opts.overlay_alpha, visible=opts.overlay_visible))
    else:
        fps = (source.fps or 30.0) / opts.every
        sinks.append(Ffv1MaskSink(out / "masks.mkv", fps) if opts.format == "ffv1" else PngMaskSink(out, palette))
        if opts.overlay:
            sinks.append(OverlayVideoSink(out / "overlay.mp4", fps, palette, opts.overlay_alpha,
                                          visible=opts.overlay_visible))  # fmt: skip
    sinks.append(CoverageCsvSink(out / "coverage.csv", engine.class_names))
    return SinkGroup(sinks)


def _key_order(source: Source, opts: ExportOptions):
    if source.names is not None:
        return iter(source.names[opts.start : opts.end : opts.every])
    if source.kind == "image" and source.path is not None:
        return iter([source.path.name])
    return itertools.count(opts.start, opts.every)


def run_export(
    source: Source,
    engine: Engine,
    out: str | os.PathLike,
    opts: ExportOptions,
    *,
    checkpoint_label: str = "",
    progress: Callable[[Progress], None] | None = None,
    cancel: threading.Event | None = None,
) -> ExportResult:
    """Write masks (and overlays, coverage, summary) of `source` into `out`.

    Raises:
        UserInputError: bad options or output folder (nothing is written then).
    """
    out = Path(out)
    _check_options(source, opts)
    _prepare_folder(out, source, opts)
    group = _sinks(source, engine, out, opts)
    skip = group.open(resume=opts.resume, order=_key_order(source, opts))
    expected = expected_frames(source, opts)
    batch = opts.batch_size or (4 if engine.device.type == "cuda" else 1)
    run = RunResult()
    try:
        todo = None if expected is None else max(0, expected - skip)
        if todo == 0:  # resuming a finished export: nothing left to do
            run = RunResult(complete=True)
        else:
            frames = source.frames(opts.start + skip * opts.every, opts.end, opts.every)
            run = run_pipeline(frames, engine, sinks=group, batch_size=batch, expected=todo, cancel=cancel, progress=progress)
    finally:
        complete = run.complete
        try:
            group.close(complete)
        except BaseException as e:  # noqa: BLE001 - a close failure makes the export incomplete
            run.error = run.error or e
            complete = run.complete = False
        summary = {
            "source": source.origin,
            "source_description": source.description,
            "checkpoint": checkpoint_label,
            "classes": engine.class_names,
            "device": engine.device_label,
            "frames_written": skip + run.frames_written,
            "frames_expected": expected,
            "frames_resumed": skip,
            "seconds": round(run.seconds, 3),
            "fps": round(run.fps, 3),
            "complete": complete,
            "options": opts.selection(),
            **({"overlay_style": opts.overlay_style(engine.class_names)} if opts.overlay else {}),
            "segtool": __version__,
        }
        if run.interrupted is not None:
            summary["stopped"] = str(run.interrupted)
        elif run.error is not None:
            summary["stopped"] = str(run.error)
        elif not complete:
            summary["stopped"] = "cancelled; rerun with --resume to continue"
        try:
            write_summary(out, summary)
        except (OSError, UserInputError) as e:  # e.g. the disk filled up: report the first problem
            run.error = run.error or e
            summary["complete"] = False
    return ExportResult(run, summary, out)

