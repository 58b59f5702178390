"""Training throughput (images/s): segtool's trainer step vs torchvision's reference loop, in one run.

Both loops train the same network (same backbone, output stride, initial weights) on the same images
with the same crop and batch size, loading data in the main process (`--workers 0` by default), and are
timed by the wall clock over whole steps *including* data loading and augmentation:

- segtool: `training.transforms.TrainSamples` + `train_transform` (scale relative to --base-size,
  crop, flip), `training.losses.make_criterion` (aux 0.4), `training.optim` (SGD, poly + warm-up),
  `training.engine.train_one_epoch` with channels_last on CPU/CUDA as `segtool train` does (and bf16/fp16
  autocast on CUDA unless --no-amp);
- reference: `benchmarks/train_reference.py` (PIL presets, their loss, SGD with aux ×10, PolynomialLR,
  fp32 as their default).

The recipes alternate for --rounds rounds (a shared machine drifts) after --warmup untimed steps each;
the median images/s of each is printed, and the ratio segtool / reference as the median of the
per-round ratios (steadier than a ratio of medians when other jobs come and go). A data-only pass (the
loader alone, no network) shows how much of a step is augmentation.

Usage:
    OMP_NUM_THREADS=1 python benchmarks/bench_train.py /work/shared/data/camvid \
        --backbone mobilenet_v3_large --crop-size 240 --base-size 180 --batch-size 8
"""

from __future__ import annotations

import argparse
import itertools
import platform
import statistics
import sys
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import train_reference as ref  # noqa: E402

from segtool.models import build_deeplabv3  # noqa: E402
from segtool.models.device import resolve_precision  # noqa: E402
from segtool.training.data import open_dataset  # noqa: E402
from segtool.training.engine import EpochStats, train_one_epoch  # noqa: E402
from segtool.training.losses import make_criterion  # noqa: E402
from segtool.training.optim import auto_warmup, build_optimizer, build_scheduler  # noqa: E402
from segtool.training.transforms import TrainSamples, epoch_order, train_transform  # noqa: E402


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class Segtool:
    """segtool's step loop as `segtool train` sets it up (see training/trainer.py `_Run._setup`)."""

    name = "segtool"

    def __init__(self, args, data, samples, device) -> None:
        torch.manual_seed(args.seed)
        self.model = build_deeplabv3(
            backbone=args.backbone, num_classes=data.num_classes, output_stride=args.output_stride
        ).to(device)
        self.channels_last = not args.no_channels_last and device.type in ("cuda", "cpu")
        if self.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        total = 10_000
        self.optimizer = build_optimizer(self.model, name="sgd", lr=0.01, weight_decay=1e-4, head_lr_mult=1.0)
        self.scheduler = build_scheduler(self.optimizer, total_steps=total, warmup=auto_warmup(total))
        self.criterion = make_criterion(aux_weight=0.4, ignore_index=data.ignore_index)
        self.amp_dtype = resolve_precision("fp32" if args.no_amp else "auto", device)
        self.scaler = torch.amp.GradScaler("cuda") if self.amp_dtype == torch.float16 else None
        transform = train_transform(args.crop_size, eval_size=args.base_size, scale=(0.5, 2.0), hflip=True)
        self.dataset = TrainSamples(data, samples, transform, args.seed)
        self.args, self.device, self.n, self.epoch = args, device, len(samples), 0

    def loader(self) -> DataLoader:
        self.epoch += 1
        items = [(self.epoch, i) for i in epoch_order(self.n, 1, self.args.seed, self.epoch)]
        return DataLoader(
            self.dataset,
            batch_size=self.args.batch_size,
            sampler=items,
            num_workers=self.args.workers,
            drop_last=True,
            pin_memory=self.device.type == "cuda",
        )

    def steps(self, n: int) -> int:
        stats = EpochStats()
        train_one_epoch(
            self.model,
            self.criterion,
            self.optimizer,
            self.scheduler,
            itertools.islice(self.loader(), n),
            self.device,
            stats=stats,
            amp_dtype=self.amp_dtype,
            scaler=self.scaler,
            channels_last=self.channels_last,
        )
        return stats.images


