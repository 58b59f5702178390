"""The side panel's "model is unsure" notice compares the footage with the loaded model's own confidence
reference (issue 20), and says when it can only use a generic threshold."""

from __future__ import annotations

import dataclasses

import numpy as np

from segtool.gui.fit_notice import FitNotice
from segtool.models import load_checkpoint, save_checkpoint
from tests.gui.helpers import load

REF = {"mean": 0.757, "p10": 0.611, "images": 38, "source": "validation", "data": "frag_gc/val"}
AMBER = "#fff4d6"


def _frame(value: float, num_classes: int = 3) -> np.ndarray:
    floor = 1.0 / num_classes
    return np.full((32, 32), floor + value * (1 - floor), np.float32)


def test_notice_widget_judges_by_the_models_own_reference(qtbot):
    from PySide6.QtWidgets import QVBoxLayout, QWidget

    panel = QWidget()  # the side panel it sits in, shown: the notice shows itself once it has a line
    qtbot.addWidget(panel)
    notice = FitNotice(panel)
    QVBoxLayout(panel).addWidget(notice)
    panel.show()
    assert notice.isHidden()  # nothing seen yet
    notice.add(_frame(0.58), 3)  # the fragment model on its own gravel, no reference: the generic 0.7
    assert notice.isVisible() and AMBER in notice.styleSheet()
    assert "generic threshold" in notice.text()
    notice.set_reference(REF)  # the model's own reference: a new model, nothing seen yet
    assert notice.isHidden()
    notice.add(_frame(0.58), 3)
    assert notice.isVisible() and AMBER not in notice.styleSheet()
    assert "0.58 over 1 frame, against 0.76 on its 38 validation images" in notice.text()
    for _ in range(30):
        notice.add(_frame(0.30), 3)  # footage far below what it saw in validation
    assert (
        AMBER in notice.styleSheet()
        and "unsure" in notice.text()
        and "0.30 over 30 frames here" in notice.text()
    )
    notice.reset()  # a new source keeps the model's reference
    assert notice.isHidden() and notice.meter.reference == REF


def test_loading_a_model_gives_the_notice_its_reference(qtbot, window, gui_checkpoint, clip, tmp_path):
    ck = load_checkpoint(gui_checkpoint)
    # the tiny model is about 0.5-0.9 sure on the clip: a reference it cannot reach makes it unsure
    ref = {"mean": 1.0, "p10": 1.0, "images": 5, "source": "validation", "data": "x"}
    path = save_checkpoint(dataclasses.replace(ck, confidence_reference=ref), tmp_path / "withref.pt")
    load(qtbot, window, path, clip)
    qtbot.waitUntil(lambda: window.fit_notice.meter.value is not None, timeout=10000)
    assert window.fit_notice.meter.reference == ref
    assert window.fit_notice.isVisible()
    assert "on its 5 validation images" in window.fit_notice.text()
    assert "unsure below 0.80, 0.8 × their hardest tenth" in window.fit_notice.text()
    load(qtbot, window, gui_checkpoint)  # a model without one: back to the generic threshold
    assert window.fit_notice.meter.reference is None
    window.seek(3)
    qtbot.waitUntil(lambda: window.fit_notice.meter.value is not None, timeout=10000)
    assert "generic threshold" in window.fit_notice.text()


def test_side_panel_is_never_wider_than_its_scroll_area(qtbot, window):
    """With the vertical scrollbar shown (a short window), the whole panel still fits beside it: no
    horizontal scrollbar, so the notice's right edge is not hidden under the vertical one."""
    from PySide6.QtWidgets import QScrollArea

    scroll = window.panel.parentWidget().parentWidget()
    assert isinstance(scroll, QScrollArea)
    window.resize(1024, 480)
    qtbot.waitUntil(lambda: scroll.verticalScrollBar().isVisible(), timeout=5000)
    qtbot.wait(50)
    assert scroll.viewport().width() >= window.panel.minimumSizeHint().width()
    assert not scroll.horizontalScrollBar().isVisible()
