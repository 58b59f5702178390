"""The Measure panel: a real window, the shipped rock_fragments model and a real rock photo."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QDialog, QInputDialog, QMessageBox

from segtool.core.fragments.analyse import FragmentSettings, FragmentSpec, analyse_prediction
from segtool.core.fragments.scale import from_box, from_circle, save_scale, sidecar_path
from segtool.gui.measure.panel import describe, fits_text, fmt_size
from segtool.gui.measure.scale_shapes import BoxSizeDialog, shape_rect
from segtool.models.checkpoint import load_checkpoint
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


def _drag(canvas, a: QPoint, b: QPoint) -> tuple[tuple[float, float], tuple[float, float]]:
    """A left-button drag on the canvas from a to b; the two ends in image pixels."""
    vp = canvas.viewport()
    QTest.mousePress(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, a)
    QTest.mouseMove(vp, b)
    QTest.mouseRelease(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, b)
    pa, pb = canvas.mapToScene(a), canvas.mapToScene(b)
    return (pa.x(), pa.y()), (pb.x(), pb.y())


def _reference(hub):
    """The graphics item drawing the scale in force (asserts it is the only one shown)."""
    shown = [k for k, item in hub.scale_tool.ref.items.items() if item.isVisible()]
    assert len(shown) == 1, shown
    return shown[0], hub.scale_tool.ref.items[shown[0]]


def _reference_mm(hub, side, kind, points, mm_per_px, px_d50):
    doc = json.loads(side.read_text())
    assert doc["reference"]["kind"] == kind
    np.testing.assert_allclose(doc["reference"]["points"], points)
    assert doc["mm_per_px"] == pytest.approx(mm_per_px)
    d = hub.current.distribution
    assert d.unit == "mm"
    assert d.d_by_area["D50"] == pytest.approx(px_d50 * mm_per_px, rel=1e-6)
    assert "Unit: mm" in hub.panel.summary.text()
    assert not hub.panel.scale_btn.isChecked()


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
    assert f"({spec.method})" in hub.panel.model_label.text()  # the shipped model's own split
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
    assert row is not None
    assert row["fragment"] == int(t.fragment[i])
    text = hub.panel.hover.text()
    assert text == describe(row)
    assert fmt_size(float(t.diameter_px[i]), "px") in text
    assert fmt_size(float(t.feret_max_px[i]), "px") in text
    # ... and outlines that fragment on the picture.
    assert hub.hl_item.path().boundingRect().contains(QPointF(cx, cy))
    assert not hub.hl_item.path().isEmpty()


def test_the_size_under_the_pointer_follows_a_new_scale(qtbot, window, rock_image, monkeypatch):
    hub = _measured(qtbot, window, rock_image)
    res = hub.current
    t = res.table
    i = next(
        i
        for i in np.argsort(-t.area_px)  # a large counted fragment that contains its centroid
        if t.use[i] and res.labels[int(round(t.cy[i])), int(round(t.cx[i]))] == t.fragment[i]
    )
    canvas = window.canvas
    # Away first: a move to where the pointer already is (an earlier test may have left it on the same
    # rock) sends no event.
    QTest.mouseMove(canvas.viewport(), QPoint(1, 1))
    QTest.mouseMove(canvas.viewport(), _scene_to_viewport(canvas, float(t.cx[i]), float(t.cy[i])))
    qtbot.waitUntil(lambda: hub.panel.hover.text().startswith("Fragment"), timeout=5000)
    assert " px" in hub.panel.hover.text()
    assert " mm" not in hub.panel.hover.text()
    monkeypatch.setattr(QInputDialog, "getDouble", staticmethod(lambda *a, **k: (100.0, True)))
    hub.scale_tool.ask((10.0, 10.0), (110.0, 10.0))  # 1 mm/px, as after drawing a line and typing 100
    assert hub.current.distribution.unit == "mm"
    assert " mm" in hub.panel.hover.text()  # not the pixel sizes read before the scale was set


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
    qtbot.waitUntil(
        lambda: (
            hub.scale_tool.scale is not None
            and hub.current is not None
            and hub.current.distribution.unit == "mm"
        ),
        timeout=60000,
    )
    assert hub.scale_tool.scale.mm_per_px == pytest.approx(doc["mm_per_px"])


def test_scale_box_writes_the_sidecar_and_draws_a_rect(qtbot, window, rock_image, monkeypatch):
    hub = _measured(qtbot, window, rock_image)
    px_d50 = hub.current.distribution.d_by_area["D50"]

    def typed(dlg):  # the real dialog, filled in as a user would
        dlg.width.setValue(400.0)
        dlg.height.setValue(300.0)
        return QDialog.DialogCode.Accepted

    monkeypatch.setattr(BoxSizeDialog, "exec", typed)
    hub.panel.kind_actions["box"].trigger()  # the scale button's menu: Box
    assert hub.panel.scale_btn.isChecked()
    assert hub.scale_tool.kind == "box"
    assert hub.panel.scale_btn.text() == "Draw scale: box"
    canvas = window.canvas
    p0, p1 = _drag(canvas, _scene_to_viewport(canvas, 100, 150), _scene_to_viewport(canvas, 500, 450))
    ref = from_box(p0, p1, 400.0, 300.0)
    _reference_mm(hub, sidecar_path(rock_image), "box", [p0, p1], ref.mm_per_px, px_d50)
    kind, item = _reference(hub)
    assert kind == "box"
    assert item.rect() == shape_rect("box", p0, p1)
    assert "400 × 300 mm" in item.toolTip()


def test_a_scale_tool_chosen_from_the_menu_opens_the_measure_panel(qtbot, window, rock_image, monkeypatch):
    """Measure ▸ Draw scale box with the panel off: the panel opens and a drag draws the box (it used to
    do nothing at all)."""
    load(qtbot, window, MODEL, rock_image, timeout=60000)
    hub = window.measure
    assert not hub.active
    hub.act_scale["box"].trigger()
    assert hub.active
    assert window.measure.dock.isVisible()
    assert hub.panel.scale_btn.isChecked()
    assert hub.scale_tool.drawing
    assert hub.scale_tool.kind == "box"
    qtbot.waitUntil(lambda: hub.current is not None, timeout=60000)
    monkeypatch.setattr(
        BoxSizeDialog, "exec", lambda dlg: dlg.width.setValue(500.0) or QDialog.DialogCode.Accepted
    )
    canvas = window.canvas
    p0, p1 = _drag(canvas, _scene_to_viewport(canvas, 100, 150), _scene_to_viewport(canvas, 300, 250))
    assert hub.scale_tool.scale is not None
    assert hub.scale_tool.scale.kind == "box"
    assert hub.scale_tool.scale.mm_per_px == pytest.approx(from_box(p0, p1, 500.0).mm_per_px)


def test_scale_circle_writes_the_sidecar_and_draws_an_ellipse(qtbot, window, rock_image, monkeypatch):
    hub = _measured(qtbot, window, rock_image)
    px_d50 = hub.current.distribution.d_by_area["D50"]
    monkeypatch.setattr(QInputDialog, "getDouble", staticmethod(lambda *a, **k: (150.0, True)))
    hub.act_scale["circle"].trigger()  # Measure ▸ Draw scale circle
    assert hub.panel.scale_btn.isChecked()
    assert hub.panel.scale_btn.text() == "Draw scale: circle"
    canvas = window.canvas
    centre, rim = _drag(canvas, _scene_to_viewport(canvas, 300, 300), _scene_to_viewport(canvas, 380, 360))
    ref = from_circle(centre, rim, 150.0)
    _reference_mm(hub, sidecar_path(rock_image), "circle", [centre, rim], ref.mm_per_px, px_d50)
    kind, item = _reference(hub)
    assert kind == "circle"
    assert item.rect() == shape_rect("circle", centre, rim)
    assert item.rect().width() == pytest.approx(ref.length_px)


def test_a_box_sidecar_written_before_is_drawn_as_a_rect(qtbot, window, rock_image):
    sc = from_box((200.0, 100.0), (620.0, 400.0), 500.0)
    save_scale(rock_image, sc)
    hub = _measured(qtbot, window, rock_image)
    qtbot.waitUntil(lambda: hub.current.distribution.unit == "mm", timeout=30000)
    assert hub.scale_tool.scale.mm_per_px == pytest.approx(sc.mm_per_px)
    kind, item = _reference(hub)
    assert kind == "box"
    assert item.rect() == shape_rect("box", (200.0, 100.0), (620.0, 400.0))
    assert "box 500 × 500 mm" in hub.panel.scale_label.text()
    assert hub.panel.scale_btn.text() == "Draw scale: box"  # a click redraws the reference in force


def test_scale_drawing_too_small_warns_and_cancels(qtbot, window, rock_image, monkeypatch):
    hub = _measured(qtbot, window, rock_image)
    warned, asked = [], []
    monkeypatch.setattr(QMessageBox, "warning", staticmethod(lambda parent, title, text: warned.append(text)))
    monkeypatch.setattr(BoxSizeDialog, "exec", lambda dlg: asked.append(1) or QDialog.DialogCode.Accepted)
    side = sidecar_path(rock_image)
    canvas = window.canvas
    hub.set_scale_tool(True, "box")
    a = _scene_to_viewport(canvas, 300, 300)
    _drag(canvas, a, a + QPoint(1, 0))  # a box 1 px wide
    assert warned  # the core's message
    assert "less than 2 pixels" in warned[0]
    assert not asked
    assert not side.exists()
    assert hub.scale_tool.scale is None
    # Esc cancels a drag in progress: nothing is asked or saved.
    hub.set_scale_tool(True, "box")
    vp = canvas.viewport()
    QTest.mousePress(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, a)
    QTest.mouseMove(vp, a + QPoint(200, 150))
    assert hub.scale_tool.sketch.kind == "box"
    window.activateWindow()
    QTest.keyClick(canvas, Qt.Key.Key_Escape)
    assert not hub.scale_tool.drawing
    assert not hub.panel.scale_btn.isChecked()
    assert hub.scale_tool.sketch.kind is None
    QTest.mouseRelease(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, a + QPoint(200, 150))
    # ... and so does a right-click.
    hub.set_scale_tool(True, "circle")
    QTest.mousePress(vp, Qt.MouseButton.RightButton, Qt.KeyboardModifier.NoModifier, a)
    assert not hub.scale_tool.drawing
    assert not hub.act_scale["circle"].isChecked()
    QTest.mouseRelease(vp, Qt.MouseButton.RightButton, Qt.KeyboardModifier.NoModifier, a)
    assert not asked
    assert not side.exists()
    assert len(warned) == 1


def _reference_count(window, settings: FragmentSettings):
    r = window.current
    ck = load_checkpoint(MODEL)
    spec = FragmentSpec.from_checkpoint(ck.fragments, ck.class_names)
    return analyse_prediction(r.mask, r.confidence, spec, settings).distribution


def test_settings_measure_the_frame_again(qtbot, window, rock_image):
    hub = _measured(qtbot, window, rock_image)
    box = hub.panel.settings_box
    assert not box.distance.isEnabled()  # this model splits along edges
    assert "edge class" in box.distance.toolTip()
    default = hub.current
    assert default.distribution.fragments == _reference_count(window, FragmentSettings()).fragments
    box.border.setChecked(True)
    qtbot.waitUntil(lambda: hub.current is not None and hub.current is not default, timeout=60000)
    with_border = _reference_count(window, FragmentSettings(include_border=True))
    assert with_border.fragments > default.distribution.fragments  # the photo has rocks cut by its border
    assert hub.current.distribution.fragments == with_border.fragments
    assert f"Fragments: {with_border.fragments}\n" in hub.panel.summary.text() + "\n"
    before = hub.current
    box.min_size.setValue(3000)
    qtbot.waitUntil(lambda: hub.current is not None and hub.current is not before, timeout=60000)
    big = _reference_count(window, FragmentSettings(include_border=True, min_size_px=3000))
    assert big.fragments < with_border.fragments
    assert (hub.current.distribution.fragments, hub.current.distribution.fines) == (big.fragments, big.fines)
    assert "Fines (< 3000 px)" in hub.panel.summary.text()
    # Kept for the next session.
    assert window.settings.get("measure/include_border", False, bool) is True
    assert window.settings.get("measure/min_size_px", 0, int) == 3000


def test_fits_are_shown_and_drawn(qtbot, window, rock_image):
    hub = _measured(qtbot, window, rock_image)
    d = _reference_count(window, FragmentSettings())
    rr = d.rosin_rammler
    assert rr["xc"] is not None
    text = hub.panel.summary.text()
    for line in fits_text(d):
        assert line in text
    assert f"Rosin–Rammler: xc {rr['xc']:.1f} px, n {rr['n']:.3g}, R² {rr['r2']:.3g}" in text
    xs, ys = hub.panel.rr_curve.getData()
    assert xs is not None
    assert len(xs) > 10
    # The drawn curve is the fitted one: 63.2 % passing at xc (x comes back as log10 in a log plot).
    assert np.interp(np.log10(rr["xc"]), xs, ys) == pytest.approx(100 * (1 - np.exp(-1)), abs=0.5)
    assert len(hub.panel.sw_curve.getData()[0]) > 10
    legend = [item[1].text for item in hub.panel.curve_plot.getPlotItem().legend.items]
    assert legend == ["measured", "Rosin–Rammler fit", "Swebrec fit"]


def test_model_without_fragments_entry_says_so(qtbot, window, gui_checkpoint, rock_image):
    """The tiny test model has classes background and rock but no fragments entry."""
    assert load_checkpoint(gui_checkpoint).fragments is None
    load(qtbot, window, gui_checkpoint, rock_image, timeout=60000)
    window.measure.set_active(True)
    text = window.measure.panel.model_label.text()
    assert "no fragments entry" in text
    assert "distance transform" in text
    assert window.measure.panel.settings_box.distance.isEnabled()  # it splits by distance: the setting counts


def test_model_without_rocks_says_so(qtbot, window, gui_checkpoint, tmp_path, rock_image):
    import dataclasses

    from segtool.models.checkpoint import save_checkpoint
    from segtool.models.classes import make_classes

    rocks = load_checkpoint(gui_checkpoint)
    roads = dataclasses.replace(
        rocks, classes=make_classes(["background", "road"], [[0, 0, 0], [90, 90, 90]])
    )
    ck = save_checkpoint(roads, tmp_path / "roads.pt")
    load(qtbot, window, ck, rock_image, timeout=60000)
    window.measure.set_active(True)
    qtbot.waitUntil(
        lambda: window.current is not None and window.current.analysis.get("fragments") is not None,
        timeout=30000,
    )
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
    assert hub.panel.plots.isTabVisible(1)  # the over-time tab is offered for a video
    t, d50 = hub.panel.t50.getData()
    assert len(t) == 4
    np.testing.assert_allclose(d50, [seen[k] for k in sorted(seen)], equal_nan=True)
    assert len(set(np.round(d50, 3))) > 1  # the frames really differ
    # Playing measures every frame it shows: the series stays one point per frame, none failed.
    failed = []
    window.worker.resultReady.connect(
        lambda: failed.extend(
            [1]
            if window.current is not None and isinstance(window.current.analysis.get("fragments"), Exception)
            else []
        )
    )
    window.seek(0)
    qtbot.waitUntil(lambda: window.current.index == 0 and hub.current_index == 0, timeout=60000)
    window.toggle_play()
    qtbot.waitUntil(lambda: not window.playing, timeout=60000)
    assert not failed
    assert len(hub.panel.t50.getData()[0]) == 4
    assert hub.current_index == 3


def test_export_report_writes_the_cli_report_and_says_what(qtbot, window, rock_image, tmp_path, monkeypatch):
    hub = _measured(qtbot, window, rock_image)
    hub.panel.settings_box.border.setChecked(True)  # the report is made with the panel's settings
    hub.panel.settings_box.min_size.setValue(50)
    said = []
    monkeypatch.setattr(
        QMessageBox, "information", staticmethod(lambda parent, title, text: said.append((title, text)))
    )
    monkeypatch.setattr(
        QMessageBox, "warning", staticmethod(lambda parent, title, text: said.append((title, text)))
    )
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
    assert summary["complete"]
    assert summary["frames"] == 1
    assert summary["settings"]["include_border"] is True
    assert summary["settings"]["min_size_px"] == 50
    assert (out / "fragments.csv").is_file()
    assert str(out) in text
    assert "fragments.csv" in text
    assert "summary.json" in text
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


def test_settings_are_kept_for_the_next_session(qtbot, settings):
    from segtool.gui.main_window import MainWindow
    from segtool.gui.measure.settings_box import save_settings

    save_settings(settings, FragmentSettings(min_size_px=77, include_border=True, min_distance=11))
    win = MainWindow(settings)
    qtbot.addWidget(win)
    hub, box = win.measure, win.measure.panel.settings_box
    assert (hub.settings.min_size_px, hub.settings.include_border, hub.settings.min_distance) == (
        77,
        True,
        11,
    )
    assert (box.min_size.value(), box.border.isChecked(), box.distance.value()) == (77, True, 11)
    win.close()
    # A hand-edited value out of range gives the defaults, not a panel that cannot start.
    settings.set("measure/min_distance", 0)
    win = MainWindow(settings)
    qtbot.addWidget(win)
    assert win.measure.settings == FragmentSettings()
    win.close()


def _wheel(widget, steps: int = 5) -> None:
    """Real wheel events (one notch each, 120) at the widget's centre, as a mouse wheel sends them."""
    from PySide6.QtCore import QPoint
    from PySide6.QtGui import QWheelEvent
    from PySide6.QtWidgets import QApplication

    at = QPointF(widget.width() / 2, widget.height() / 2)
    for _ in range(steps):
        ev = QWheelEvent(
            at,
            QPointF(widget.mapToGlobal(at.toPoint())),
            QPoint(0, 0),
            QPoint(0, 120),
            Qt.MouseButton.NoButton,
            Qt.KeyboardModifier.NoModifier,
            Qt.ScrollPhase.NoScrollPhase,
            False,
        )
        QApplication.sendEvent(widget, ev)


