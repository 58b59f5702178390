"""Playback pacing: release a source's frames at their timestamps divided by the playback speed."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

from segtool.core.frame import Frame
from segtool.core.sources import Source
from segtool.core.viewer.messages import ViewSettings

STILL_FPS = 1.0  # playing a folder or image is a slideshow: one picture per second at speed 1


def paced_frames(
    source: Source,
    start: int,
    cancel: threading.Event,
    settings: Callable[[], ViewSettings],
) -> Iterator[Frame]:
    """Frames of `source` from `start`, released at their timestamps divided by the playback speed.

    Live sources are not paced (they arrive in real time). Stills (no timestamps) advance at
    `STILL_FPS`. `settings()` returns the newest settings snapshot; it is read once per frame, so a
    speed or loop change applies at the next frame: the clock is re-anchored at the frame where the
    speed changed (no jump), and with `loop` a file starts again at frame 0 when it ends.
    Runs in the pipeline's decode thread, which also closes it.
    """
    it: Iterator[Frame] | None = None
    try:
        while True:
            it = source.frames(start)
            anchor: tuple[float, float, float] | None = None  # (wall, media time, speed)
            for frame in it:
                if not source.is_live:
                    t = frame.pts_s if frame.pts_s is not None else frame.index / STILL_FPS
                    s = max(0.05, float(settings().speed))
                    now = time.perf_counter()
                    if anchor is None or anchor[2] != s or t < anchor[1]:
                        anchor = (now, t, s)
                    delay = anchor[0] + (t - anchor[1]) / s - now
                    if delay > 0 and cancel.wait(delay):
                        return
                    if delay < -0.5:  # decoding fell far behind (busy CPU): restart the clock, no burst
                        anchor = (time.perf_counter(), t, s)
                if cancel.is_set():
                    return
                yield frame
            it.close()  # type: ignore[attr-defined]
            it = None
            if source.is_live or not settings().loop:
                return
            start = 0
    finally:
        if it is not None:
            it.close()  # type: ignore[attr-defined]