class Reference:
    """torchvision's references/segmentation loop (benchmarks/train_reference.py)."""

    name = "reference"

    def __init__(self, args, data, samples, device) -> None:
        torch.manual_seed(args.seed)
        self.model = build_deeplabv3(
            backbone=args.backbone, num_classes=data.num_classes, output_stride=args.output_stride
        ).to(device)
        self.optimizer = ref.build_optimizer(self.model, 0.01, 0.9, 1e-4)
        self.scheduler = torch.optim.lr_scheduler.PolynomialLR(self.optimizer, total_iters=10_000, power=0.9)
        self.dataset = ref.Pairs(data, samples, ref.preset_train(args.base_size, args.crop_size))
        self.args, self.device = args, device

    def loader(self) -> DataLoader:
        return DataLoader(
            self.dataset,
            batch_size=self.args.batch_size,
            sampler=torch.utils.data.RandomSampler(self.dataset),
            num_workers=self.args.workers,
            collate_fn=ref.collate_fn,
            drop_last=True,
        )

    def steps(self, n: int) -> int:
        return ref.train_one_epoch(
            self.model,
            ref.criterion,
            self.optimizer,
            itertools.islice(self.loader(), n),
            self.scheduler,
            self.device,
        )[1]


def time_steps(recipe, n: int) -> float:
    """Images per second over `n` whole steps (data loading included)."""
    sync(recipe.device)
    t = time.perf_counter()
    images = recipe.steps(n)
    sync(recipe.device)
    return images / (time.perf_counter() - t)


def time_data(recipe, n: int) -> float:
    """Images per second of the loader alone (decode + augmentation + collate)."""
    t = time.perf_counter()
    images = sum(x.shape[0] for x, _ in itertools.islice(recipe.loader(), n))
    return images / (time.perf_counter() - t)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", help="dataset (its train split is used)")
    ap.add_argument("--images", help="image folder for CVAT exports")
    ap.add_argument("--backbone", default="mobilenet_v3_large")
    ap.add_argument("--output-stride", type=int, default=16)
    ap.add_argument("--crop-size", type=int, default=240)
    ap.add_argument("--base-size", type=int, default=180, help="segtool --eval-size / reference --base-size")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--steps", type=int, default=8, help="timed steps per round")
    ap.add_argument("--warmup", type=int, default=2, help="untimed steps before the first round")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--workers", type=int, default=0)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: as OMP_NUM_THREADS says)")
    ap.add_argument(
        "--no-channels-last", action="store_true", help="segtool without channels_last (isolates its effect)"
    )
    ap.add_argument("--no-amp", action="store_true", help="segtool in fp32 on CUDA (the reference is fp32)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    data = open_dataset(args.data, images=args.images, val_fraction=0.2, seed=args.seed)
    samples = data.split("train")
    where = (
        torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} thread(s)"
    )
    print(
        f"device: {where}; torch {torch.__version__}; {args.backbone} OS{args.output_stride}, crop {args.crop_size}, "
        f"base {args.base_size}, batch {args.batch_size}, workers {args.workers}, {len(samples)} train images; "
        f"{args.rounds} rounds x {args.steps} steps"
    )
    recipes = [Segtool(args, data, samples, device), Reference(args, data, samples, device)]
    data_rate = {r.name: time_data(r, args.steps) for r in recipes}
    for r in recipes:
        r.steps(args.warmup)
    rates: dict[str, list[float]] = {r.name: [] for r in recipes}
    for k in range(args.rounds):
        for r in recipes:
            rates[r.name].append(time_steps(r, args.steps))
        print(f"round {k + 1}: " + ", ".join(f"{n} {v[-1]:.2f} img/s" for n, v in rates.items()), flush=True)
    med = {n: statistics.median(v) for n, v in rates.items()}
    for n in med:
        print(
            f"{n:10s} train {med[n]:7.2f} img/s (median of {args.rounds}; min {min(rates[n]):.2f}, max {max(rates[n]):.2f}); "
            f"data loading alone {data_rate[n]:7.1f} img/s"
        )
    per_round = [a / b for a, b in zip(rates["segtool"], rates["reference"])]
    print(
        f"ratio segtool / reference: {statistics.median(per_round):.2f} (median of the per-round ratios "
        f"{', '.join(f'{r:.2f}' for r in per_round)}; each round times both back to back)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