def test_the_wheel_over_the_passing_curve_does_not_zoom_it(qtbot, window, rock_image):
    """Issue 19: the wheel zoomed the plot into nonsense (y to -1500, x ×1e21) with no way back."""
    hub = _measured(qtbot, window, rock_image)
    plot = hub.panel.curve_plot
    plot.plotItem.vb.setRange(yRange=(0, 100), padding=0)  # settle the view
    qtbot.wait(50)
    before = plot.plotItem.vb.viewRange()
    _wheel(plot.viewport(), 10)
    qtbot.wait(50)
    assert np.allclose(plot.plotItem.vb.viewRange(), before)
    for axis in ("left", "bottom"):  # over an axis too (pyqtgraph zooms one axis there)
        _wheel(plot.plotItem.getAxis(axis).scene().views()[0].viewport(), 3)
    assert np.allclose(plot.plotItem.vb.viewRange(), before)
    assert not plot.plotItem.vb.menuEnabled()


def test_the_measure_dock_fits_the_default_window(qtbot, settings, rock_clip):
    """Issue 19: at the default window size (no saved geometry: 1280×800) the dock needed scrolling; the
    two plots now share one place (tabs), so a video's panel fits."""
    from segtool.gui.main_window import MainWindow

    win = MainWindow(settings)
    qtbot.addWidget(win)
    win.show()
    try:
        assert (win.width(), win.height()) == (1280, 800)
        hub = _measured(qtbot, win, rock_clip)
        win.seek(1)
        qtbot.waitUntil(lambda: hub.current_index == 1 and hub.panel.plots.isTabVisible(1), timeout=60000)
        qtbot.wait(200)
        scroll = hub.dock.widget()
        assert scroll.verticalScrollBar().maximum() == 0, (
            scroll.viewport().height(),
            hub.panel.minimumSizeHint(),
        )
        assert hub.panel.curve_plot.height() >= 170
    finally:
        win.close()


