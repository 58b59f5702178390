"""Simulated annotator for `segtool suggest --strategy`: which way of choosing frames teaches the most?

For each set and seed: a start model is fine-tuned on a few frames; it scores the pool (the same
`FrameScore`s `segtool suggest` makes: least confidence, unsure share, content feature); each arm picks
K frames, the ground truth "labels" them, and the start model is fine-tuned on start + K with the same
fixed budget (steps, batch, crop, learning rate, seed) in every arm; the held-out frames are scored.

Arms: the core's strategies (`segtool.core.suggest.STRATEGIES`: spaced, kcenter, cluster, uncertain)
against the two baselines, exactly evenly spaced frames and random frames.

Sets (small on purpose: the machine is a shared 2-core CPU):
  conveyor  ../shared/data/rocks_dense/conveyor tiles at 128 px (belt = 0, rock + clump = 1); the tiles
            carry no belt id, so a contiguous block (the last fifth, another stretch of the belt) is held
            out; rock IoU. Start model: the built-in demo rock model.
  camvid    the CamVid clip 0016E5 (101 frames, = camvid/val with valannot ground truth) at 120×90,
            11 classes; every 5th frame held out (label a few frames, the model does the rest of the
            clip); mIoU over the classes present. Start: the demo model's backbone with a new head.

The model is the demo model's size (mobilenet_v3_large width 0.5, ASPP 64) trained with a plain loop
(AdamW, cross-entropy with 255 = unknown, random crop + flip), one thread. Settings of the table in
docs/benchmarks.md: camvid with the defaults (backbone frozen, lr 1e-3, 60 steps); conveyor with
`--lr 2e-4 --train-backbone` (a frozen synthetic-rock backbone could not learn the belt in 60 steps).

Usage: python benchmarks/bench_suggest_strategies.py [--sets conveyor camvid] [--seeds 0 1 2] [--steps 40]
Prints one row per set × seed × arm and the means; results are kept in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from segtool.core.suggest import STRATEGIES, FrameScore, frame_feature, pick  # noqa: E402
from segtool.models import build_deeplabv3, load_checkpoint  # noqa: E402

DATA = REPO.parent / "shared" / "data"
MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


def load_conveyor(side: int = 128):
    root = DATA / "rocks_dense" / "conveyor"
    lut = np.full(256, 255, np.uint8)
    lut[1], lut[2], lut[3] = 0, 1, 1
    out = []
    for i, p in enumerate(sorted((root / "images").glob("*.png"))):
        rgb = np.asarray(Image.open(p).convert("RGB").resize((side, side), Image.BILINEAR))
        sem = np.asarray(Image.open(root / "semantic" / p.name).resize((side, side), Image.NEAREST))
        out.append((i, rgb, lut[sem]))
    n_val = len(out) // 5
    return out[:-n_val], out[-n_val:], 2


def load_camvid(size=(120, 90)):
    root = DATA / "camvid"
    out = []
    for i, p in enumerate(sorted((root / "val").glob("0016E5_*.png"))):
        rgb = np.asarray(Image.open(p).convert("RGB").resize(size, Image.BILINEAR))
        m = np.asarray(Image.open(root / "valannot" / p.name).resize(size, Image.NEAREST)).copy()
        m[m > 10] = 255
        out.append((i, rgb, m))
    return [t for t in out if t[0] % 5], [t for t in out if t[0] % 5 == 0], 11


def start_model(num_classes: int) -> torch.nn.Module:
    demo = load_checkpoint(REPO / "assets" / "demo_rocks.pt")
    model = build_deeplabv3(
        backbone="mobilenet_v3_large",
        num_classes=num_classes,
        aux_head=False,
        width_mult=demo.config.width_mult,
        aspp_channels=demo.config.aspp_channels,
    )
    own = model.state_dict()
    model.load_state_dict(
        {k: v for k, v in demo.state_dict.items() if k in own and own[k].shape == v.shape}, strict=False
    )
    return model


def _tensor(rgb: np.ndarray) -> torch.Tensor:
    return (torch.from_numpy(np.array(rgb)).permute(2, 0, 1).float()[None] / 255.0 - MEAN) / STD


def train(
    model, items, steps: int, seed: int, crop: int, lr: float = 1e-3, batch: int = 8, frozen: bool = True
):
    """Fine-tune in place: `steps` AdamW steps on random crops + flips of `items` (same budget in every arm).

    `frozen` (the default, as `segtool train`'s fine-tuning default): the backbone's weights and BatchNorm
    statistics stay, only the head learns. The first run of this benchmark trained everything at lr 1e-3
    and some arms collapsed (rock IoU 0.000), so the arms' differences were mostly training noise.
    """
    g = np.random.default_rng(seed)
    torch.manual_seed(seed)
    model.train()
    if frozen:
        model.backbone.eval()
        for p in model.backbone.parameters():
            p.requires_grad_(False)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr, weight_decay=1e-4)
    for _ in range(steps):
        xs, ys = [], []
        for j in g.integers(len(items), size=batch):
            _, rgb, m = items[j]
            h, w = m.shape
            y0, x0 = g.integers(0, h - crop + 1), g.integers(0, w - crop + 1)
            r, t = rgb[y0 : y0 + crop, x0 : x0 + crop], m[y0 : y0 + crop, x0 : x0 + crop]
            if g.random() < 0.5:
                r, t = r[:, ::-1], t[:, ::-1]
            xs.append(_tensor(np.ascontiguousarray(r)))
            ys.append(torch.from_numpy(np.ascontiguousarray(t)).long())
        out = model(torch.cat(xs))["out"]
        loss = F.cross_entropy(out, torch.stack(ys), ignore_index=255)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    return model


@torch.no_grad()
def predict(model, rgb):
    prob = torch.softmax(model(_tensor(rgb))["out"], 1)[0]
    conf, mask = prob.max(0)
    return conf.numpy(), mask.numpy().astype(np.uint8)


def score(model, val, num_classes: int) -> float:
    """Rock IoU with two classes, else mIoU over the classes present in the ground truth."""
    inter, union = np.zeros(num_classes), np.zeros(num_classes)
    for _, rgb, m in val:
        _, p = predict(model, rgb)
        ok = m != 255
        for c in range(num_classes):
            a, b = (p == c) & ok, m == c
            inter[c] += (a & b).sum()
            union[c] += (a | b).sum()
    if num_classes == 2:
        return float(inter[1] / max(1, union[1]))
    present = union > 0
    return float((inter[present] / union[present]).mean())


def frame_scores(model, pool, num_classes: int, threshold: float = 0.6) -> list[FrameScore]:
    out = []
    for i, rgb, _ in pool:
        conf, mask = predict(model, rgb)
        out.append(
            FrameScore(
                i,
                None,
                str(i),
                float(1 - conf.mean()),
                float((conf < threshold).mean()),
                frame_feature(rgb, mask, num_classes),
            )
        )
    return out


def run_set(
    name: str, seed: int, n_start: int, k: int, steps: int, lr: float = 1e-3, frozen: bool = True
) -> list[dict]:
    pool, val, nc = load_conveyor() if name == "conveyor" else load_camvid()
    crop = 96 if name == "conveyor" else 80
    rng = random.Random(seed)
    start = sorted(rng.sample(pool, n_start), key=lambda t: t[0])
    rest = [t for t in pool if t not in start]
    t0 = time.perf_counter()
    base = train(start_model(nc), start, steps, seed, crop, lr=lr, frozen=frozen)
    base_state = {k_: v.clone() for k_, v in base.state_dict().items()}
    rows = [
        {
            "set": name,
            "seed": seed,
            "arm": "start",
            "score": score(base, val, nc),
            "frames": [t[0] for t in start],
        }
    ]
    scores = frame_scores(base, rest, nc)
    by_index = {t[0]: t for t in rest}
    m = len(rest)
    arms = {"evenly spaced": [rest[int((j + 0.5) * m / k)] for j in range(k)], "random": rng.sample(rest, k)}
    for strat in STRATEGIES:
        arms[strat] = [by_index[p.index] for p in pick(scores, k, strat)]
    for arm, extra in arms.items():
        model = start_model(nc)
        model.load_state_dict(base_state)
        train(model, start + extra, steps, seed + 1000, crop, lr=lr, frozen=frozen)
        rows.append(
            {
                "set": name,
                "seed": seed,
                "arm": arm,
                "score": score(model, val, nc),
                "frames": sorted(t[0] for t in extra),
            }
        )
        print(
            f"{name:8s} seed {seed} {arm:14s} {rows[-1]['score']:.3f}  frames {rows[-1]['frames']}",
            flush=True,
        )
    print(f"{name} seed {seed}: {time.perf_counter() - t0:.0f} s", flush=True)
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sets", nargs="+", default=["conveyor", "camvid"])
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument(
        "--steps", type=int, default=60, help="AdamW steps (batch 8) for the start model and each arm"
    )
    ap.add_argument("--lr", type=float, default=1e-3, help="AdamW learning rate (default 1e-3)")
    ap.add_argument("--train-backbone", action="store_true", help="train the backbone too (default: frozen)")
    ap.add_argument("--start", type=int, default=None, help="start frames (default: conveyor 6, camvid 3)")
    ap.add_argument(
        "--k", type=int, default=None, help="frames added by each arm (default: conveyor 8, camvid 6)"
    )
    args = ap.parse_args()
    if not (DATA / "rocks_dense").is_dir():
        print(f"skipped: {DATA} not found")
        return 0
    torch.set_num_threads(1)
    rows = []
    for name in args.sets:
        n_start = args.start or (6 if name == "conveyor" else 3)
        k = args.k or (8 if name == "conveyor" else 6)
        for seed in args.seeds:
            rows += run_set(name, seed, n_start, k, args.steps, args.lr, not args.train_backbone)
    print("\nmeans (" + ", ".join(f"seed {s}" for s in args.seeds) + "):")
    for name in args.sets:
        for arm in dict.fromkeys(r["arm"] for r in rows if r["set"] == name):
            v = [r["score"] for r in rows if r["set"] == name and r["arm"] == arm]
            print(f"| {name} | {arm} | " + " | ".join(f"{x:.3f}" for x in v) + f" | {np.mean(v):.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
