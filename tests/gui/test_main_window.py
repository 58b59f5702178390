"""The main window on the real clip with a tiny real checkpoint: model panel, playback, seeking,
class toggles, errors, settings, closing while busy."""

from __future__ import annotations

import numpy as np
import pytest

from segtool.gui.canvas import qimage_to_array
from segtool.gui.render import compose
from tests.gui.helpers import load, nearest_frame

N = 101


def shown(win) -> np.ndarray:
    return qimage_to_array(win.canvas.image())


def test_checkpoint_panel_shows_classes_colours_and_metrics(qtbot, window, gui_checkpoint):
    load(qtbot, window, gui_checkpoint)
    legend = window.panel.legend
    assert [legend.topLevelItem(i).text(0) for i in range(legend.topLevelItemCount())] == [
        "background",
        "rock",
    ]
    assert legend.topLevelItem(1).text(2) == "0.550"
    icon = legend.topLevelItem(1).icon(0).pixmap(14, 14).toImage()
    assert icon.pixelColor(7, 7).getRgb()[:3] == (250, 50, 83)
    text = window.panel.summary.text()
    assert "mobilenet_v3_large" in text
    assert "0.612" in text
    assert "cpu" in text
    assert "cpu" in window.status_device.text()


def test_playing_shows_masks_of_the_frame_they_belong_to(
    qtbot, window, gui_checkpoint, clip, truth, reference_engine
):
    load(qtbot, window, gui_checkpoint, clip)
    seen = []
    original = window.render

    def spy():
        original()
        r = window.current
        seen.append((r, shown(window)))

    window.panel.opacity.setValue(60)
    window.render = spy
    window.worker.speed = 4.0
    window.toggle_play()
    assert window.playing
    qtbot.waitUntil(lambda: len(seen) >= 8, timeout=30000)
    window.toggle_play()  # pause
    assert not window.playing
    indices = [r.index for r, _ in seen]
    assert indices == sorted(indices)  # forward, no repeats
    assert len(set(indices)) == len(indices)
    for r, picture in seen[:8]:
        assert r.mask is not None
        assert r.playing
        assert nearest_frame(r.rgb, truth) == r.index  # the frame is the frame its index says
        expected_mask = reference_engine.predict([np.array(r.rgb)])[0].mask
        assert np.array_equal(r.mask, expected_mask)  # the mask was computed from this very frame
        assert 0 < (r.mask == 1).mean() < 1  # both classes occur: the comparison means something
        want = compose(
            r.rgb, r.mask, window.engine_info.palette, alpha=0.6, visible=window.panel.legend.visible()
        )
        assert np.abs(picture.astype(int) - want).max() <= 1  # the screen shows exactly that pair
        assert not r.rgb.flags.writeable  # read-only copies
        assert not r.mask.flags.writeable


def test_seek_shows_the_exact_frame(qtbot, window, gui_checkpoint, clip, truth):
    load(qtbot, window, gui_checkpoint, clip)
    window.panel.opacity.setValue(0)  # the picture is then the bare frame
    for n in (57, 3, 100):
        window.player.frame.setValue(n)  # type a frame number (no keyboard tracking: one seek)
        qtbot.waitUntil(
            lambda n=n: window.current.index == n and window.current.mask is not None, timeout=10000
        )
        assert nearest_frame(window.current.rgb, truth) == n
        assert nearest_frame(shown(window), truth) == n
        assert window.player.slider.value() == n
    window.step(-1)
    qtbot.waitUntil(lambda: window.current.index == 99 and window.current.mask is not None, timeout=10000)
    assert nearest_frame(shown(window), truth) == 99


