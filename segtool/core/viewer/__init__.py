"""The viewer's session: one thread owns the source, the engine, the playback position, the settings
and the stats; other threads send commands and receive read-only copies. No Qt here, so it is tested
directly (tests/unit/test_viewer_session.py); `segtool.gui.workers.ViewerWorker` is a thin Qt adapter
(commands in from the GUI thread, `SessionEvents` out as queued signals).

Threads and what they own
-------------------------
- The session thread (the one running `ViewerSession.run()`, in the app the worker's QThread): the
  Engine, the loaded Checkpoint, the open Source, the source id, the last inference time. It handles
  one command at a time in `ViewerSession.handle` (one `match` over the command types).
- Any thread (the GUI): `submit(command)`, `take_result()`, `last_result()`, `stats()`,
  `settings()`. These only touch the inbox and the mailbox, each behind its own lock.
- While playing, `run_pipeline` adds two threads. The decode thread iterates `paced_frames`, which
  reads the newest settings snapshot (speed, loop) once per frame. The writer thread builds each
  `ViewResult` from values captured when the playback started (source id, number of classes), runs
  the analyses, posts the result and publishes the stats. It never reads the session's fields.

Commands and settings
---------------------
Commands are frozen dataclasses (`segtool.core.viewer.messages`): LoadCheckpoint, SetDevice,
OpenSource, ShowFrame, Play, Pause, ApplySettings, Stop. Any command but ApplySettings interrupts a
running playback at once (a seek or source switch takes effect within one frame); a ShowFrame that a
later ShowFrame, Play, OpenSource or Stop supersedes is skipped. Settings (`ViewSettings`: speed,
loop, confidence, analyses) are an immutable snapshot sent with ShowFrame, Play and ApplySettings; the
newest snapshot received is the one in force. ApplySettings changes speed, loop and analyses mid-play
without a restart; confidence maps need a new ShowFrame or Play (the window sends one).

Results and stats
-----------------
A result is a `ViewResult`: the frame (read-only copy) and the mask computed from exactly it, plus
confidence, coverage and `analysis`. A one-result mailbox holds it: a new one replaces an untaken one
(counted in `LiveStats.display_dropped`), so nothing queues up and memory stays flat. `stats()` returns
a `LiveStats` copy; the numbers are written only by the thread that measures them (the writer thread
during a playback, through a per-playback meter) and published under a lock.

Where label mode and the Measure panel plug in
----------------------------------------------
- Per-result analyses: put `("fragments", fn)` into `ViewSettings.analyses` (send it with
  ApplySettings or the next Play/ShowFrame). `fn(frame, prediction)` runs off the GUI thread on every
  result that has a mask, with read-only arrays it may keep; its return value arrives in
  `ViewResult.analysis["fragments"]` together with the frame it belongs to (an exception it raises is
  logged and stored there instead). Heavy per-frame work (outlines, sizes) belongs here, not in paint.
- The last (frame, prediction) pair: `ViewerSession.last_result()` (any thread), or `ViewResult.frame`
  and `.prediction` of the result on screen. Label mode starts from this pair.
- The loaded model: `EngineInfo.checkpoint` is the Checkpoint the Engine was built from (palette,
  class names, weights); share it, do not read the file again.
"""

from __future__ import annotations

from segtool.core.viewer.messages import (
    Analysis,
    ApplySettings,
    Command,
    EngineInfo,
    LiveStats,
    LoadCheckpoint,
    OpenSource,
    Pause,
    Play,
    SessionEvents,
    SetDevice,
    ShowFrame,
    SourceInfo,
    Stop,
    ViewResult,
    ViewSettings,
)
from segtool.core.viewer.pacing import STILL_FPS, paced_frames
from segtool.core.viewer.session import ViewerSession

__all__ = [
    "Analysis", "ApplySettings", "Command", "EngineInfo", "LiveStats", "LoadCheckpoint", "OpenSource", "Pause",
    "Play", "STILL_FPS", "SessionEvents", "SetDevice", "ShowFrame", "SourceInfo", "Stop", "ViewResult",
    "ViewSettings", "ViewerSession", "paced_frames",
]  # fmt: skip
