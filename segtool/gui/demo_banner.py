"""The built-in demo in the app: the notice that says it is synthetic, and the launcher that prepares it.

`DemoLauncher(window).start()` shows the demo banner, generates the synthetic clip into the cache on
first use (a background thread, with a progress dialog that can cancel it), then loads the demo model
and the clip through the window's public methods and starts looping playback. It only uses
`MainWindow`'s public API (`open_checkpoint`, `open_source`, `toggle_play`, `worker` signals, actions),
so the window itself knows nothing about the demo.
"""

from __future__ import annotations

import threading
from pathlib import Path

from PySide6.QtCore import QEvent, QObject, Qt, QThread, Signal
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QProgressDialog,
    QPushButton,
    QSizePolicy,
    QToolBar,
    QWidget,
)

from segtool import demo

BANNER_STYLE = (
    "#demo-banner-frame { background: #fff4d6; border: 1px solid #e0b84a; border-radius: 4px; }"
    "#demo-banner-frame QLabel { color: #3a2c00; }"
)


def _shortcut(action) -> str:
    return action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)


class DemoBanner(QFrame):
    """A yellow notice over the picture: this is a synthetic demo; how to open one's own video and model.

    Args:
        window: the main window (its *Open video/image* and *Open model* actions back the buttons).
    """

    def __init__(self, window, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("demo-banner-frame")
        self.setStyleSheet(BANNER_STYLE)
        self.text = QLabel(
            "<b>Synthetic demo</b> — generated rock footage, and a small model trained only on generated "
            "pictures (nothing was downloaded).<br>"
            f"Your own footage: <b>Open video/image</b> ({_shortcut(window.act_open_file)}) and "
            f"<b>Open model</b> ({_shortcut(window.act_open_ckpt)}), or drop the files here. "
            "A model for your rocks: <b>Train…</b> in the toolbar, on your labelled pictures."
        )
        self.text.setTextFormat(Qt.TextFormat.RichText)
        self.text.setWordWrap(True)  # a narrow window wraps between words instead of cutting one
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)  # copy the command
        self.open_video = QPushButton("Open your video…")
        self.open_video.clicked.connect(window.act_open_file.trigger)
        self.open_model = QPushButton("Open your model…")
        self.open_model.clicked.connect(window.act_open_ckpt.trigger)
        self.close_btn = QPushButton("Hide")
        self.close_btn.setToolTip("Hide this notice")
        lay = QHBoxLayout(self)
        lay.setContentsMargins(10, 6, 10, 6)
        lay.addWidget(self.text, 1)
        for b in (self.open_video, self.open_model, self.close_btn):
            lay.addWidget(b)
        # Two lines of text, no more: a toolbar would otherwise give a wrapping label a tall height.
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)


