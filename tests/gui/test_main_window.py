"""The main window opens offscreen, shows a checkpoint's classes, and survives a bad file."""

from __future__ import annotations

import pytest

from models import Checkpoint, build_deeplabv3, make_classes, save_checkpoint


@pytest.fixture(scope="module")
def gui_checkpoint(tmp_path_factory):
    model = build_deeplabv3(backbone="mobilenet_v3_large", num_classes=3, aux_head=False)
    ckpt = Checkpoint(
        config=model.config,
        classes=make_classes(["background", "rock", "vein"], [[0, 0, 0], [250, 50, 83], [20, 200, 20]]),
        state_dict=model.state_dict(),
        train={"metrics": {"miou": 0.612, "per_class_iou": {"background": 0.9, "rock": 0.55, "vein": None}}},
    )
    return save_checkpoint(ckpt, tmp_path_factory.mktemp("gui") / "rocks.pt")


def test_open_checkpoint_shows_classes_with_colours(qtbot, gui_checkpoint):
    from segtool.gui.main_window import MainWindow

    win = MainWindow()
    qtbot.addWidget(win)
    win.show()
    assert win.open_checkpoint(gui_checkpoint)
    items = [win.checkpoint_panel.classes.item(i) for i in range(win.checkpoint_panel.classes.count())]
    assert [it.text().split()[0] for it in items] == ["background", "rock", "vein"]
    assert "IoU 0.550" in items[1].text()
    icon = items[1].icon().pixmap(14, 14).toImage()
    assert icon.pixelColor(7, 7).getRgb()[:3] == (250, 50, 83)
    assert "mobilenet_v3_large" in win.checkpoint_panel.summary.text()
    assert "mIoU 0.612" in win.checkpoint_panel.summary.text()


def test_bad_file_shows_error_and_window_stays_usable(qtbot, gui_checkpoint, tmp_path):
    from segtool.gui.main_window import MainWindow

    win = MainWindow()
    qtbot.addWidget(win)
    win.show()
    bad = tmp_path / "broken.pt"
    bad.write_text("not a checkpoint")
    assert not win.open_checkpoint(bad)
    assert "not a PyTorch file" in win.last_error
    assert "broken.pt" in win.statusBar().currentMessage()
    assert win._dialog is not None and win._dialog.isVisible()
    win._dialog.close()
    assert win.open_checkpoint(gui_checkpoint)  # still works afterwards
    assert win.checkpoint_panel.classes.count() == 3


def test_app_main_with_checkpoint_argument(qtbot, gui_checkpoint):
    """`segtool gui -c CKPT` opens the window with the checkpoint loaded (event loop quit by a timer)."""
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from segtool.gui.app import main

    seen = {}

    def inspect_and_quit():
        wins = [w for w in QApplication.topLevelWidgets() if w.objectName() == "" and hasattr(w, "checkpoint_panel")]
        seen["count"] = wins[-1].checkpoint_panel.classes.count() if wins else -1
        for w in wins:
            w.close()
        QApplication.instance().quit()

    QTimer.singleShot(200, inspect_and_quit)
    assert main(["-c", str(gui_checkpoint)]) == 0
    assert seen["count"] == 3
