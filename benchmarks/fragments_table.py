"""The accuracy table of docs/fragments.md from benchmarks/eval_fragments.py's --json files.

    python benchmarks/fragments_table.py "shipped before=old.json" "new (3 seeds)=s0.json,s1.json,s2.json" ...

Each argument is LABEL=FILE[,FILE…]; several files are runs of one recipe (seeds) and are shown as
mean ± half the range (the spread) over the runs. One markdown row per set and label: P, R, F1 (pooled over
the set's fragments), F1 per image (the mean of each image's F1), and the relative errors of D50 / D80 by
area and by count.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

COLUMNS = ("precision", "recall", "f1", "f1_mean_per_image")
ERRORS = ("D50_area", "D80_area", "D50_count", "D80_count")


def cell(values: list[float | None], percent: bool) -> str:
    v = [x for x in values if x is not None]
    if not v:
        return "–"
    m, half = float(np.mean(v)), (max(v) - min(v)) / 2
    if percent:
        return f"{m:+.1%}" + (f" ± {half:.1%}" if len(v) > 1 else "")
    return f"{m:.3f}" + (f" ± {half:.3f}" if len(v) > 1 else "")


def main(argv: list[str]) -> None:
    rows: list[tuple[str, list[dict]]] = []
    for arg in argv:
        label, _, files = arg.partition("=")
        if not files:
            raise SystemExit(f"{arg!r}: give LABEL=FILE[,FILE…]")
        rows.append((label, [json.loads(Path(f).read_text()) for f in files.split(",")]))
    sets = list(dict.fromkeys(s for _, runs in rows for r in runs for s in r))
    print(
        "| set (hold-out) | model | P | R | **F1** | F1 per image | D50 area | D80 area | D50 count | D80 count |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for s in sets:
        first = True
        for label, runs in rows:
            got = [r[s] for r in runs if s in r]
            if not got:
                continue
            head = f"{s} ({got[0]['images']} img, {got[0]['gt_fragments']})" if first else ""
            first = False
            nums = [cell([g.get(c) for g in got], False) for c in COLUMNS]
            errs = [cell([g["rel_err"].get(e) for g in got], True) for e in ERRORS]
            print(f"| {head} | {label} | " + " | ".join(nums[:2] + [f"**{nums[2]}**", nums[3]] + errs) + " |")


if __name__ == "__main__":
    main(sys.argv[1:])
