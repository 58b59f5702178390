"""The app's suggestion strip uses the same default strategy and core entry as `segtool suggest`, and
says in a plain line how the frames were chosen (issue 21: spacing was measured to win)."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from segtool.core.engine import Engine
from segtool.core.sources import open_source
from segtool.core.suggest import DEFAULT_STRATEGY, STRATEGY_LINES, suggest
from segtool.gui.labeling.suggest import SuggestStrip
from tests.helpers import make_small_checkpoint

pytestmark = pytest.mark.gui


def test_strip_default_strategy_matches_the_core_and_says_why(qtbot, clip, tmp_path):
    ckpt, _ = make_small_checkpoint(tmp_path / "m.pt", resize_short=48)
    with open_source(str(clip)) as src:
        _, core_picks, _ = suggest(src, Engine(str(ckpt), device="cpu", threads=1), 3, every=20)
    strip = SuggestStrip()
    qtbot.addWidget(strip)
    strip.show()
    with qtbot.waitSignal(strip.finished, timeout=120_000) as blocker:
        strip.start(str(clip), str(ckpt), 3, every=20)
    picks = blocker.args[0]
    assert strip.strategy == DEFAULT_STRATEGY
    assert [p.index for p in picks] == [p.index for p in core_picks]
    assert STRATEGY_LINES[DEFAULT_STRATEGY] in strip.title.text()
    # A real click on the second entry opens that frame.
    item = strip.list.item(1)
    with qtbot.waitSignal(strip.frameChosen, timeout=5_000) as chosen:
        QTest.mouseClick(
            strip.list.viewport(), Qt.MouseButton.LeftButton, pos=strip.list.visualItemRect(item).center()
        )
    assert chosen.args == [picks[1].index]

    # Another strategy is honoured and named; an unknown one is refused before any work starts.
    with qtbot.waitSignal(strip.finished, timeout=120_000) as blocker:
        strip.start(str(clip), str(ckpt), 3, every=20, strategy="uncertain")
    assert STRATEGY_LINES["uncertain"] in strip.title.text()
    with pytest.raises(Exception, match="--strategy nope"):
        strip.start(str(clip), str(ckpt), 3, strategy="nope")
    strip.shutdown()
