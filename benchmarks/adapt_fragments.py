"""Adapting a fragment model to a new site, measured (docs/fragments.md, "Adapting to a new site").

    python benchmarks/adapt_fragments.py --start START.pt --out WORK --table WORK/table.md
    python benchmarks/adapt_fragments.py --start START.pt --out WORK --quick      # a tiny check (minutes)

A geologist at a new site labels N images and retrains the model they have. Simulated on a set the start
model never trained on (`--set grains` by default: it must not have been trained on it): from the set's
pool (every image but its fixed hold-out, benchmarks/fragments_data.py `is_holdout`) N ∈ `--n` images are
picked at random per `--seeds` seed (the picks of one seed are nested: N=1 ⊂ N=2 ⊂ N=4), labelled as
`--kinds`:

- outlines: every fragment outlined (the instance PNG folder `segtool train` reads);
- strokes: short brush strokes only (rock along a few fragments' middles, rock_edge on a few outlines,
  background between them, the rest unknown), saved as the app's label mode saves a label set —
  about 1-2 minutes per image (adapt_labels.StrokePlan says why);
- brush: the strokes without the rock_edge ones (what label mode's brush can paint today),

then retrained with the wizard's fine-tuning defaults (`segtool train DATA -o RUN --init START.pt` with
every fine-tuning option left to the run — AdamW 1e-3, frozen backbone, 10 epochs, 8 crops an epoch,
batch 4 — the Fine-tune preset's crop, min(512, the start's input size), and the wizard's split of
the labelled images: a seeded 20 % for validation, so N=1 trains on its one image with no validation
and N=2 on one image) on the CPU with one thread (`--workers 0` and OMP_NUM_THREADS=1, where the
wizard would add cores − 1 data-loading processes; the other settings are the wizard's own), and scored
on the hold-out with the matching of benchmarks/eval_fragments.py (IoU ≥ 0.5 one to one; D50/D80 by
area and by count; same defaults). The start model itself is scored once (N=0).

`--design site` is the other reading of "a new site": the set's pictures come from different places
(grains: nine photos, nine rivers and beaches), so labelling photo A and scoring photos B-D measures how
far a few labels carry to *other* places. A site's footage looks alike; with `--design site` each seed
is one hold-out photo (seed k: the k-th), its left half cut 2x2 into four tiles to label (N of them, in
a seeded order) and its right half scored, start model included (one N=0 row per seed). One JSON per run in OUT/json/ (a run whose JSON exists is
skipped: the script resumes); a markdown row per run is printed and appended to `--table`, and
`--summary` prints mean ± spread over seeds per N and kind.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from adapt_labels import StrokePlan, write_outlines, write_strokes  # noqa: E402
from eval_fragments import match, summarise  # noqa: E402
from fragments_data import DENSE, labelled_items  # noqa: E402

from segtool.base.atomic import atomic_write  # noqa: E402

KINDS = ("outlines", "strokes", "brush")
HEADER = "| N | labels | seed | F1 | P | R | D50 area err | D80 area err | D50 count err | train min (wall / CPU) |"


def pick(pool: list[str], n: int, seed: int) -> list[str]:
    """The first `n` of a seeded shuffle of `pool`: a larger N keeps the images of a smaller one."""
    order = np.random.default_rng(seed).permutation(len(pool))
    return [pool[i] for i in order[:n]]


def site_plan(stem: str, rgb, inst, known):
    """`--design site`: ({tile name: (rgb, instances, known)} of the left half cut 2x2, the right half as
    the hold-out list). Fragments cut by a tile or the middle line are scored as the pieces seen."""
    h, w = rgb.shape[0] // 2, rgb.shape[1] // 2
    cut = lambda a, sl: None if a is None else np.ascontiguousarray(a[sl])  # noqa: E731
    tiles = {}
    for r in range(2):
        for c in range(2):
            sl = (slice(r * h, (r + 1) * h), slice(c * (w // 2), (c + 1) * (w // 2)))
            tiles[f"{stem}_L{r}{c}"] = (cut(rgb, sl), cut(inst, sl), cut(known, sl))
    right = (slice(None), slice(w, None))
    return tiles, [(f"{stem}_right", cut(rgb, right), cut(inst, right), cut(known, right))]


def score(checkpoint: Path, holdout: list, min_size: int, min_distance: int) -> dict:
    """eval_fragments' numbers of `checkpoint` on the hold-out items (stem, rgb, inst, known)."""
    import torch

    from segtool.core.engine import Engine
    from segtool.core.fragments import FragmentSettings, FragmentSpec, analyse_labels, analyse_prediction

    torch.set_num_threads(1)
    settings = FragmentSettings(min_size_px=min_size, min_distance=min_distance)
    engine = Engine(str(checkpoint), device="cpu", threads=1)
    spec = FragmentSpec.from_checkpoint(engine.checkpoint.fragments, engine.class_names)
    tp = npred = ngt = 0
    pred_t, gt_t = [], []
    t0 = time.perf_counter()
    for _stem, rgb, inst, known in holdout:
        pred = engine.predict_one(rgb, confidence=True)
        r = analyse_prediction(pred.mask, pred.confidence, spec, settings)
        x = match(r.labels, inst, known, min_size)
        tp, npred, ngt = tp + x[0], npred + x[1], ngt + x[2]
        pred_t.append(r.table)
        gt_t.append(analyse_labels(inst, settings).table)
    return {
        "images": len(holdout),
        "split": spec.method,
        **summarise(tp, npred, ngt, pred_t, gt_t),
        "seconds": round(time.perf_counter() - t0, 1),
    }


