"""The app says so when the label set it opens is an unfinished import (issue 24), and refuses to export it."""

from __future__ import annotations

import numpy as np

from segtool.core.labelset import INCOMPLETE, LabelSet


def _unfinished_set(root):
    ls = LabelSet.create(
        root, [{"name": "background", "color": [0, 0, 0]}, {"name": "rock", "color": [250, 50, 83]}]
    )
    mask = np.full((12, 16), 255, np.uint8)
    mask[2:6, 3:9] = 1
    ls.save(np.zeros((12, 16, 3), np.uint8), mask, source="a.jpg")
    (root / INCOMPLETE).write_text('{"export": "/exports/task_7.zip"}')  # as a killed import leaves it


def test_opening_an_unfinished_import_says_so(qtbot, window, tmp_path, monkeypatch):
    _unfinished_set(tmp_path / "L")
    hub = window.labels
    hub.open_label_set(tmp_path / "L")
    assert "unfinished import" in window.last_error
    assert "task_7.zip" in window.last_error
    assert "UNFINISHED" in hub.panel.set_label.text()
    # export from the app is refused with the same reason (the save dialog answered with a file name)
    from segtool.gui.labeling import labelsets

    monkeypatch.setattr(
        labelsets.QFileDialog, "getSaveFileName", lambda *a, **k: (str(tmp_path / "x.zip"), "")
    )
    window.last_error = ""
    hub.choose_export_cvat()
    assert "unfinished import" in window.last_error
    assert not (tmp_path / "x.zip").exists()


def test_a_damaged_mask_in_label_mode_is_a_message_not_a_failed_slot(qtbot, labelling):  # noqa: F811
    from tests.gui.label_support import drag

    win, hub, root = labelling
    drag(win, [(200, 200), (240, 200)])
    hub.save()
    mask = next((root / "masks").glob("*.png"))
    mask.write_bytes(mask.read_bytes()[:50])  # cut short (a full disk on another tool's copy, say)
    hub.set_active(False)
    hub.labelset = None
    hub.open_label_set(root)
    hub.set_active(True)
    qtbot.waitUntil(lambda: hub.editor is not None, timeout=10000)
    assert "cannot decode the mask" in win.last_error
    assert mask.name in win.last_error
    assert (hub.editor.mask == 255).all()  # starts empty, and said so
