"""Issue 19, the app's hand-offs, with real mouse and key events: the first save keeps every stroke and
proposes the label set beside the photos; the confidence line comes back after label mode and a model
switch during playback; the suggestion strip is cleared when the model changes."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QFileDialog

from segtool.core.label_edit import UNKNOWN
from segtool.core.labelset import LabelSet
from tests.gui.helpers import load
from tests.gui.label_support import drag
from tests.helpers import make_small_checkpoint


@pytest.fixture
def photos(shared_data, tmp_path) -> Path:
    """Two real photos (CamVid frames, 480×360) in a folder of their own, as a geologist's photo folder."""
    folder = tmp_path / "gravel"
    folder.mkdir()
    for i, src in enumerate(sorted((shared_data / "camvid" / "val").glob("*.png"))[:2]):
        shutil.copy(src, folder / f"photo{i}.png")
    return folder


def _wait_frame(qtbot, win, hub, index: int) -> None:
    qtbot.waitUntil(
        lambda: (
            win.current is not None
            and win.current.index == index
            and hub.editor is not None
            and hub.key is not None
            and hub.key[1] == f"photo{index}"
        ),
        timeout=10000,
    )


def test_first_save_keeps_every_stroke_and_proposes_the_set_beside_the_photos(
    qtbot, window, gui_checkpoint, photos, monkeypatch
):
    load(qtbot, window, gui_checkpoint, photos)
    window.resize(1000, 760)
    window.canvas.fit()
    hub = window.labels
    assert hub.labelset is None
    QTest.keyClick(window, Qt.Key.Key_L, Qt.KeyboardModifier.ControlModifier)  # Label ▸ Label mode
    _wait_frame(qtbot, window, hub, 0)
    hub.panel.brush.setValue(5)
    QTest.keyClick(window.canvas, Qt.Key.Key_2)  # rock
    drag(window, [(100, 100), (150, 100), (200, 100)])
    first = hub.editor.mask.copy()
    assert first[100, 150] == 1

    proposed: list[str] = []

    def accept_proposed(parent, title, path, *args, **kwargs):  # the dialog's OK on the proposed folder
        proposed.append(path)
        return path, ""

    monkeypatch.setattr(QFileDialog, "getSaveFileName", accept_proposed)
    QTest.keyClick(window, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)  # Ctrl+S: no set yet → asks
    assert proposed  # beside the photos, not inside
    assert Path(proposed[0]) == photos.parent / "gravel_labels"
    root = Path(proposed[0])
    assert np.array_equal(hub.editor.mask, first)  # the stroke is still on screen …
    shown = hub.layer.item.pixmap().toImage()
    assert shown.pixelColor(150, 100).alpha() > 0  # painted on screen
    assert shown.pixelColor(150, 300).alpha() == 0
    ls = LabelSet.open(root)
    assert np.array_equal(ls.load_mask("photo0"), first)  # … and in the saved mask
    assert not hub.editor.dirty

    QTest.keyClick(window.canvas, Qt.Key.Key_1)  # background
    drag(window, [(100, 250), (200, 250)])
    both = hub.editor.mask.copy()
    assert both[100, 150] == 1
    assert both[250, 150] == 0
    QTest.keyClick(window, Qt.Key.Key_Right)  # next photo: autosaves
    _wait_frame(qtbot, window, hub, 1)
    assert (hub.editor.mask == UNKNOWN).all()
    window.seek(0)  # and back
    _wait_frame(qtbot, window, hub, 0)
    assert np.array_equal(hub.editor.mask, both)
    saved = LabelSet.open(root).load_mask("photo0")
    assert np.array_equal(saved, both)  # both strokes saved
    assert not list(photos.glob("*_labels"))  # nothing written among the photos


def test_label_folder_proposals(tmp_path):
    from segtool.core.viewer import SourceInfo
    from segtool.gui.labeling.labelsets import default_label_folder

    photos = tmp_path / "gravel"
    photos.mkdir()
    (photos / "a.jpg").write_bytes(b"")
    (tmp_path / "day1.mp4").write_bytes(b"")

    def info(spec, kind):
        return SourceInfo(1, str(spec), kind, "", False, None, 1, None)

    assert default_label_folder(info(photos, "folder")) == tmp_path / "gravel_labels"
    assert default_label_folder(info(photos / "a.jpg", "image")) == tmp_path / "gravel_labels"
    assert default_label_folder(info(tmp_path / "day1.mp4", "video")) == tmp_path / "day1_labels"
    assert default_label_folder(info("rtsp://cam/1", "stream")).name == "segtool_labels"