def train(data: Path, run: Path, start: Path, crop: int, extra: list[str]) -> dict:
    """`segtool train` as the wizard runs a fine-tuning (options left to the run), in a child process with
    one thread; returns wall and CPU minutes and what the run chose."""
    if run.exists():
        shutil.rmtree(run)  # an unfinished run of ours (no JSON was written): train again from the start
    cmd = [sys.executable, "-m", "segtool", "train", str(data), "-o", str(run), "--init", str(start)]
    cmd += ["--crop-size", str(crop), "--device", "cpu", "--workers", "0", "-q", *extra]
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONPATH=str(REPO))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0 or not (run / "best.pt").is_file():
        raise SystemExit(f"training failed ({' '.join(cmd)}):\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
    cfg = json.loads((run / "config.json").read_text())
    report = json.loads((run / "report.json").read_text()) if (run / "report.json").is_file() else {}
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    split = re.search(r"on (\d+) images \(val (\d+)\)", proc.stdout)  # the run's own split of the N images
    keys = ("epochs", "repeat", "batch_size", "crop_size", "optimizer", "lr", "freeze_backbone", "eval_size")
    return {
        "train_wall_min": round(wall / 60, 2),
        "train_cpu_min": round(cpu / 60, 2),
        "settings": {k: cfg.get(k) for k in keys},
        "auto": cfg.get("auto", []),
        "val_miou": report.get("miou"),
        "start_val_miou": (report.get("start") or {}).get("miou"),
        "train_images": int(split.group(1)) if split else None,
        "val_images": int(split.group(2)) if split else None,
        "warnings": [line for line in proc.stderr.splitlines() if "warning" in line.lower()][-5:],
        "stdout_tail": proc.stdout.strip().splitlines()[-3:],
    }


def row(r: dict) -> str:
    s, e = r["score"], r["score"]["rel_err"]

    def pct(v):
        return "n/a" if v is None else f"{v:+.0%}"

    mins = "—" if r["n"] == 0 else f"{r['train_wall_min']:.1f} / {r['train_cpu_min']:.1f}"
    return (
        f"| {r['n']} | {r['kind']} | {r['seed']} | {s['f1']:.3f} | {s['precision']:.3f} | {s['recall']:.3f} | "
        f"{pct(e['D50_area'])} | {pct(e['D80_area'])} | {pct(e['D50_count'])} | {mins} |"
    )


def emit(r: dict, table: Path | None) -> None:
    line = row(r)
    print(line, flush=True)
    if table is not None:
        new = not table.is_file()
        with table.open("a", encoding="utf-8") as fh:  # appended: earlier rows (other runs) stay
            if new:
                fh.write(HEADER + "\n|" + "---|" * (HEADER.count("|") - 1) + "\n")
            fh.write(line + "\n")


def summary(json_dir: Path) -> list[str]:
    """Mean ± spread (sample SD) over seeds per (N, labels): the rows docs/fragments.md shows."""
    groups: dict[tuple, list[dict]] = {}
    for p in sorted(json_dir.glob("*.json")):
        r = json.loads(p.read_text())
        groups.setdefault((r["n"], r["kind"]), []).append(r)
    out = [
        "| images labelled | labels | runs | F1 | D50 area err (abs) | D80 area err (abs) | train min (wall) |",
        "|---|---|---|---|---|---|---|",
    ]

    def ms(vals, fmt):
        v = [x for x in vals if x is not None]
        if not v:
            return "n/a"
        sd = f" ± {fmt(float(np.std(v, ddof=1)))}" if len(v) > 1 else ""
        return fmt(float(np.mean(v))) + sd

    for (n, kind), rs in sorted(groups.items()):
        f1 = ms([r["score"]["f1"] for r in rs], lambda x: f"{x:.3f}")
        d50 = ms([abs(r["score"]["rel_err"]["D50_area"] or 0) for r in rs], lambda x: f"{x:.0%}")
        d80 = ms([abs(r["score"]["rel_err"]["D80_area"] or 0) for r in rs], lambda x: f"{x:.0%}")
        mins = "—" if n == 0 else ms([r["train_wall_min"] for r in rs], lambda x: f"{x:.1f}")
        out.append(f"| {n} | {kind} | {len(rs)} | {f1} | {d50} | {d80} | {mins} |")
    return out


def done_before(jpath: Path, common: dict, ap: argparse.ArgumentParser) -> bool:
    """Whether this run's JSON exists (then it is skipped); refuses a folder holding another start's runs."""
    if not jpath.is_file():
        return False
    r = json.loads(jpath.read_text())
    if (r.get("start"), r.get("set")) != (common["start"], common["set"]):
        ap.error(
            f"{jpath} is a run of --start {r.get('start')} on {r.get('set')}, not of --start {common['start']} "
            f"on {common['set']}: use another --out for another start model or set"
        )
    return True


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--start", required=True, help="a fragment model NOT trained on --set")
    ap.add_argument("--out", required=True, help="work folder: data/, runs/, json/")
    ap.add_argument("--set", default="grains", help="the new site: a rocks_dense set (default grains)")
    ap.add_argument("--data-root", default=str(DENSE), help="rocks_dense folder")
    ap.add_argument("--n", type=int, nargs="+", default=[1, 2, 4], help="images labelled")
    ap.add_argument("--kinds", nargs="+", default=["outlines", "strokes"], choices=KINDS)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="which images are picked")
    ap.add_argument("--table", help="append the markdown rows here")
    ap.add_argument("--min-size", type=int, default=20, help="as eval_fragments.py")
    ap.add_argument("--min-distance", type=int, default=7, help="as eval_fragments.py")
    ap.add_argument(
        "--train-args",
        default="",
        help='extra `segtool train` options for a variant of the defaults, e.g. "--lr 1e-4" (recorded in the JSON)',
    )
    ap.add_argument(
        "--design",
        choices=("images", "site"),
        default="images",
        help="images: label pool photos, score the other places' hold-out photos; site: label tiles of the "
        "left half of one hold-out photo, score its right half (seed k = the k-th hold-out photo)",
    )
    ap.add_argument("--quick", action="store_true", help="N=1, seed 0, 1 epoch, crop 128, 1 hold-out image")
    ap.add_argument("--summary", action="store_true", help="only print mean ± spread of OUT/json/")
    a = ap.parse_args()
    out = Path(a.out)
    if a.summary:
        print("\n".join(summary(out / "json")))
        return
    root = Path(a.data_root)
    start = Path(a.start).resolve()
    if not (root / a.set).is_dir():
        ap.error(f"{root / a.set}: no such data set (see ../shared/data/README.md); pass --data-root")
    if not start.is_file():
        ap.error(f"--start {a.start}: no such checkpoint; give the start model's .pt file")
    from segtool.models import load_checkpoint

    try:
        ck = load_checkpoint(start)
    except Exception as e:  # any unreadable file: say which and why, no traceback
        ap.error(f"--start {a.start}: cannot be read as a segtool checkpoint ({e})")
    if not ck.fragments or not ck.fragments.get("edge"):
        ap.error(f"--start {a.start}: not a fragment model with an edge class (no fragments entry)")
    crop = min(512, ck.preprocess.get("resize_short") or 512)  # the wizard's Fine-tune preset
    extra: list[str] = a.train_args.split()
    if a.quick:
        a.n, a.seeds, crop, extra = [1], [0], 128, ["--epochs", "1"]
    items = {stem: (rgb, inst, known, hold) for stem, rgb, inst, known, hold in labelled_items(a.set, root)}
    src = {p.stem: p for p in (root / a.set / "images").iterdir()}
    holdout = [(s, v[0], v[1], v[2]) for s, v in items.items() if v[3]][: 1 if a.quick else None]
    pool = sorted(s for s, v in items.items() if not v[3])
    sites = [(s, *v[:3]) for s, v in items.items() if v[3]]
    need = 4 if a.design == "site" else len(pool)
    if max(a.n) > need:
        what = (
            "a site has 4 tiles" if a.design == "site" else f"the pool of {a.set} has only {len(pool)} images"
        )
        ap.error(f"--n {max(a.n)}: {what}; use --n up to {need}")
    table = Path(a.table) if a.table else None
    (out / "json").mkdir(parents=True, exist_ok=True)
    tag = ("quick_" if a.quick else "") + ("site_" if a.design == "site" else "")
    common = {"set": a.set, "start": str(start), "design": a.design, "quick": a.quick}

    def plan(seed: int):
        """(labelable items {name: (rgb, inst, known)}, their source files, hold-out list) for a seed."""
        if a.design == "images":
            return {s: v[:3] for s, v in items.items()}, src, pool, holdout
        stem, rgb, inst, known = sites[seed % len(sites)]
        tiles, hold = site_plan(stem, rgb, inst, known)
        return tiles, {t: src[stem] for t in tiles}, sorted(tiles), hold

    starts = sorted({s % len(sites) for s in a.seeds}) if a.design == "site" else [None]
    for k in starts:
        jpath = out / "json" / (f"{tag}start.json" if k is None else f"{tag}start_s{k}.json")
        hold = plan(k)[3] if k is not None else holdout
        if not done_before(jpath, common, ap):
            r = {
                **common,
                "holdout": [h[0] for h in hold],
                "n": 0,
                "kind": "none",
                "seed": "-" if k is None else k,
            }
            r["picked"] = []
            r["score"] = score(start, hold, a.min_size, a.min_distance)
            atomic_write(jpath, json.dumps(r, indent=1))
            emit(r, table)
    for kind in a.kinds:
        for seed in a.seeds:
            labelable, sources, choices, hold = plan(seed)
            for n in a.n:
                name = f"{tag}{kind}_n{n}_s{seed}"
                jpath = out / "json" / f"{name}.json"
                if done_before(jpath, common, ap):
                    print(f"{name}: done before ({jpath})", flush=True)
                    continue
                picked = pick(choices, n, seed)
                data = out / "data" / name
                if data.exists():
                    shutil.rmtree(data)
                r = {**common, "holdout": [h[0] for h in hold], "n": n, "kind": kind, "seed": seed}
                r["picked"] = picked
                if kind == "outlines":
                    write_outlines(data, [(s, labelable[s][0], labelable[s][1]) for s in picked])
                else:
                    plan_s = StrokePlan() if kind == "strokes" else StrokePlan(edges=0)
                    r["strokes"] = write_strokes(
                        data,
                        [(s, labelable[s][0], labelable[s][1], sources[s]) for s in picked],
                        ck.classes,
                        ck.fragments,
                        seed=seed,
                        plan=plan_s,
                    )
                    r["stroke_plan"] = {
                        "interior": plan_s.interior,
                        "edges": plan_s.edges,
                        "background": plan_s.background,
                    }
                r.update(train(data, out / "runs" / name, start, crop, extra))
                r["score"] = score(out / "runs" / name / "best.pt", hold, a.min_size, a.min_distance)
                atomic_write(jpath, json.dumps(r, indent=1))
                emit(r, table)


if __name__ == "__main__":
    main()
