"""The sink interface and `SinkGroup`, which opens, feeds and closes several sinks as one.

Resume protocol (why it looks like this): after an interruption every sink has its own amount of
finished work (PNG files are renamed into place one by one, a video muxer buffers a few frames, a CSV
row is flushed per frame). The pipeline may only skip the frames that *every* sink has, and those must
be a prefix of what the source will produce, so nothing is missing and nothing is written twice:

1. `count = sink.open(resume=True)` for each sink.
   - Sequential sinks (videos, CSV) hold a prefix by construction: `count` frames are done.
   - Per-file sinks (PNG, JPG) can have any subset; they set `keyed = True` and answer `has(key)`.
     The group walks the source's key order (`order`) until a key is missing.
2. `n` = the smallest of those prefix lengths.
3. `sink.keep_first(n)` for each sink: a sequential sink that had more drops its extra frames (it
   copies only the first `n` into its new file), so the frames the pipeline now sends follow on.
4. The pipeline skips the first `n` frames of the source and writes the rest.

A frame's key is `frame.name` for images and folders, else `frame.index` (`frame_key`).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence

from segtool.core.frame import Frame, Prediction

Key = int | str

__all__ = ["Key", "Sink", "SinkGroup", "frame_key"]


def frame_key(frame: Frame) -> Key:
    """The key that names a frame's outputs: its relative path when it has one, else its index."""
    return frame.name if frame.name is not None else frame.index


class Sink:
    """One kind of output file(s) of `segtool predict`.

    A sink is used by one thread at a time (the pipeline's writer thread): `open`, then `write` for each
    frame in source order, then `close` exactly once (also after an error or a cancel).
    """

    #: True for per-file sinks whose finished frames need not be a prefix (see `has`).
    keyed: bool = False

    def open(self, *, resume: bool) -> int:
        """Prepare the output files.

        Args:
            resume: continue an interrupted run in the same folder instead of starting afresh.

        Returns:
            Frames already complete (0 when not resuming). For sequential sinks these are the first
            `count` frames of the source; for keyed sinks it is the number of files present.

        Raises:
            UserInputError: the output folder cannot be written, or the old output does not fit.
        """
        raise NotImplementedError

    def has(self, key: Key) -> bool:
        """Keyed sinks: whether the output for `key` is already complete. Others return False."""
        return False

    def keep_first(self, n: int) -> None:
        """After `open(resume=True)`: keep only the first `n` finished frames (the pipeline restarts there)."""

    def write(self, frame: Frame, pred: Prediction) -> None:
        """Write the outputs of one frame.

        Raises:
            UserInputError: the disk is full (names the file; free space then rerun with --resume).
        """
        raise NotImplementedError

    def close(self, complete: bool) -> None:
        """Finish the files: `finish()`, then `promote()` when `complete`.

        Args:
            complete: True when the whole source was written; files then get their final names.
                With False they stay valid (videos playable) under their `.partial` names.
        """
        self.finish()
        if complete:
            self.promote()

    def finish(self) -> None:
        """Close the files, keeping their partial names (a kill or an error after this loses nothing)."""

    def promote(self) -> None:
        """Give the finished files their final names (renames only). `SinkGroup` promotes no sink
        until every sink finished, so a failure in one never leaves another looking complete."""


def _prefix_length(sink: Sink, count: int, order: Iterable[Key] | None) -> int:
    if not sink.keyed:
        return count
    if order is None:
        raise ValueError(
            f"resuming {type(sink).__name__} needs the source's key order (names or frame indices)"
        )
    return sum(1 for _ in itertools.takewhile(sink.has, order))


class SinkGroup(Sink):
    """Several sinks driven as one; the pipeline's writer thread talks only to this.

    Args:
        sinks: the sinks, in the order they are written (put cheap ones first).
    """

    def __init__(self, sinks: Sequence[Sink]):
        self.sinks = list(sinks)
        self._opened: list[Sink] = []

    def open(self, *, resume: bool, order: Iterable[Key] | None = None) -> int:
        """Open every sink and agree on where to restart.

        Args:
            resume: continue an interrupted run.
            order: keys of the frames the source will produce, in order (a folder's relative paths,
                or frame indices such as `itertools.count(start, every)` for videos). Needed when
                resuming with a keyed sink; may be an endless iterator.

        Returns:
            n: how many leading frames of the source to skip. Every sink is ready for frame n next.
        """
        counts = []
        try:
            for sink in self.sinks:
                counts.append(sink.open(resume=resume))
                self._opened.append(sink)
        except BaseException:
            self._close_opened(complete=False)
            raise
        if not resume or not self.sinks:
            return 0
        try:
            replay = None if order is None else _Replayable(order)
            n = min(
                _prefix_length(s, c, None if replay is None else iter(replay))
                for s, c in zip(self.sinks, counts, strict=True)
            )
            for sink in self.sinks:
                sink.keep_first(n)
        except BaseException:
            self._close_opened(complete=False)
            raise
        return n

    def write(self, frame: Frame, pred: Prediction) -> None:
        for sink in self.sinks:
            sink.write(frame, pred)

    def close(self, complete: bool) -> None:
        self._close_opened(complete)

    def _close_opened(self, complete: bool) -> None:
        # Finish every sink even when one fails, so each video gets its trailer; final names only
        # when all finished (two phases); re-raise the first error.
        first: BaseException | None = None
        opened, self._opened = self._opened, []
        for sink in opened:
            try:
                if _two_phase(sink):
                    sink.finish()
                else:  # a sink written against the one-step API
                    sink.close(complete)
            except BaseException as exc:  # noqa: BLE001 - re-raised below
                first = first or exc
        if first is not None:
            raise first
        if complete:
            for sink in opened:
                if _two_phase(sink):
                    sink.promote()


def _two_phase(sink: Sink) -> bool:
    """True when the sink implements finish/promote (or keeps the default close that calls them)."""
    cls = type(sink)
    return cls.close is Sink.close or cls.finish is not Sink.finish


class _Replayable:
    """Lets several keyed sinks walk the same (possibly endless, one-shot) key iterator."""

    def __init__(self, source: Iterable[Key]):
        self._source = iter(source)
        self._seen: list[Key] = []

    def __iter__(self):
        i = 0
        while True:
            if i < len(self._seen):
                yield self._seen[i]
            else:
                try:
                    key = next(self._source)
                except StopIteration:
                    return
                self._seen.append(key)
                yield key
            i += 1
