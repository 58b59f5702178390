"""Playback controls under the picture: play/pause, step, a frame slider, an exact frame number, speed
and loop. The bar only emits requests; the window decides what the worker does."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QSlider,
    QSpinBox,
    QStyle,
    QToolButton,
    QWidget,
)

from segtool.gui.workers import SourceInfo

SPEEDS = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0)


def format_time(seconds: float | None) -> str:
    if seconds is None:
        return ""
    m, s = divmod(max(0.0, seconds), 60)
    return f"{int(m):02d}:{s:05.2f}"


class PlayerBar(QWidget):
    """Play/pause, step, seek slider, frame number, speed and loop for the open source.

    Signals:
        playToggled(): play or pause.
        stepRequested(int): -1 / +1 frame.
        seekRequested(int): show this frame (slider dragged or number typed).
        speedChanged(float), loopChanged(bool).
    """

    playToggled = Signal()
    stepRequested = Signal(int)
    seekRequested = Signal(int)
    speedChanged = Signal(float)
    loopChanged = Signal(bool)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        style = self.style()
        self.prev_btn = QToolButton(icon=style.standardIcon(QStyle.StandardPixmap.SP_MediaSeekBackward))
        self.prev_btn.setToolTip("Previous frame / image (Left arrow)")
        self.play_btn = QToolButton(icon=style.standardIcon(QStyle.StandardPixmap.SP_MediaPlay))
        self.play_btn.setToolTip("Play / pause (Space)")
        self.next_btn = QToolButton(icon=style.standardIcon(QStyle.StandardPixmap.SP_MediaSeekForward))
        self.next_btn.setToolTip("Next frame / image (Right arrow)")
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setToolTip("Drag to seek")
        self.frame = QSpinBox()
        self.frame.setPrefix("frame ")
        self.frame.setKeyboardTracking(False)  # seek when Enter is pressed, not on every digit
        self.frame.setToolTip("Type a frame number and press Enter to jump to it exactly")
        self.total = QLabel("")
        self.time = QLabel("")
        self.time.setMinimumWidth(70)
        self.speed = QComboBox()
        for s in SPEEDS:
            self.speed.addItem(f"{s:g}×", s)
        self.speed.setCurrentIndex(SPEEDS.index(1.0))
        self.speed.setToolTip("Playback speed")
        self.loop = QCheckBox("Loop")
        for w in (self.prev_btn, self.play_btn, self.next_btn, self.slider, self.speed, self.loop):
            w.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # Space and the arrows stay window shortcuts

        lay = QHBoxLayout(self)
        lay.setContentsMargins(6, 2, 6, 2)
        for w in (self.prev_btn, self.play_btn, self.next_btn):
            lay.addWidget(w)
        lay.addWidget(self.slider, 1)
        lay.addWidget(self.frame)
        lay.addWidget(self.total)
        lay.addWidget(self.time)
        lay.addWidget(QLabel("Speed"))
        lay.addWidget(self.speed)
        lay.addWidget(self.loop)

        self.play_btn.clicked.connect(self.playToggled.emit)
        self.prev_btn.clicked.connect(lambda: self.stepRequested.emit(-1))
        self.next_btn.clicked.connect(lambda: self.stepRequested.emit(1))
        self.slider.sliderMoved.connect(self.seekRequested.emit)
        self.slider.actionTriggered.connect(self._slider_action)
        self.frame.valueChanged.connect(self._typed)
        self.speed.currentIndexChanged.connect(
            lambda i: self.speedChanged.emit(float(self.speed.itemData(i)))
        )
        self.loop.toggled.connect(self.loopChanged.emit)
        self.set_source(None)

    def set_source(self, info: SourceInfo | None) -> None:
        """Adapt the controls to the source: a live camera has no slider, a still image no playback."""
        n = info.frames if info is not None else None
        seekable = info is not None and not info.is_live and bool(n)
        self.slider.setEnabled(seekable and n > 1)
        self.frame.setEnabled(seekable)
        for w in (self.prev_btn, self.next_btn):
            w.setEnabled(seekable and n > 1)
        self.play_btn.setEnabled(info is not None and (info.is_live or (n or 0) > 1))
        self.speed.setEnabled(info is not None and not info.is_live)
        self.loop.setEnabled(info is not None and not info.is_live)
        self.blockSignals(True)
        self.slider.blockSignals(True)
        self.frame.blockSignals(True)
        self.slider.setRange(0, max(0, (n or 1) - 1))
        self.frame.setRange(0, max(0, (n or 1) - 1) if seekable else 10**9)
        self.slider.setValue(0)
        self.frame.setValue(0)
        self.frame.blockSignals(False)
        self.slider.blockSignals(False)
        self.blockSignals(False)
        self.total.setText(f"of {n}" if seekable else ("live" if info is not None and info.is_live else ""))
        self.time.setText("")
        self.set_playing(False)

    def set_position(self, index: int, pts_s: float | None, name: str | None = None) -> None:
        """Show where the picture on screen is (does not emit seek requests)."""
        for w in (self.slider, self.frame):
            w.blockSignals(True)
        if not self.slider.isSliderDown():  # do not fight the user's drag
            self.slider.setValue(index)
        self.frame.setValue(index)
        for w in (self.slider, self.frame):
            w.blockSignals(False)
        self.time.setText(name if name else format_time(pts_s))

    def set_playing(self, playing: bool) -> None:
        icon = QStyle.StandardPixmap.SP_MediaPause if playing else QStyle.StandardPixmap.SP_MediaPlay
        self.play_btn.setIcon(self.style().standardIcon(icon))

    def _typed(self, value: int) -> None:
        self.seekRequested.emit(value)

    def _slider_action(self, action: int) -> None:
        # Clicks on the groove and keyboard page steps move the slider without sliderMoved.
        if action != QSlider.SliderAction.SliderMove.value:
            self.seekRequested.emit(self.slider.sliderPosition())
