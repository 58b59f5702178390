"""The two thread-safe boxes between a `ViewerSession` and other threads: the command inbox (with the
newest settings snapshot) and the one-result mailbox. Nothing else in the session is shared."""

from __future__ import annotations

import collections
import threading

from segtool.core.viewer.messages import (
    ApplySettings,
    Command,
    OpenSource,
    Pause,
    Play,
    ShowFrame,
    Stop,
    ViewResult,
    ViewSettings,
)


class Inbox:
    """Commands from any thread to the session thread, and the newest settings snapshot.

    The only state shared with other threads besides the result mailbox, behind one lock. A command
    that arrives while a playback runs sets that playback's cancel event (except ApplySettings).
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._queue: collections.deque[Command] = collections.deque()
        self._settings = ViewSettings()
        self._cancel: threading.Event | None = None

    def adopt(self, cmd: Command) -> None:
        """Make the settings `cmd` carries (if any) the ones in force."""
        new = getattr(cmd, "settings", None)
        if new is not None:
            with self._cond:
                self._settings = new

    def put(self, cmd: Command) -> None:
        with self._cond:
            self.adopt(cmd)  # the newest snapshot wins, whichever command brought it (the lock is an RLock)
            if isinstance(cmd, ApplySettings):
                return  # nothing to run: the session reads the snapshot at the next frame
            self._queue.append(cmd)
            if self._cancel is not None:
                self._cancel.set()  # any other command pre-empts playback
            self._cond.notify()

    def settings(self) -> ViewSettings:
        with self._cond:
            return self._settings

    def get(self, timeout_s: float) -> Command | None:
        """The next command, or None after `timeout_s` or when it was superseded."""
        with self._cond:
            if not self._queue:
                self._cond.wait(timeout_s)
            if not self._queue:
                return None
            cmd = self._queue.popleft()
            # A seek superseded by a later seek, play or source switch is skipped (slider drags).
            if isinstance(cmd, ShowFrame) and any(
                isinstance(c, (ShowFrame, Play, OpenSource, Stop)) for c in self._queue
            ):
                return None
            return cmd

    def has_newer(self, ignore_pause: bool = False) -> bool:
        with self._cond:
            return any(not (ignore_pause and isinstance(c, Pause)) for c in self._queue)

    def start_playback(self) -> threading.Event | None:
        """A cancel event for a new playback, or None when a command is already waiting."""
        with self._cond:
            if self._queue:
                return None
            self._cancel = threading.Event()
            return self._cancel

    def end_playback(self) -> None:
        with self._cond:
            self._cancel = None


class Mailbox:
    """One result: a new one replaces an untaken one (a display drop), so nothing queues up."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: ViewResult | None = None
        self._last: ViewResult | None = None
        self._notified = False
        self.dropped = 0

    def post(self, r: ViewResult) -> bool:
        """Store `r`; True when the receiver must be told (it has not been told since its last take)."""
        with self._lock:
            if self._pending is not None:
                self.dropped += 1
            self._pending = self._last = r
            notify, self._notified = not self._notified, True
        return notify

    def take(self) -> ViewResult | None:
        with self._lock:
            r, self._pending, self._notified = self._pending, None, False
        return r

    def last(self) -> ViewResult | None:
        with self._lock:
            return self._last

    def drops(self) -> int:
        """Results replaced before they were taken."""
        with self._lock:
            return self.dropped
