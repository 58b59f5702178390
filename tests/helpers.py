"""Helpers shared by tests (not fixtures): the tiny model, small datasets, run folders.

Test modules import from here (or tests/gui/helpers.py), never from each other."""

from __future__ import annotations

import dataclasses
import json
import os
import threading
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from segtool.models import Checkpoint, build_deeplabv3, make_classes, save_checkpoint
from segtool.training.config import TrainConfig
from segtool.training.events import TrainingEvents

TINY_WIDTH = 0.25  # MobileNetV3 channel multiplier of the shared test model
TINY_ASPP = 16  # its ASPP width


def randomize_bn_stats(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Give BatchNorm layers non-trivial running statistics, so that comparisons in eval mode mean something."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.normal_(0.0, 0.2, generator=g)
            m.running_var.uniform_(0.5, 2.0, generator=g)
    return model


def make_small_checkpoint(
    path: Path,
    *,
    resize_short: int | None = 520,
    train: dict | None = None,
    width_mult: float = TINY_WIDTH,
    aspp_channels: int = TINY_ASPP,
) -> tuple[Path, torch.nn.Module]:
    """A real 2-class (background, rock) mobilenet_v3_large checkpoint and the model it was saved from.

    Tiny (width 0.25, 16 ASPP channels: 0.33 M parameters, 1.4 MB instead of 11 M and 44 MB), so tests
    spend their time on what they check, not on convolutions; every code path is the full-size one.
    `width_mult=1.0, aspp_channels=256` gives the standard network, for tests about its size.
    A random DeepLab predicts nearly the same logits everywhere; the head is amplified and its bias centred
    so that both classes occur on structured images, so tests compare real masks, not constant ones.
    """
    torch.manual_seed(0)
    model = build_deeplabv3(
        backbone="mobilenet_v3_large",
        num_classes=2,
        aux_head=False,
        width_mult=width_mult,
        aspp_channels=aspp_channels,
    )
    model = randomize_bn_stats(model).eval()
    with torch.no_grad():
        model.classifier[4].weight.mul_(100.0)
        model.classifier[4].bias.zero_()
        g = torch.Generator().manual_seed(0)
        probe = torch.rand(1, 3, 96, 128, generator=g)
        probe[:, :, :48] /= 4
        logits = model((probe - 0.45) / 0.225)["out"]
        model.classifier[4].bias[1] = -(logits[:, 1] - logits[:, 0]).median()
    ckpt = Checkpoint(
        config=model.config,
        classes=make_classes(["background", "rock"], [[0, 0, 0], [250, 50, 83]]),
        state_dict=model.state_dict(),
        train=train,
    )
    ckpt = dataclasses.replace(ckpt, preprocess=dict(ckpt.preprocess, resize_short=resize_short))
    return save_checkpoint(ckpt, path), model


TINY_DATA_SIZE = 64  # side of make_dataset's square photos


def make_dataset(
    root: Path, n_train: int = 4, n_val: int = 1, *, classes=("background", "rock"), seed: int = 0
) -> Path:
    """`train/` + `val/` folders of TINY_DATA_SIZE×TINY_DATA_SIZE photos with a bright square labelled `rock` (id 1)."""
    rng = np.random.default_rng(seed)
    for split, n in (("train", n_train), ("val", n_val)):
        for i in range(n):
            img = rng.integers(0, 90, (TINY_DATA_SIZE, TINY_DATA_SIZE, 3), np.uint8)
            mask = np.zeros((TINY_DATA_SIZE, TINY_DATA_SIZE), np.uint8)
            y, x = rng.integers(4, TINY_DATA_SIZE - 28, 2)
            mask[y : y + 24, x : x + 24] = 1
            if len(classes) > 2:
                mask[:6, :] = 2
            img[mask == 1] += 140
            for sub, arr in (("images", img), ("masks", mask)):
                (root / split / sub).mkdir(parents=True, exist_ok=True)
                Image.fromarray(arr).save(root / split / sub / f"{split}{i}.png")
    (root / "classes.json").write_text(json.dumps(list(classes)))
    return root


def tiny_config(data: Path, out: Path, **kw) -> TrainConfig:
    base = dict(
        data=str(data),
        output=str(out),
        backbone="resnet18",
        epochs=2,
        batch_size=2,
        crop_size=TINY_DATA_SIZE,
        eval_size=TINY_DATA_SIZE,
        device="cpu",
        seed=0,
    )
    base.update(kw)
    return TrainConfig(**base)


def fake_run(
    root: Path,
    name: str,
    *,
    lr: float,
    crop: int,
    mious: list[float | None],
    epochs: int | None = None,
    last: bool = True,
    mtime: float | None = None,
) -> Path:
    """A run folder as `segtool train` writes it (config.json, history.csv, report.json, last.pt)."""
    run = root / name
    run.mkdir(parents=True)
    cfg = {
        "data": "/data/rocks",
        "output": str(run),
        "backbone": "resnet18",
        "output_stride": 16,
        "epochs": epochs or len(mious),
        "crop_size": crop,
        "optimizer": "sgd",
        "lr": lr,
        "batch_size": 4,
        "workers": 2,
    }
    (run / "config.json").write_text(json.dumps(cfg))
    rows = ["epoch,train_loss,val_loss,miou,pixel_accuracy,lr,seconds"]
    rows += [
        f"{i + 1},{1.0 / (i + 1)},{1.2 / (i + 1)},{'' if m is None else m},0.9,{lr},10.5"
        for i, m in enumerate(mious)
    ]
    (run / "history.csv").write_text("\n".join(rows) + "\n")
    best = max((m for m in mious if m is not None), default=None)
    report = {
        "miou": best,
        "per_class_iou": {"background": 0.9, "rock": best, "moss": None},
        "classes": ["background", "rock", "moss"],
        "confusion_matrix": [[9, 1, 0], [2, 8, 0], [0, 0, 0]],
        "images": 1,
    }
    (run / "report.json").write_text(json.dumps(report))
    if last:
        (run / "last.pt").write_bytes(b"x")
        (run / "best.pt").write_bytes(b"x")
    if mtime is not None:
        os.utime(run / "config.json", (mtime, mtime))
    return run


def make_gps_photo(
    path, lat=None, lon=None, alt=None, taken="2026:06:01 09:30:15", gps_time=None, size=(64, 48), rgb=None
):
    """A JPEG with EXIF as a phone writes it: GPS IFD in degrees/minutes/seconds rationals, DateTimeOriginal."""
    im = Image.fromarray(rgb) if rgb is not None else Image.new("RGB", size, (120, 110, 100))
    from fractions import Fraction

    ex = Image.Exif()
    if taken:
        ex.get_ifd(0x8769)[0x9003] = taken
    if lat is not None:

        def dms(v):
            v = abs(v)
            d = int(v)
            m = int((v - d) * 60)
            return (Fraction(d), Fraction(m), Fraction(round((v - d - m / 60) * 3600 * 10000), 10000))

        g = ex.get_ifd(0x8825)
        g[1], g[2], g[3], g[4] = ("N" if lat >= 0 else "S"), dms(lat), ("E" if lon >= 0 else "W"), dms(lon)
        if alt is not None:
            g[5], g[6] = (1 if alt < 0 else 0), Fraction(round(abs(alt) * 10), 10)
        if gps_time:
            g[29], g[7] = gps_time[0], tuple(Fraction(x) for x in gps_time[1])
    im.save(path, exif=ex)
    return path


# Records what a training run reports, and can stop it at (epoch, step): by KeyboardInterrupt, or by
# setting a cancel event (as the app does).
class Recorder(TrainingEvents):
    def __init__(
        self,
        stop_at: tuple[int, int] | None = None,
        cancel: threading.Event | None = None,
        how: str = "raise",
    ):
        self.events: list[tuple] = []
        self.stop_at, self.cancel, self.how = stop_at, cancel, how

    def on_train_start(self, info) -> None:
        self.events.append(("start", info.start_epoch, info.steps_per_epoch))

    def on_epoch_start(self, epoch, epochs) -> None:
        self.events.append(("epoch_start", epoch))

    def on_batch_end(self, p) -> None:
        self.events.append(("batch", p.epoch, p.step, p.loss))
        if self.stop_at == (p.epoch, p.step):
            if self.how == "raise":
                raise KeyboardInterrupt
            self.cancel.set()

    def on_epoch_end(self, s) -> None:
        self.events.append(("epoch_end", s.epoch, s.metrics.get("miou")))

    def on_train_end(self, result) -> None:
        self.events.append(("end", result.stopped))


FRAGMENT_CLASSES = [("background", (0, 0, 0)), ("rock", (200, 120, 60)), ("rock_edge", (255, 230, 0))]


def make_fragment_checkpoint(path: Path, *, resize_short: int | None = None) -> Path:
    """A tiny real 3-class checkpoint with the edge-split fragment classes (background / rock / rock_edge)
    and `fragments` entry (untrained: for label-mode and retraining tests, not for its masks)."""
    pre = {} if resize_short is None else {"resize_short": resize_short}
    return _tiny_fragment_checkpoint(path, FRAGMENT_CLASSES, {"interior": "rock", "edge": "rock_edge"}, pre)


def _tiny_fragment_checkpoint(path: Path, classes, fragments: dict, preprocess: dict) -> Path:
    torch.manual_seed(0)
    model = randomize_bn_stats(
        build_deeplabv3(
            backbone="mobilenet_v3_large",
            num_classes=len(classes),
            aux_head=False,
            width_mult=TINY_WIDTH,
            aspp_channels=TINY_ASPP,
        )
    ).eval()
    ck = Checkpoint(
        config=model.config,
        classes=make_classes([n for n, _ in classes], [list(c) for _, c in classes]),
        state_dict=model.state_dict(),
        fragments=fragments,
    )
    return save_checkpoint(dataclasses.replace(ck, preprocess={**ck.preprocess, **preprocess}), path)


def make_outlines(root: Path, n_train: int = 3, n_val: int = 1, seed: int = 0) -> Path:
    """`train/` + `val/` folders of `images/` and `instances/` (16-bit fragment ids, 0 = none): on every
    TINY_DATA_SIZE-px photo two pairs of touching bright squares, the layout `segtool train` reads as outlines."""
    rng = np.random.default_rng(seed)
    size = TINY_DATA_SIZE
    for split, n in (("train", n_train), ("val", n_val)):
        for i in range(n):
            img = rng.integers(0, 60, (size, size, 3), np.uint8)
            inst = np.zeros((size, size), np.uint16)
            for k, (y, x) in enumerate(((6, 6), (6, 26), (36, 10), (36, 30)), start=1):
                dy, dx = rng.integers(0, 4, 2)
                inst[y + dy : y + dy + 18, x + dx : x + dx + 20] = k  # the pairs share a side: they touch
                img[inst == k] = rng.integers(120, 250, 3)
            for sub, arr in (("images", img), ("instances", inst)):
                (root / split / sub).mkdir(parents=True, exist_ok=True)
                Image.fromarray(arr).save(root / split / sub / f"{split}{i}.png")
    return root


def make_centre_checkpoint(path: Path) -> Path:
    """A tiny real 4-class checkpoint of the learned centre split (untrained: its entry and classes matter),
    at the photos' own size (no resize_short)."""
    return _tiny_fragment_checkpoint(
        path,
        [*FRAGMENT_CLASSES, ("rock_centre", (255, 0, 160))],
        {"interior": "rock", "edge": "rock_edge", "centre": "rock_centre", "split": "centre"},
        {"resize_short": None},
    )


def _tiny_checkpoint(path, seed: int = 0, resize_short: int | None = None):
    """A small real DeepLabV3 (mobilenet_v3_large x0.5, 32-channel ASPP) whose two classes both occur."""
    import torch

    torch.manual_seed(seed)
    model = randomize_bn_stats(
        build_deeplabv3(
            backbone="mobilenet_v3_large", num_classes=2, aux_head=False, width_mult=0.5, aspp_channels=32
        ),
        seed,
    ).eval()
    with torch.no_grad():
        model.classifier[-1].weight.mul_(50.0)
    ck = Checkpoint(
        config=model.config,
        classes=make_classes(["background", "rock"], [[0, 0, 0], [250, 50, 83]]),
        state_dict=model.state_dict(),
        train={"dataset": "unit-test"},
    )
    ck = dataclasses.replace(ck, preprocess=dict(ck.preprocess, resize_short=resize_short))
    return save_checkpoint(ck, path)