def test_typing_a_known_scale(qtbot, window, rock_image):
    hub = _measured(qtbot, window, rock_image)
    px_d50 = hub.current.distribution.d_by_area["D50"]
    spin = hub.panel.scale_spin
    assert spin.text() == "type mm/px"
    spin.setFocus()
    QTest.keyClick(spin, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    QTest.keyClicks(spin, "0.25")
    assert hub.scale_tool.mm_per_px is None  # not applied digit by digit
    QTest.keyClick(spin, Qt.Key.Key_Return)
    assert hub.scale_tool.mm_per_px == pytest.approx(0.25)
    side = sidecar_path(rock_image)
    doc = json.loads(side.read_text())
    assert doc["mm_per_px"] == pytest.approx(0.25)
    assert doc["reference"]["kind"] == "given"
    assert hub.current.distribution.unit == "mm"
    assert hub.current.distribution.d_by_area["D50"] == pytest.approx(px_d50 * 0.25, rel=1e-6)
    assert "0.25 mm/px, typed in" in hub.panel.scale_label.text()
    assert "Unit: mm" in hub.panel.summary.text()
    # reopened: the typed scale is loaded from beside the photo and shown in the field
    window.measure.set_active(False)
    hub.scale_tool._key = None
    hub.set_active(True)
    qtbot.waitUntil(lambda: hub.current is not None and hub.scale_tool.mm_per_px is not None, timeout=60000)
    assert spin.value() == pytest.approx(0.25)


def test_fines_are_not_measured_rather_than_zero(qtbot, window, rock_image):
    hub = _measured(qtbot, window, rock_image)
    box = hub.panel.settings_box.min_size
    before = hub.current
    box.setFocus()
    QTest.keyClick(box, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    QTest.keyClicks(box, "0")  # no minimum: no piece is a fine
    QTest.keyClick(box, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: hub.current is not None and hub.current is not before, timeout=60000)
    d = hub.current.distribution
    assert d.fines == 0
    assert d.fines_share is None
    text = hub.panel.summary.text()
    assert "Fines (< 0 px): not measured" in text
    assert "0.0 %" not in text
