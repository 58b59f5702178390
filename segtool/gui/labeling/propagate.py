"""Label mode's "Follow the video" box: propagate the frame's labels to the next N frames (optical flow,
`segtool.core.propagate`), then step through the propagated frames to accept or correct them.

Who owns what: a Python thread opens its own `Source` (sources are not thread-safe), follows the flow and
posts each `Propagated` frame as a queued signal; the GUI thread saves it into the `LabelSet` (the label
set's one writer) marked "propagated, not reviewed". Cancel sets an event the thread checks between frames;
what was saved stays. Accepting clears the mark; correcting a frame and saving it clears it too
(`LabelSet.save` without `propagated_from`).

Frames that already hold labels the user painted or accepted are never overwritten: propagation stops
before the first of them and says so.
"""

from __future__ import annotations

import threading

import numpy as np
from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QDoubleSpinBox,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
)

from segtool.base.errors import UserInputError
from segtool.core.propagate import UNKNOWN, frames_around, propagate_frames
from segtool.core.sources import open_source


class PropagateBox(QGroupBox):
    """The controls: N, Propagate, progress + Cancel, and the review row (previous, accept, next)."""

    def __init__(self) -> None:
        super().__init__("Follow the video")
        self.n = QSpinBox(minimum=1, maximum=1000, value=10, suffix=" frames")
        self.n.setToolTip("How many frames after this one get its labels, carried along by optical flow")
        self.start_btn = QPushButton("Propagate to next N frames")
        self.start_btn.setToolTip(
            "Save this frame, then carry its labels forward; pixels the flow cannot follow "
            "stay unknown. The frames are saved as 'propagated, not reviewed'."
        )
        self.backward = QCheckBox("Backward: to the previous frames")
        self.backward.toggled.connect(
            lambda on: self.start_btn.setText(f"Propagate to {'previous' if on else 'next'} N frames")
        )
        self.fill = QCheckBox("Model fills unknown where sure ≥")
        self.fill.setToolTip(
            "Pixels the flow leaves unknown take the model's class where its probability is at least "
            "this (the model in the viewer; its classes must be the label set's)"
        )
        self.fill_min = QDoubleSpinBox(minimum=0.0, maximum=1.0, singleStep=0.05, value=0.9, decimals=2)
        self.progress = QProgressBar()
        self.cancel_btn = QPushButton("Cancel")
        self.review = QLabel("")
        self.review.setWordWrap(True)
        self.prev_btn = QPushButton("◂ Previous")
        self.accept_btn = QPushButton("Accept frame")
        self.next_btn = QPushButton("Next ▸")
        self.prev_btn.setToolTip("The previous propagated frame not reviewed yet")
        self.next_btn.setToolTip("The next propagated frame not reviewed yet")
        self.accept_btn.setToolTip(
            "These labels are right: clear the 'not reviewed' mark (corrections are saved "
            "first), then go to the next frame to review"
        )
        lay = QVBoxLayout(self)
        r1 = QHBoxLayout()
        r1.addWidget(self.start_btn, 1)
        r1.addWidget(self.n)
        lay.addLayout(r1)
        lay.addWidget(self.backward)
        rf = QHBoxLayout()
        rf.addWidget(self.fill, 1)
        rf.addWidget(self.fill_min)
        lay.addLayout(rf)
        r2 = QHBoxLayout()
        r2.addWidget(self.progress, 1)
        r2.addWidget(self.cancel_btn)
        lay.addLayout(r2)
        lay.addWidget(self.review)
        r3 = QHBoxLayout()
        for b in (self.prev_btn, self.accept_btn, self.next_btn):
            r3.addWidget(b)
        lay.addLayout(r3)
        self.set_running(False)

    def set_running(self, running: bool) -> None:
        self.progress.setVisible(running)
        self.cancel_btn.setVisible(running)
        for w in (self.start_btn, self.n, self.backward, self.fill, self.fill_min):
            w.setEnabled(not running)


