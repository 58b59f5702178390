"""The main window. For now: a welcome view and a panel describing the loaded checkpoint
(classes with colours, backbone, training metrics). The live viewer builds on it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QColor, QIcon, QKeySequence, QPixmap
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QMessageBox,
    QVBoxLayout,
    QWidget,
)

from models.errors import UserInputError
from segtool.core.checkpoint_info import describe

WELCOME = (
    "<h2>segtool</h2>"
    "<p>Semantic segmentation of images and video with DeepLabV3.</p>"
    "<p><b>File ▸ Open checkpoint…</b> (Ctrl+O) or drop a <code>.pt</code> file here to see its classes.</p>"
    "<p>From the command line: <code>segtool info MODEL.pt</code>, "
    "<code>segtool import-weights WEIGHTS.pth --backbone resnet50 --classes background,rock -o MODEL.pt</code>.</p>"
)


def color_icon(rgb: list[int] | None, size: int = 14) -> QIcon:
    pix = QPixmap(size, size)
    pix.fill(QColor(*rgb) if rgb else QColor(0, 0, 0, 0))
    return QIcon(pix)


class CheckpointPanel(QWidget):
    """Backbone, classes with colours and training metrics of the loaded checkpoint."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.summary = QLabel("No checkpoint loaded.")
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.classes = QListWidget()
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(QLabel("Classes"))
        layout.addWidget(self.classes)

    def show_description(self, d: dict[str, Any]) -> None:
        m = d["model"]
        metrics = (d.get("train") or {}).get("metrics") or {}
        miou = metrics.get("miou")
        lines = [
            f"<b>{Path(d['path']).name}</b> ({d['size_mb']} MB)",
            f"{'DeepLabV3+' if m['decoder'] == 'v3plus' else 'DeepLabV3'} · {m['backbone']} · "
            f"output stride {m['output_stride']}",
            f"{d['parameters'] / 1e6:.1f} M parameters",
            f"mIoU {miou:.3f}" if isinstance(miou, float) else "no validation metrics recorded",
        ]
        self.summary.setText("<br>".join(lines))
        self.classes.clear()
        per_class = metrics.get("per_class_iou") or {}
        for c in d["classes"]:
            iou = per_class.get(c["name"])
            text = c["name"] + (f"   IoU {iou:.3f}" if isinstance(iou, float) else "")
            self.classes.addItem(QListWidgetItem(color_icon(c["color"]), text))


class MainWindow(QMainWindow):
    def __init__(self) -> None:
        super().__init__()
        self.setWindowTitle("segtool")
        self.resize(1100, 700)
        self.setAcceptDrops(True)
        self.checkpoint_path: Path | None = None
        self.last_error: str | None = None
        self._dialog: QMessageBox | None = None

        welcome = QLabel(WELCOME)
        welcome.setAlignment(Qt.AlignmentFlag.AlignCenter)
        welcome.setWordWrap(True)
        self.setCentralWidget(welcome)

        self.checkpoint_panel = CheckpointPanel()
        dock = QDockWidget("Model", self)
        dock.setObjectName("model-dock")
        dock.setWidget(self.checkpoint_panel)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)

        file_menu = self.menuBar().addMenu("&File")
        open_ckpt = QAction("Open &checkpoint…", self, shortcut=QKeySequence.StandardKey.Open)
        open_ckpt.triggered.connect(self._choose_checkpoint)
        quit_action = QAction("&Quit", self, shortcut=QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)
        file_menu.addAction(open_ckpt)
        file_menu.addSeparator()
        file_menu.addAction(quit_action)
        self.statusBar().showMessage("Ready — open a checkpoint (Ctrl+O)")

    def _choose_checkpoint(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open checkpoint", "", "segtool checkpoints (*.pt *.pth);;All files (*)")
        if path:
            self.open_checkpoint(path)

    def open_checkpoint(self, path: str | Path) -> bool:
        """Load and show a checkpoint's description; on failure show the reason and keep the window usable."""
        try:
            d = describe(path)
        except UserInputError as e:
            self.show_error(f"Could not open {Path(path).name}", str(e))
            return False
        self.checkpoint_path = Path(path)
        self.checkpoint_panel.show_description(d)
        self.statusBar().showMessage(f"Loaded {Path(path).name}: {d['model']['backbone']}, {len(d['classes'])} classes")
        return True

    def show_error(self, title: str, message: str) -> None:
        """Non-modal dialog plus status-bar message: errors never block or close the window."""
        self.last_error = message
        self.statusBar().showMessage(f"{title}: {message.splitlines()[0]}")
        self._dialog = QMessageBox(QMessageBox.Icon.Warning, title, message, QMessageBox.StandardButton.Ok, self)
        self._dialog.open()

    def dragEnterEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802
        for url in event.mimeData().urls():
            if url.isLocalFile() and url.toLocalFile().endswith((".pt", ".pth")):
                self.open_checkpoint(url.toLocalFile())
                break
