"""The app finds the shipped models (issue 19 item 4): the Open-model dialog has their folder in its sidebar
and starts there the first time; File ▸ Shipped models opens one by name, as `segtool gui -c rock_fragments`
does."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, QSettings, Qt, QUrl
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QLineEdit, QListView

ASSETS = Path(__file__).resolve().parents[2] / "assets"


@pytest.fixture
def qt_user_settings(tmp_path):
    """Qt's own user settings (where QFileDialog remembers its sidebar) in a temporary folder, so the
    test sees what this run's code adds, not what an earlier run left, and never touches the user's."""
    fmt, scope = QSettings.Format.NativeFormat, QSettings.Scope.UserScope
    QSettings.setPath(fmt, scope, str(tmp_path / "qt-config"))
    yield
    QSettings.setPath(fmt, scope, os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config"))


def test_open_model_dialog_has_the_shipped_models_folder_and_opens_one(
    qtbot, qt_user_settings, window, tmp_path
):
    window.act_open_ckpt.trigger()
    dlg = window.model_dialog
    qtbot.waitUntil(dlg.isVisible)
    assert Path(dlg.directory().absolutePath()) == ASSETS  # first use: no folder remembered yet
    assert dlg.sidebarUrls().count(QUrl.fromLocalFile(str(ASSETS))) == 1
    dlg.setDirectory(str(tmp_path))  # somewhere else; the sidebar entry leads back
    sidebar = dlg.findChild(QListView, "sidebar")
    url_role = Qt.ItemDataRole.UserRole + 1  # where Qt's sidebar model keeps each entry's url
    model = sidebar.model()
    row = next(
        i
        for i in range(model.rowCount())
        if model.index(i, 0).data(url_role) == QUrl.fromLocalFile(str(ASSETS))
    )
    QTest.mouseClick(
        sidebar.viewport(), Qt.MouseButton.LeftButton, pos=sidebar.visualRect(model.index(row, 0)).center()
    )
    qtbot.waitUntil(lambda: Path(dlg.directory().absolutePath()) == ASSETS)
    edit = dlg.findChild(QLineEdit, "fileNameEdit")
    with qtbot.waitSignal(window.worker.engineReady, timeout=30000):
        QTest.keyClicks(edit, "rock_fragments.pt")
        QTest.keyClick(edit, Qt.Key.Key_Return)
    assert window.engine_info.path == str(ASSETS / "rock_fragments.pt")
    assert "rock_edge" in window.engine_info.class_names
    assert window.settings.get("dirs/checkpoint", "") == str(ASSETS)


def test_file_menu_opens_a_shipped_model_by_name(qtbot, window):
    window._fill_recent_menus()
    menu = window.shipped_menu
    texts = [a.text() for a in menu.actions()]
    assert texts[0].startswith("rock_fragments — ")
    assert texts[1].startswith("demo_rocks — ")
    menu.popup(window.mapToGlobal(QPoint(40, 40)))
    qtbot.waitUntil(menu.isVisible)
    with qtbot.waitSignal(window.worker.engineReady, timeout=30000):
        QTest.mouseClick(menu, Qt.MouseButton.LeftButton, pos=menu.actionGeometry(menu.actions()[1]).center())
    assert window.engine_info.path == str(ASSETS / "demo_rocks.pt")
    assert window.engine_info.model.shipped
    assert window.engine_info.model.name == "demo_rocks"
    assert (
        "the shipped model" not in window.windowTitle()
    )  # nothing odd in the title: the file's name is shown
