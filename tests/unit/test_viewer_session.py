"""The viewer session without Qt: commands, seek superseding, play/pause on the real clip, stats
copies, settings snapshots changed mid-play, analyses, errors. A tiny real checkpoint (64-px short
side) keeps inference at a few ms a frame."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from segtool.core.engine import Engine
from segtool.core.sources import open_source
from segtool.core.viewer import (
    ApplySettings,
    EngineInfo,
    LoadCheckpoint,
    OpenSource,
    Pause,
    Play,
    SessionEvents,
    ShowFrame,
    SourceInfo,
    Stop,
    ViewerSession,
    ViewSettings,
)
from segtool.models.checkpoint import Checkpoint, load_checkpoint
from tests.conftest import REPO
from tests.helpers import make_small_checkpoint

THREADS = 1


class Recorder(SessionEvents):
    """Every event, in order, with a way to wait for one (events come from the session's threads)."""

    def __init__(self) -> None:
        self.events: list[tuple] = []
        self.cond = threading.Condition()
        self.session: ViewerSession | None = None
        self.take = True  # take each result as it is announced, as the window does

    def _add(self, *event) -> None:
        with self.cond:
            self.events.append(event)
            self.cond.notify_all()

    def engine_ready(self, info):
        self._add("engine", info)

    def source_opened(self, info):
        self._add("source", info)

    def result_ready(self):
        if self.take:
            self._add("result", self.session.take_result())

    def playback_ended(self, reason, last_index):
        self._add("ended", reason, last_index)

    def failed(self, title, message):
        self._add("failed", title, message)

    def of(self, kind: str) -> list[tuple]:
        with self.cond:
            return [e for e in self.events if e[0] == kind]

    def wait(self, cond, timeout: float = 60.0) -> None:
        t_end = time.monotonic() + timeout
        while not cond():  # polled: some conditions (stats) change without an event
            assert time.monotonic() < t_end, f"timed out; events so far: {[e[:3] for e in self.events]}"
            with self.cond:
                self.cond.wait(0.05)


@pytest.fixture(scope="module")
def tiny_ckpt(tmp_path_factory):
    return make_small_checkpoint(tmp_path_factory.mktemp("session") / "tiny.pt", resize_short=64)[0]


@pytest.fixture
def session(tiny_ckpt, clip):
    """A session with the checkpoint loaded and the clip open, handled on the test thread so far."""
    rec = Recorder()
    s = ViewerSession(rec, threads=THREADS)
    rec.session = s
    s.handle(LoadCheckpoint(str(tiny_ckpt), "cpu"))
    s.handle(OpenSource(str(clip)))
    s.rec = rec
    yield s
    s.close()


class Running:
    """The session's command loop in its own thread (as in the app); stopped and joined on exit."""

    def __init__(self, s: ViewerSession) -> None:
        self.s = s
        self.t = threading.Thread(target=s.run, kwargs={"poll_s": 0.05}, name="test-session")

    def __enter__(self):
        self.t.start()
        return self.s

    def __exit__(self, *exc):
        self.s.submit(Stop())
        self.t.join(30)
        assert not self.t.is_alive()


def test_session_imports_no_qt():
    code = "import sys, segtool.core.viewer; sys.exit(any(m.startswith(('PySide6', 'PyQt')) for m in sys.modules))"
    assert subprocess.run([sys.executable, "-c", code], cwd=REPO).returncode == 0


def test_load_open_and_show_a_frame(session, tiny_ckpt, truth):
    ((_, info),) = session.rec.of("engine")
    assert isinstance(info, EngineInfo)
    assert isinstance(info.checkpoint, Checkpoint)
    assert info.checkpoint is session.checkpoint  # the loaded object is handed out, not a path to read again
    assert info.class_names == ["background", "rock"]
    assert info.palette.tolist() == [[0, 0, 0], [250, 50, 83]]
    ((_, src),) = session.rec.of("source")
    assert isinstance(src, SourceInfo)
    assert src.frames == 101
    assert src.source_id == 1
    assert not src.is_live

    session.rec.take = False
    session.handle(ShowFrame(40, ViewSettings(confidence=True)))
    r = session.take_result()
    assert r is not None
    assert r.index == 40
    assert not r.playing
    assert r.source_id == 1
    assert session.take_result() is None  # taken once
    assert session.last_result() is r  # ...but still the last (frame, prediction) pair
    assert np.abs(r.rgb.astype(int) - truth[40]).mean() < 6  # frame 40 of the clip, exactly
    ref = Engine(load_checkpoint(tiny_ckpt), device="cpu", threads=THREADS).predict([np.array(r.rgb)])[0]
    assert np.array_equal(r.mask, ref.mask)  # the mask was computed from this very frame
    assert r.confidence is not None
    assert r.confidence.shape == r.mask.shape
    assert r.coverage is not None
    assert abs(float(r.coverage.sum()) - 1) < 1e-6
    assert not r.rgb.flags.writeable
    assert not r.mask.flags.writeable
    assert r.frame.index == 40
    assert r.prediction.mask is r.mask


def test_errors_are_reported_and_the_session_goes_on(session, tmp_path, clip):
    missing = tmp_path / "nope.mp4"
    session.handle(OpenSource(str(missing)))
    ((_, title, message),) = session.rec.of("failed")
    assert title == "Could not open the source"
    assert "nope.mp4" in message
    session.handle(OpenSource(str(clip)))
    session.handle(ShowFrame(3))
    assert session.last_result().index == 3
    assert session.last_result().source_id == 2


def test_a_seek_superseded_by_a_later_one_is_skipped(session):
    seen: list[int] = []
    probe = ViewSettings(analyses=(("probe", lambda f, p: seen.append(f.index) or f.index),))
    src, reads = session._source, []
    read = src.read
    src.read = lambda i: reads.append(i) or read(i)  # count random-access decodes
    for i in (5, 17, 29):
        session.submit(ShowFrame(i, probe))
    session.run(interrupted=lambda: session.last_result() is not None, poll_s=0.05)
    assert reads == [29]  # 5 and 17 were never decoded or predicted
    assert seen == [29]
    r = session.last_result()
    assert r.index == 29
    assert r.analysis["probe"] == 29


def test_play_pause_and_play_to_the_end(session):
    rec = session.rec
    with Running(session) as s:
        s.submit(Play(0, ViewSettings(speed=2.0)))
        rec.wait(lambda: len(rec.of("result")) >= 3)
        s.submit(Pause())
        rec.wait(lambda: rec.of("ended"))
        ((_, reason, last),) = rec.of("ended")
        assert reason == "paused"
        assert 0 < last < 100
        r = s.last_result()
        assert r.playing
        assert r.index == last
        assert r.mask is not None
        n = len(rec.of("result"))
        time.sleep(0.5)
        assert len(rec.of("result")) == n  # nothing after the pause

        s.submit(Play(90, ViewSettings(speed=8.0)))
        rec.wait(lambda: len(rec.of("ended")) == 2)
        assert rec.of("ended")[1][1:] == ("end", 100)


def test_a_seek_interrupts_playback(session):
    rec = session.rec
    with Running(session) as s:
        s.submit(Play(0, ViewSettings(speed=0.5)))
        rec.wait(lambda: len(rec.of("result")) >= 2)
        s.submit(ShowFrame(70))
        rec.wait(lambda: rec.of("ended") and s.last_result().index == 70, timeout=30)
        assert rec.of("ended")[0][1] == "paused"
        assert not s.last_result().playing


def test_settings_snapshot_changes_mid_play(session):
    """Speed, loop and analyses change while playing, without a restart; the snapshot a command carried
    is never changed by later settings."""
    rec = session.rec
    slow = ViewSettings(speed=0.25)  # 101 frames at 15 fps / 0.25: 27 s
    with Running(session) as s:
        s.submit(Play(0, slow))
        rec.wait(lambda: len(rec.of("result")) >= 2)
        t0 = time.perf_counter()
        fast = dataclasses.replace(slow, speed=16.0, analyses=(("half", lambda f, p: f.index // 2),))
        s.submit(ApplySettings(fast))
        rec.wait(lambda: rec.of("ended"), timeout=20)
        assert time.perf_counter() - t0 < 15  # at 0.25x the rest of the clip would take > 20 s
        assert rec.of("ended") == [("ended", "end", 100)]  # one playback, not restarted
        r = s.last_result()
        assert r.index == 100
        assert r.analysis == {"half": 50}
        assert slow.speed == 0.25
        assert s.settings() is fast

        s.submit(Play(95, dataclasses.replace(fast, analyses=())))
        rec.wait(lambda: s.last_result().index >= 97)
        s.submit(ApplySettings(dataclasses.replace(fast, loop=True, analyses=())))
        rec.wait(lambda: s.last_result().index < 90, timeout=30)  # it went round
        assert len(rec.of("ended")) == 1
        assert s.last_result().analysis == {}


def test_stats_are_copies_and_count_drops(session):
    rec = session.rec
    rec.take = False  # results are never taken here: each new one replaces the last (display drops)
    before = session.stats()
    with Running(session) as s:
        s.submit(Play(0, ViewSettings(speed=4.0)))
        rec.wait(lambda: s.stats().display_dropped >= 4 and s.stats().inference_fps > 0)
        during = s.stats()
        s.submit(Pause())
        rec.wait(lambda: rec.of("ended"))
    assert before.inference_fps == 0  # an old copy does not change
    assert before.display_dropped == 0
    assert during.inference_fps > 0
    assert during.display_dropped >= 4
    with pytest.raises(dataclasses.FrozenInstanceError):
        during.dropped = 0  # type: ignore[misc]


def test_analyses_get_the_frame_and_its_prediction_and_a_failure_stays_in_its_slot(session):
    def rock_share(frame, pred):
        assert not pred.mask.flags.writeable
        assert pred.mask.shape == frame.rgb.shape[:2]
        return float((pred.mask == 1).mean())

    def broken(frame, pred):
        raise ValueError("bug in an analysis")

    session.handle(ShowFrame(12, ViewSettings(analyses=(("rock", rock_share), ("broken", broken)))))
    r = session.last_result()
    assert r.analysis["rock"] == pytest.approx(float((r.mask == 1).mean()))
    assert isinstance(r.analysis["broken"], ValueError)
    assert session.rec.of("failed") == []  # the frame is still shown, with its mask


def test_a_quick_play_then_pause_leaves_the_session_paused(session):
    session.submit(Play(0))
    session.submit(Pause())  # before the session thread got to the Play
    with Running(session) as s:
        time.sleep(1.0)
        assert s.last_result() is None
        assert s.rec.of("ended") == []


def test_the_viewer_decodes_without_frame_threads(session, clip):
    """Seeks, pauses and source switches close decoders mid-stream, which can hang a frame-threaded
    FFmpeg decoder (PyAV-Org/PyAV#1849): the session's video decodes with slice threads only, while a
    source opened for reading through (export, fragments) keeps frame threads."""
    session.handle(ShowFrame(30))
    src = session._source
    assert src is not None
    assert src.frame_threads is False
    assert src._reader.stream.thread_type.name == "SLICE"
    with open_source(clip) as through:
        next(iter(through.frames(0)))
        assert through.frame_threads is True
        assert through._reader.container is None  # read() not used: frames() has its own decoder
        through.read(0)
        assert through._reader.stream.thread_type.name == "AUTO"  # frame + slice threads
