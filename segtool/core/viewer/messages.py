"""What goes into a `ViewerSession` (settings, commands) and what comes out (results, infos, stats).

Every type here is immutable (frozen dataclasses; arrays read-only), so a value can cross threads
without a lock: whoever receives it can keep it, and nobody can change it under them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import numpy as np

from segtool.core.frame import Frame, Prediction
from segtool.models.checkpoint import Checkpoint

if TYPE_CHECKING:
    from segtool.core.model_file import ModelFile

# A per-result analysis (the Measure panel's fragments, label mode's starting mask): called off the
# GUI thread with the frame and the prediction made from it (read-only arrays it may keep); what it
# returns lands in `ViewResult.analysis[name]`. It must not touch the Engine or the Source.
__all__ = [
    "Analysis",
    "ApplySettings",
    "Command",
    "EngineInfo",
    "LiveStats",
    "LoadCheckpoint",
    "OpenSource",
    "Pause",
    "Play",
    "SessionEvents",
    "SetDevice",
    "ShowFrame",
    "SourceInfo",
    "Stop",
    "ViewResult",
    "ViewSettings",
]

Analysis = Callable[[Frame, Prediction], Any]


@dataclass(frozen=True)
class ViewSettings:
    """The view settings the session needs, as one snapshot sent with each command.

    speed: playback speed (1 = real time); loop: a file starts again at its end; confidence: ask the
    engine for confidence maps; analyses: (name, function) pairs run on every result with a mask.
    """

    speed: float = 1.0
    loop: bool = False
    confidence: bool = False
    analyses: tuple[tuple[str, Analysis], ...] = ()


# --- commands: small values, handled in one place (`ViewerSession.handle`) --------------------------


@dataclass(frozen=True)
class LoadCheckpoint:
    """Read the checkpoint file once and build the Engine (the loaded Checkpoint goes out in EngineInfo)."""

    path: str
    device: str = "auto"
    precision: str = "auto"
    runtime: str = "auto"  # auto, torch, openvino, onnxruntime (docs/runtimes.md)


@dataclass(frozen=True)
class SetDevice:
    """Rebuild the Engine of the loaded checkpoint on another device (the file is not read again)."""

    device: str
    precision: str = "auto"
    runtime: str = "auto"


@dataclass(frozen=True)
class OpenSource:
    spec: str


@dataclass(frozen=True)
class ShowFrame:
    """Show frame `index` exactly (stops playback). Superseded by a later ShowFrame, Play, OpenSource
    or Stop still waiting in the queue (slider drags do not pile up)."""

    index: int
    settings: ViewSettings = ViewSettings()


@dataclass(frozen=True)
class Play:
    start: int
    settings: ViewSettings = ViewSettings()


@dataclass(frozen=True)
class Pause:
    """Stop playback where it is (`playback_ended("paused", last_index)` follows). A Play still waiting
    in the queue does not start (a quick play-pause leaves the session paused)."""


@dataclass(frozen=True)
class ApplySettings:
    """New settings while playing (speed, loop, analyses take effect at the next frame). It does not
    interrupt playback; confidence needs a new Play or ShowFrame, which the window sends."""

    settings: ViewSettings


@dataclass(frozen=True)
class Stop:
    """End the session: close the source, free the engine, return from `run()`."""


Command = LoadCheckpoint | SetDevice | OpenSource | ShowFrame | Play | Pause | ApplySettings | Stop

TITLES: dict[type, str] = {  # error dialog titles, per command
    LoadCheckpoint: "Could not load the checkpoint",
    SetDevice: "Could not use that device",
    OpenSource: "Could not open the source",
    ShowFrame: "Could not show that frame",
    Play: "Playback stopped",
}


# --- what comes out ---------------------------------------------------------------------------------


def frozen(a: np.ndarray | None) -> np.ndarray | None:
    """A private, read-only copy: the receiver gets data no other thread can still write."""
    if a is None:
        return None
    c = np.array(a, copy=True, order="C")
    c.setflags(write=False)
    return c


@dataclass(frozen=True)
class ViewResult:
    """One frame for the viewer, with the mask computed from exactly this frame (or no mask yet).

    `analysis` holds what the settings' analyses returned for this frame and mask (empty without a mask).
    """

    source_id: int
    index: int
    pts_s: float | None
    name: str | None
    rgb: np.ndarray
    mask: np.ndarray | None = None
    confidence: np.ndarray | None = None
    coverage: np.ndarray | None = None
    latency_s: float | None = None
    playing: bool = False
    t_made: float = 0.0  # perf_counter when the session posted it (for the lag measurement)
    analysis: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def frame(self) -> Frame:
        """The frame (read-only copy) this result shows."""
        return Frame(self.index, self.pts_s, self.rgb, self.name)

    @property
    def prediction(self) -> Prediction | None:
        """The prediction made from `frame`, or None when there is no model (or it has not run yet)."""
        return Prediction(self.mask, self.confidence) if self.mask is not None else None


@dataclass(frozen=True)
class SourceInfo:
    """What the window needs to know about the opened source."""

    source_id: int
    spec: str
    kind: str
    description: str
    is_live: bool
    fps: float | None
    frames: int | None
    names: list[str] | None


@dataclass(frozen=True)
class EngineInfo:
    """The loaded model, described for the side panel and the legend.

    `checkpoint` is the Checkpoint the viewer's Engine was built from, `model` the `ModelFile` it came
    from (an exported .onnx model's Checkpoint has no weights: give `model` to an Engine, never the bare
    checkpoint): share them (export, batches, analyses) instead of reading the file again. Treat them as
    read-only; Engines copy the weights.
    """

    path: str
    description: dict[str, Any]
    class_names: list[str]
    palette: np.ndarray
    device_label: str
    checkpoint: Checkpoint | None = None
    model: ModelFile | None = None


@dataclass(frozen=True)
class LiveStats:
    """Numbers for the status bar: a copy, published by the thread that measures them."""

    inference_fps: float = 0.0
    latency_s: float = 0.0
    dropped: int = 0  # frames the model had no time for (policy latest), in the current playback
    display_dropped: int = 0  # results replaced before the receiver took them


class SessionEvents:
    """What a session tells its owner. Methods are called from the session's threads (the session
    thread, or the pipeline's writer thread for `result_ready`): keep them short and thread-safe.
    The Qt worker turns each into a queued signal. The defaults do nothing."""

    def engine_ready(self, info: EngineInfo) -> None: ...

    def source_opened(self, info: SourceInfo) -> None: ...

    def result_ready(self) -> None:
        """A result waits in the mailbox: call `ViewerSession.take_result()`. Not called again until
        it has been taken."""

    def playback_ended(self, reason: str, last_index: int) -> None:
        """reason: "end" (the file ended), "stopped" (an error or a newer command) or "paused"."""

    def failed(self, title: str, message: str) -> None:
        """A user-facing error; the session keeps running."""

    def busy(self, text: str) -> None: ...
