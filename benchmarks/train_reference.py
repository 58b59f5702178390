"""torchvision's references/segmentation training recipe, re-implemented plainly for comparison runs.

The recipe (transforms, loop, loss, optimiser, schedule, evaluation) follows torchvision's
`references/segmentation/{presets,transforms,train,utils}.py` (v0.15+, PIL backend), which cannot be
downloaded here. Only the data and the network are segtool's, so both recipes see the same pixels and
start from the same weights:

- data: `training.data.open_dataset` (same split, same class ids, void -> 255);
- network: `models.build_deeplabv3` after `torch.manual_seed(seed)` (what `segtool train` builds);
- confusion matrix: `training.metrics.ConfusionMatrix` (their bincount approach).

Recipe (theirs):

- train preset: RandomResize(int(0.5*base), int(2.0*base)) on the shorter side (`random.randint`, PIL
  bilinear for the image, nearest for the target) -> RandomHorizontalFlip(0.5) -> RandomCrop(crop)
  after padding the image with 0 and the target with 255 -> PILToTensor -> ToDtype(float, scale) ->
  Normalize(ImageNet);
- eval preset: resize the shorter side to `base` (image and target) -> tensor -> Normalize; the
  confusion matrix is taken at that size;
- loss: cross_entropy(out, ignore_index=255) + 0.5 * cross_entropy(aux, ignore_index=255);
- SGD(lr, momentum 0.9, weight_decay 1e-4) over backbone + classifier at lr and aux_classifier at
  lr * 10; PolynomialLR(total_iters = iters_per_epoch * epochs, power 0.9) stepped every iteration,
  no warm-up (their --lr-warmup-epochs default 0);
- RandomSampler, drop_last=True, the model evaluated after every epoch; fp32 (their --amp is off).

At the end the model is also written as a segtool checkpoint (`RUN/model.pt`, preprocess.resize_short =
base) and scored the way `segtool eval` scores (full-resolution labels), so its number is directly
comparable with a `segtool train` run's.

Usage:
    OMP_NUM_THREADS=1 python benchmarks/train_reference.py /work/shared/data/camvid -o /tmp/runs/ref \
        --backbone mobilenet_v3_large --base-size 180 --crop-size 240 --batch-size 8 --epochs 10
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torchvision.transforms import InterpolationMode, RandomCrop
from torchvision.transforms import functional as TF

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from segtool.models import Checkpoint, build_deeplabv3, default_preprocess, make_classes, save_checkpoint  # noqa: E402
from segtool.training.data import open_dataset  # noqa: E402
from segtool.training.metrics import ConfusionMatrix, report_dict  # noqa: E402

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


# -- references/segmentation/transforms.py ---------------------------------------------------------


def pad_if_smaller(img: Image.Image, size: int, fill: int = 0) -> Image.Image:
    min_size = min(img.size)
    if min_size < size:
        ow, oh = img.size
        padh = size - oh if oh < size else 0
        padw = size - ow if ow < size else 0
        img = TF.pad(img, (0, 0, padw, padh), fill=fill)
    return img


class Compose:
    def __init__(self, transforms):
        self.transforms = transforms

    def __call__(self, image, target):
        for t in self.transforms:
            image, target = t(image, target)
        return image, target


class RandomResize:
    def __init__(self, min_size: int, max_size: int | None = None):
        self.min_size = min_size
        self.max_size = min_size if max_size is None else max_size

    def __call__(self, image, target):
        size = random.randint(self.min_size, self.max_size)
        image = TF.resize(image, size, antialias=True)
        target = TF.resize(target, size, interpolation=InterpolationMode.NEAREST)
        return image, target


class RandomHorizontalFlip:
    def __init__(self, flip_prob: float):
        self.flip_prob = flip_prob

    def __call__(self, image, target):
        if random.random() < self.flip_prob:
            image = TF.hflip(image)
            target = TF.hflip(target)
        return image, target


class RandomCropPair:
    def __init__(self, size: int):
        self.size = size

    def __call__(self, image, target):
        image = pad_if_smaller(image, self.size)
        target = pad_if_smaller(target, self.size, fill=255)
        crop_params = RandomCrop.get_params(image, (self.size, self.size))
        image = TF.crop(image, *crop_params)
        target = TF.crop(target, *crop_params)
        return image, target


class PILToTensor:
    def __call__(self, image, target):
        image = TF.pil_to_tensor(image)
        target = torch.as_tensor(np.array(target), dtype=torch.int64)
        return image, target


class ToDtype:
    def __init__(self, dtype, scale: bool = False):
        self.dtype, self.scale = dtype, scale

    def __call__(self, image, target):
        if not self.scale:
            return image.to(dtype=self.dtype), target
        return TF.convert_image_dtype(image, self.dtype), target


class Normalize:
    def __init__(self, mean, std):
        self.mean, self.std = mean, std

    def __call__(self, image, target):
        return TF.normalize(image, mean=self.mean, std=self.std), target


# -- references/segmentation/presets.py ------------------------------------------------------------


def preset_train(base_size: int, crop_size: int, hflip_prob: float = 0.5) -> Compose:
    trans = [RandomResize(int(0.5 * base_size), int(2.0 * base_size))]
    if hflip_prob > 0:
        trans.append(RandomHorizontalFlip(hflip_prob))
    trans += [
        RandomCropPair(crop_size),
        PILToTensor(),
        ToDtype(torch.float, scale=True),
        Normalize(MEAN, STD),
    ]
    return Compose(trans)


def preset_eval(base_size: int) -> Compose:
    return Compose(
        [
            RandomResize(base_size, base_size),
            PILToTensor(),
            ToDtype(torch.float, scale=True),
            Normalize(MEAN, STD),
        ]
    )


# -- dataset (segtool's importer, PIL pairs as torchvision's datasets give them) --------------------


class Pairs(torch.utils.data.Dataset):
    def __init__(self, data, samples, transforms):
        self.data, self.samples, self.transforms = data, samples, transforms

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i):
        s = self.samples[i]
        image = Image.fromarray(self.data.load_image(s))
        target = Image.fromarray(self.data.load_mask(s))  # uint8 ids, void = 255 ("L" mode)
        return self.transforms(image, target)


def cat_list(images, fill_value: int = 0) -> torch.Tensor:
    max_size = tuple(max(s) for s in zip(*[img.shape for img in images]))
    batch_shape = (len(images),) + max_size
    batched = images[0].new(*batch_shape).fill_(fill_value)
    for img, pad_img in zip(images, batched):
        pad_img[..., : img.shape[-2], : img.shape[-1]].copy_(img)
    return batched


def collate_fn(batch):
    images, targets = list(zip(*batch))
    return cat_list(images, fill_value=0), cat_list(targets, fill_value=255)


# -- references/segmentation/train.py --------------------------------------------------------------


def criterion(inputs: dict, target: torch.Tensor) -> torch.Tensor:
    losses = {name: F.cross_entropy(x, target, ignore_index=255) for name, x in inputs.items()}
    if len(losses) == 1:
        return losses["out"]
    return losses["out"] + 0.5 * losses["aux"]


def evaluate(model, data_loader, device, num_classes: int) -> ConfusionMatrix:
    model.eval()
    confmat = ConfusionMatrix(num_classes)
    with torch.inference_mode():
        for image, target in data_loader:
            image, target = image.to(device), target.to(device)
            output = model(image)["out"]
            confmat.update(output.argmax(1).flatten(), target.flatten())
    return confmat


def train_one_epoch(
    model, criterion, optimizer, data_loader, lr_scheduler, device
) -> tuple[float, int, float]:
    """Returns (mean loss, images, seconds) of the epoch."""
    model.train()
    loss_sum, steps, images, t0 = 0.0, 0, 0, time.perf_counter()
    for image, target in data_loader:
        image, target = image.to(device), target.to(device)
        output = model(image)
        loss = criterion(output, target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        lr_scheduler.step()
        loss_sum += loss.item()
        steps += 1
        images += image.shape[0]
    return loss_sum / max(steps, 1), images, time.perf_counter() - t0


def build_optimizer(model, lr: float, momentum: float, weight_decay: float) -> torch.optim.SGD:
    params_to_optimize = [
        {"params": [p for p in model.backbone.parameters() if p.requires_grad]},
        {"params": [p for p in model.classifier.parameters() if p.requires_grad]},
    ]
    if model.aux_classifier is not None:
        params = [p for p in model.aux_classifier.parameters() if p.requires_grad]
        params_to_optimize.append({"params": params, "lr": lr * 10})
    return torch.optim.SGD(params_to_optimize, lr=lr, momentum=momentum, weight_decay=weight_decay)


def full_resolution_report(model, data, samples, base_size: int, device) -> dict:
    """Score as `segtool eval` does: image resized to `base`, logits upsampled to the label's size."""
    from segtool.training.engine import evaluate as segtool_evaluate
    from segtool.training.transforms import EvalSamples, collate_list

    loader = torch.utils.data.DataLoader(EvalSamples(data, samples), batch_size=1, collate_fn=collate_list)
    r = segtool_evaluate(
        model,
        loader,
        device,
        num_classes=data.num_classes,
        preprocess_cfg=default_preprocess(base_size),
        ignore_index=data.ignore_index,
    )
    return report_dict(r.matrix, data.class_names, r.images)