class ClipJob(QThread):
    """Generates the demo clip into the cache in the background.

    Signals:
        progress(int done, int total); done(str path); failed(str message); cancelled().
    """

    progress = Signal(int, int)
    done = Signal(str)
    failed = Signal(str)
    cancelled = Signal()

    def __init__(self, spec: demo.ClipSpec, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.spec = spec
        self.cancel_event = threading.Event()

    def run(self) -> None:  # the thread: never lets an exception escape (it would abort the app)
        try:
            path = demo.ensure_demo_clip(self.spec, progress=self.progress.emit, cancel=self.cancel_event)
        except demo.Cancelled:
            self.cancelled.emit()
        except Exception as e:  # noqa: BLE001 - any failure becomes a message; the app stays up
            self.failed.emit(str(e))
        else:
            self.done.emit(str(path))

    def stop(self) -> None:
        """Cancel and wait for the thread (generation checks the flag between frames)."""
        self.cancel_event.set()
        self.wait()


class DemoLauncher(QObject):
    """Starts the built-in demo in `window` (see the module docstring).

    Attributes:
        banner: the notice (inside `toolbar`, a full-width bar under the main toolbar).
        clip_path / checkpoint_path: what the demo opened (None until known).
        started: both the model and the clip were opened and playback was requested.
    """

    def __init__(self, window, spec: demo.ClipSpec | None = None) -> None:
        super().__init__(window)
        self.window = window
        self.spec = spec or demo.DEMO_CLIP  # looked up now, so tests can swap in a tiny clip
        self.job: ClipJob | None = None
        self.dialog: QProgressDialog | None = None
        self.clip_path: Path | None = None
        self.checkpoint_path: Path | None = None
        self.started = False
        self._engine_ok = self._source_ok = False
        self.banner = DemoBanner(window)
        self.banner.close_btn.clicked.connect(self.hide_banner)
        self.toolbar = QToolBar("Demo notice", window)
        self.toolbar.setObjectName("demo-banner")
        self.toolbar.setMovable(False)
        self.toolbar.setFloatable(False)
        self.toolbar.addWidget(self.banner)
        window.addToolBarBreak(Qt.ToolBarArea.TopToolBarArea)
        window.addToolBar(Qt.ToolBarArea.TopToolBarArea, self.toolbar)
        window.worker.engineReady.connect(self._engine_ready)
        window.worker.sourceOpened.connect(self._source_opened)
        window.installEventFilter(self)  # closing the window stops the clip generation thread

    # --- starting ----------------------------------------------------------------------------------

    def start(self) -> None:
        """Show the banner and open the demo (generating its clip first when it is not cached)."""
        try:
            self.checkpoint_path = demo.demo_checkpoint()
        except Exception as e:  # noqa: BLE001 - a broken install: say so, the app stays usable
            self.window.show_error("Demo not available", str(e))
            return
        path = demo.demo_clip_path(self.spec)
        if path.is_file():
            self._open(str(path))
            return
        self.dialog = QProgressDialog(
            "Preparing the demo (first run only): generating synthetic rock footage…",
            "Cancel",
            0,
            self.spec.frames,
            self.window,
        )
        self.dialog.setWindowTitle("segtool demo")
        self.dialog.setWindowModality(Qt.WindowModality.WindowModal)
        self.dialog.setMinimumDuration(0)
        self.dialog.setAutoClose(False)
        self.dialog.setAutoReset(False)
        self.dialog.canceled.connect(self.cancel)
        self.job = ClipJob(self.spec, self)
        self.job.progress.connect(self._progress)
        self.job.done.connect(self._clip_ready)
        self.job.failed.connect(self._clip_failed)
        self.job.cancelled.connect(self._clip_cancelled)
        self.window.statusBar().showMessage("Generating the synthetic demo clip (first run only)…")
        self.dialog.show()
        self.job.start()

    def _progress(self, done: int, total: int) -> None:
        if self.dialog is not None:
            self.dialog.setValue(done)

    def _close_dialog(self) -> None:
        if self.dialog is not None:
            self.dialog.canceled.disconnect(self.cancel)
            self.dialog.close()
            self.dialog.deleteLater()
            self.dialog = None

    def _clip_ready(self, path: str) -> None:
        self._close_dialog()
        self._open(path)

    def _clip_failed(self, message: str) -> None:
        self._close_dialog()
        self.window.show_error("Could not prepare the demo", message)

    def _clip_cancelled(self) -> None:
        self._close_dialog()
        self.hide_banner()
        self.window.statusBar().showMessage(
            f"Demo cancelled — open your own video ({_shortcut(self.window.act_open_file)}) "
            f"and model ({_shortcut(self.window.act_open_ckpt)})"
        )

    def cancel(self) -> None:
        """Stop generating the clip (the Cancel button)."""
        if self.job is not None:
            self.job.cancel_event.set()

    def _open(self, clip: str) -> None:
        self.clip_path = Path(clip)
        self.window.player.loop.setChecked(True)  # the clip is short: keep it going
        self.window.open_checkpoint(self.checkpoint_path)
        self.window.open_source(clip)
        self.window.statusBar().showMessage("Synthetic demo: loading the demo model and clip…")

    # --- following the window ----------------------------------------------------------------------

    def _engine_ready(self, info) -> None:
        if self.checkpoint_path is not None and Path(info.path) == Path(self.checkpoint_path):
            self._engine_ok = True
            self._maybe_play()
        elif self._engine_ok or self.started:
            self.hide_banner()  # the user opened their own model: the notice no longer applies

    def _source_opened(self, info) -> None:
        if self.clip_path is not None and Path(str(info.spec)) == self.clip_path:
            self._source_ok = True
            self._maybe_play()
        elif self._source_ok or self.started:
            self.hide_banner()

    def _maybe_play(self) -> None:
        if self._engine_ok and self._source_ok and not self.started:
            self.started = True
            # Show the rocks in colour over the natural ground: a black "background" overlay at 50 %
            # would only darken the picture. (A view setting of this session; the user can tick it.)
            names = self.window.engine_info.class_names if self.window.engine_info is not None else []
            if "background" in names:
                self.window.panel.legend.set_visible(names.index("background"), False)
            if not self.window.playing:
                self.window.toggle_play()

    def hide_banner(self) -> None:
        self.toolbar.hide()

    # --- shutdown ----------------------------------------------------------------------------------

    def eventFilter(self, obj, event) -> bool:  # noqa: N802 (Qt naming)
        if obj is self.window and event.type() == QEvent.Type.Close:
            self.shutdown()
        return False

    def shutdown(self) -> None:
        """Cancel clip generation and wait for its thread (no thread outlives the window)."""
        if self.job is not None:
            self.job.stop()
        self._close_dialog()
