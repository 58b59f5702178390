"""The main window: picture, playback bar, side panel (model, view, classes), menus and status bar.

The window only paints and handles input. Everything that loads, decodes or predicts runs in the
`ViewerWorker` thread (see `segtool.gui.workers` for who owns what); exports run in `ExportJob`
threads. Results arrive as read-only copies; the window keeps just the one on screen, so it can
repaint it when the view settings change.

Why about 500 lines: this is the one place where the window's parts are wired to each other (the
viewer worker's signals, the player, the side panel, playback, export, the label/training hubs). The
parts themselves live in their own modules: opening.py (dialogs, drops, help), labeling/ (label mode),
measure/ (rock fragments),
wizard/hub.py (training), export_dialog.py and batch_queue.py (exports), startup.py (first window).
"""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import QByteArray, Qt, QTimer
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import (
    QDockWidget,
    QInputDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QScrollArea,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from segtool.gui.batch_queue import BatchQueueDialog
from segtool.gui.canvas import ImageCanvas
from segtool.gui.export_dialog import ExportDialog, OverlayView
from segtool.gui.fit_notice import FitNotice
from segtool.gui.labeling.hub import LabelHub
from segtool.gui.main_thread_gc import MainThreadGC
from segtool.gui.measure.hub import MeasureHub
from segtool.gui.opening import OpeningMixin
from segtool.gui.player import PlayerBar
from segtool.gui.render import MODES, compose
from segtool.gui.settings import AppSettings
from segtool.gui.side_panel import SidePanel
from segtool.gui.wizard.hub import TrainingHub
from segtool.gui.workers import EngineInfo, SourceInfo, ViewerWorker, ViewResult

PLACEHOLDER = (
    "Drop a model (.pt) and a video, image or folder here\n\n"
    "File ▸ Open checkpoint… (Ctrl+O)    File ▸ Open video or image… (Ctrl+Shift+O)\n"
    "File ▸ Open folder…    File ▸ Open camera    File ▸ Open stream URL…"
)


class MainWindow(OpeningMixin, QMainWindow):
    """The segtool desktop app's window.

    Args:
        settings: where settings persist (default: the user's settings file).
    """

    def __init__(self, settings: AppSettings | None = None) -> None:
        super().__init__()
        # Before any worker thread starts: cyclic garbage holding Qt objects must be collected here, on
        # the GUI thread, never on a worker (a deadlock seen in CI; see main_thread_gc).
        self._gc = MainThreadGC(self)
        self.setWindowTitle("segtool")
        self.setAcceptDrops(True)
        self.settings = settings or AppSettings()
        self.checkpoint_path: Path | None = None
        self.engine_info: EngineInfo | None = None
        self.source: SourceInfo | None = None
        self.current: ViewResult | None = None  # the result on screen (repainted on view changes)
        self.last_error: str | None = None
        self._dialog: QMessageBox | None = None
        self.export_dialog: ExportDialog | None = None
        self._old_exports: list[ExportDialog] = []
        self.batch_dialog: BatchQueueDialog | None = None
        self.playing = False
        self.shown_frames = 0  # results painted (display fps, tests)
        self._display_times: list[float] = []
        self._closed = False

        self.worker = ViewerWorker(self)
        self.worker.engineReady.connect(self._engine_ready)
        self.worker.sourceOpened.connect(self._source_opened)
        self.worker.resultReady.connect(self._result_ready)
        self.worker.playbackEnded.connect(self._playback_ended)
        self.worker.failed.connect(self.show_error)
        self.worker.busy.connect(lambda text: self.statusBar().showMessage(text))

        self.canvas = ImageCanvas()
        self.canvas.placeholder = PLACEHOLDER
        self.player = PlayerBar()
        central = QWidget()
        lay = QVBoxLayout(central)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(0)
        lay.addWidget(self.canvas, 1)
        lay.addWidget(self.player)
        self.setCentralWidget(central)

        self.panel = SidePanel()
        scroll = QScrollArea()
        scroll.setWidget(self.panel)
        scroll.setWidgetResizable(True)
        # wide enough for the panel with the vertical scrollbar shown: narrower, a horizontal scrollbar
        # appeared and the right edge (the end of the "unsure" notice) slid under the vertical one
        bar = scroll.verticalScrollBar().sizeHint().width()
        scroll.setMinimumWidth(max(300, self.panel.minimumSizeHint().width() + bar + 2 * scroll.frameWidth()))
        dock = QDockWidget("Model and view", self)
        dock.setObjectName("side-dock")
        dock.setFeatures(
            QDockWidget.DockWidgetFeature.DockWidgetMovable
            | QDockWidget.DockWidgetFeature.DockWidgetFloatable
        )
        dock.setWidget(scroll)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)

        self._build_status_bar()
        self._build_actions()
        self.training = TrainingHub(
            self
        )  # Train menu, wizard, Runs view, training progress in the status bar
        self.labels = LabelHub(self)  # Label menu, label mode on the canvas, suggestions strip
        self.measure = MeasureHub(self)  # Measure menu and dock: rock fragments of the frame on screen
        self.player.playToggled.connect(self.toggle_play)
        self.player.stepRequested.connect(self.step)
        self.player.seekRequested.connect(self.seek)
        self.player.speedChanged.connect(self._speed_changed)
        self.player.loopChanged.connect(lambda on: setattr(self.worker, "loop", on))
        self.panel.viewChanged.connect(self._view_changed)
        self.panel.deviceChanged.connect(self._device_changed)
        self.panel.confidenceToggled.connect(self._confidence_toggled)
        self.fit_notice = FitNotice()  # how sure the model is on this footage: a hint it does not fit
        self.panel.layout().insertWidget(1, self.fit_notice)
        self.worker.confidence = True  # always: the notice needs it; the view fades only when ticked
        self._restore_settings()
        self.worker.start()
        self._stats_timer = QTimer(self, interval=500, timeout=self._update_stats)
        self._stats_timer.start()

    # --- construction ------------------------------------------------------------------------------

    def _build_status_bar(self) -> None:
        self.status_device = QLabel("no model")
        self.status_rates = QLabel("")
        self.status_rates.setToolTip(
            "inference: frames the model finished per second · display: pictures painted per second · "
            "latency: decode-to-result time · dropped: frames skipped because the model was busy"
        )
        for w in (self.status_rates, self.status_device):
            # A gap and a rule before the numbers: a long message must not run into "inference 12 fps".
            w.setContentsMargins(10, 0, 4, 0)
            w.setStyleSheet("QLabel { border-left: 1px solid palette(mid); }")
            self.statusBar().addPermanentWidget(w)
        self.statusBar().showMessage(
            "Open a checkpoint (Ctrl+O) and a video, image or folder — or drop them here"
        )

    def _action(self, text: str, slot, shortcut=None, menu=None, tip: str = "") -> QAction:
        a = QAction(text, self)
        if shortcut is not None:
            a.setShortcut(QKeySequence(shortcut))
        a.setStatusTip(tip)
        a.triggered.connect(slot)
        if menu is not None:
            menu.addAction(a)
        self.addAction(a)  # shortcuts work while focus is anywhere in the window
        return a

    def _build_actions(self) -> None:
        bar = self.menuBar()
        f = bar.addMenu("&File")
        self.act_open_ckpt = self._action(
            "Open &checkpoint…", self._choose_checkpoint, QKeySequence.StandardKey.Open, f
        )
        self.recent_ckpt_menu = f.addMenu("Recent checkpoints")
        self.shipped_menu = f.addMenu("Shipped models")  # filled by OpeningMixin._fill_recent_menus
        f.addSeparator()
        self.act_open_file = self._action("Open &video or image…", self._choose_file, "Ctrl+Shift+O", f)
        self.act_open_folder = self._action("Open &folder of images…", self._choose_folder, "Ctrl+Shift+F", f)
        self.camera_menu = f.addMenu("Open ca&mera")
        self.camera_menu.aboutToShow.connect(self._fill_camera_menu)
        self.act_open_url = self._action("Open stream &URL…", self._choose_url, "Ctrl+U", f)
        self.recent_src_menu = f.addMenu("Recent sources")
        f.addSeparator()
        self.act_export = self._action(
            "&Export masks…",
            self.open_export_dialog,
            "Ctrl+E",
            f,
            "Write masks, overlay video and coverage CSV of the current source",
        )
        self.act_export_queue = self._action(
            "Export a &queue of videos…",
            self.open_batch_dialog,
            "Ctrl+Shift+E",
            f,
            "Export masks of many videos, one output folder each",
        )
        f.addSeparator()
        self._action("&Quit", self.close, QKeySequence.StandardKey.Quit, f)

        p = bar.addMenu("&Playback")
        self.act_play = self._action("Play / pause", self.toggle_play, Qt.Key.Key_Space, p)
        self._action("Next frame", lambda: self.step(1), Qt.Key.Key_Right, p)
        self._action("Previous frame", lambda: self.step(-1), Qt.Key.Key_Left, p)
        self._action("Go to frame…", self._go_to_frame, "Ctrl+G", p)

        v = bar.addMenu("&View")
        self._action("Fit to window", self.canvas.fit, "F", v)
        self._action("Actual pixels (100 %)", self.canvas.zoom_100, "1", v)
        self._action("Zoom in", lambda: self.canvas.zoom_by(1.25), QKeySequence.StandardKey.ZoomIn, v)
        self._action("Zoom out", lambda: self.canvas.zoom_by(0.8), QKeySequence.StandardKey.ZoomOut, v)
        v.addSeparator()
        group = QActionGroup(self)
        for n, (key, label) in enumerate(MODES.items(), start=1):
            a = self._action(label, lambda _=False, k=key: self.panel.set_mode_key(k), f"Ctrl+{n}", v)
            a.setCheckable(True)
            group.addAction(a)
        self._mode_actions = group
        self.panel.mode.currentIndexChanged.connect(lambda i: group.actions()[i].setChecked(True))
        group.actions()[self.panel.mode.currentIndex()].setChecked(True)

        h = bar.addMenu("&Help")
        self._action("Keyboard and mouse", self._show_help, QKeySequence.StandardKey.HelpContents, h)

        tb = QToolBar("Main", self)
        tb.setObjectName("main-toolbar")
        tb.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        tb.setMovable(False)
        tb.addAction(self.act_open_ckpt)
        tb.addAction(self.act_open_file)
        tb.addAction(self.act_open_folder)
        tb.addAction(self.camera_menu.menuAction())
        tb.addAction(self.act_open_url)
        tb.addSeparator()
        tb.addAction(self.act_export)
        self.act_open_ckpt.setIconText("Open model")
        self.act_open_file.setIconText("Open video/image")
        self.act_open_folder.setIconText("Open folder")
        self.camera_menu.menuAction().setIconText("Camera")
        self.act_open_url.setIconText("Stream URL")
        self.act_export.setIconText("Export masks…")
        self.addToolBar(tb)
        self._fill_recent_menus()

    # --- settings ----------------------------------------------------------------------------------

    def _restore_settings(self) -> None:
        s = self.settings
        geom = s.store.value("window/geometry")
        if isinstance(geom, QByteArray):
            self.restoreGeometry(geom)
        else:
            self.resize(1280, 800)
        state = s.store.value("window/state")
        if isinstance(state, QByteArray):
            self.restoreState(state)
        self.panel.opacity.setValue(s.get("view/opacity", 50, int))
        self.panel.set_mode_key(s.get("view/mode", "overlay"))
        self.panel.set_device_key(
            s.get("model/device", "auto"), s.get("model/precision", "auto"), s.get("model/runtime", "auto")
        )

    def _save_settings(self) -> None:
        s = self.settings
        s.set("window/geometry", self.saveGeometry())
        s.set("window/state", self.saveState())
        s.set("view/opacity", self.panel.opacity.value())
        s.set("view/mode", self.panel.mode_key())
        s.set("model/device", self.panel.device_key())
        s.set("model/precision", self.panel.precision_key())
        s.set("model/runtime", self.panel.runtime_key())
        s.sync()

    # --- opening things ----------------------------------------------------------------------------

    def open_checkpoint(self, path: str | Path) -> None:
        """Load a model (a .pt or .onnx file, or a shipped model's name) in the worker; `engineReady` or an
        error follows."""
        path = str(path)
        if Path(path).is_file():  # not a shipped model's name (rock_fragments): that resolves in the worker
            self.settings.set("dirs/checkpoint", str(Path(path).parent))
        self.worker.load_checkpoint(
            path, self.panel.device_key(), self.panel.precision_key(), self.panel.runtime_key()
        )
        self.statusBar().showMessage(f"Loading {Path(path).name}…")

    def open_source(self, spec: str | Path) -> None:
        """Open an image, folder, video, `cam:N` or URL in the worker; `sourceOpened` or an error follows."""
        spec = str(spec)
        if not self.labels.confirm_leave():
            return
        if "://" not in spec and not spec.lower().startswith("cam:"):
            p = Path(spec)
            self.settings.set("dirs/source", str(p if p.is_dir() else p.parent))
        self._set_playing(False)
        self.worker.open_source(spec)

    def _engine_ready(self, info: EngineInfo) -> None:
        self.engine_info = info
        self.checkpoint_path = Path(info.path)
        self.fit_notice.set_reference(info.checkpoint.confidence_reference if info.checkpoint else None)
        self.panel.show_model(info.description, info.class_names, info.palette, info.device_label)
        self.status_device.setText(info.device_label)
        self.settings.push_recent("recent/checkpoints", info.path)
        self._fill_recent_menus()
        self.statusBar().showMessage(f"Model {Path(info.path).name} ready on {info.device_label}", 5000)
        self._refresh_after_change()
        d = self.export_dialog
        if d is not None and d.isVisible() and not d.running():  # it must name and use the model now open
            out = d.out.text()
            d.hide()
            if self.open_export_dialog() is not None:
                self.export_dialog.out.setText(out)

    def _source_opened(self, info: SourceInfo) -> None:
        self.source = info
        self.current = None
        self.fit_notice.reset()
        self.canvas.clear()
        self.player.set_source(info)
        self.settings.push_recent("recent/sources", info.spec)
        self._fill_recent_menus()
        self.setWindowTitle(f"segtool — {info.description}")
        self.statusBar().showMessage(f"Opened {info.description}", 5000)
        if info.is_live:
            self._set_playing(True)
            self.worker.play(0)
        else:
            self.worker.show_frame(0)

    def _refresh_after_change(self) -> None:
        """Model or device changed: show the current frame again with the new model."""
        if self.source is None:
            return
        index = self.current.index if self.current is not None else 0
        if self.playing:
            self.worker.play(index)
        elif not self.source.is_live:
            self.worker.show_frame(index)

    # --- playback ----------------------------------------------------------------------------------

    def toggle_play(self) -> None:
        if self.source is None or (not self.playing and not self.labels.confirm_leave()):
            return
        if self.playing:
            self._set_playing(False)
            self.worker.pause()
            return
        n = self.source.frames or 0
        start = self.current.index + 1 if self.current is not None else 0
        if not self.source.is_live and start >= n:
            start = 0  # at the end: play from the start again
        self._set_playing(True)
        self.worker.play(start)

    def step(self, delta: int) -> None:
        if self.source is None or self.source.is_live:
            return
        index = (self.current.index if self.current is not None else 0) + delta
        self.seek(max(0, min(index, (self.source.frames or 1) - 1)))

    def seek(self, index: int) -> None:
        """Show frame `index` exactly; playback continues from there if it was playing."""
        if self.source is None or self.source.is_live:
            return
        if (self.current is None or index != self.current.index) and not self.labels.confirm_leave():
            return
        if self.playing:
            self.worker.play(index)
        else:
            self.worker.show_frame(index)

    def _go_to_frame(self) -> None:
        if self.source is None or not self.source.frames:
            return
        cur = self.current.index if self.current is not None else 0
        n, ok = QInputDialog.getInt(
            self, "Go to frame", f"Frame (0–{self.source.frames - 1}):", cur, 0, self.source.frames - 1
        )
        if ok:
            self.seek(n)

    def _set_playing(self, playing: bool) -> None:
        self.playing = playing
        self.player.set_playing(playing)

    def _playback_ended(self, reason: str, last_index: int) -> None:
        if reason in ("end", "stopped") and self.playing:
            self._set_playing(False)
            if reason == "end":
                self.statusBar().showMessage("End of video", 3000)

    def _speed_changed(self, speed: float) -> None:
        self.worker.speed = speed

    # --- results -----------------------------------------------------------------------------------

    def _result_ready(self) -> None:
        r = self.worker.take_result()
        if r is None or self.source is None or r.source_id != self.source.source_id:
            return  # a late result from a source that was closed since
        self.current = r
        if r.mask is not None and self.engine_info is not None:
            self.fit_notice.add(r.confidence, len(self.engine_info.class_names))
        self.render()
        self.player.set_position(r.index, r.pts_s, r.name)
        self.shown_frames += 1
        self.labels.on_result(r)
        self.measure.on_result(r)
        now = time.perf_counter()
        self._display_times = [t for t in self._display_times if now - t < 2.0] + [now]

    def render(self) -> None:
        """Paint the current result with the current view settings."""
        r = self.current
        if r is None:
            return
        info = self.engine_info
        palette = info.palette if info is not None and r.mask is not None else None
        if self.labels.hides_prediction():
            palette = None  # label mode: the bare frame under the labels
        visible = self.panel.legend.visible() if palette is not None else None
        conf = r.confidence if self.panel.confidence.isChecked() else None
        picture = compose(
            r.rgb,
            r.mask if palette is not None else None,
            palette,
            mode=self.panel.mode_key(),
            alpha=self.panel.alpha(),
            visible=visible,
            confidence=conf,
        )
        self.canvas.set_image(picture)
        self.panel.legend.set_shares(r.coverage)

    def _view_changed(self) -> None:
        self.render()

    def _confidence_toggled(self, on: bool) -> None:
        self.render()  # the confidence map is always computed (for the fit notice)

    def _device_changed(self, device: str, precision: str, runtime: str) -> None:
        if self.checkpoint_path is not None:
            self.worker.set_device(device, precision, runtime)

    def _update_stats(self) -> None:
        if self.engine_info is None and self.source is None:
            return
        s = self.worker.stats
        now = time.perf_counter()
        recent = [t for t in self._display_times if now - t < 2.0]
        display_fps = (
            (len(recent) - 1) / (recent[-1] - recent[0])
            if len(recent) > 1 and recent[-1] > recent[0]
            else 0.0
        )
        if self.playing:
            self.status_rates.setText(
                f"inference {s.inference_fps:.1f} fps · display {display_fps:.1f} fps · "
                f"latency {1000 * s.latency_s:.0f} ms · dropped {s.dropped}"
            )
        elif self.current is not None and self.current.latency_s is not None:
            self.status_rates.setText(f"paused · last prediction {1000 * self.current.latency_s:.0f} ms")

    # --- export ------------------------------------------------------------------------------------

    def open_export_dialog(self) -> ExportDialog | None:
        if self.export_dialog is not None and self.export_dialog.running():
            self.export_dialog.show()
            self.export_dialog.raise_()
            return self.export_dialog
        if self.source is None or self.checkpoint_path is None or self.engine_info is None:
            self.show_error(
                "Nothing to export yet",
                "Open a checkpoint (Ctrl+O) and a source first; the export writes the masks of the source that is open.",
            )
            return None
        if self.export_dialog is not None:
            self._old_exports.append(self.export_dialog)
        base = self.settings.get("dirs/export", str(Path.home()))
        name = Path(self.source.spec).stem if "://" not in self.source.spec else "stream"
        out = str(Path(base) / f"{name.replace(':', '')}_masks")
        # The model file the viewer opened, not its path: the export uses exactly the weights on screen,
        # and the file is not read again. The overlay follows the view (opacity, class ticks).
        info = self.engine_info
        model = info.model if info.model is not None else info.path
        self.export_dialog = ExportDialog(
            self.source,
            model,
            self.panel.device_key(),
            self.panel.precision_key(),
            out,
            self,
            checkpoint_path=info.path,
            runtime=self.panel.runtime_key(),
            view=self.overlay_view,
        )
        self.panel.viewChanged.connect(self.export_dialog.refresh_view)
        self.export_dialog.start_btn.clicked.connect(
            lambda: self.settings.set("dirs/export", str(Path(self.export_dialog.out.text()).parent))
        )
        self.export_dialog.queue_requested.connect(
            lambda: self.open_batch_dialog([self.source.spec] if self.source else [])
        )
        self.export_dialog.show()
        return self.export_dialog

    def overlay_view(self) -> OverlayView:
        """The view's opacity and class ticks, for an export that looks like what is on screen."""
        names = tuple(self.engine_info.class_names) if self.engine_info is not None else ()
        return OverlayView(self.panel.alpha(), tuple(self.panel.legend.visible()) or None, names)

    def open_batch_dialog(self, sources: list[str] | None = None) -> BatchQueueDialog | None:
        """The export queue (segtool/gui/batch_queue.py); one per window, kept while it runs. It exports
        with the model on screen (the loaded Checkpoint object, as the Export dialog does)."""
        if self.checkpoint_path is None or self.engine_info is None:
            self.show_error(
                "No model yet",
                "Open a checkpoint (Ctrl+O) first; the queue exports with the model that is open.",
            )
            return None
        if self.batch_dialog is None:
            out = str(Path(self.settings.get("dirs/export", str(Path.home()))) / "batch_masks")
            self.batch_dialog = BatchQueueDialog(
                str(self.checkpoint_path),
                self.panel.device_key(),
                self.panel.precision_key(),
                out,
                parent=self,
            )
        if (
            not self.batch_dialog.running()
        ):  # a queue started earlier keeps its model; a new one takes the current
            self.batch_dialog.set_model(
                self.engine_info.path,
                self.engine_info.model,
                self.panel.device_key(),
                self.panel.precision_key(),
                self.panel.runtime_key(),
            )
            if sources:
                self.batch_dialog.add_sources([s for s in sources if s not in self.batch_dialog.specs])
        self.batch_dialog.show()
        self.batch_dialog.raise_()
        return self.batch_dialog

    # --- errors, drops, closing --------------------------------------------------------------------

    def show_error(self, title: str, message: str) -> None:
        """Non-modal dialog plus status-bar message: errors never block or close the window."""
        self.last_error = message
        self.statusBar().showMessage(f"{title}: {message.splitlines()[0]}")
        if self._dialog is not None:
            self._dialog.close()
        self._dialog = QMessageBox(
            QMessageBox.Icon.Warning, title, message, QMessageBox.StandardButton.Ok, self
        )
        self._dialog.setWindowModality(Qt.WindowModality.NonModal)  # the window stays usable behind it
        self._dialog.show()

    def closeEvent(self, event) -> None:  # noqa: N802
        if not self._closed and not self.labels.confirm_leave():
            event.ignore()  # "Cancel" in the unsaved-labels question keeps the window open
            return
        self.shutdown()
        super().closeEvent(event)

    def shutdown(self) -> None:
        """Stop the viewer worker and any export, waiting for their threads (no thread outlives the window)."""
        if self._closed:
            return
        self._closed = True
        self._stats_timer.stop()
        self._save_settings()
        for d in [*self._old_exports, self.export_dialog, self.batch_dialog]:
            if d is not None:
                d.shutdown()
        self.training.shutdown()  # a running training child saves last.pt and exits
        self.measure.shutdown()  # cancels a report being written
        self.labels.shutdown()  # saves the frame's labels (autosave), stops suggestion and region threads
        self.worker.shutdown()
        self._gc.release()  # the threads are stopped: collect what is left here, back to automatic