def test_confidence_line_comes_back_after_label_mode_and_a_model_switch_during_playback(
    qtbot, window, gui_checkpoint, clip, tmp_path
):
    other = make_small_checkpoint(tmp_path / "other.pt", resize_short=64)[0]
    load(qtbot, window, gui_checkpoint, clip)
    qtbot.waitUntil(window.fit_notice.isVisible, timeout=10000)
    QTest.keyClick(window, Qt.Key.Key_L, Qt.KeyboardModifier.ControlModifier)  # into label mode …
    qtbot.waitUntil(lambda: window.labels.editor is not None, timeout=10000)
    QTest.keyClick(window, Qt.Key.Key_L, Qt.KeyboardModifier.ControlModifier)  # … and out again
    assert not window.labels.active
    window.toggle_play()
    qtbot.waitUntil(lambda: window.current.playing, timeout=10000)
    with qtbot.waitSignal(window.worker.engineReady, timeout=20000):
        window.open_checkpoint(other)  # switch models during playback
    assert not window.fit_notice.isVisible()  # reset for the new model …
    qtbot.waitUntil(
        lambda: (
            window.playing
            and window.current.playing
            and window.current.index > 0
            and window.fit_notice.meter.value is not None
        ),
        timeout=20000,
    )
    assert window.current.confidence is not None
    assert window.fit_notice.isVisible()  # … and back
    assert "confidence" in window.fit_notice.text()
    window.toggle_play()


def test_suggestion_strip_is_cleared_when_the_model_changes(qtbot, window, gui_checkpoint, clip, tmp_path):
    other = make_small_checkpoint(tmp_path / "other.pt", resize_short=64)[0]
    load(qtbot, window, gui_checkpoint, clip)
    strip = window.labels.strip
    with qtbot.waitSignal(strip.finished, timeout=120000):
        strip.start(
            window.source.spec, window.engine_info.checkpoint, 3, every=10, model_path=window.engine_info.path
        )
    assert strip.isVisible()
    assert strip.list.count() == 3
    with qtbot.waitSignal(window.worker.engineReady, timeout=20000):
        window.open_checkpoint(other)
    assert not strip.isVisible()
    assert strip.list.count() == 0
    assert strip.picks == []
    # a ranking still running when the model changes never shows up afterwards
    strip.start(
        window.source.spec, window.engine_info.checkpoint, 3, every=10, model_path=window.engine_info.path
    )
    with qtbot.waitSignal(window.worker.engineReady, timeout=20000):
        window.open_checkpoint(gui_checkpoint)
    assert strip.wait(60)
    qtbot.wait(200)
    assert not strip.isVisible()
    assert strip.list.count() == 0


def _worse_checkpoint(src: Path, out: Path) -> Path:
    """The same network with its rock logit pushed up: it paints every pixel rock."""
    import dataclasses

    from segtool.models.checkpoint import load_checkpoint, save_checkpoint

    ck = load_checkpoint(src)
    sd = dict(ck.state_dict)
    key = next(k for k in sd if k.startswith("classifier.") and k.endswith(".bias") and sd[k].numel() == 2)
    sd[key] = sd[key] + sd[key].new_tensor([0.0, 1e4])
    return save_checkpoint(dataclasses.replace(ck, state_dict=sd), out)


@pytest.fixture
def labelled_run(qtbot, window, gui_checkpoint, clip, tmp_path):
    """Six frames labelled with the viewer model's own mask (so the old model scores 1.0 on them), and a
    run folder over that label set as the wizard writes it (config.json; best.pt per test)."""
    from segtool.training.config import TrainConfig

    load(qtbot, window, gui_checkpoint, clip)
    hub = window.labels
    root = tmp_path / "labels"
    hub.new_label_set(root)
    hub.set_active(True)
    for i in range(6):
        window.seek(i * 10)
        qtbot.waitUntil(
            lambda i=i: (
                hub.key is not None
                and hub.key[1].endswith(f"{i * 10:06d}")
                and window.current.confidence is not None
            ),
            timeout=10000,
        )
        hub.panel.threshold.setValue(0.0)
        hub.start_from_prediction()
        assert hub.save()
    run = tmp_path / "run"
    run.mkdir()
    TrainConfig(data=str(root), output=str(run), init=str(gui_checkpoint), epochs=1).save(run / "config.json")
    hub._before = window.engine_info.checkpoint  # what "Train on my labels" records before opening the wizard
    hub._cmp_wizard = window.training.open_wizard()  # the wizard whose run ended
    return window, hub, run


