"""`segtool import-weights STATE_DICT --backbone B --classes a,b -o CKPT`."""

from __future__ import annotations

import argparse
from pathlib import Path


def _ints(text: str) -> list[int]:
    try:
        return [int(x) for x in text.replace("/", ",").split(",") if x.strip()]
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"{text!r} is not a list of integers such as 12,24,36") from e


def _floats(text: str) -> list[float]:
    try:
        return [float(x) for x in text.split(",")]
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"{text!r} is not three numbers such as 0.485,0.456,0.406") from e


def add_parser(sub) -> None:
    from segtool.models.config import BACKBONES  # torch-free module

    p = sub.add_parser(
        "import-weights",
        help="convert a plain state dict (torchvision, notebooks) into a segtool checkpoint",
        description="Convert a plain DeepLabV3 state dict in torchvision's layout (torchvision's published files, "
        "or torch.save(model.state_dict()) from a notebook) into a self-describing segtool checkpoint. "
        "Defaults reproduce torchvision's configuration: ASPP rates 12/24/36, output stride 8 for ResNets and 16 "
        "for MobileNetV3, ImageNet mean/std, shorter side resized to 520 px.",
    )
    p.add_argument("state_dict", help="the .pth file holding the state dict")
    p.add_argument("--backbone", required=True, choices=BACKBONES, help="the network the weights belong to")
    p.add_argument(
        "--classes",
        required=True,
        help="class names in output order, comma-separated (or 'voc' for torchvision's 21)",
    )
    p.add_argument(
        "--colors",
        help="one colour per class: 'R,G,B;R,G,B;…' or '#rrggbb;…' (default: VOC palette, class 0 black)",
    )
    p.add_argument("-o", "--output", required=True, help="checkpoint file to write (.pt)")
    p.add_argument("--output-stride", type=int, choices=(8, 16), help="override the output stride")
    p.add_argument("--aspp-rates", type=_ints, help="override the three ASPP rates, e.g. 6,12,18")
    p.add_argument("--multi-grid", type=_ints, help="unit rates of the last ResNet stage, e.g. 1,2,4")
    p.add_argument("--decoder", choices=("none", "v3plus"), help="decoder (default: detected from the keys)")
    p.add_argument("--mean", type=_floats, help="input normalisation mean (default ImageNet)")
    p.add_argument("--std", type=_floats, help="input normalisation std (default ImageNet)")
    p.add_argument(
        "--resize-short",
        type=int,
        default=520,
        help="shorter side fed to the network; 0 = native size (default 520)",
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from segtool.models.checkpoint import IMAGENET_MEAN, IMAGENET_STD, save_checkpoint
    from segtool.models.classes import parse_class_names, parse_colors
    from segtool.models.import_weights import import_state_dict

    names = parse_class_names(args.classes)
    colors = parse_colors(args.colors) if args.colors else None
    preprocess = {
        "mean": args.mean or IMAGENET_MEAN,
        "std": args.std or IMAGENET_STD,
        "resize_short": args.resize_short or None,
    }
    ckpt, notes = import_state_dict(
        args.state_dict,
        backbone=args.backbone,
        class_names=names,
        colors=colors,
        output_stride=args.output_stride,
        aspp_rates=args.aspp_rates,
        multi_grid=args.multi_grid,
        decoder=args.decoder,
        preprocess=preprocess,
    )
    out = save_checkpoint(ckpt, Path(args.output))
    for note in notes:
        print(f"note: {note}")
    c = ckpt.config
    print(
        f"wrote {out}: {c.backbone}, output stride {c.output_stride}, ASPP {'/'.join(map(str, c.aspp_rates))}, "
        f"{len(names)} classes ({', '.join(names[:6])}{', …' if len(names) > 6 else ''})"
    )
    return 0
