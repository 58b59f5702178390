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
from PySide6.QtWidgets import QDockWidget, QMainWindow, QMessageBox, QScrollArea

from segtool.base.errors import UserInputError
from segtool.core.label_edit import UNKNOWN, LabelEditor
from segtool.core.labelset import LabelSet, frame_name
from segtool.gui.labeling.click_fragment import FragmentClicker
from segtool.gui.labeling.labelsets import LabelSetActions
from segtool.gui.labeling.layer import TOOLS, LabelLayer
from segtool.gui.labeling.panel import LabelPanel
from segtool.gui.labeling.propagate import Propagation
from segtool.gui.labeling.sam import SamClick
from segtool.gui.labeling.smart import SmartTools
from segtool.gui.labeling.suggest import SuggestStrip
from segtool.gui.labeling.teaching import TeachingActions
from segtool.gui.labeling.tools import ToolHandlers

AUTOSAVE_MS = 30_000
# The tool label mode starts with for a fragment model: GrabCut (box + refining strokes), the fastest to IoU 0.9
# in the simulated annotator (benchmarks/bench_annotator.py, docs/benchmarks.md: 99 % of fragments, median 4
# actions, against 8 clicks for the outline); click-a-fragment needs a better model than the shipped one.
FRAGMENT_DEFAULT_TOOL = "grabcut"