def test_toggling_a_class_changes_exactly_its_pixels(qtbot, window, gui_checkpoint, clip):
    load(qtbot, window, gui_checkpoint, clip)
    r = window.current
    rock = r.mask == 1
    assert rock.any()
    assert (~rock).any()
    before = shown(window)
    with qtbot.waitSignal(window.panel.legend.visibilityChanged):
        window.panel.legend.set_visible(1, False)
    after = shown(window)
    assert not np.array_equal(before[rock], after[rock])
    assert np.array_equal(after[rock], np.asarray(r.rgb)[rock])  # hidden class: the bare frame
    assert np.array_equal(before[~rock], after[~rock])  # other classes untouched
    share = window.panel.legend.topLevelItem(1).text(1)
    assert share == f"{100 * rock.mean():.1f} %"


@pytest.mark.parametrize("mode", ["mask", "side", "outlines"])
def test_display_modes(qtbot, window, gui_checkpoint, clip, mode):
    load(qtbot, window, gui_checkpoint, clip)
    window.panel.legend.set_visible(0, True)  # background starts hidden: show every class here
    window.panel.set_mode_key(mode)
    img = shown(window)
    r = window.current
    rgb, mask, palette = np.asarray(r.rgb), r.mask, window.engine_info.palette
    h, w = mask.shape
    assert img.shape == ((h, 2 * w, 3) if mode == "side" else (h, w, 3))
    assert 0 < (mask == 1).mean() < 1  # both classes on screen: the checks below see both colours
    if mode in ("mask", "side"):
        colours = img[:, w:] if mode == "side" else img
        for k in (0, 1):
            assert (colours[mask == k] == palette[k]).all()  # every pixel in its class colour
    if mode == "side":
        assert np.array_equal(img[:, :w], rgb)  # the bare frame beside it
    if mode == "outlines":
        # where the class changes to the right or below, a line is drawn in a class colour (2 px wide);
        # pixels 3 px or more from any change show the bare frame
        edge = np.zeros((h, w), bool)
        edge[:, :-1] |= mask[:, :-1] != mask[:, 1:]
        edge[:-1] |= mask[:-1] != mask[1:]
        near = np.zeros((h, w), bool)
        for dy in range(-2, 3):
            for dx in range(-2, 3):
                near |= np.roll(edge, (dy, dx), axis=(0, 1))
        assert edge.any()
        assert (~near).any()
        on_edge = img[edge]
        assert ((on_edge == palette[0]).all(-1) | (on_edge == palette[1]).all(-1)).all()
        assert (on_edge != rgb[edge]).any(-1).mean() > 0.99  # drawn over the frame, not the frame itself
        assert np.array_equal(img[~near], rgb[~near])


def test_confidence_shading(qtbot, window, gui_checkpoint, clip, reference_engine):
    load(qtbot, window, gui_checkpoint, clip)
    window.panel.set_mode_key("mask")
    plain = shown(window)
    window.panel.confidence.setChecked(True)
    qtbot.waitUntil(lambda: window.current.confidence is not None, timeout=10000)
    r = window.current
    c = r.confidence
    expected = reference_engine.predict([np.array(r.rgb)], confidence=True)[0].confidence
    assert c.shape == r.mask.shape  # the model's own confidence
    assert np.allclose(c, expected, atol=1e-4)
    # 2 classes: a coin flip (0.5) paints black, certainty (1.0) the full class colour, linear between
    shade = np.clip((c - 0.5) / 0.5, 0, 1)
    want = window.engine_info.palette[r.mask] * shade[..., None]
    assert np.abs(shown(window).astype(float) - want).max() <= 1.0
    # the shading is visible on this frame: some rock pixels are clearly darker than without it
    rock = r.mask == 1
    assert (shade[rock] < 0.25).any()
    assert (shade[rock] > 0.75).any()
    unsure = rock & (shade < 0.5)
    assert (shown(window)[unsure].astype(int).sum(-1) < plain[unsure].astype(int).sum(-1)).all()


def test_corrupt_video_shows_error_and_app_still_works(qtbot, window, gui_checkpoint, clip, tmp_path):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 40)
    with qtbot.waitSignal(window.worker.failed, timeout=10000):
        window.open_source(bad)
    assert "broken.mp4" in window.last_error
    assert "broken.mp4" in window.statusBar().currentMessage()
    assert window._dialog is not None
    assert window._dialog.isVisible()
    assert not window._dialog.isModal()
    window._dialog.close()
    load(qtbot, window, gui_checkpoint, clip)  # still works afterwards
    assert window.current.index == 0


