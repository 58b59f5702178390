"""The built-in demo in the app: started with no arguments, the window generates the synthetic clip
(first run, with a progress dialog), loads the shipped demo model, plays with the mask on, and says
that it is a synthetic demo. Tiny clips keep these fast; the real start-up time is measured in
benchmarks/bench_demo.py."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QPushButton, QToolBar

from segtool import demo
from segtool.gui.demo_banner import DemoLauncher

TINY = demo.ClipSpec(seed=3, width=160, height=96, frames=8, fps=10)
LONG = demo.ClipSpec(seed=1, width=96, height=64, frames=2000, fps=25)  # long enough to cancel mid-way


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SEGTOOL_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def launcher(window):
    made = []

    def make(spec=TINY):
        made.append(DemoLauncher(window, spec))
        return made[-1]

    yield make
    for d in made:
        d.shutdown()


def _playing_with_mask(window) -> bool:
    return window.playing and window.current is not None and window.current.mask is not None


def test_first_run_generates_the_clip_with_progress_then_plays_the_demo(qtbot, window, cache, launcher):
    d = launcher()
    d.start()
    assert d.dialog is not None  # progress while the clip is generated
    assert d.dialog.isVisible()
    assert "first run" in d.dialog.labelText()
    qtbot.waitUntil(lambda: d.started and _playing_with_mask(window), timeout=30000)
    assert d.dialog is None
    assert demo.demo_clip_path(TINY).is_file()
    assert window.engine_info.path == str(demo.demo_checkpoint())
    assert window.engine_info.class_names == ["background", "rock"]
    assert window.player.loop.isChecked()
    assert window.panel.legend.visible() == [False, True]  # rocks coloured over the natural ground
    # The notice is on screen and says what this is and how to open one's own files.
    assert d.toolbar.isVisible()
    text = d.banner.text.text()
    assert "Synthetic demo" in text
    assert "Open video/image" in text
    assert "Open model" in text


def test_cached_clip_opens_without_a_dialog(qtbot, window, cache, launcher):
    demo.ensure_demo_clip(TINY)
    d = launcher()
    d.start()
    assert d.dialog is None
    assert d.job is None
    qtbot.waitUntil(lambda: d.started and _playing_with_mask(window), timeout=30000)


def test_opening_your_own_video_hides_the_notice(qtbot, window, cache, launcher, tmp_path):
    other = demo.write_clip(
        tmp_path / "mine.mp4", demo.ClipSpec(seed=9, width=160, height=96, frames=4, fps=10)
    )
    demo.ensure_demo_clip(TINY)
    d = launcher()
    d.start()
    qtbot.waitUntil(lambda: d.started, timeout=30000)
    assert d.toolbar.isVisible()
    window.open_source(str(other))
    qtbot.waitUntil(lambda: window.source is not None and window.source.spec == str(other), timeout=10000)
    qtbot.waitUntil(lambda: not d.toolbar.isVisible(), timeout=5000)


def test_cancel_leaves_nothing_in_the_cache_and_says_what_to_do(qtbot, window, cache, launcher):
    d = launcher(LONG)
    d.start()
    cancel_button = d.dialog.findChild(QPushButton)
    clicked: list[int] = []

    def cancel_once(done: int, total: int) -> None:
        # the first progress that arrives (on a loaded machine the worker may have sent "1" before this
        # connection existed, so `done == 1` could never be seen); click once only: the dialog goes away
        if done >= 1 and not clicked:
            clicked.append(done)
            cancel_button.click()

    d.job.progress.connect(cancel_once)
    qtbot.waitUntil(lambda: not d.job.isRunning(), timeout=60000)
    qtbot.waitUntil(lambda: d.dialog is None, timeout=5000)
    assert not any(p.is_file() for p in (cache / "demo").iterdir())
    assert not d.toolbar.isVisible()
    assert "Demo cancelled" in window.statusBar().currentMessage()
    assert window.engine_info is None
    assert window.source is None


def test_closing_the_window_while_generating_stops_the_thread(qtbot, window, cache, launcher):
    d = launcher(LONG)
    d.start()
    qtbot.waitUntil(lambda: d.dialog.value() > 0, timeout=10000)
    window.close()
    assert not d.job.isRunning()


def test_app_without_arguments_plays_the_demo(qtbot, cache, settings, monkeypatch):
    """`segtool` with nothing to open: the demo plays with its notice."""
    from segtool.gui.app import close_app, open_app

    monkeypatch.setattr(demo, "DEMO_CLIP", TINY)
    _, window, launcher = open_app([], settings=settings)
    try:
        qtbot.waitUntil(lambda: _playing_with_mask(window), timeout=60000)
        bar = window.findChild(QToolBar, "demo-banner")
        assert bar is not None
        assert bar.isVisible()
        assert window.source.spec == str(demo.demo_clip_path(TINY))
    finally:
        window.close()
        close_app(window, launcher)


def test_no_demo_flag_starts_empty(qtbot, cache, settings):
    from segtool.gui.app import close_app, open_app

    _, window, launcher = open_app(["--no-demo"], settings=settings)
    try:
        qtbot.wait(200)
        assert launcher is None
        assert window.source is None
        assert window.findChild(QToolBar, "demo-banner") is None
        assert not (cache / "demo").exists()
    finally:
        window.close()
        close_app(window, launcher)
