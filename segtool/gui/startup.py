"""The first second of the app: a window on screen before PyTorch is imported.

Importing torch and torchvision takes seconds (3–6 s on a laptop CPU, more on a busy one), and the main
window's modules need them. `StartupWindow` needs only Qt: it is shown at once, in the saved window
geometry, saying that the model is loading, while `ImportWarmer` imports the heavy modules on a
background thread. The main window then takes its place and the demo's first overlay follows.
"""

from __future__ import annotations

import importlib
import threading
import time

from PySide6.QtCore import QByteArray, QEventLoop, Qt, QTimer
from PySide6.QtWidgets import QLabel, QMainWindow

from segtool.gui.settings import AppSettings

# What the main window needs; imported off the GUI thread while the startup window is on screen.
HEAVY_MODULES = ("torch", "torchvision", "segtool.gui.main_window", "segtool.gui.demo_banner")


class StartupWindow(QMainWindow):
    """An empty segtool window in the saved geometry with a "loading the model…" notice."""

    def __init__(self, settings: AppSettings) -> None:
        super().__init__()
        self.setWindowTitle("segtool")
        geom = settings.store.value("window/geometry")
        if isinstance(geom, QByteArray):
            self.restoreGeometry(geom)
        else:
            self.resize(1280, 800)
        self.notice = QLabel(
            "<p style='font-size:15pt'>Loading the model…</p>"
            "<p>Starting PyTorch; the first time after a restart this takes a few seconds.</p>"
        )
        self.notice.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.notice.setStyleSheet("background: #26282b; color: #e8e8e8;")
        self.setCentralWidget(self.notice)
        self.statusBar().showMessage("Loading the model…")
        self.closed_by_user = False

    def closeEvent(self, event) -> None:  # noqa: N802 - closing it while loading quits the app
        self.closed_by_user = True
        super().closeEvent(event)


class ImportWarmer(threading.Thread):
    """Imports HEAVY_MODULES on a daemon thread; `error` holds the first failure (re-raised by `wait`)."""

    def __init__(self, modules: tuple[str, ...] = HEAVY_MODULES) -> None:
        super().__init__(name="segtool-import", daemon=True)
        self.modules = modules
        self.error: BaseException | None = None
        self.seconds = 0.0

    def run(self) -> None:
        t0 = time.perf_counter()
        try:
            for name in self.modules:
                importlib.import_module(name)
        except BaseException as e:  # noqa: BLE001 - re-raised on the GUI thread, where it is reported
            self.error = e
        self.seconds = time.perf_counter() - t0

    def wait(self) -> None:
        """Run the Qt event loop (the startup window stays responsive) until the imports are done."""
        loop, poll = QEventLoop(), QTimer(interval=30)
        poll.timeout.connect(lambda: self.is_alive() or loop.quit())
        poll.start()
        if self.is_alive():
            loop.exec()
        poll.stop()
        self.join()
        if self.error is not None:
            raise self.error
