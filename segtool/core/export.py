"""Export a source's masks to a folder: the job behind `segtool predict` and the app's Export dialog.

Chooses the sinks for the source kind (docs/outputs.md), refuses to mix a new
export into an old one, resumes an interrupted one, runs the pipeline and writes `summary.json` last.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from segtool import __version__
from segtool.base.errors import UserInputError
from segtool.core.engine import Engine
from segtool.core.journal import Job, open_job
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
    overlay_hidden: tuple[
        str, ...
    ] = ()  # class names left uncoloured (`predict --hide`), besides overlay_visible

    def overlay_visibility(self, class_names: list[str]) -> tuple[bool, ...] | None:
        """Per class: coloured in the overlay or not (None: every class). Raises UserInputError for a
        hidden name the model does not have."""
        unknown = [n for n in self.overlay_hidden if n not in class_names]
        if unknown:
            raise UserInputError(
                f"--hide {', '.join(unknown)}: the model has no such class; its classes are "
                f"{', '.join(class_names)}"
            )
        if self.overlay_visible is None and not self.overlay_hidden:
            return None
        vis = self.overlay_visible
        return tuple(
            (vis is None or i >= len(vis) or bool(vis[i])) and n not in self.overlay_hidden
            for i, n in enumerate(class_names)
        )

    def overlay_style(self, class_names: list[str]) -> dict[str, Any]:
        """What summary.json records about the overlay's look."""
        vis = self.overlay_visibility(class_names)
        hidden = [n for i, n in enumerate(class_names) if vis is not None and not vis[i]]
        return {"opacity": round(float(self.overlay_alpha), 3), "hidden_classes": hidden}

    def __post_init__(self) -> None:
        # Checked here, before any engine or source is opened, so every caller gets the message
        # (not a ValueError from range() deep inside).
        if self.format not in FORMATS:
            raise UserInputError(f"--format {self.format!r} is not supported; use png or ffv1")
        for name in ("start", "every"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise UserInputError(f"--{name} {value!r} is not a whole number; give one like --{name} 1")
        if self.every < 1:
            raise UserInputError(f"--every {self.every}: use 1 (every frame) or more (every N-th frame)")
        if self.start < 0:
            raise UserInputError(f"--start {self.start}: frames count from 0; use --start 0 or more")
        if self.end is not None and self.end <= self.start:
            raise UserInputError(
                f"--end {self.end} must be greater than --start {self.start} (--end is exclusive)"
            )
        if not 0.0 <= float(self.overlay_alpha) <= 1.0:
            raise UserInputError(
                f"--opacity {self.overlay_alpha}: use a number from 0 (frame only) to 1 (classes opaque)"
            )
        if self.batch_size is not None and self.batch_size < 1:
            raise UserInputError(f"--batch-size {self.batch_size}: use 1 or more")
        if self.resume and self.overwrite:
            raise UserInputError(
                "--resume and --overwrite contradict each other (--resume continues the export in OUT, "
                "--overwrite replaces it); pass only one"
            )

    def selection(self) -> dict[str, Any]:
        """The options that must match when resuming."""
        return {
            "format": self.format,
            "overlay": self.overlay,
            "start": self.start,
            "end": self.end,
            "every": self.every,
        }


@dataclass
class ExportResult:
    run: RunResult
    summary: dict[str, Any]
    out: Path
    summary_written: bool = True  # False when even summary.json could not be written (e.g. disk full)

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
    still = source.kind in ("image", "folder")
    if still and opts.format == "ffv1":
        raise UserInputError(
            "--format ffv1 writes a mask video; it is for videos, cameras and streams, not images"
        )
    if source.is_live and opts.resume:
        raise UserInputError("--resume needs a file source; a camera or stream cannot be rewound")
    n = source.frames_expected
    if n is not None and opts.start >= n:
        last = f"frames 0-{n - 1}" if n else "no frames"
        raise UserInputError(
            f"--start {opts.start} is past the last frame: {source.description} has {n} frame(s) ({last}); "
            f"use --start {max(0, n - 1)} or less"
        )


#: Everything an export may write in OUT (any format, partial and resume names included): what
#: --overwrite removes, and what must not be there already when a new export starts.
OUTPUTS = (
    "masks",
    "overlays",
    "masks.mkv",
    "masks.partial.mkv",
    "masks.resume.mkv",
    "overlay.mp4",
    "overlay.partial.mp4",
    "overlay.resume.mp4",
    "coverage.csv",
    "coverage.partial.csv",
    SUMMARY,
)


def source_identity(source: Source) -> dict[str, Any]:
    """What identifies the frames of `source`: its path, kind and length (and size for a file)."""
    path = getattr(source, "path", None)
    ident: dict[str, Any] = {
        "source": str(path if path is not None else source.description),
        "kind": source.kind,
        "frames": source.frames_expected,
    }
    if path is not None and Path(path).is_file():
        ident["source_bytes"] = Path(path).stat().st_size
    names = getattr(source, "names", None)
    if names is not None:
        ident["names_sha1"] = hashlib.sha1(
            "\n".join(map(str, names)).encode("utf-8", "surrogateescape")
        ).hexdigest()
    return ident


def export_identity(source: Source, engine: Engine, opts: ExportOptions) -> dict[str, Any]:
    """Every input that changes the exported files; a resume must match all of them (journal.py)."""
    describe = getattr(engine, "identity", None)
    model = describe() if callable(describe) else {"classes": list(engine.class_names)}
    return {**source_identity(source), **model, **opts.selection()}


def _prepare_folder(out: Path, source: Source, engine: Engine, opts: ExportOptions) -> Job:
    """Claim OUT for this export (journal.open_job): refuse to mix with another job, resume the same one."""
    job = open_job(
        out,
        "export",
        export_identity(source, engine, opts),
        outputs=OUTPUTS,
        resume=opts.resume,
        overwrite=opts.overwrite,
        version=__version__,
    )
    if not os.access(out, os.W_OK):
        raise UserInputError(f"output folder {out} is not writable; choose another -o")
    return job


def _sinks(source: Source, engine: Engine, out: Path, opts: ExportOptions) -> SinkGroup:
    palette = engine.palette
    visible = opts.overlay_visibility(engine.class_names)
    sinks = []
    if source.kind in ("image", "folder"):
        sinks.append(PngMaskSink(out, palette))
        if opts.overlay:
            sinks.append(OverlayJpgSink(out, palette, opts.overlay_alpha, visible=visible))
    else:
        fps = (source.fps or 30.0) / opts.every
        sinks.append(
            Ffv1MaskSink(out / "masks.mkv", fps) if opts.format == "ffv1" else PngMaskSink(out, palette)
        )
        if opts.overlay:
            sinks.append(
                OverlayVideoSink(out / "overlay.mp4", fps, palette, opts.overlay_alpha, visible=visible)
            )
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
    opts.overlay_visibility(engine.class_names)  # an unknown --hide class is refused before OUT is touched
    job = _prepare_folder(out, source, engine, opts)
    group = _sinks(source, engine, out, opts)
    skip = group.open(resume=job.resumed, order=_key_order(source, opts))
    expected = expected_frames(source, opts)
    batch = opts.batch_size or (4 if engine.device.type == "cuda" else 1)
    run = RunResult()
    try:
        todo = None if expected is None else max(0, expected - skip)
        if todo == 0:  # resuming a finished export: nothing left to do
            run = RunResult(complete=True)
        else:
            frames = source.frames(opts.start + skip * opts.every, opts.end, opts.every)
            run = run_pipeline(
                frames, engine, sinks=group, batch_size=batch, expected=todo, cancel=cancel, progress=progress
            )
            if run.complete and skip + run.frames_written == 0:
                # A source of unknown length that ended before --start: an empty export is not "complete".
                run.complete = False
                run.error = UserInputError(
                    f"the selection --start {opts.start} --end {opts.end} --every {opts.every} gave no frame: "
                    f"{source.description} ended before it; use a smaller --start"
                )
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
            "checkpoint_sha256": job.identity.get("checkpoint"),
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
        written = True
        try:
            write_summary(out, summary)
        except (OSError, UserInputError) as e:  # e.g. the disk filled up: report the first problem
            run.error = run.error or e
            summary["complete"] = False
            summary.setdefault("stopped", str(e))
            written = False
    return ExportResult(run, summary, out, written)