class Propagation(QObject):
    """Propagation and review for one `LabelHub` (see the module docstring)."""

    resultReady = Signal(object)  # Propagated (from the worker thread, delivered queued)
    finished = Signal(str)  # error message, "" when it ended or was cancelled

    def __init__(self, hub) -> None:
        super().__init__(hub)
        self.hub = hub
        self.box = PropagateBox()
        lay = hub.panel.layout()
        lay.insertWidget(max(0, lay.count() - 2), self.box)  # above "Teach the model"
        self._thread: threading.Thread | None = None
        self._cancel = threading.Event()
        self._from: str | None = None  # stem of the frame being propagated
        self._labelset = None
        self._path: str | None = None
        self._total, self._done = 0, 0
        self._worst: tuple[float, int] | None = None
        self.last_message = ""  # what the last run did, as the status bar said it
        self._note = ""  # why it stopped early
        b = self.box
        b.start_btn.clicked.connect(self.start)
        b.cancel_btn.clicked.connect(self.cancel)
        b.accept_btn.clicked.connect(self.accept)
        b.next_btn.clicked.connect(lambda: self.step(+1))
        b.prev_btn.clicked.connect(lambda: self.step(-1))
        self.resultReady.connect(self._save_result)
        self.finished.connect(self._finished)
        self.refresh()

    @property
    def running(self) -> bool:
        return self._thread is not None

    # --- propagating ---------------------------------------------------------------------------------

    def start(self) -> None:
        """Save the frame on screen, then propagate its labels to the next (or previous) N frames in the background."""
        hub, w = self.hub, self.hub.window
        if self.running or hub.editor is None or hub.result is None:
            return
        if w.source is None or w.source.kind != "video":
            w.show_error(
                "Not a video", "Labels follow a video's frames: open a video file to propagate them."
            )
            return
        if (hub.editor.mask == UNKNOWN).all():
            w.show_error(
                "Nothing to propagate", "Label something on this frame first (or start from the prediction)."
            )
            return
        if hub.labelset is None or hub.editor.dirty or self.current() is None:
            if not hub.save():  # the start frame is saved first (asks for a label set when none is open)
                return
        path, stem, at = hub.frame_key(hub.result)
        model = self._fill_model()
        if model is False:
            return
        step = -1 if self.box.backward.isChecked() else 1
        n = self._room_ahead(path, at, self.box.n.value(), step)
        if n == 0:
            w.show_error(
                "Nothing to propagate to",
                f"Frame {at + step} is outside the video or already has labels you "
                "made or accepted (propagation never overwrites those).",
            )
            return
        self._from, self._path, self._total, self._done, self._worst = stem, path, n, 0, None
        self._labelset = hub.labelset  # results go into this set only
        self._cancel = threading.Event()
        mask = hub.editor.mask.copy()
        inst = None if hub.editor.instances is None else hub.editor.instances.copy()
        self.box.progress.setRange(0, n)
        self.box.progress.setValue(0)
        self.box.set_running(True)
        self._thread = threading.Thread(
            target=self._run,
            args=(w.source.spec, at, n, step < 0, mask, inst, model, self.box.fill_min.value(), self._cancel),
            name="label-propagate",
            daemon=True,
        )
        self._thread.start()

    def _room_ahead(self, path: str, at: int, n: int, step: int) -> int:
        """How many of the next `n` frames (step +1) or previous ones (-1) can be written: up to the end of the
        video or the first frame with the user's own labels."""
        ls, total = self.hub.labelset, self.hub.window.source.frames
        self._note = ""
        for k in range(1, n + 1):
            i = at + step * k
            if i < 0 or (total is not None and i >= total):
                return k - 1
            f = ls.find(path, i)
            if f is not None and f.reviewed and (ls.root / "masks" / f"{f.stem}.png").is_file():
                self._note = f"stopped before frame {i}: it has labels you made or accepted"
                return k - 1
        return n

    def _fill_model(self):
        """The model for "Fill unknown" (a Checkpoint or an .onnx path), None when the box is off, False when
        it cannot be used (the user was told why)."""
        if not self.box.fill.isChecked():
            return None
        w, info = self.hub.window, self.hub.window.engine_info
        if info is None:
            w.show_error(
                "No model", "Open a model (Ctrl+O) to fill unknown pixels, or untick 'Model fills unknown'."
            )
            return False
        if list(info.class_names) != self.hub.labelset.class_names:
            w.show_error(
                "Different classes",
                f"The model's classes ({', '.join(info.class_names)}) are not the label "
                f"set's ({', '.join(self.hub.labelset.class_names)}); untick 'Model fills unknown'.",
            )
            return False
        return (
            info.model if info.model is not None else info.path
        )  # the viewer's opened model file, not read again

    def _run(
        self,
        spec,
        at: int,
        n: int,
        backward: bool,
        mask: np.ndarray,
        inst,
        model,
        min_conf: float,
        cancel: threading.Event,
    ) -> None:
        """Worker thread: its own source (and Engine, when filling); each propagated frame goes to the GUI
        thread as a signal."""
        error = ""
        try:
            engine = None
            if model is not None:
                from segtool.core.engine import Engine

                engine = Engine(model)
            with open_source(spec, frame_threads=False) as src:
                for p in propagate_frames(
                    frames_around(src, at, n, backward),
                    mask,
                    inst,
                    cancel=cancel,
                    model=engine,
                    min_confidence=min_conf,
                ):
                    self.resultReady.emit(p)
        except Exception as e:  # noqa: BLE001 — a failing job reports, it never takes the window down
            error = str(e) if isinstance(e, (UserInputError, OSError)) else f"{type(e).__name__}: {e}"
        self.finished.emit(error)

    def _save_result(self, p) -> None:
        hub = self.hub
        if hub.labelset is None or self._from is None or hub.labelset is not self._labelset:
            self._cancel.set()  # another label set was opened meanwhile: write nothing into it
            return
        stem = hub.labelset.stem_for(self._path, p.index)
        on_screen = hub.key == (self._path, stem) and hub.editor is not None and hub.editor.dirty
        if not on_screen:  # the user is correcting that very frame: their labels win
            try:
                hub.labelset.save(
                    p.rgb,
                    p.mask,
                    source=self._path,
                    frame=p.index,
                    pts_s=p.pts_s,
                    instances=p.instances,
                    propagated_from=self._from,
                )
            except (UserInputError, OSError) as e:
                self._cancel.set()
                hub.window.show_error("Could not save a propagated frame", str(e))
                return
        self._done += 1
        if self._worst is None or p.known_share < self._worst[0]:
            self._worst = (p.known_share, p.index)
        self.box.progress.setValue(self._done)

    def _finished(self, error: str) -> None:
        if self._thread is not None:
            self._thread.join(5.0)
        self._thread = None
        self.box.set_running(False)
        hub = self.hub
        if error:
            hub.window.show_error("Propagation stopped", error)
        msg = f"{self._done} of {self._total} frame(s) propagated"
        if self._cancel.is_set() and self._done < self._total:
            msg += " (cancelled)"
        if self._worst is not None:
            msg += f"; labelled share falls to {100 * self._worst[0]:.0f} % at frame {self._worst[1]}"
        if self._note:
            msg += f"; {self._note}"
        self.last_message = msg
        hub.window.statusBar().showMessage(msg + " — Next ▸ steps through them", 10000)
        hub._use_label_set_text()
        self.refresh()

    def cancel(self) -> None:
        self._cancel.set()

    def shutdown(self, timeout: float = 10.0) -> None:
        self._cancel.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    # --- reviewing -----------------------------------------------------------------------------------

    def _unreviewed_here(self) -> list[int]:
        """Frame indices of this video marked "propagated, not reviewed", in order."""
        hub, src = self.hub, self.hub.window.source
        if hub.labelset is None or src is None:
            return []
        return sorted(
            f.frame for f in hub.labelset.unreviewed() if f.source == str(src.spec) and f.frame is not None
        )

    def current(self):
        """The label-set entry of the frame on screen, or None."""
        hub = self.hub
        if hub.labelset is None or hub.result is None or hub.window.source is None:
            return None
        path, _, index = hub.frame_key(hub.result)
        return hub.labelset.find(path, index)

    def refresh(self) -> None:
        """Show the frame's review state and how many frames wait for review."""
        f, todo = self.current(), self._unreviewed_here()
        here = f is not None and not f.reviewed
        if here:
            text = (
                f"<b>Propagated from {f.propagated_from}, not reviewed.</b> Correct it (saving marks it reviewed) "
                "or accept it."
            )
        elif f is not None and f.propagated_from:
            text = f"Propagated from {f.propagated_from}, reviewed."
        else:
            text = ""
        if todo:
            text += f"<br>{len(todo)} propagated frame(s) to review."
        self.box.review.setText(text)
        self.box.accept_btn.setEnabled(here)
        self.box.next_btn.setEnabled(bool(todo))
        self.box.prev_btn.setEnabled(bool(todo))

    def step(self, direction: int) -> None:
        """Go to the next (+1) or previous (-1) propagated frame not reviewed yet."""
        todo = self._unreviewed_here()
        cur = self.hub.result.index if self.hub.result is not None else -1
        ahead = [i for i in todo if i > cur] if direction > 0 else [i for i in reversed(todo) if i < cur]
        target = ahead[0] if ahead else (todo[0] if todo and direction > 0 else (todo[-1] if todo else None))
        if target is not None:
            self.hub.window.seek(target)

    def accept(self) -> None:
        """The frame on screen is right: corrections are saved (which marks it reviewed), or the mark is cleared."""
        hub, f = self.hub, self.current()
        if f is None or f.reviewed:
            return
        if hub.editor is not None and hub.editor.dirty:
            if not hub.save():
                return
        else:
            hub.labelset.mark_reviewed(f.stem)
        self.refresh()
        if self._unreviewed_here():
            self.step(+1)
