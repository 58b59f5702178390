"""The Measure panel: a real window, the shipped rock_fragments model and a real rock photo."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QInputDialog

from models.checkpoint import load_checkpoint
from segtool.core.fragments.analyse import FragmentSettings, FragmentSpec, analyse_prediction
from segtool.core.fragments.scale import sidecar_path
from segtool.gui.measure.panel import describe, fmt_size
from tests.gui.helpers import load

REPO = Path(__file__).resolve().parents[2]
MODEL = REPO / "assets" / "rock_fragments.pt"


@pytest.fixture
def rock_image(shared_data, tmp_path):
    """A real gravel photo, copied so the scale sidecar is written beside the copy (never into shared data)."""
    src = shared_data / "rocks_dense" / "gravel" / "images"
    if not src.is_dir():
        pytest.skip(f"{src} is not there")
    first = sorted(src.iterdir())[0]
    dst = tmp_path / first.name
    dst.write_bytes(first.read_bytes())
    return dst


def _measured(qtbot, window, image):
    load(qtbot, window, MODEL, image, timeout=60000)
    window.measure.set_active(True)
    qtbot.waitUntil(lambda: window.measure.current is not None, timeout=60000)
    return window.measure


def _scene_to_viewport(canvas, x: float, y: float) -> QPoint:
    return canvas.mapFromScene(QPointF(x, y))


def test_dock_shows_the_fragments_of_the_frame(qtbot, window, rock_image):
    hub = _measured(qtbot, window, rock_image)
    r = window.current
    ck = load_checkpoint(MODEL)
    spec = FragmentSpec.from_checkpoint(ck.fragments, ck.class_names)
    ref = analyse_prediction(r.mask, r.confidence, spec, FragmentSettings())
    d = ref.distribution
    assert d.fragments > 10
    text = hub.panel.summary.text()
    assert f"Fragments: {d.fragments}" in text
    assert f"D50: {fmt_size(d.d_by_area['D50'], 'px')}" in text
    assert f"D80: {fmt_size(d.d_by_area['D80'], 'px')}" in text
    assert "Unit: px" in text
    assert "edge-seeded watershed" in hub.panel.model_label.text()
    # The outlines are drawn over the frame, at the frame's size, and only on fragment pixels.
    pm = hub.layer.pixmap()
    assert (pm.width(), pm.height()) == (r.rgb.shape[1], r.rgb.shape[0])
    # The passing curve shows this frame's curve by area.
    xs, ys = hub.panel.curve.getData()
    np.testing.assert_allclose(ys, d.passing_by_area[d.sieve > 0])
    assert hub.panel.d50_line.isVisible()


def test_hover_shows_the_size_of_the_rock_under_the_pointer(qtbot, window, rock_image):
    hub = _measured(qtbot, window, rock_image)
    res = hub.current
    t = res.table
    # The largest counted fragment whose centroid lies inside it.
    for i in np.argsort(-t.area_px):
        cx, cy = float(t.cx[i]), float(t.cy[i])
        if t.use[i] and res.labels[int(round(cy)), int(round(cx))] == t.fragment[i]:
            break
    else:
        pytest.fail("no fragment contains its centroid")
    canvas = window.canvas
    pos = _scene_to_viewport(canvas, cx, cy)
    assert hub.panel.hover.text().startswith("Point at a rock")
    QTest.mouseMove(canvas.viewport(), pos)
    qtbot.waitUntil(lambda: hub.panel.hover.text().startswith("Fragment"), timeout=5000)
    p = canvas.mapToScene(pos)
    row = hub.fragment_at(p.x(), p.y())
    assert row is not None and row["fragment"] == int(t.fragment[i])
    text = hub.panel.hover.text()
    assert text == describe(row)
    assert fmt_size(float(t.diameter_px[i]), "px") in text
    assert fmt_size(float(t.feret_max_px[i]), "px") in text
    # ... and outlines that fragment on the picture.
    assert hub.hl_item.path().boundingRect().contains(QPointF(cx, cy))
    assert not hub.hl_item.path().isEmpty()


def test_scale_line_writes_the_sidecar_and_switches_to_mm(qtbot, window, rock_image, monkeypatch):
    hub = _measured(qtbot, window, rock_image)
    px_d50 = hub.current.distribution.d_by_area["D50"]
    monkeypatch.setattr(QInputDialog, "getDouble", staticmethod(lambda *a, **k: (250.0, True)))
    canvas = window.canvas
    hub.panel.scale_btn.click()
    assert hub.panel.scale_btn.isChecked()
    a, b = _scene_to_viewport(canvas, 100, 200), _scene_to_viewport(canvas, 600, 200)
    vp = canvas.viewport()
    QTest.mousePress(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, a)
    QTest.mouseMove(vp, b)
    QTest.mouseRelease(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, b)
    side = sidecar_path(rock_image)
    assert side.is_file()
    doc = json.loads(side.read_text())
    pa, pb = canvas.mapToScene(a), canvas.mapToScene(b)
    length = float(np.hypot(pb.x() - pa.x(), pb.y() - pa.y()))
    assert doc["mm_per_px"] == pytest.approx(250.0 / length)
    assert doc["reference"]["kind"] == "line"
    d = hub.current.distribution
    assert d.unit == "mm"
    assert d.d_by_area["D50"] == pytest.approx(px_d50 * doc["mm_per_px"], rel=1e-6)
    assert "Unit: mm" in hub.panel.summary.text()
    assert f"D50: {fmt_size(d.d_by_area['D50'], 'mm')}" in hub.panel.summary.text()
    assert not hub.panel.scale_btn.isChecked()

    # Opening the source again loads the scale from the sidecar.
    hub.scale_tool.scale = None  # forget it in memory only
    window.open_source(rock_image)
    qtbot.waitUntil(lambda: hub.scale_tool.scale is not None and hub.current is not None and hub.current.distribution.unit == "mm",
                    timeout=60000)  # fmt: skip
    assert hub.scale_tool.scale.mm_per_px == pytest.approx(doc["mm_per_px"])


def test_model_without_fragments_entry_says_so(qtbot, window, gui_checkpoint, rock_image):
    """The tiny test model has classes background and rock but no fragments entry."""
    assert load_checkpoint(gui_checkpoint).fragments is None
    load(qtbot, window, gui_checkpoint, rock_image, timeout=60000)
    window.measure.set_active(True)
    text = window.measure.panel.model_label.text()
    assert "no fragments entry" in text and "distance transform" in text


def test_model_without_rocks_says_so(qtbot, window, gui_checkpoint, tmp_path, rock_image):
    import dataclasses

    from models.checkpoint import save_checkpoint
    from models.classes import make_classes

    rocks = load_checkpoint(gui_checkpoint)
    roads = dataclasses.replace(rocks, classes=make_classes(["background", "road"], [[0, 0, 0], [90, 90, 90]]))
    ck = save_checkpoint(roads, tmp_path / "roads.pt")
    load(qtbot, window, ck, rock_image, timeout=60000)
    window.measure.set_active(True)
    qtbot.waitUntil(lambda: window.current is not None and window.current.analysis.get("fragments") is not None, timeout=30000)
    assert "does not know rocks" in window.measure.panel.model_label.text()
    assert window.measure.current is None


@pytest.fixture
def rock_clip(shared_data, tmp_path):
    """A 4-frame H.264 clip made of four real gravel photos (different rocks each frame)."""
    import av
    from PIL import Image

    src = shared_data / "rocks_dense" / "gravel" / "images"
    if not src.is_dir():
        pytest.skip(f"{src} is not there")
    path = tmp_path / "gravel.mp4"
    with av.open(str(path), "w") as out:
        st = out.add_stream("libx264", rate=2)
        st.width, st.height, st.pix_fmt = 640, 480, "yuv420p"
        for f in sorted(src.iterdir())[:4]:
            rgb = np.asarray(Image.open(f).convert("RGB").resize((640, 480)))
            for pkt in st.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                out.mux(pkt)
        for pkt in st.encode():
            out.mux(pkt)
    return path


def test_video_plots_d50_d80_over_time(qtbot, window, rock_clip):
    hub = _measured(qtbot, window, rock_clip)
    seen = {}
    for i in range(4):
        if i:
            window.seek(i)
        qtbot.waitUntil(lambda i=i: window.current.index == i and hub.current_index == i, timeout=60000)
        seen[window.current.pts_s] = hub.current.distribution.d_by_area["D50"]
    assert hub.panel.time_plot.isVisible()
    t, d50 = hub.panel.t50.getData()
    assert len(t) == 4
    np.testing.assert_allclose(d50, [seen[k] for k in sorted(seen)], equal_nan=True)
    assert len(set(np.round(d50, 3))) > 1  # the frames really differ
    # Playing measures every frame it shows: the series stays one point per frame, none failed.
    failed = []
    window.worker.resultReady.connect(lambda: failed.extend(
        [1] if window.current is not None and isinstance(window.current.analysis.get("fragments"), Exception) else []))
    window.seek(0)
    qtbot.waitUntil(lambda: window.current.index == 0 and hub.current_index == 0, timeout=60000)
    window.toggle_play()
    qtbot.waitUntil(lambda: not window.playing, timeout=60000)
    assert not failed
    assert len(hub.panel.t50.getData()[0]) == 4
    assert hub.current_index == 3


def test_export_report_writes_the_cli_report_and_says_what(qtbot, window, rock_image, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    hub = _measured(qtbot, window, rock_image)
    said = []
    monkeypatch.setattr(QMessageBox, "information", staticmethod(lambda parent, title, text: said.append((title, text))))
    monkeypatch.setattr(QMessageBox, "warning", staticmethod(lambda parent, title, text: said.append((title, text))))
    from PySide6.QtWidgets import QFileDialog

    parent = tmp_path / "reports"
    parent.mkdir()
    (parent / f"{rock_image.stem}_fragments").mkdir()  # taken: the report goes into a new folder beside it
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", staticmethod(lambda *a, **k: str(parent)))
    hub.panel.export_btn.click()
    out = parent / f"{rock_image.stem}_fragments_2"
    qtbot.waitUntil(lambda: bool(said), timeout=120000)
    title, text = said[0]
    assert title == "Report written", text
    summary = json.loads((out / "summary.json").read_text())
    assert summary["complete"] and summary["frames"] == 1
    assert (out / "fragments.csv").is_file()
    assert str(out) in text and "fragments.csv" in text and "summary.json" in text
    assert f"{summary['overall']['fragments']} fragments" in text


def test_switching_the_model_measures_with_the_new_one(qtbot, window, gui_checkpoint, rock_image):
    hub = _measured(qtbot, window, rock_image)
    first = hub.current
    with qtbot.waitSignal(window.worker.engineReady, timeout=60000):
        window.open_checkpoint(gui_checkpoint)
    assert "no fragments entry" in hub.panel.model_label.text()
    qtbot.waitUntil(lambda: hub.current is not None and hub.current is not first, timeout=60000)
    r = window.current
    ck = load_checkpoint(gui_checkpoint)
    ref = analyse_prediction(r.mask, r.confidence, FragmentSpec.from_checkpoint(ck.fragments, ck.class_names))
    assert f"Fragments: {ref.distribution.fragments}" in hub.panel.summary.text()
    np.testing.assert_array_equal(hub.current.labels, ref.labels)
