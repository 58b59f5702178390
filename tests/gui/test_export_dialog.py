"""Export from the window: the dialog runs `segtool predict`'s job in the background, with progress,
to completion and to cancellation, while the viewer keeps working."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
from PIL import Image

from tests.gui.helpers import load, wait_for_progress


def start(qtbot, window, out, *, end=0, every=1, overlay=False):
    dlg = window.open_export_dialog()
    assert dlg is not None
    assert dlg.isVisible()
    assert not dlg.isModal()
    dlg.out.setText(str(out))
    dlg.end.setValue(end)
    dlg.every.setValue(every)
    dlg.overlay.setChecked(overlay)
    dlg.start_btn.click()
    assert dlg.running()
    return dlg


def test_export_runs_to_completion_while_the_user_browses(
    qtbot, window, gui_checkpoint, clip, reference_engine
):
    load(qtbot, window, gui_checkpoint, clip)
    out = Path(window.settings.store.fileName()).parent / "export"
    progress = []
    dlg = start(qtbot, window, out, end=30, every=3, overlay=True)
    dlg.job.progress.connect(lambda p: progress.append(p))
    window.seek(60)  # the viewer keeps working during the export
    qtbot.waitUntil(lambda: window.current.index == 60 and window.current.mask is not None, timeout=20000)
    qtbot.waitUntil(lambda: not dlg.running() and dlg.exit_code is not None, timeout=60000)
    assert dlg.exit_code == 0, dlg.eta.text()
    assert "Finished" in dlg.eta.text()
    assert dlg.bar.value() == dlg.bar.maximum() == 10
    assert [p.done for p in progress] == list(range(1, 11))
    summary = json.loads(open(f"{out}/summary.json").read())
    assert summary["complete"] is True
    assert summary["frames_written"] == 10
    masks = sorted(p.name for p in Path(out, "masks").glob("*.png"))
    assert masks == [f"{i:06d}.png" for i in range(0, 30, 3)]
    rows = list(csv.DictReader(open(f"{out}/coverage.csv")))
    assert [int(r["frame"]) for r in rows] == list(range(0, 30, 3))
    assert Path(out, "overlay.mp4").is_file()
    # the exported masks are the viewer's masks (same core job, same model)
    from segtool.core.sources import open_source

    with open_source(clip) as src:
        want = reference_engine.predict([src.read(0).rgb])[0].mask
    assert np.array_equal(np.asarray(Image.open(f"{out}/masks/000000.png")), want)
    assert dlg.open_btn.isVisible()


def test_export_can_be_cancelled(qtbot, window, gui_checkpoint, clip, tmp_path):
    load(qtbot, window, gui_checkpoint, clip)
    out = tmp_path / "out"
    dlg = start(qtbot, window, out)
    wait_for_progress(qtbot, dlg.job.progress)
    dlg.cancel_btn.click()  # Cancel while running
    qtbot.waitUntil(lambda: not dlg.running() and dlg.exit_code is not None, timeout=30000)
    assert dlg.exit_code == 130
    assert "Cancelled" in dlg.eta.text()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["complete"] is False
    assert 0 < summary["frames_written"] < 101
    # Resume from the dialog finishes the job without redoing frames.
    dlg.existing.setCurrentIndex(dlg.existing.findData("resume"))
    dlg.start_btn.click()
    qtbot.waitUntil(lambda: not dlg.running() and dlg.exit_code is not None, timeout=60000)
    assert dlg.exit_code == 0, dlg.eta.text()
    assert len(list((out / "masks").glob("*.png"))) == 101


def test_export_into_an_old_export_explains_the_choice(qtbot, window, gui_checkpoint, clip, tmp_path):
    load(qtbot, window, gui_checkpoint, clip)
    out = tmp_path / "out"
    out.mkdir()
    (out / "summary.json").write_text("{}")
    dlg = start(qtbot, window, out, end=5)
    qtbot.waitUntil(lambda: not dlg.running() and dlg.exit_code is not None, timeout=30000)
    assert dlg.exit_code == 2  # the core message, shown as is
    assert "--overwrite" in dlg.error
    assert window.isVisible()


def test_closing_the_window_cancels_a_running_export(qtbot, settings, gui_checkpoint, clip, tmp_path):
    from segtool.gui.main_window import MainWindow

    win = MainWindow(settings)
    qtbot.addWidget(win)
    win.show()
    load(qtbot, win, gui_checkpoint, clip)
    dlg = start(qtbot, win, tmp_path / "out")
    wait_for_progress(qtbot, dlg.job.progress)
    win.close()
    assert not dlg.job.isRunning()
    assert not win.worker.isRunning()
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["complete"] is False


def test_export_without_a_model_says_what_to_do(qtbot, window, clip):
    load(qtbot, window, None, clip)
    assert window.open_export_dialog() is None
    assert "checkpoint" in window.last_error


def test_overlay_export_looks_like_the_view(qtbot, window, gui_checkpoint, clip, tmp_path):
    """Background hidden in the view (the default for a class named background) and opacity 70 %: the
    exported overlay leaves background pixels as in the video instead of darkening them, and says so."""
    import av

    from segtool.core.sources import open_source

    load(qtbot, window, gui_checkpoint, clip)
    assert window.panel.legend.visible() == [False, True]  # a new model: background starts hidden
    window.panel.opacity.setValue(70)
    out = tmp_path / "wysiwyg"
    dlg = start(qtbot, window, out, end=1, overlay=True)
    assert "background hidden" in dlg.view_note.text()
    assert "70 %" in dlg.view_note.text()
    qtbot.waitUntil(lambda: not dlg.running() and dlg.exit_code is not None, timeout=60000)  # done delivered
    assert dlg.exit_code == 0, dlg.eta.text()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["overlay_style"] == {"opacity": 0.7, "hidden_classes": ["background"]}
    with av.open(str(out / "overlay.mp4")) as c:
        video = next(c.decode(video=0)).to_ndarray(format="rgb24").astype(float)
    with open_source(clip) as src:
        rgb = src.read(0).rgb.astype(float)
    mask = np.asarray(Image.open(out / "masks" / "000000.png"))
    bg, rock = mask == 0, mask == 1
    assert bg.any()
    assert rock.any()
    assert abs(video[bg].mean() - rgb[bg].mean()) < 3  # was 104.6 -> 60.2 before: background darkened
    assert abs(video[rock][:, 0].mean() - (0.3 * rgb[rock][:, 0].mean() + 0.7 * 250)) < 12  # rock red at 70 %


def test_export_dialog_names_the_model_after_a_switch(qtbot, window, gui_checkpoint, clip, tmp_path):
    """Switching the model with the dialog open: the dialog names (and will use) the new one; the class
    ticks of a model with the same classes are kept."""
    import shutil

    from PySide6.QtWidgets import QLabel

    load(qtbot, window, gui_checkpoint, clip)
    window.panel.legend.set_visible(0, True)
    dlg = window.open_export_dialog()
    dlg.out.setText(str(tmp_path / "keep"))
    other = tmp_path / "other_model.pt"
    shutil.copy(gui_checkpoint, other)
    with qtbot.waitSignal(window.worker.engineReady, timeout=20000):
        window.open_checkpoint(str(other))
    now = window.export_dialog
    assert now is not dlg
    assert now.isVisible()
    assert not dlg.isVisible()
    assert now.checkpoint_path == str(other)
    assert now.checkpoint is window.engine_info.model
    assert any("other_model.pt" in w.text() for w in now.findChildren(QLabel))
    assert now.out.text() == str(tmp_path / "keep")  # the folder the user typed is kept
    assert window.panel.legend.visible() == [True, True]  # same classes: the user's ticks stay


def test_export_uses_the_weights_on_screen_without_reading_the_file_again(
    qtbot, window, gui_checkpoint, clip, tmp_path, reference_engine, monkeypatch
):
    """The window hands the export its loaded Checkpoint: the file is read once, off the GUI thread,
    and a file changed on disk after loading does not change (or break) the export."""
    import shutil
    import threading

    import torch

    ckpt = tmp_path / "model.pt"
    shutil.copy(gui_checkpoint, ckpt)
    reads, real_load = [], torch.load

    def spy(f, *args, **kwargs):
        reads.append((str(f), threading.current_thread() is threading.main_thread()))
        return real_load(f, *args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    load(qtbot, window, ckpt, clip)
    ckpt.write_bytes(b"not a checkpoint any more")
    dlg = start(qtbot, window, tmp_path / "out", end=2)
    assert dlg.checkpoint is window.engine_info.model  # the viewer's ModelFile, weights included
    qtbot.waitUntil(lambda: not dlg.running() and dlg.exit_code is not None, timeout=60000)
    assert dlg.exit_code == 0, dlg.eta.text()
    assert reads == [(str(ckpt), False)]  # once, in the viewer's worker thread
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["checkpoint"] == str(ckpt)
    from segtool.core.sources import open_source

    with open_source(clip) as src:
        want = reference_engine.predict([src.read(1).rgb])[0].mask
    assert np.array_equal(np.asarray(Image.open(tmp_path / "out" / "masks" / "000001.png")), want)


def test_a_selection_that_selects_nothing_is_explained_not_raised(
    qtbot, window, gui_checkpoint, clip, tmp_path
):
    load(qtbot, window, gui_checkpoint, clip)
    dlg = window.open_export_dialog()
    dlg.out.setText(str(tmp_path / "out"))
    dlg.start.setValue(10)
    dlg.end.setValue(5)  # "to" before "from"
    dlg.start_btn.click()
    assert not dlg.running()
    assert "--end 5 must be greater than --start 10" in dlg.eta.text()
    assert not (tmp_path / "out").exists()