def test_bad_checkpoint_shows_error_and_window_stays_usable(qtbot, window, gui_checkpoint, tmp_path):
    bad = tmp_path / "broken.pt"
    bad.write_text("not a checkpoint")
    with qtbot.waitSignal(window.worker.failed, timeout=10000):
        window.open_checkpoint(bad)
    assert "not a PyTorch file" in window.last_error
    assert "checkpoint" in window._dialog.windowTitle().lower()
    load(qtbot, window, gui_checkpoint)
    assert window.panel.legend.topLevelItemCount() == 2


def test_truncated_video_stops_playback_with_a_message(qtbot, window, gui_checkpoint, clip, tmp_path):
    cut = tmp_path / "cut.mp4"
    data = clip.read_bytes()
    cut.write_bytes(data[: len(data) * 6 // 10])
    load(qtbot, window, gui_checkpoint, cut)
    window.worker.speed = 8.0
    with qtbot.waitSignal(window.worker.failed, timeout=30000) as sig:
        window.toggle_play()
    assert "truncated" in sig.args[1]
    qtbot.waitUntil(lambda: not window.playing, timeout=5000)
    window.seek(2)  # the window is still usable
    qtbot.waitUntil(lambda: window.current.index == 2, timeout=10000)


def test_folder_browsing_with_next_and_previous(qtbot, window, gui_checkpoint, truth, tmp_path):
    from PIL import Image

    for i in (0, 10, 20):
        Image.fromarray(truth[i]).save(tmp_path / f"shot{i}.png")
    load(qtbot, window, gui_checkpoint, tmp_path)
    assert window.source.kind == "folder"
    assert window.source.frames == 3
    assert window.current.name == "shot0.png"
    window.step(1)
    qtbot.waitUntil(
        lambda: window.current.name == "shot10.png" and window.current.mask is not None, timeout=10000
    )
    assert window.player.time.text() == "shot10.png"
    window.step(1)
    window.step(1)  # past the end: stays on the last image
    qtbot.waitUntil(lambda: window.current.name == "shot20.png", timeout=10000)
    assert nearest_frame(window.current.rgb, truth) == 20


def test_loop_plays_past_the_end(qtbot, window, gui_checkpoint, clip):
    load(qtbot, window, gui_checkpoint, clip)
    window.player.loop.setChecked(True)
    window.worker.speed = 8.0
    window.seek(95)
    qtbot.waitUntil(lambda: window.current.index == 95, timeout=10000)
    window.toggle_play()
    seen = []
    window.worker.resultReady.connect(lambda: seen.append(window.current.index if window.current else -1))
    qtbot.waitUntil(lambda: any(i < 50 for i in seen[3:]), timeout=30000)
    assert window.playing


def test_closing_while_playing_stops_every_thread(qtbot, settings, gui_checkpoint, clip):
    from segtool.gui.main_window import MainWindow

    win = MainWindow(settings)
    qtbot.addWidget(win)
    win.show()
    load(qtbot, win, gui_checkpoint, clip)
    win.toggle_play()
    qtbot.wait(300)
    win.close()
    assert not win.worker.isRunning()


def test_settings_persist_between_runs(qtbot, settings):
    from segtool.gui.main_window import MainWindow

    win = MainWindow(settings)
    qtbot.addWidget(win)
    win.show()
    win.panel.opacity.setValue(30)
    win.panel.set_mode_key("outlines")
    win.resize(760, 560)  # within the offscreen screen (800x600): restoreGeometry clamps to the screen
    size = win.size()
    win.settings.push_recent("recent/sources", "/data/a.mp4")
    win.close()
    again = MainWindow(settings)
    qtbot.addWidget(again)
    again.show()
    assert again.panel.opacity.value() == 30
    assert again.panel.mode_key() == "outlines"
    assert again.size() == size
    assert [a.text() for a in again.recent_src_menu.actions()] == ["/data/a.mp4"]
    again.close()


def test_drop_checkpoint_and_video_together(qtbot, window, gui_checkpoint, clip):
    window.open_dropped([str(clip), str(gui_checkpoint)])
    qtbot.waitUntil(lambda: window.current is not None and window.engine_info is not None, timeout=20000)
    window.seek(0)
    qtbot.waitUntil(lambda: window.current.mask is not None, timeout=10000)


def test_app_with_source_and_checkpoint(qtbot, gui_checkpoint, clip, settings):
    """`segtool gui CLIP -c CKPT` opens the window with both loaded."""
    from segtool.gui.app import close_app, open_app

    _, window, launcher = open_app([str(clip), "-c", str(gui_checkpoint)], settings=settings)
    try:
        assert launcher is None
        qtbot.waitUntil(lambda: window.current is not None and window.current.mask is not None, timeout=30000)
        assert window.current.index == 0
        assert window.panel.legend.topLevelItemCount() == 2
    finally:
        window.close()
        close_app(window, launcher)


def test_main_runs_the_event_loop_in_a_subprocess(gui_checkpoint, tmp_path):
    """The real entry point end to end, in its own process (quitting an event loop here would leave
    Qt's quit flag set for the other tests): `segtool gui -c CKPT --no-demo` starts, runs, and exits 0
    when its window is closed."""
    import os
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from PySide6.QtCore import QTimer\n"
        "from PySide6.QtWidgets import QApplication\n"
        "from segtool.cli import main\n"
        "QApplication(sys.argv[:1])\n"
        "def close_when_shown():\n"  # the startup window comes first; close once the main window is up
        "    if any(type(w).__name__ == 'MainWindow' and w.isVisible() for w in QApplication.topLevelWidgets()):\n"
        "        QTimer.singleShot(1500, lambda: [w.close() for w in QApplication.topLevelWidgets()])\n"
        "    else:\n"
        "        QTimer.singleShot(200, close_when_shown)\n"
        "close_when_shown()\n"
        f"sys.exit(main(['gui', '--no-demo', '-c', {str(gui_checkpoint)!r}]))\n"
    )
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "HOME": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_the_window_shows_before_torch_and_closing_it_quits(tmp_path):
    """`segtool` shows the startup window while torch is not yet imported; closing it ends the app."""
    import os
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from PySide6.QtCore import QTimer\n"
        "from PySide6.QtWidgets import QApplication\n"
        "from segtool.cli import main\n"
        "QApplication(sys.argv[:1])\n"
        "seen = []\n"
        "def look():\n"
        "    shown = [type(w).__name__ for w in QApplication.topLevelWidgets() if w.isVisible()]\n"
        "    if 'StartupWindow' in shown:\n"
        "        seen.append('torch' in sys.modules and 'segtool.gui.main_window' in sys.modules)\n"
        "        [w.close() for w in QApplication.topLevelWidgets()]\n"
        "    else:\n"
        "        QTimer.singleShot(5, look)\n"
        "QTimer.singleShot(0, look)\n"
        "code = main(['gui', '--no-demo'])\n"
        "print('SEEN', seen, 'MAIN', any(type(w).__name__ == 'MainWindow' for w in QApplication.topLevelWidgets()))\n"
        "sys.exit(code)\n"
    )
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "HOME": str(tmp_path),
        "XDG_CONFIG_HOME": str(tmp_path),
    }
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "SEEN [False] MAIN False" in proc.stdout, proc.stdout


def test_fit_notice_shows_the_model_confidence_on_the_footage(qtbot, window, gui_checkpoint, clip):
    load(qtbot, window, gui_checkpoint, clip)
    qtbot.waitUntil(lambda: window.fit_notice.meter.value is not None, timeout=10000)
    assert not window.fit_notice.isHidden()
    assert "confidence" in window.fit_notice.text()
    assert window.current.confidence is not None
    assert not window.panel.confidence.isChecked()
