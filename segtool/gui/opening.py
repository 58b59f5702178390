"""The main window's ways to open things: file, folder, camera and stream dialogs, recent files, drag and
drop, and the keyboard help (a mixin of `MainWindow`, kept apart so the window's module stays short)."""

from __future__ import annotations

from PySide6.QtCore import QUrl
from PySide6.QtWidgets import QFileDialog, QInputDialog, QMessageBox

from segtool.core.model_file import SHIPPED_MODELS, shipped_model_paths
from segtool.core.sources import IMAGE_EXTENSIONS

CHECKPOINT_SUFFIXES = (".pt", ".pth", ".onnx")
MODEL_FILTER = "segtool checkpoints and exported models (*.pt *.pth *.onnx);;All files (*)"
# what the File ▸ Shipped models entries say beside each name
SHIPPED_NOTES = {
    "rock_fragments": "rock fragments with their edges (Measure panel, Ctrl+M)",
    "demo_rocks": "the demo's rock model",
}
VIDEO_FILTER = "*.mp4 *.mkv *.mov *.avi *.webm *.gif *.m4v *.mpg *.mpeg *.ts *.wmv"


class OpeningMixin:
    """Dialogs and drops that end in `open_checkpoint` / `open_source` (defined by the window)."""

    def _fill_recent_menus(self) -> None:
        for menu, key, slot in (
            (self.recent_ckpt_menu, "recent/checkpoints", self.open_checkpoint),
            (self.recent_src_menu, "recent/sources", self.open_source),
        ):
            menu.clear()
            items = self.settings.recent(key)
            for item in items:
                menu.addAction(item, lambda _=False, x=item, fn=slot: fn(x))
            menu.setEnabled(bool(items))
        self.shipped_menu.clear()
        for name in shipped_model_paths():
            note = SHIPPED_NOTES.get(name, SHIPPED_MODELS[name])
            self.shipped_menu.addAction(f"{name} — {note}", lambda _=False, x=name: self.open_checkpoint(x))
        self.shipped_menu.setEnabled(not self.shipped_menu.isEmpty())

    # --- opening things ----------------------------------------------------------------------------

    def _choose_checkpoint(self) -> QFileDialog:
        """The Open-model dialog (window-modal, not blocking): the folder of the shipped models is in its
        sidebar, and the first time (no folder remembered) it opens there."""
        shipped = sorted({p.parent for p in shipped_model_paths().values()})
        start = self.settings.get("dirs/checkpoint", "") or (str(shipped[0]) if shipped else "")
        dlg = QFileDialog(self, "Open model", start, MODEL_FILTER)
        dlg.setFileMode(QFileDialog.FileMode.ExistingFile)
        urls = dlg.sidebarUrls()  # Qt remembers the sidebar between runs: add the folder only once
        dlg.setSidebarUrls(urls + [u for u in (QUrl.fromLocalFile(str(d)) for d in shipped) if u not in urls])
        dlg.fileSelected.connect(self.open_checkpoint)
        self.model_dialog = dlg  # kept so tests (and a second Ctrl+O) find it
        dlg.open()
        return dlg

    def _choose_file(self) -> None:
        start = self.settings.get("dirs/source", "")
        images = " ".join(f"*{e}" for e in sorted(IMAGE_EXTENSIONS))
        path, _ = QFileDialog.getOpenFileName(
            self, "Open video or image", start, f"Videos and images ({VIDEO_FILTER} {images});;All files (*)"
        )
        if path:
            self.open_source(path)

    def _choose_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(
            self, "Open folder of images", self.settings.get("dirs/source", "")
        )
        if path:
            self.open_source(path)

    def _fill_camera_menu(self) -> None:
        self.camera_menu.clear()
        for n in available_cameras():
            self.camera_menu.addAction(
                f"Camera {n}  (cam:{n})", lambda _=False, k=n: self.open_source(f"cam:{k}")
            )
        if self.camera_menu.isEmpty():
            none = self.camera_menu.addAction("No camera found")
            none.setEnabled(False)
        self.camera_menu.addSeparator()
        self.camera_menu.addAction("Camera number…", self._choose_camera_number)

    def _choose_camera_number(self) -> None:
        n, ok = QInputDialog.getInt(self, "Open camera", "Camera number (0 = first camera):", 0, 0, 99)
        if ok:
            self.open_source(f"cam:{n}")

    def _choose_url(self) -> None:
        url, ok = QInputDialog.getText(
            self,
            "Open stream",
            "rtsp://, http:// or https:// address:",
            text=self.settings.get("dirs/url", "rtsp://"),
        )
        if ok and url.strip():
            self.settings.set("dirs/url", url.strip())
            self.open_source(url.strip())

    def _show_help(self) -> None:
        QMessageBox.information(self, "Keyboard and mouse", HELP)

    def dragEnterEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802
        self.open_dropped([u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()])

    def open_dropped(self, paths: list[str]) -> None:
        """A checkpoint among the dropped paths loads the model; the first other path is the source."""
        ckpts = [p for p in paths if p.lower().endswith(CHECKPOINT_SUFFIXES)]
        others = [p for p in paths if not p.lower().endswith(CHECKPOINT_SUFFIXES)]
        if ckpts:
            self.open_checkpoint(ckpts[0])
        if others:
            self.open_source(others[0])


HELP = """<table>
<tr><td><b>Space</b></td><td>play / pause</td></tr>
<tr><td><b>← →</b></td><td>previous / next frame (or image in a folder)</td></tr>
<tr><td><b>Ctrl+G</b></td><td>go to a frame number</td></tr>
<tr><td><b>Mouse wheel</b></td><td>zoom around the pointer</td></tr>
<tr><td><b>Drag</b></td><td>pan</td></tr>
<tr><td><b>Double-click, F</b></td><td>fit the picture to the window</td></tr>
<tr><td><b>1</b></td><td>actual pixels</td></tr>
<tr><td><b>Ctrl+1…4</b></td><td>overlay / mask only / side by side / outlines</td></tr>
<tr><td><b>Ctrl+E</b></td><td>export masks of the open source</td></tr>
<tr><td><b>Ctrl+M</b></td><td>Measure panel: rock fragments of the frame on screen, their sizes and passing curve</td></tr>
<tr><td><b>Ctrl+L</b></td><td>label mode: B brush, E eraser, P polygon, R region, O outline a fragment,
1…9 class, [ ] brush size, Ctrl+Z / Ctrl+Shift+Z undo / redo, Ctrl+S save</td></tr>
</table>"""


def available_cameras() -> list[int]:
    """Camera numbers the system lists without opening them (Linux: /dev/videoN); elsewhere 0 and 1."""
    import glob
    import sys

    if sys.platform.startswith("linux"):
        return sorted(int(p[10:]) for p in glob.glob("/dev/video*") if p[10:].isdigit())
    return [0, 1]
