"""The suggestion strip under the timeline: the frames most worth labelling, chosen by the same core
entry and default strategy as `segtool suggest` (`segtool.core.suggest.suggest`), computed in a
background thread with progress and cancel."""

from __future__ import annotations

import threading

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QWidget,
)

from segtool.models.device import default_cpu_threads


class SuggestStrip(QWidget):
    """Ranked frames as a row of entries; clicking one emits `frameChosen(index)`.

    Signals:
        frameChosen(int): the user picked a suggested frame.
        finished(list): the picks (`FrameScore`s) when a run ends; [] after a failure or cancel.
    """

    frameChosen = Signal(int)
    finished = Signal(list)
    _progress = Signal(int, int)
    _done = Signal(object, str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = QLabel("Suggested frames:")
        self.title.setWordWrap(True)  # the line says why these frames; it must not push the list away
        self.title.setMaximumWidth(360)
        self.list = QListWidget()
        self.list.setFlow(QListWidget.Flow.LeftToRight)
        self.list.setMaximumHeight(44)
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.list.itemClicked.connect(
            lambda it: self.frameChosen.emit(int(it.data(Qt.ItemDataRole.UserRole)))
        )
        self.bar = QProgressBar(maximumWidth=160)
        self.cancel_btn = QPushButton("Cancel")
        self.close_btn = QPushButton("×")
        self.close_btn.setMaximumWidth(28)
        self.close_btn.setToolTip("Hide the suggestions")
        lay = QHBoxLayout(self)
        lay.setContentsMargins(6, 2, 6, 2)
        for w in (self.title, self.bar, self.cancel_btn):
            lay.addWidget(w)
        lay.addWidget(self.list, 1)
        lay.addWidget(self.close_btn)
        self.cancel_btn.clicked.connect(self.cancel)
        self.close_btn.clicked.connect(self.hide)
        self._progress.connect(self._on_progress)
        self._done.connect(self._on_done)
        self._thread: threading.Thread | None = None
        self._cancel = threading.Event()
        self._run = 0  # the run whose result is awaited; a result of an older run is dropped
        self.picks: list = []
        self.made_for: tuple[str, str] | None = None  # (model path, source spec) the ranking belongs to
        self.strategy = ""  # the strategy of the last run (segtool.core.suggest.STRATEGIES)

    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(
        self,
        source_spec: str,
        checkpoint,
        n: int,
        *,
        every: int | None = None,
        threshold: float = 0.6,
        strategy: str | None = None,
        model_path: str | None = None,
    ) -> None:
        """Score every `every`-th frame of the source (None: as `segtool suggest` does) in a background
        thread and pick `n` by `strategy` (None: the core's default, as the CLI). `checkpoint`: a loaded
        Checkpoint (shared read-only; the Engine copies its weights) or a file path; `model_path` names it
        (the strip is cleared when another model is opened)."""
        from segtool.core.suggest import DEFAULT_STRATEGY, check_strategy

        strategy = strategy or DEFAULT_STRATEGY
        check_strategy(strategy)
        self.strategy = strategy
        self.cancel()
        self._run += 1
        run = self._run
        self.made_for = (str(model_path if model_path is not None else checkpoint), str(source_spec))
        self.list.clear()
        self.bar.setRange(0, 0)
        self.bar.show()
        self.cancel_btn.show()
        self.title.setText("Scoring frames by the model's uncertainty…")
        self.show()
        cancel = self._cancel = threading.Event()

        def work() -> None:
            from segtool.core.engine import Engine
            from segtool.core.sources import open_source
            from segtool.core.suggest import default_every, suggest

            try:
                engine = Engine(checkpoint, threads=default_cpu_threads())
                with open_source(source_spec) as src:
                    total = src.frames_expected
                    k = default_every(total) if every is None else every
                    total = None if total is None else len(range(0, total, k))
                    _, picks, _ = suggest(
                        src,
                        engine,
                        n,
                        strategy=strategy,
                        every=k,
                        threshold=threshold,
                        cancel=cancel,
                        progress=lambda p: self._progress.emit(p.done, total or 0),
                    )
                self._done.emit((run, picks), "cancelled" if cancel.is_set() else "")
            except Exception as e:  # noqa: BLE001 - shown to the user, never kills the window
                self._done.emit((run, []), f"{type(e).__name__}: {e}" if not str(e) else str(e))

        self._thread = threading.Thread(target=work, name="segtool-suggest", daemon=True)
        self._thread.start()

    def cancel(self) -> None:
        self._cancel.set()

    def _on_progress(self, done: int, total: int) -> None:
        if total:
            self.bar.setRange(0, total)
            self.bar.setValue(done)

    def clear(self) -> None:
        """Forget the ranking (the model or the footage changed: its frames and scores belong to the old
        one): stop a run in progress, empty the list, hide the strip."""
        self.cancel()
        self._run += 1
        self.picks, self.made_for = [], None
        self.list.clear()
        self.hide()

    def _on_done(self, result: tuple, message: str) -> None:
        run, picks = result
        if run != self._run:
            return  # a run that was cleared or replaced since
        self.bar.hide()
        self.cancel_btn.hide()
        self.picks = picks
        if message:
            self.title.setText(f"Suggestions stopped: {message}")
        else:
            from segtool.core.suggest import STRATEGIES, STRATEGY_LINES

            self.title.setText(f"{len(picks)} frames to label, {STRATEGY_LINES[self.strategy]}:")
            self.title.setToolTip(
                f"Strategy {self.strategy} (segtool suggest --strategy {self.strategy}): "
                f"{STRATEGIES[self.strategy]}. Listed most uncertain first. "
                "See docs/labelling.md for what was measured."
            )
        for rank, p in enumerate(picks, 1):
            it = QListWidgetItem(f"#{rank}  frame {p.index}  ({100 * p.uncertain_share:.0f} % unsure)")
            it.setData(Qt.ItemDataRole.UserRole, p.index)
            it.setToolTip(
                f"mean uncertainty {p.score:.3f}; {100 * p.uncertain_share:.1f} % of pixels below the threshold"
            )
            self.list.addItem(it)
        self.finished.emit(picks)

    def wait(self, timeout: float = 60.0) -> bool:
        if self._thread is not None:
            self._thread.join(timeout)
        return not self.running()

    def shutdown(self) -> None:
        self.cancel()
        self.wait(30.0)
