"""The Runtime box in the app's Model panel: picking a runtime rebuilds the engine on it, the choice is kept
in the settings, and an exported .onnx model opens like a checkpoint."""

from __future__ import annotations

from segtool.core.onnx_export import export_onnx
from segtool.models.checkpoint import load_checkpoint
from tests.gui.helpers import load


def _pick(qtbot, win, combo, key):
    i = combo.findData(key)
    assert i >= 0, f"{key} not offered"
    with qtbot.waitSignal(win.worker.engineReady, timeout=60000):
        combo.setCurrentIndex(i)
        combo.activated.emit(i)


def test_runtime_box_moves_the_model_and_is_remembered(qtbot, window, gui_checkpoint, clip, settings):
    keys = [window.panel.runtime.itemData(i) for i in range(window.panel.runtime.count())]
    assert keys[0] == "auto"
    assert {"torch", "openvino", "onnxruntime"} <= set(keys)
    load(qtbot, window, gui_checkpoint, clip)
    assert "PyTorch" in window.status_device.text()  # the test suite pins auto to torch (tests/conftest.py)
    _pick(qtbot, window, window.panel.runtime, "openvino")
    assert "OpenVINO" in window.status_device.text()
    assert "OpenVINO" in window.panel.summary.text()
    qtbot.waitUntil(lambda: window.current is not None and window.current.mask is not None, timeout=20000)
    _pick(qtbot, window, window.panel.runtime, "onnxruntime")
    assert "ONNX Runtime" in window.status_device.text()
    window._save_settings()
    assert settings.get("model/runtime", "auto") == "onnxruntime"


def test_an_exported_model_opens_in_the_app(qtbot, window, gui_checkpoint, clip, tmp_path):
    onnx_file = export_onnx(load_checkpoint(gui_checkpoint), tmp_path / "rocks.onnx")
    window.panel.set_device_key("auto", "auto", "openvino")
    load(qtbot, window, onnx_file, clip, timeout=60000)
    assert "OpenVINO" in window.status_device.text()
    assert "mobilenet_v3_large" in window.panel.summary.text()  # described from the ONNX metadata
    legend = window.panel.legend
    assert [legend.topLevelItem(i).text(0) for i in range(legend.topLevelItemCount())] == [
        "background",
        "rock",
    ]
