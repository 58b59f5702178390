"""The Measure panel's 'PDF report' button: after an export it writes report.pdf into the export's folder
with `segtool report`, the same PDF the CLI writes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QFileDialog, QMessageBox

from tests.gui.helpers import load

pytestmark = [pytest.mark.gui, pytest.mark.slow]  # a real export (the shipped model) and a real PDF, ~1 min

MODEL = Path(__file__).resolve().parents[2] / "assets" / "rock_fragments.pt"


@pytest.fixture
def rock_image(shared_data, tmp_path):
    src = shared_data / "rocks_dense" / "gravel" / "images"
    if not src.is_dir():
        pytest.skip(f"{src} is not there")
    first = sorted(src.iterdir())[0]
    dst = tmp_path / first.name
    dst.write_bytes(first.read_bytes())
    return dst


def test_pdf_button_writes_the_report_after_an_export(qtbot, window, rock_image, tmp_path, monkeypatch):
    load(qtbot, window, MODEL, rock_image, timeout=60000)
    hub = window.measure
    hub.set_active(True)
    qtbot.waitUntil(lambda: hub.current is not None, timeout=60000)
    btn = hub.panel.pdf_btn
    assert not btn.isEnabled()  # nothing exported yet: no folder to make a PDF from
    said = []
    monkeypatch.setattr(
        QMessageBox, "information", staticmethod(lambda parent, title, text: said.append((title, text)))
    )
    monkeypatch.setattr(
        QMessageBox, "warning", staticmethod(lambda parent, title, text: said.append((title, text)))
    )
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", staticmethod(lambda *a, **k: str(tmp_path)))
    QTest.mouseClick(hub.panel.export_btn, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: bool(said), timeout=180000)
    assert said[0][0] == "Report written", said[0][1]
    out = tmp_path / f"{rock_image.stem}_fragments"
    assert btn.isEnabled()
    QTest.mouseClick(btn, Qt.MouseButton.LeftButton)
    assert btn.text() == "Writing PDF…"
    assert not btn.isEnabled()
    qtbot.waitUntil(lambda: len(said) == 2, timeout=180000)
    title, text = said[1]
    assert title == "PDF report written", text
    pdf = out / "report.pdf"
    assert str(pdf) in text  # the export kept overlays: the PDF shows outlines
    assert "thumbnails" in text
    assert (
        len(re.findall(rb"/Type /Page\b", pdf.read_bytes())) == 5
    )  # title, curves, places, thumbnails, not measured (no GPS: no map)
    assert btn.isEnabled()
    assert btn.text() == "PDF report"
