"""The app's export queue: several videos (and a folder of them) exported in the background, a bar per
video and one overall, a broken file recorded, while the viewer keeps working."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from tests.gui.helpers import load, wait_for_progress
from tests.videos import X264, _encode


def test_queue_exports_videos_and_a_folder_while_the_viewer_works(
    qtbot, window, gui_checkpoint, clip, truth, tmp_path, reference_engine
):
    load(qtbot, window, gui_checkpoint, clip)
    field = tmp_path / "field"
    field.mkdir()
    _encode(field / "a.mp4", truth[:12], "libx264", "yuv420p", options=X264)
    _encode(field / "b.avi", truth[12:20], "mjpeg", "yuvj420p")
    (field / "junk.mp4").write_bytes(b"not a video\n" * 40)
    extra = _encode(tmp_path / "a.mkv", truth[:6], "mjpeg", "yuvj420p")  # same stem as field/a.mp4

    export = window.open_export_dialog()
    export.queue_btn.click()  # "Several videos…" opens the queue with the open source in it
    dlg = window.batch_dialog
    assert dlg is not None
    assert dlg.isVisible()
    assert not dlg.isModal()
    assert [Path(s).name for s in dlg.specs] == [Path(clip).name]
    dlg.table.selectRow(0)
    dlg.remove_selected()
    assert dlg.table.rowCount() == 0
    assert not dlg.start_btn.isEnabled()
    dlg.add_sources([str(field), str(extra), str(tmp_path / "missing.mp4")])
    assert "missing.mp4" in dlg.status.text()  # refused with its reason, the rest is queued
    names = [dlg.table.item(r, 1).text() for r in range(dlg.table.rowCount())]
    assert names == ["a_mp4/", "b/", "junk/", "a_mkv/"]

    out = tmp_path / "out"
    dlg.out.setText(str(out))
    progress = []
    dlg.start_btn.click()
    assert dlg.running()
    dlg.job.progress.connect(progress.append)
    window.seek(40)  # the viewer keeps working while the queue runs
    qtbot.waitUntil(lambda: window.current.index == 40 and window.current.mask is not None, timeout=60000)
    qtbot.waitUntil(
        lambda: not dlg.running() and dlg.start_btn.isEnabled(), timeout=120000
    )  # finished signal handled
    assert dlg.exit_code == 1, dlg.status.text()  # junk.mp4 failed, the others were written
    states = [dlg.table.item(r, 3).text() for r in range(4)]
    assert states == ["done", "done", "failed", "done"]
    assert "junk.mp4" in dlg.table.item(2, 3).toolTip()  # and why
    assert "junk.mp4" in dlg.status.text()
    bars = [dlg.table.cellWidget(r, 2) for r in range(4)]
    assert [(b.value(), b.maximum()) for b in (bars[0], bars[1], bars[3])] == [(12, 12), (8, 8), (6, 6)]
    assert dlg.overall.maximum() == 26
    assert dlg.overall.value() == 26
    assert progress
    assert progress[-1].done == 26
    assert progress[-1].sources_total == 3
    doc = json.loads((out / "batch.json").read_text())
    assert [s["state"] for s in doc["sources"]] == ["complete", "complete", "failed", "complete"]
    from segtool.core.sources import open_source

    with open_source(field / "a.mp4") as src:
        want = reference_engine.predict([src.read(0).rgb])[0].mask
    assert np.array_equal(np.asarray(Image.open(out / "a_mp4" / "masks" / "000000.png")), want)
    assert len(list((out / "b" / "masks").glob("*.png"))) == 8
    assert "Finished with problems" in dlg.status.text()
    assert dlg.open_btn.isVisible()


def test_queue_can_be_cancelled_and_continued(qtbot, window, gui_checkpoint, clip, truth, tmp_path):
    load(qtbot, window, gui_checkpoint)
    vids = [_encode(tmp_path / f"v{i}.avi", truth[: 30 + i], "mjpeg", "yuvj420p") for i in range(2)]
    dlg = window.open_batch_dialog([str(v) for v in vids])
    out = tmp_path / "out"
    dlg.out.setText(str(out))
    dlg.start_btn.click()
    wait_for_progress(qtbot, dlg.job.progress)
    dlg.cancel_btn.click()  # Cancel while running
    qtbot.waitUntil(
        lambda: not dlg.running() and dlg.start_btn.isEnabled(), timeout=30000
    )  # finished signal handled
    assert dlg.exit_code == 130
    assert "Cancelled" in dlg.status.text()
    doc = json.loads((out / "batch.json").read_text())
    assert doc["complete"] is False
    assert doc["sources"][0]["state"] == "partial"
    dlg.existing.setCurrentIndex(dlg.existing.findData("resume"))
    dlg.start_btn.click()
    qtbot.waitUntil(
        lambda: not dlg.running() and dlg.start_btn.isEnabled(), timeout=60000
    )  # finished signal handled
    assert dlg.exit_code == 0, dlg.status.text()
    doc = json.loads((out / "batch.json").read_text())
    assert [s["frames_written"] for s in doc["sources"]] == [30, 31]
    assert doc["complete"] is True