class LabelHub(LabelSetActions, TeachingActions, ToolHandlers, QObject):
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
        self._tool_chosen = False
        self._poly: list[tuple[float, float]] = []
        self._segments: OrderedDict[tuple, np.ndarray] = OrderedDict()
        self._pending_region: list[tuple[float, float]] = []
        self._sp_threads: list[threading.Thread] = []
        self._before = None  # the Checkpoint in the viewer when "Train on my labels" was pressed
        self._before_path: str | None = None  # and its file (report.json's recorded start must be the same)
        self._cmp_thread: threading.Thread | None = None
        self.last_comparison: dict | None = None
        self.last_verdict = None  # segtool.core.before_after.Verdict of the last run compared
        self._cmp_wizard = None  # the wizard whose run is being compared (its Results page gets the verdict)
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
        window.worker.engineReady.connect(lambda info: self._viewer_changed(model_path=info.path))
        window.worker.sourceOpened.connect(lambda info: self._viewer_changed(source_spec=info.spec))

        self._build_actions()
        self._wire()
        self.propagation = Propagation(self)  # "Follow the video" (issue 21): its box goes into the panel
        self.smart = SmartTools(self)  # GrabCut and intelligent scissors (issue 21)
        self.clicker = FragmentClicker(self)  # click a fragment (issue 21)
        self.sam = SamClick(self)  # optional SAM click on the user's own ONNX files (issue 21)
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

        self.act_mode = act(
            "Label &mode",
            lambda on: self.set_active(on),
            "Ctrl+L",
            "Paint and correct masks on the frame on screen",
        )
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
        self.act_sam = act(
            "Use &SAM ONNX files (optional)…",
            lambda: self.sam.choose_files(),
            tip="Click-to-mask with a Segment-Anything encoder + decoder you already have",
        )
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
        layer.brushWheel.connect(
            lambda d: p.brush.setValue(p.brush.value() + d * max(1, p.brush.value() // 8))
        )

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
            w.show_error(
                "Nothing to label",
                "Open a video, an image or a folder first; label mode works on "
                "files, not on a camera or a stream.",
            )
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
            w.worker.confidence = (
                True  # always on (the window's confidence line and "start from the prediction")
            )
            self._show_classes()  # a fragment model's edge class is not offered (tools.py)
            if self.fragments is not None and not self._tool_chosen:
                self.set_tool(FRAGMENT_DEFAULT_TOOL)
                self._tool_chosen = False  # still the default: a later model without fragments gets the brush
            elif self.fragments is None and not self._tool_chosen:
                self.set_tool("brush")
                self._tool_chosen = False
            self.autosave_timer.start()
            if w.current is not None:
                w.seek(w.current.index)  # the frame again, with its confidence map
                self.on_result(w.current)
        else:
            self.autosave_timer.stop()
            # The confidence map stays on: the side panel's confidence line needs it (setting it to the
            # "Fade colours" box here switched the line off for good, issue 19).
            self.editor, self.key, self.result = None, None, None
        self._update_state()
        w.render()

    def set_tool(self, tool: str) -> None:
        if tool not in TOOLS:
            return
        self._tool_chosen = (
            True  # the user's choice is kept over the default when label mode is entered again
        )
        self.tool = tool
        self.panel.set_tool(tool)
        self._poly = []
        self.layer.show_path([])
        self.smart.cancel()
        if tool == "region":
            self._request_superpixels()
        elif tool == "fragment":
            self.clicker.prepare()
        elif tool == "sam":
            self.sam.prepare()

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
            path, index = str(Path(src.spec) / r.name), None
        elif src.kind == "image":
            path, index = src.spec, None
        else:
            path, index = src.spec, r.index
        stem = self.labelset.stem_for(path, index) if self.labelset is not None else frame_name(path, index)
        return path, stem, index

    def on_result(self, r) -> None:
        """The window shows result `r`: in label mode, load (or start) its labels."""
        if not self.active or r is None:
            return
        path, stem, _ = self.frame_key(r)
        if self.key == (path, stem) and self.editor is not None:
            self.result = r  # same frame again (e.g. now with its confidence map): keep the edits
            if self.tool == "fragment":
                self.clicker.prepare()  # its prediction may have come only now
            return
        self.result, self.key = r, (path, stem)
        try:
            saved = self.labelset.load_mask(stem) if self.labelset is not None else None
        except (
            UserInputError
        ) as e:  # a damaged, colour or 16-bit mask file: say so instead of failing the slot
            self.window.show_error(
                "Labels could not be read", f"{e}\n\nStarting empty; painting replaces the file."
            )
            saved = None
        if saved is not None and saved.shape != r.rgb.shape[:2]:
            self.window.show_error(
                "Labels do not fit this frame",
                f"The saved mask of {stem} is {saved.shape[1]}×{saved.shape[0]} but the frame is "
                f"{r.rgb.shape[1]}×{r.rgb.shape[0]}; it was made for another picture. Starting empty.",
            )
            saved = None
        inst = self.labelset.load_instances(stem) if self.labelset is not None and saved is not None else None
        self.editor = LabelEditor(saved, shape=r.rgb.shape[:2], instances=inst)
        self._poly = []
        self.layer.show_path([])
        if self.tool == "region":
            self._request_superpixels()
        elif self.tool == "fragment":
            self.clicker.prepare()
        elif self.tool == "sam":
            self.sam.prepare()
        self._redraw()
        self._update_state()

    def confirm_leave(self) -> bool:
        """Before the frame or source changes (or the window closes): save, or ask. False = stay."""
        ed = self.editor
        if ed is None or not ed.dirty:
            return True
        if self.labelset is not None and self.panel.autosave.isChecked():
            return self.save()
        box = QMessageBox(
            QMessageBox.Icon.Question,
            "Unsaved labels",
            "This frame has labels that are not saved.",
            parent=self.window,
        )
        box.setStandardButtons(
            QMessageBox.StandardButton.Save
            | QMessageBox.StandardButton.Discard
            | QMessageBox.StandardButton.Cancel
        )
        answer = box.exec()
        if answer == QMessageBox.StandardButton.Save:
            return self.save()
        if answer == QMessageBox.StandardButton.Discard:
            ed.mark_saved()
            return True
        return False

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
            self.labelset.save(
                r.rgb,
                ed.mask.copy(),
                source=path,
                frame=index,
                pts_s=r.pts_s,
                instances=None if ed.instances is None else ed.instances.copy(),
            )
        except (UserInputError, OSError) as e:
            self.window.show_error("Could not save the labels", str(e))
            return False
        ed.mark_saved()
        self._use_label_set_text()
        self._update_state()
        return True

    def _autosave(self) -> None:
        if (
            self.editor is not None
            and self.editor.dirty
            and self.labelset is not None
            and self.panel.autosave.isChecked()
        ):
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
            self.window.show_error(
                "No prediction", "Open a model (Ctrl+O) first: its mask is the starting point."
            )
            return
        if list(info.class_names) != self.class_names:
            self.window.show_error(
                "Different classes",
                "The model's classes differ from the label set's, so its mask cannot be used as labels here.",
            )
            return
        thr = self.panel.threshold.value()
        if thr > 0 and r.confidence is None:
            self.window.statusBar().showMessage("Computing the confidence map… press again in a moment", 5000)
            self.window.seek(r.index)
            return
        mask, frags = self.prediction_start(r)  # a fragment model: its fragments as instances (tools.py)
        ed.set_from_prediction(mask, r.confidence, thr, instances=frags)
        self._redraw()
        self._update_state()

    # --- drawing ---------------------------------------------------------------------------------

    def _redraw(self) -> None:
        ed = self.editor
        self.layer.show_labels(
            None if ed is None else ed.mask, self.palette, self.opacity, None if ed is None else ed.instances
        )

    def _use_label_set_text(self) -> None:
        if self.labelset is not None:
            unfinished = (
                "<br><b>UNFINISHED import — frames are missing</b>" if self.labelset.incomplete else ""
            )
            self.panel.set_label.setText(
                f"<b>{self.labelset.root.name}</b> — {len(self.labelset.frames)} frame(s) "
                f"labelled{unfinished}<br><small>{self.labelset.root}</small>"
            )

    def _update_state(self) -> None:
        self.propagation.refresh()
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
        self.propagation.shutdown()
        self.smart.wait(10.0)
        self.clicker.wait(10.0)
        self.sam.wait(10.0)
        if (
            self.editor is not None
            and self.editor.dirty
            and self.labelset is not None
            and self.panel.autosave.isChecked()
        ):
            self.save()
        self.strip.shutdown()
        self.wait_superpixels(10.0)
        if self._cmp_thread is not None:
            self._cmp_thread.join(30.0)