def recalibrate_bn(model, data_loader, batches: int, device) -> None:
    """Diagnostic, not part of their recipe: recompute every BatchNorm's running statistics as the plain
    average over `batches` training batches (torchvision's MobileNetV3 uses momentum 0.01, whose running
    statistics lag behind a network trained from scratch for a few epochs)."""
    bns = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative average
    model.train()
    with torch.no_grad():
        for k, (image, _) in enumerate(data_loader):
            if k == batches:
                break
            model(image.to(device))
    model.eval()


def score_checkpoint(args) -> int:
    """--score CKPT: full-resolution val mIoU of a checkpoint as saved, then with recalibrated BN."""
    from segtool.models import load_checkpoint
    from segtool.models.deeplab import build_from_config

    device = torch.device(args.device)
    ckpt = load_checkpoint(args.score)
    model = build_from_config(ckpt.config)
    model.load_state_dict(ckpt.state_dict)
    model.to(device).eval()
    data = open_dataset(args.data, images=args.images, val_fraction=0.2, seed=args.seed)
    val_s = data.split("val")[: args.limit or None]
    base = ckpt.preprocess.get("resize_short") or args.base_size
    random.seed(args.seed)
    torch.manual_seed(args.seed)
    loader = torch.utils.data.DataLoader(
        Pairs(data, data.split("train"), preset_train(base, args.crop_size)),
        batch_size=args.batch_size,
        shuffle=True,
        collate_fn=collate_fn,
        drop_last=True,
    )
    rows = {"as saved": full_resolution_report(model, data, val_s, base, device)}
    recalibrate_bn(model, loader, args.recalibrate_batches, device)
    rows[f"BN recalibrated ({args.recalibrate_batches} batches)"] = full_resolution_report(
        model, data, val_s, base, device
    )
    print(f"{args.score}: val at full resolution, eval size {base}")
    for k, r in rows.items():
        per = " ".join(f"{n} {v:.3f}" if v is not None else f"{n} -" for n, v in r["per_class_iou"].items())
        print(f"  {k:32s} mIoU {r['miou']:.4f} pixel acc {r['pixel_accuracy']:.4f} | {per}")
    if args.output:
        Path(args.output).write_text(
            json.dumps({k: {**r, "confusion_matrix": None} for k, r in rows.items()}, indent=2) + "\n"
        )
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", help="dataset (any form segtool reads); its val split is evaluated")
    ap.add_argument(
        "-o", "--output", help="run folder: history.json, report.json, model.pt (with --score: a .json)"
    )
    ap.add_argument("--images", help="image folder for CVAT exports")
    ap.add_argument("--backbone", default="mobilenet_v3_large")
    ap.add_argument("--output-stride", type=int, default=16)
    ap.add_argument("--no-aux", action="store_true", help="no auxiliary head (their --aux-loss off)")
    ap.add_argument(
        "--base-size", type=int, default=520, help="eval shorter side; train scales 0.5-2.0 x this"
    )
    ap.add_argument("--crop-size", type=int, default=480)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--lr", type=float, default=0.01)
    ap.add_argument("--momentum", type=float, default=0.9)
    ap.add_argument("--weight-decay", type=float, default=1e-4)
    ap.add_argument("--workers", type=int, default=0)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: leave as OMP_NUM_THREADS says)")
    ap.add_argument("--limit", type=int, default=0, help="debug: the first N train and N val images only")
    ap.add_argument(
        "--score",
        metavar="CKPT",
        help="diagnostic: score a segtool checkpoint as saved and with BatchNorm "
        "statistics recomputed on --recalibrate-batches training batches; trains nothing",
    )
    ap.add_argument("--recalibrate-batches", type=int, default=20)
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.score:
        return score_checkpoint(args)
    if not args.output:
        ap.error("-o RUN is required")
    device = torch.device(args.device)
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)

    data = open_dataset(args.data, images=args.images, val_fraction=0.2, seed=args.seed)
    train_s, val_s = data.split("train"), data.split("val")
    if args.limit:
        train_s, val_s = train_s[: args.limit], val_s[: args.limit]
    torch.manual_seed(args.seed)  # the same initial weights as `segtool train --seed`
    model = build_deeplabv3(
        backbone=args.backbone,
        num_classes=data.num_classes,
        output_stride=args.output_stride,
        aux_head=not args.no_aux,
    ).to(device)
    random.seed(args.seed)
    np.random.seed(args.seed)

    dataset = Pairs(data, train_s, preset_train(args.base_size, args.crop_size))
    dataset_test = Pairs(data, val_s, preset_eval(args.base_size))
    g = torch.Generator().manual_seed(args.seed)
    data_loader = torch.utils.data.DataLoader(
        dataset,
        batch_size=args.batch_size,
        sampler=torch.utils.data.RandomSampler(dataset, generator=g),
        num_workers=args.workers,
        collate_fn=collate_fn,
        drop_last=True,
    )
    data_loader_test = torch.utils.data.DataLoader(
        dataset_test, batch_size=1, num_workers=args.workers, collate_fn=collate_fn
    )

    optimizer = build_optimizer(model, args.lr, args.momentum, args.weight_decay)
    iters_per_epoch = len(data_loader)
    lr_scheduler = torch.optim.lr_scheduler.PolynomialLR(
        optimizer, total_iters=iters_per_epoch * args.epochs, power=0.9
    )

    print(
        f"reference recipe: {args.backbone} OS{args.output_stride}, {len(train_s)} train / {len(val_s)} val, "
        f"crop {args.crop_size}, base {args.base_size}, batch {args.batch_size}, {iters_per_epoch} it/epoch, "
        f"{args.epochs} epochs, {device} ({torch.get_num_threads()} threads)",
        flush=True,
    )
    history = []
    t_start = time.perf_counter()
    train_images = train_seconds = 0.0
    for epoch in range(args.epochs):
        loss, n, secs = train_one_epoch(model, criterion, optimizer, data_loader, lr_scheduler, device)
        train_images += n
        train_seconds += secs
        t = time.perf_counter()
        cm = evaluate(model, data_loader_test, device, data.num_classes)
        r = cm.compute()
        row = {
            "epoch": epoch + 1,
            "train_loss": round(loss, 6),
            "miou": r["miou"],
            "pixel_accuracy": r["pixel_accuracy"],
            "lr": optimizer.param_groups[0]["lr"],
            "train_seconds": round(secs, 2),
            "eval_seconds": round(time.perf_counter() - t, 2),
            "images_per_s": round(n / secs, 3),
        }
        history.append(row)
        print(
            f"epoch {epoch + 1}/{args.epochs}: train_loss {loss:.4f} mIoU {r['miou']:.4f} (labels at base size) "
            f"pixel acc {r['pixel_accuracy']:.4f} lr {row['lr']:.3g} {secs:.0f} s {n / secs:.2f} img/s",
            flush=True,
        )
        (out / "history.json").write_text(json.dumps(history, indent=2) + "\n")
    wall = time.perf_counter() - t_start

    their = report_dict(cm, data.class_names, len(val_s))
    full = full_resolution_report(model, data, val_s, args.base_size, device)
    classes = make_classes(data.class_names, [list(c.color) for c in data.classes])
    model.cpu()
    save_checkpoint(
        Checkpoint(
            config=model.config,
            classes=classes,
            state_dict=model.state_dict(),
            preprocess=default_preprocess(args.base_size),
            ignore_index=data.ignore_index,
            train={
                "recipe": "torchvision references/segmentation (benchmarks/train_reference.py)",
                "config": vars(args),
                "epochs": args.epochs,
                "seconds": round(wall, 1),
            },
        ),
        out / "model.pt",
    )
    report = {
        "recipe": "torchvision-reference",
        "config": vars(args),
        "wall_seconds": round(wall, 1),
        "train_seconds": round(train_seconds, 1),
        "train_images_per_s": round(train_images / train_seconds, 3),
        "machine": f"{platform.machine()} {platform.processor()}, torch {torch.__version__}, {torch.get_num_threads()} threads",
        "eval_at_base_size": their,
        "eval_full_resolution": full,
    }
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    print(
        f"done in {wall:.0f} s ({train_images / train_seconds:.2f} train img/s); mIoU {their['miou']:.4f} with labels "
        f"resized to {args.base_size} (theirs), {full['miou']:.4f} at full resolution (segtool eval)"
    )
    for name in data.class_names:
        a, b = their["per_class_iou"][name], full["per_class_iou"][name]
        print(f"  {name:12s} {a if a is None else round(a, 4)!s:>8} {b if b is None else round(b, 4)!s:>8}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
