"""Label mode for the main window: paint and correct masks on the frame on screen, save them into a label
set, rank the frames worth labelling, and train on the labels.

Kept out of main_window.py (like the TrainingHub): the window creates `LabelHub(window)`, passes each
shown result to `on_result`, asks `confirm_leave()` before it changes frame or source, and calls
`shutdown()` when it closes.

Who owns what: the GUI thread owns the `LabelEditor` of the frame on screen and the `LabelSet` (saves
are small PNG writes, done at once so their order is the order of edits). Superpixels and frame
suggestions are computed in background threads that receive copies and post results back as signals.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QDockWidget, QFileDialog, QInputDialog, QMainWindow, QMessageBox, QScrollArea

from models.classes import default_colors
from models.errors import UserInputError
from segtool.core.label_edit import UNKNOWN, LabelEditor, superpixels
from segtool.core.labelset import LabelSet, export_cvat, frame_name, import_cvat
from segtool.gui.labeling.layer import TOOLS, LabelLayer
from segtool.gui.labeling.panel import LabelPanel
from segtool.gui.labeling.suggest import SuggestStrip

_TOOL_KEYS = {Qt.Key.Key_B: "brush", Qt.Key.Key_E: "eraser", Qt.Key.Key_P: "polygon", Qt.Key.Key_R: "region",
              Qt.Key.Key_O: "outline"}  # fmt: skip
AUTOSAVE_MS = 30_000


class LabelHub(QObject):
    """Label mode of one main window (see the module docstring)."""

    superpixelsReady = Signal(object, object)  # (frame key, segments)
    comparisonReady = Signal(object, object)  # (run folder, result dict or error message)

    def __init__(self, window: QMainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.labelset: LabelSet | None = None
        self.editor: LabelEditor | None = None
        self.result = None  # the ViewResult being labelled
        self.key: tuple[str, str] | None = None  # (source path, frame name) of that result
        self.tool, self.cls, self.opacity = "brush", 1, 0.6
        self._poly: list[tuple[float, float]] = []
        self._segments: OrderedDict[tuple, np.ndarray] = OrderedDict()
        self._pending_region: list[tuple[float, float]] = []
        self._sp_threads: list[threading.Thread] = []
        self._before = None  # the Checkpoint in the viewer when "Train on my labels" was pressed
        self._cmp_thread: threading.Thread | None = None
        self.last_comparison: dict | None = None
        self.comparison_box: QMessageBox | None = None

        self.layer = LabelLayer(window.canvas)
        self.layer.accepts_key = lambda k: self.active
        self.panel = LabelPanel()
        scroll = QScrollArea()
        scroll.setWidget(self.panel)
        scroll.setWidgetResizable(True)
        self.dock = QDockWidget("Labels", window)
        self.dock.setObjectName("label-dock")
        self.dock.setWidget(scroll)
        window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.dock)
        side = window.findChild(QDockWidget, "side-dock")
        if side is not None:  # a tab beside "Model and view": label mode gets the whole height
            window.tabifyDockWidget(side, self.dock)
        self.dock.hide()
        self.strip = SuggestStrip(window)
        self.strip.frameChosen.connect(self._open_suggestion)
        window.centralWidget().layout().addWidget(self.strip)
        self.strip.hide()

        self._build_actions()
        self._wire()
        self.autosave_timer = QTimer(self, interval=AUTOSAVE_MS, timeout=self._autosave)
        self.superpixelsReady.connect(self._superpixels_ready)
        self.comparisonReady.connect(self._comparison_ready)

    # --- construction ----------------------------------------------------------------------------

    def _build_actions(self) -> None:
        w = self.window
        bar = w.menuBar()
        menu = bar.addMenu("&Label")
        help_action = next((a for a in bar.actions() if a.text().replace("&", "") == "Help"), None)
        if help_action is not None:
            bar.removeAction(menu.menuAction())
            bar.insertMenu(help_action, menu)

        def act(text, slot, shortcut=None, tip=""):
            a = QAction(text, w)
            if shortcut:
                a.setShortcut(QKeySequence(shortcut))
            a.setStatusTip(tip)
            a.triggered.connect(slot)
            menu.addAction(a)
            w.addAction(a)
            return a

        self.act_mode = act("Label &mode", lambda on: self.set_active(on), "Ctrl+L",
                            "Paint and correct masks on the frame on screen")  # fmt: skip
        self.act_mode.setCheckable(True)
        menu.addSeparator()
        self.act_new = act("&New label set…", self.choose_new_label_set)
        self.act_open = act("&Open label set…", self.choose_open_label_set)
        self.act_save = act("&Save frame", self.save, QKeySequence.StandardKey.Save)
        self.act_undo = act("&Undo", self.undo, QKeySequence.StandardKey.Undo)
        self.act_redo = act("&Redo", self.redo, "Ctrl+Shift+Z")
        self.act_from_pred = act("Start from the &prediction", self.start_from_prediction)
        menu.addSeparator()
        self.act_import = act("&Import CVAT export…", self.choose_import_cvat)
        self.act_export = act("&Export to CVAT…", self.choose_export_cvat)
        menu.addSeparator()
        self.act_suggest = act("Suggest &frames to label…", self.suggest_frames)
        self.act_train = act("&Train on my labels…", self.train_on_labels)
        for a in (self.act_save, self.act_undo, self.act_redo, self.act_from_pred):
            a.setEnabled(False)
        self.act_mode.setIconText("Label")
        from PySide6.QtWidgets import QToolBar

        tb = w.findChild(QToolBar, "main-toolbar")
        if tb is not None:
            tb.addSeparator()
            tb.addAction(self.act_mode)

    def _wire(self) -> None:
        p, layer = self.panel, self.layer
        p.toolChanged.connect(self.set_tool)
        p.classChanged.connect(self._set_class)
        p.opacityChanged.connect(self._set_opacity)
        p.new_btn.clicked.connect(self.choose_new_label_set)
        p.open_btn.clicked.connect(self.choose_open_label_set)
        p.from_pred_btn.clicked.connect(self.start_from_prediction)
        p.undo_btn.clicked.connect(self.undo)
        p.redo_btn.clicked.connect(self.redo)
        p.save_btn.clicked.connect(self.save)
        p.suggest_btn.clicked.connect(self.suggest_frames)
        p.train_btn.clicked.connect(self.train_on_labels)
        p.superpixel_size.valueChanged.connect(lambda _: self._segments.clear())
        p.show_prediction.toggled.connect(lambda _: self.window.render())
        layer.pressed.connect(self._press)
        layer.moved.connect(self._move)
        layer.released.connect(self._release)
        layer.doubleClicked.connect(self._double)
        layer.hover.connect(self._hover)
        layer.key.connect(self._key)
        layer.brushWheel.connect(lambda d: p.brush.setValue(p.brush.value() + d * max(1, p.brush.value() // 8)))

    # --- state -----------------------------------------------------------------------------------

    @property
    def active(self) -> bool:
        return self.layer.active

    @property
    def palette(self) -> np.ndarray | None:
        if self.labelset is not None:
            return np.array([c["color"] for c in self.labelset.classes], np.uint8)
        info = getattr(self.window, "engine_info", None)
        return None if info is None else np.asarray(info.palette, np.uint8)

    @property
    def class_names(self) -> list[str]:
        if self.labelset is not None:
            return self.labelset.class_names
        info = getattr(self.window, "engine_info", None)
        return [] if info is None else list(info.class_names)

    def hides_prediction(self) -> bool:
        """In label mode the frame is shown bare under the labels, unless "Show the model's mask" is on."""
        return self.active and not self.panel.show_prediction.isChecked()

    def set_active(self, on: bool) -> None:
        """Enter or leave label mode. Entering pauses playback; leaving saves (or asks) first."""
        w = self.window
        if on and (w.source is None or w.source.is_live):
            w.show_error("Nothing to label", "Open a video, an image or a folder first; label mode works on "
                         "files, not on a camera or a stream.")  # fmt: skip
            on = False
        if not on and self.active and not self.confirm_leave():
            on = True
        self.act_mode.blockSignals(True)
        self.act_mode.setChecked(on)
        self.act_mode.blockSignals(False)
        if on == self.active:
            return
        self.layer.set_active(on)
        self.dock.setVisible(on)
        if on:
            self.dock.raise_()
        for a in (self.act_save, self.act_undo, self.act_redo, self.act_from_pred):
            a.setEnabled(on)
        if on:
            if w.playing:
                w.toggle_play()
            w.worker.confidence = True  # "start from the prediction above a confidence" needs the map
            self.panel.set_classes(self.class_names, self.palette if self.palette is not None else np.zeros((0, 3), np.uint8))
            self.autosave_timer.start()
            if w.current is not None:
                w.seek(w.current.index)  # the frame again, with its confidence map
                self.on_result(w.current)
        else:
            self.autosave_timer.stop()
            w.worker.confidence = w.panel.confidence.isChecked()
            self.editor, self.key, self.result = None, None, None
        self._update_state()
        w.render()

    def set_tool(self, tool: str) -> None:
        if tool not in TOOLS:
            return
        self.tool = tool
        self.panel.set_tool(tool)
        self._poly = []
        self.layer.show_path([])
        if tool == "region":
            self._request_superpixels()

    def _set_class(self, index: int) -> None:
        if 0 <= index < len(self.class_names):
            self.cls = index

    def _set_opacity(self, opacity: float) -> None:
        self.opacity = opacity
        self._redraw()

    # --- frames ----------------------------------------------------------------------------------

    def frame_key(self, r) -> tuple[str, str, int | None]:
        """(source path, label-set stem, frame index or None) of a result."""
        src = self.window.source
        if src.kind == "folder" and r.name:
            path = str(Path(src.spec) / r.name)
            return path, frame_name(path, None), None
        if src.kind == "image":
            return src.spec, frame_name(src.spec, None), None
        return src.spec, frame_name(src.spec, r.index), r.index

    def on_result(self, r) -> None:
        """The window shows result `r`: in label mode, load (or start) its labels."""
        if not self.active or r is None:
            return
        path, stem, _ = self.frame_key(r)
        if self.key == (path, stem) and self.editor is not None:
            self.result = r  # same frame again (e.g. now with its confidence map): keep the edits
            return
        self.result, self.key = r, (path, stem)
        saved = self.labelset.load_mask(stem) if self.labelset is not None else None
        if saved is not None and saved.shape != r.rgb.shape[:2]:
            self.window.show_error("Labels do not fit this frame",
                                   f"The saved mask of {stem} is {saved.shape[1]}×{saved.shape[0]} but the frame is "
                                   f"{r.rgb.shape[1]}×{r.rgb.shape[0]}; it was made for another picture. Starting empty.")  # fmt: skip
            saved = None
        inst = self.labelset.load_instances(stem) if self.labelset is not None and saved is not None else None
        self.editor = LabelEditor(saved, shape=r.rgb.shape[:2], instances=inst)
        self._poly = []
        self.layer.show_path([])
        if self.tool == "region":
            self._request_superpixels()
        self._redraw()
        self._update_state()

    def confirm_leave(self) -> bool:
        """Before the frame or source changes (or the window closes): save, or ask. False = stay."""
        ed = self.editor
        if ed is None or not ed.dirty:
            return True
        if self.labelset is not None and self.panel.autosave.isChecked():
            return self.save()
        box = QMessageBox(QMessageBox.Icon.Question, "Unsaved labels",
                          "This frame has labels that are not saved.", parent=self.window)  # fmt: skip
        box.setStandardButtons(QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard
                               | QMessageBox.StandardButton.Cancel)  # fmt: skip
        answer = box.exec()
        if answer == QMessageBox.StandardButton.Save:
            return self.save()
        if answer == QMessageBox.StandardButton.Discard:
            ed.mark_saved()
            return True
        return False

    # --- label sets ------------------------------------------------------------------------------

    def new_label_set(self, folder: str | Path, names: list[str] | None = None) -> LabelSet:
        """Create (or reopen) a label set with the model's classes, or `names`."""
        if names is None:
            names = self.class_names
            palette = self.palette
            colors = palette.tolist() if palette is not None else default_colors(len(names))
        else:
            colors = default_colors(len(names))
        if len(names) < 2:
            raise UserInputError("a label set needs at least two classes (e.g. background, rock)")
        ls = LabelSet.create(folder, [{"name": n, "color": list(c)} for n, c in zip(names, colors)])
        self._use_label_set(ls)
        return ls

    def open_label_set(self, folder: str | Path) -> LabelSet:
        ls = LabelSet.open(folder)
        self._use_label_set(ls)
        return ls

    def _use_label_set(self, ls: LabelSet) -> None:
        model = self.window.engine_info
        if model is not None and list(model.class_names) != ls.class_names:
            self.window.statusBar().showMessage(
                f"The label set's classes ({', '.join(ls.class_names)}) differ from the model's "
                f"({', '.join(model.class_names)}): \"Start from the prediction\" is off", 10000)  # fmt: skip
        self.labelset = ls
        self.panel.set_label.setText(f"<b>{ls.root.name}</b> — {len(ls.frames)} frame(s) labelled<br>"
                                     f"<small>{ls.root}</small>")  # fmt: skip
        self.panel.set_classes(ls.class_names, self.palette)
        self.key = None  # reload the frame's labels from the set
        if self.active and self.result is not None:
            self.on_result(self.result)

    def default_folder(self) -> Path:
        """`<source folder>/<source name>_labels`: next to the footage, where a user looks for it."""
        src = self.window.source
        if src is None or "://" in src.spec:
            return Path.home() / "segtool_labels"
        p = Path(src.spec)
        return (p if p.is_dir() else p.parent) / f"{p.stem}_labels"

    def choose_new_label_set(self) -> None:
        folder, _ = QFileDialog.getSaveFileName(
            self.window, "New label set: name its folder", str(self.default_folder()), "Label-set folder (*)",
            options=QFileDialog.Option.DontConfirmOverwrite)  # fmt: skip
        if not folder:
            return
        names = None
        if not self.class_names:
            text, ok = QInputDialog.getText(self.window, "Classes", "Class names, comma separated:",
                                            text="background, rock")  # fmt: skip
            if not ok:
                return
            names = [n.strip() for n in text.split(",") if n.strip()]
        try:
            self.new_label_set(folder, names)
        except UserInputError as e:
            self.window.show_error("Could not create the label set", str(e))

    def choose_open_label_set(self) -> None:
        folder = QFileDialog.getExistingDirectory(self.window, "Open label set", str(Path.home()))
        if folder:
            try:
                self.open_label_set(folder)
            except UserInputError as e:
                self.window.show_error("Could not open the label set", str(e))

    def choose_import_cvat(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.window, "CVAT export (Segmentation mask 1.1)", str(Path.home()),
                                              "CVAT export (*.zip);;All files (*)")  # fmt: skip
        if not path:
            return
        images = QFileDialog.getExistingDirectory(self.window, "The photos of that export (Cancel if it holds them)",
                                                  str(Path(path).parent))  # fmt: skip
        folder = QFileDialog.getExistingDirectory(self.window, "New label set folder", str(Path(path).parent))
        if not folder:
            return
        try:
            self._use_label_set(import_cvat(path, images or None, folder))
        except UserInputError as e:
            self.window.show_error("Could not import the CVAT export", str(e))

    def choose_export_cvat(self) -> None:
        if self.labelset is None:
            self.window.show_error("No label set", "Create or open a label set first (Label ▸ New label set…).")
            return
        self.save()
        path, _ = QFileDialog.getSaveFileName(self.window, "Export to CVAT", str(self.labelset.root.with_suffix(".zip")),
                                              "Zip (*.zip)")  # fmt: skip
        if path:
            try:
                export_cvat(self.labelset, path)
                self.window.statusBar().showMessage(f"Exported to {path} — import it in CVAT as 'Segmentation mask 1.1'", 10000)
            except UserInputError as e:
                self.window.show_error("Could not export", str(e))

    # --- editing ---------------------------------------------------------------------------------

    def save(self) -> bool:
        """Save the frame's labels into the label set (asks for one when none is open)."""
        ed, r = self.editor, self.result
        if ed is None or r is None:
            return True
        if self.labelset is None:
            self.choose_new_label_set()
            if self.labelset is None:
                return False
        path, _, index = self.frame_key(r)
        try:
            self.labelset.save(r.rgb, ed.mask.copy(), source=path, frame=index, pts_s=r.pts_s,
                               instances=None if ed.instances is None else ed.instances.copy())  # fmt: skip
        except (UserInputError, OSError) as e:
            self.window.show_error("Could not save the labels", str(e))
            return False
        ed.mark_saved()
        self._use_label_set_text()
        self._update_state()
        return True

    def _autosave(self) -> None:
        if self.editor is not None and self.editor.dirty and self.labelset is not None and self.panel.autosave.isChecked():
            self.save()

    def undo(self) -> None:
        if self.editor is not None and self.editor.undo():
            self._redraw()
            self._update_state()

    def redo(self) -> None:
        if self.editor is not None and self.editor.redo():
            self._redraw()
            self._update_state()

    def start_from_prediction(self) -> None:
        ed, r = self.editor, self.result
        if ed is None or r is None:
            return
        info = self.window.engine_info
        if r.mask is None or info is None:
            self.window.show_error("No prediction", "Open a model (Ctrl+O) first: its mask is the starting point.")
            return
        if list(info.class_names) != self.class_names:
            self.window.show_error("Different classes", "The model's classes differ from the label set's, so its "
                                   "mask cannot be used as labels here.")  # fmt: skip
            return
        thr = self.panel.threshold.value()
        if thr > 0 and r.confidence is None:
            self.window.statusBar().showMessage("Computing the confidence map… press again in a moment", 5000)
            self.window.seek(r.index)
            return
        ed.set_from_prediction(r.mask, r.confidence, thr)
        self._redraw()
        self._update_state()

    def _press(self, x: float, y: float) -> None:
        ed = self.editor
        if ed is None:
            return
        if self.tool in ("brush", "eraser"):
            ed.begin_stroke(x, y, self.panel.brush.value(), UNKNOWN if self.tool == "eraser" else self.cls)
            self._redraw()
        elif self.tool in ("polygon", "outline"):
            self._poly.append((x, y))
            self.layer.show_path(self._poly)
        elif self.tool == "region":
            self._region_at([(x, y)])

    def _move(self, x: float, y: float) -> None:
        ed = self.editor
        if ed is None:
            return
        if self.tool in ("brush", "eraser"):
            ed.stroke_to(x, y)
            self._redraw()
        elif self.tool == "region":
            self._region_at([(x, y)])

    def _release(self, x: float, y: float) -> None:
        if self.editor is not None and self.tool in ("brush", "eraser"):
            self.editor.end_stroke()
            self._update_state()

    def _double(self, x: float, y: float) -> None:
        if self.tool in ("polygon", "outline"):
            self.close_polygon()

    def close_polygon(self) -> None:
        ed, pts = self.editor, self._poly
        self._poly = []
        self.layer.show_path([])
        if ed is None or len(pts) < 3:
            return
        if self.tool == "outline":
            ed.outline_fragment(pts, self.cls)
        else:
            ed.fill_polygon(pts, self.cls)
        self._redraw()
        self._update_state()

    def _hover(self, x: float, y: float) -> None:
        radius = self.panel.brush.value() if self.tool in ("brush", "eraser") else None
        self.layer.show_cursor(x, y, radius)
        if self._poly:
            self.layer.show_path([*self._poly, (x, y)])

    def _key(self, key: int) -> None:
        k = Qt.Key(key)
        if Qt.Key.Key_0 <= k <= Qt.Key.Key_9:
            n = 9 if k == Qt.Key.Key_0 else int(k - Qt.Key.Key_1)
            if n < len(self.class_names):
                self.panel.classes.setCurrentRow(n)
        elif k == Qt.Key.Key_BracketLeft:
            self.panel.brush.setValue(self.panel.brush.value() - max(1, self.panel.brush.value() // 8))
        elif k == Qt.Key.Key_BracketRight:
            self.panel.brush.setValue(self.panel.brush.value() + max(1, self.panel.brush.value() // 8))
        elif k in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self.close_polygon()
        elif k == Qt.Key.Key_Escape:
            self._poly = []
            self.layer.show_path([])
        elif k in _TOOL_KEYS:
            self.set_tool(_TOOL_KEYS[k])

    # --- superpixels (off the GUI thread, cached per frame) --------------------------------------

    def _sp_key(self) -> tuple | None:
        return None if self.key is None else (*self.key, self.panel.superpixel_size.value())

    def _request_superpixels(self) -> None:
        key, r = self._sp_key(), self.result
        if key is None or r is None or key in self._segments:
            return
        rgb, size = r.rgb, self.panel.superpixel_size.value()

        def work() -> None:
            self.superpixelsReady.emit(key, superpixels(rgb, method="slic", size=size))

        t = threading.Thread(target=work, name="segtool-superpixels", daemon=True)
        self._sp_threads = [x for x in self._sp_threads if x.is_alive()] + [t]
        t.start()
        self.window.statusBar().showMessage("Computing regions for the region fill…", 3000)

    def _superpixels_ready(self, key, segments) -> None:
        self._segments[key] = segments
        while len(self._segments) > 8:
            self._segments.popitem(last=False)
        if key == self._sp_key() and self._pending_region:
            pts, self._pending_region = self._pending_region, []
            self._region_at(pts)

    def wait_superpixels(self, timeout: float = 30.0) -> None:
        """Tests: wait for the background superpixel computations."""
        for t in self._sp_threads:
            t.join(timeout)

    def _region_at(self, pts: list[tuple[float, float]]) -> None:
        segs = self._segments.get(self._sp_key())
        if segs is None:
            self._pending_region.extend(pts)
            self._request_superpixels()
            return
        if self.editor is not None and self.editor.fill_regions(segs, pts, self.cls):
            self._redraw()
            self._update_state()

    # --- suggestions and training ----------------------------------------------------------------

    def suggest_frames(self) -> None:
        w = self.window
        if w.source is None or w.source.is_live or w.checkpoint_path is None:
            w.show_error("Nothing to rank", "Open a model (Ctrl+O) and a video or folder first.")
            return
        n, ok = QInputDialog.getInt(w, "Suggest frames", "How many frames to suggest:", 10, 1, 200)
        if ok:
            self.strip.start(w.source.spec, str(w.checkpoint_path), n, every=max(1, (w.source.frames or 1) // 200))

    def _open_suggestion(self, index: int) -> None:
        if not self.confirm_leave():
            return
        if not self.active:
            self.set_active(True)
        self.window.seek(index)

    def train_on_labels(self) -> None:
        if self.labelset is None:
            self.window.show_error("No label set", "Label some frames first (Label ▸ New label set…).")
            return
        if not self.save():
            return
        hub = getattr(self.window, "training", None)
        if hub is None:
            return
        info = self.window.engine_info
        self._before = getattr(info, "checkpoint", None)
        wizard = hub.open_wizard()
        wizard.data_page.set_path(str(self.labelset.root))
        if not getattr(wizard, "_label_mode_connected", False):
            wizard._label_mode_connected = True
            wizard.runEnded.connect(lambda outcome, w=wizard: self._run_ended(w, outcome))

    def _run_ended(self, wizard, outcome) -> None:
        """A run started from label mode finished: score the model before and after on the run's
        validation frames (background thread), then show the new model in the viewer."""
        if getattr(outcome, "kind", "") != "finished" or wizard.run is None:
            return
        self.compare_and_switch(wizard.run.run_dir)

    def compare_and_switch(self, run_dir: str | Path) -> None:
        from segtool.core.before_after import compare_on_run

        run_dir, before = Path(run_dir), self._before
        self.window.statusBar().showMessage("Scoring the model before and after on your held-out labelled frames…")

        def work() -> None:
            try:
                self.comparisonReady.emit(run_dir, compare_on_run(run_dir, before))
            except Exception as e:  # noqa: BLE001 - shown to the user
                self.comparisonReady.emit(run_dir, str(e) or type(e).__name__)

        self._cmp_thread = threading.Thread(target=work, name="segtool-before-after", daemon=True)
        self._cmp_thread.start()

    def _comparison_ready(self, run_dir: Path, result) -> None:
        from segtool.core.before_after import format_comparison

        best = run_dir / "best.pt"
        if best.is_file():
            self.window.open_checkpoint(str(best))  # the viewer switches to the new model
        if isinstance(result, str):
            self.window.show_error("Could not compare the models", result)
            return
        self.last_comparison = result
        text = format_comparison(result)
        box = QMessageBox(QMessageBox.Icon.Information, "Before and after training on your labels", "", parent=self.window)
        box.setText("<b>Per-class IoU on your held-out labelled frames</b> (the viewer now shows the new model)")
        box.setInformativeText(f"<pre>{text}</pre>")
        box.setWindowModality(Qt.WindowModality.NonModal)
        box.show()
        self.comparison_box = box

    # --- drawing ---------------------------------------------------------------------------------

    def _redraw(self) -> None:
        ed = self.editor
        self.layer.show_labels(None if ed is None else ed.mask, self.palette, self.opacity,
                               None if ed is None else ed.instances)  # fmt: skip

    def _use_label_set_text(self) -> None:
        if self.labelset is not None:
            self.panel.set_label.setText(f"<b>{self.labelset.root.name}</b> — {len(self.labelset.frames)} frame(s) "
                                         f"labelled<br><small>{self.labelset.root}</small>")  # fmt: skip

    def _update_state(self) -> None:
        ed = self.editor
        if ed is None:
            self.panel.state.setText("")
            return
        m = ed.mask
        painted = float((m != UNKNOWN).mean())
        where = "not saved" if ed.dirty else "saved"
        self.panel.state.setText(f"{100 * painted:.1f} % of the frame labelled · {where}")
        self.panel.undo_btn.setEnabled(ed.can_undo())
        self.panel.redo_btn.setEnabled(ed.can_redo())

    def shutdown(self) -> None:
        self.autosave_timer.stop()
        if self.editor is not None and self.editor.dirty and self.labelset is not None and self.panel.autosave.isChecked():
            self.save()
        self.strip.shutdown()
        self.wait_superpixels(10.0)
        if self._cmp_thread is not None:
            self._cmp_thread.join(30.0)
