"""Label mode's optional SAM click (issue 21): with a Segment-Anything encoder + decoder the user already has as
ONNX files (Label ▸ Use SAM ONNX files…), one click paints the object SAM finds under the pointer with the
chosen class — a fragment model's click is one new fragment. Nothing is downloaded; its quality on rocks was
not measured here (docs/labelling.md). The work is in `segtool.core.sam_onnx`.

The encoder runs once per frame in a background thread (seconds for SAM ViT-B on a CPU); clicks made before
it finishes are kept and answered when it does, if the same frame is still being labelled.
"""

from __future__ import annotations

import threading

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QFileDialog

from segtool.base.errors import UserInputError
from segtool.core.sam_onnx import SamOnnx


class SamClick(QObject):
    """The SAM tool of one `LabelHub`."""

    embeddingReady = Signal(object, object)  # (frame key, SamEmbedding or an error message)

    def __init__(self, hub) -> None:
        super().__init__(hub)
        self.hub = hub
        self.model: SamOnnx | None = None
        self._key = None
        self._emb = None
        self._pending: list[tuple[float, float]] = []
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()  # one encoder run at a time: an onnxruntime session per frame is enough
        self.embeddingReady.connect(self._embedding_ready)

    def choose_files(self) -> None:
        """Ask for the encoder and decoder .onnx files."""
        w = self.hub.window
        enc, _ = QFileDialog.getOpenFileName(w, "SAM encoder (.onnx)", "", "ONNX (*.onnx)")
        if not enc:
            return
        dec, _ = QFileDialog.getOpenFileName(w, "SAM decoder (.onnx)", str(enc), "ONNX (*.onnx)")
        if dec:
            self.load(enc, dec)

    def load(self, encoder: str, decoder: str) -> bool:
        """Open an encoder + decoder pair; an error is shown in words. True when loaded."""
        try:
            self.model = SamOnnx(encoder, decoder)
        except UserInputError as e:
            self.hub.window.show_error("Could not use these SAM files", str(e))
            return False
        self._key, self._emb = None, None
        self.hub.window.statusBar().showMessage(
            "SAM loaded: choose the SAM tool (A) and click an object", 6000
        )
        return True

    def prepare(self) -> None:
        """Start encoding the frame on screen (when the tool is chosen or the frame changes)."""
        hub, model = self.hub, self.model
        if model is None or hub.result is None or hub.key == self._key:
            return
        key, rgb = hub.key, hub.result.rgb

        def work() -> None:
            with self._lock:
                try:
                    self.embeddingReady.emit(key, model.encode(rgb))
                except Exception as e:  # onnxruntime errors on a model that does not fit this picture
                    self.embeddingReady.emit(key, f"SAM's encoder failed on this frame: {e}")

        t = threading.Thread(target=work, name="segtool-sam", daemon=True)
        self._threads = [x for x in self._threads if x.is_alive()] + [t]
        t.start()
        hub.window.statusBar().showMessage("SAM: encoding the frame…", 5000)

    def _embedding_ready(self, key, emb) -> None:
        if key != self.hub.key:
            return
        if isinstance(emb, str):
            self._pending = []
            self.hub.window.show_error("SAM failed", emb)
            return
        self._key, self._emb = key, emb
        pending, self._pending = self._pending, []
        for x, y in pending:
            self.click(x, y)

    def click(self, x: float, y: float) -> None:
        """Paint the object SAM finds at image pixel (x, y)."""
        hub = self.hub
        if hub.editor is None:
            return
        if self.model is None:
            hub.window.statusBar().showMessage(
                "SAM needs your encoder and decoder .onnx files: Label ▸ Use SAM ONNX files…", 8000
            )
            return
        if self._key != hub.key:
            self._pending.append((x, y))
            self.prepare()
            return
        region = self.model.mask_at(self._emb, [(x, y, 1)])
        if not region.any():
            hub.window.statusBar().showMessage("SAM found nothing there", 4000)
            return
        f = hub.fragments
        if f is not None:  # a fragment model: SAM's object is one fragment of the interior class
            hub.editor.add_fragment(region, hub.class_names.index(f["interior"]))
        else:
            hub.editor.fill_region(region, hub.cls)
        hub._redraw()
        hub._update_state()

    def wait(self, timeout: float = 30.0) -> None:
        """Tests and shutdown: wait for encoder runs in flight."""
        for t in self._threads:
            t.join(timeout)