def test_a_worse_model_is_not_swapped_in_the_dialog_keeps_the_old_one(qtbot, labelled_run, gui_checkpoint):
    win, hub, run = labelled_run
    _worse_checkpoint(gui_checkpoint, run / "best.pt")
    loads: list[str] = []
    win.worker.engineReady.connect(lambda info: loads.append(info.path))
    with qtbot.waitSignal(hub.comparisonReady, timeout=120000):
        hub.compare_and_switch(run)
    v = hub.last_verdict
    assert v.better is False
    assert v.before == pytest.approx(1.0)
    assert v.after < 0.7
    assert v.frames >= 1
    box = hub.comparison_box
    assert box.isVisible()
    assert "lower" in box.text()
    assert f"{v.before:.3f}" in box.text()
    assert f"{v.after:.3f}" in box.text()
    assert f"{v.frames} held-out" in box.text()
    keep = next(b for b in box.buttons() if b.text() == "Keep the old model")
    assert box.defaultButton() is keep
    QTest.mouseClick(keep, Qt.MouseButton.LeftButton)
    qtbot.wait(300)
    assert loads == []  # the old model stays
    assert win.engine_info.path == str(gui_checkpoint)
    note = hub._cmp_wizard.results_page.comparison_note
    assert not note.isHidden()  # amber
    assert "keeps the old model" in note.text()
    assert "fff4d6" in note.styleSheet()


def test_a_worse_model_is_used_only_when_the_user_chooses_it(qtbot, labelled_run, gui_checkpoint):
    win, hub, run = labelled_run
    _worse_checkpoint(gui_checkpoint, run / "best.pt")
    with qtbot.waitSignal(hub.comparisonReady, timeout=120000):
        hub.compare_and_switch(run)
    use = next(b for b in hub.comparison_box.buttons() if b.text() == "Use the new model anyway")
    with qtbot.waitSignal(win.worker.engineReady, timeout=20000):
        QTest.mouseClick(use, Qt.MouseButton.LeftButton)
    assert win.engine_info.path == str(run / "best.pt")


def test_a_model_at_least_as_good_is_switched_to(qtbot, labelled_run, gui_checkpoint):
    win, hub, run = labelled_run
    shutil.copy(gui_checkpoint, run / "best.pt")  # the same weights: exactly as good
    with qtbot.waitSignal(win.worker.engineReady, timeout=120000):
        hub.compare_and_switch(run)
    assert hub.last_verdict.better is True
    assert win.engine_info.path == str(run / "best.pt")
    assert "now shows the new model" in hub.comparison_box.text()
    note = hub._cmp_wizard.results_page.comparison_note
    assert not note.isHidden()
    assert "fff4d6" not in note.styleSheet()


def test_results_page_shows_trainings_own_warnings_without_advice(qtbot, window):
    """report.json's `warnings` from training (divergence, worse than the start) may carry no "try" list;
    the Results page shows them under their own heading instead of failing on a missing key."""
    page = window.training.open_wizard().results_page
    page._show_warnings(
        [{"kind": "worse_than_start", "message": "the new model scored lower than the start (0.32 < 0.66)"}]
    )
    assert not page.warning.isHidden()
    assert "Training warned" in page.warning.text()
    assert "scored lower than the start" in page.warning.text()
    assert "What to try" not in page.warning.text()
    page._show_warnings(
        [
            {
                "class": "rock",
                "problem": "never_predicted",
                "message": "the model never predicts 'rock'",
                "try": ["label more rock"],
            }
        ]
    )
    assert "not useful yet" in page.warning.text()
    assert "Label more rock" in page.warning.text()
    page.show_comparison_note("<b>The viewer keeps the old model</b>", warn=True)
    assert not page.comparison_note.isHidden()
    assert "fff4d6" in page.comparison_note.styleSheet()
