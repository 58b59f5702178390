"""Fragment detection and size-distribution accuracy on the rocks_dense hold-out (docs/fragments.md).

    python benchmarks/eval_fragments.py -c MODEL.pt [--interior rock] [--sets gravel conveyor muckseg rockpiles]
    python benchmarks/eval_fragments.py --oracle --edge-width 3     # labels → classes → split: the ceiling
    python benchmarks/eval_fragments.py --oracle-centre --centre-fraction 0.5   # the same for the centre split
    python benchmarks/eval_fragments.py --oracle-centre --sets grains --all      # every image, not the hold-out
    python benchmarks/eval_fragments.py -c CENTRE.pt --flood distance --flood hybrid   # floods side by side

Per set: detection precision / recall / F1 (a predicted fragment matches a labelled one at IoU ≥ 0.5,
one-to-one; F1 from the set's summed counts, and `f1_mean_per_image`, the mean of each image's F1 over the images with a labelled or a found fragment,
as the independent check of held-back images reports it), and the relative error of D50 and D80, by area and by count, of the predicted fragments
against the labelled ones, both measured by segtool's own code with the same rules (border fragments
out, pieces under --min-size are fines). Predicted pieces lying mostly where nobody labelled (the
conveyor's unlabelled area) are not counted as false positives. The hold-out is fixed in
benchmarks/fragments_data.py.

--flood (repeatable) picks the centre split's flooding, for --oracle-centre and for a centre-split model;
with several, each image is predicted once and split by each, one row per flood (in --json: the set's
numbers under "flood <name>" keys beside the default's).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from fragments_data import labelled_items  # noqa: E402

from segtool.core.fragments import (  # noqa: E402
    FragmentSettings,
    FragmentSpec,
    analyse_binary,
    analyse_labels,
    analyse_prediction,
)
from segtool.core.fragments import split as split_mod  # noqa: E402
from segtool.core.fragments.distribution import d_value  # noqa: E402
from segtool.core.fragments.split import (  # noqa: E402
    CENTRE_FLOOD,
    CENTRE_FLOODS,
    MIN_SEED_PX,
    split_with_centres,
    split_with_edges,
)
from segtool.training.data.instances import CENTRE_FRACTION, edge_band, instances_to_classes  # noqa: E402


def match(pred: np.ndarray, gt: np.ndarray, known: np.ndarray | None, min_size: int) -> tuple[int, int, int]:
    """(true positives, predicted fragments counted, labelled fragments counted) at IoU ≥ 0.5."""
    p_ids, p_area = np.unique(pred[pred > 0], return_counts=True)
    g_ids, g_area = np.unique(gt[gt > 0], return_counts=True)
    p_keep = set(p_ids[p_area >= min_size].tolist())
    g_keep = set(g_ids[g_area >= min_size].tolist())
    if known is not None:  # predicted pieces mostly in unlabelled area are not judged
        unl = (~known) & (gt == 0)
        ids, n_unl = np.unique(pred[(pred > 0) & unl], return_counts=True)
        area = dict(zip(p_ids.tolist(), p_area.tolist(), strict=True))
        p_keep -= {int(i) for i, n in zip(ids, n_unl, strict=True) if n > 0.5 * area[int(i)]}
    both = (pred > 0) & (gt > 0)
    pairs, inter = np.unique(pred[both].astype(np.int64) * (1 << 20) + gt[both], return_counts=True)
    pa = dict(zip(p_ids.tolist(), p_area.tolist(), strict=True))
    ga = dict(zip(g_ids.tolist(), g_area.tolist(), strict=True))
    tp = 0
    for key, n in zip(pairs.tolist(), inter.tolist(), strict=True):
        pi, gi = key >> 20, key & ((1 << 20) - 1)
        if pi in p_keep and gi in g_keep and n / (pa[pi] + ga[gi] - n) >= 0.5:
            tp += 1  # IoU > 0.5 pairs are unique on both sides
    return tp, len(p_keep), len(g_keep)


def dvals(tables) -> dict[str, float | None]:
    sizes = np.concatenate([t.diameter_px[t.use] for t in tables]) if tables else np.zeros(0)
    areas = np.concatenate([t.area_px[t.use] for t in tables]).astype(float) if tables else np.zeros(0)
    out = {}
    for basis, w in (("area", areas), ("count", np.ones_like(areas))):
        for p in (50, 80):
            out[f"D{p}_{basis}"] = d_value(sizes, w, p)
    out["n"] = int(len(sizes))
    return out


def summarise(tp: int, npred: int, ngt: int, pred_tables, gt_tables) -> dict:
    """Precision, recall, F1 from the summed `match` counts, and the D50/D80 of the predicted and labelled
    fragments with the relative error of each (None where the labels give no value)."""
    p = tp / npred if npred else 0.0
    rc = tp / ngt if ngt else 0.0
    f1 = 2 * p * rc / (p + rc) if p + rc else 0.0
    dp, dg = dvals(pred_tables), dvals(gt_tables)
    err = {
        k: (None if dp[k] is None or not dg[k] else round((dp[k] - dg[k]) / dg[k], 4)) for k in dg if k != "n"
    }
    return {
        "precision": round(p, 4),
        "recall": round(rc, 4),
        "f1": round(f1, 4),
        "pred_fragments": npred,
        "gt_fragments": ngt,
        "rel_err": err,
        "pred": {k: (round(v, 2) if isinstance(v, float) else v) for k, v in dp.items()},
        "gt": {k: (round(v, 2) if isinstance(v, float) else v) for k, v in dg.items()},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-c", "--checkpoint")
    ap.add_argument(
        "--interior", help="split a model by distance transform using this class (rock-only baseline)"
    )
    ap.add_argument("--oracle", action="store_true", help="labels → background/rock/edge → split (no model)")
    ap.add_argument(
        "--oracle-binary",
        action="store_true",
        help="labels → one rock mask → distance-transform split: the best a perfect rock-only model could do",
    )
    ap.add_argument(
        "--oracle-centre",
        action="store_true",
        help="labels → background/rock/edge/centre → centre split: the ceiling of the learned centre split",
    )
    ap.add_argument("--centre-fraction", type=float, default=CENTRE_FRACTION)
    ap.add_argument(
        "--flood",
        action="append",
        choices=CENTRE_FLOODS,
        help=f"the centre split's flooding (default {CENTRE_FLOOD}); repeatable: one row per flood",
    )
    ap.add_argument("--min-seed", type=int, default=MIN_SEED_PX, help="centre split: smallest seed (px)")
    ap.add_argument("--all", action="store_true", help="score every labelled image, not only the hold-out")
    ap.add_argument("--edge-width", type=int, default=3)
    ap.add_argument("--sets", nargs="+", default=["gravel", "conveyor", "muckseg", "rockpiles"])
    ap.add_argument("--min-size", type=int, default=20)
    ap.add_argument("--min-distance", type=int, default=7)
    ap.add_argument("--resize", type=int, default=None, help="override the model's resize_short (0 = native)")
    ap.add_argument("--json", help="write the numbers here")
    a = ap.parse_args()
    settings = FragmentSettings(min_size_px=a.min_size, min_distance=a.min_distance)
    engine = spec = None
    if a.checkpoint:
        import torch

        from segtool.core.engine import Engine

        torch.set_num_threads(1)
        engine = Engine(a.checkpoint, device="cpu", threads=1)
        if a.resize is not None:
            engine.resize_short = a.resize or None
        spec = FragmentSpec.from_checkpoint(
            engine.checkpoint.fragments, engine.class_names, interior=a.interior
        )
        print(
            f"model {a.checkpoint}: {spec.method} (interior {spec.interior}, edge {spec.edge}, centre {spec.centre})"
        )
    centre_split = a.oracle_centre or (spec is not None and spec.centre_id is not None)
    floods = (a.flood or [CENTRE_FLOOD]) if centre_split else [None]
    results = {}
    for set_name in a.sets:
        acc = {f: {"tp": 0, "npred": 0, "ngt": 0, "pt": [], "f1_each": []} for f in floods}
        gt_t = []
        t0 = time.perf_counter()
        n_img = 0
        for _stem, rgb, inst, known, hold in labelled_items(set_name):
            if not (hold or a.all):
                continue
            n_img += 1
            g = analyse_labels(inst, settings)
            gt_t.append(g.table)
            pred = engine.predict_one(rgb, confidence=True) if engine is not None else None
            for flood in floods:
                if pred is not None:
                    if flood:
                        split_mod.CENTRE_FLOOD = flood  # split_classes reads it at call time
                    r = analyse_prediction(pred.mask, pred.confidence, spec, settings)
                elif a.oracle_binary:
                    r = analyse_binary(inst > 0, settings)
                elif a.oracle_centre:
                    ids = instances_to_classes(inst, a.edge_width, centre=a.centre_fraction)
                    split = split_with_centres(ids == 3, ids > 0, ids == 2, flood, a.min_seed)
                    r = analyse_labels(split, settings)
                else:
                    edge = edge_band(inst, a.edge_width)
                    r = analyse_labels(split_with_edges((inst > 0) & ~edge, inst > 0), settings)
                x = match(r.labels, inst, known, a.min_size)
                c = acc[flood]
                c["tp"], c["npred"], c["ngt"] = c["tp"] + x[0], c["npred"] + x[1], c["ngt"] + x[2]
                if x[1] + x[2]:  # an image with nothing labelled and nothing found has no F1: left out
                    c["f1_each"].append(2 * x[0] / (x[1] + x[2]))
                c["pt"].append(r.table)
        for flood in floods:
            c = acc[flood]
            key = set_name if flood in (None, floods[0]) else f"{set_name} flood {flood}"
            results[key] = {
                "images": n_img,
                **({"flood": flood} if flood else {}),
                **summarise(c["tp"], c["npred"], c["ngt"], c["pt"], gt_t),
                "f1_mean_per_image": round(float(np.mean(c["f1_each"])), 4) if c["f1_each"] else None,
                "seconds": round(time.perf_counter() - t0, 1),
            }
            res = results[key]
            p, rc, f1 = (res[k] for k in ("precision", "recall", "f1"))
            e = res["rel_err"]
            label = f"{set_name} ({flood})" if len(floods) > 1 else set_name
            print(
                f"{label:9s} {n_img:3d} img  P {p:.3f} R {rc:.3f} F1 {f1:.3f} (per image {res['f1_mean_per_image']:.3f})  "
                f"({c['npred']} pred / {c['ngt']} gt)  "
                f"D50 area {e['D50_area']:+.1%} count {e['D50_count']:+.1%}  D80 area {e['D80_area']:+.1%} count {e['D80_count']:+.1%}"
                if None not in e.values()
                else f"{label}: {res}",
                flush=True,
            )
    if a.json:
        Path(a.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
