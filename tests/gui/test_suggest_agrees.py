"""The app's suggestion strip and `segtool suggest` pick the same frames for the same video and model,
and both list them in rank order (issue 19: the CLI printed rank 1 with a lower score than rank 2, and
scored other frames than the strip)."""

from __future__ import annotations

import csv

import pytest

from segtool.cli import main
from segtool.core.sources import open_source
from segtool.gui.labeling.suggest import SuggestStrip
from tests.helpers import make_small_checkpoint

pytestmark = [
    pytest.mark.gui,
    pytest.mark.slow,
]  # scores the 101-frame clip twice: ~17 s on a loaded 2-core CPU


def test_strip_and_cli_suggest_the_same_frames_in_rank_order(qtbot, clip, tmp_path, capsys):
    ckpt, _ = make_small_checkpoint(tmp_path / "m.pt", resize_short=48)
    out = tmp_path / "sug"
    assert main(["suggest", str(clip), "-c", str(ckpt), "-n", "5", "-o", str(out), "-q"]) == 0
    rows = list(csv.DictReader(open(out / "suggestions.csv")))
    priority = [float(r["priority"]) for r in rows]
    assert priority == sorted(priority, reverse=True)
    for r in rows:
        assert float(r["priority"]) == pytest.approx(
            float(r["score"]) + float(r["uncertain_share"]), abs=2e-6
        )
    printed = [
        float(line.split("priority ")[1].split()[0])
        for line in capsys.readouterr().out.splitlines()
        if "priority " in line
    ]
    assert printed == sorted(printed, reverse=True)
    assert len(printed) == 5

    # What the app's Label ▸ Suggest frames asks the strip for (gui/labeling/teaching.py), and the strip's
    # own defaults (every, strategy: the same as the CLI's).
    with open_source(str(clip)) as src:
        frames = src.frames_expected
    strip = SuggestStrip()
    qtbot.addWidget(strip)
    with qtbot.waitSignal(strip.finished, timeout=180_000) as blocker:
        strip.start(str(clip), str(ckpt), 5, every=max(1, (frames or 1) // 200))
    assert [p.index for p in blocker.args[0]] == [int(r["frame"]) for r in rows]
    with qtbot.waitSignal(strip.finished, timeout=180_000) as blocker:
        strip.start(str(clip), str(ckpt), 5)
    picks = blocker.args[0]
    assert [p.index for p in picks] == [int(r["frame"]) for r in rows]
    assert strip.list.count() == 5
    assert strip.list.item(0).text().startswith(f"#1  frame {picks[0].index}")
    strip.shutdown()
