"""`segtool demo`: the built-in demo's files, and synthetic rock data for training and tests.

    segtool demo                          where the demo model and clip are, and commands to try
    segtool demo --clip                   print the demo clip's path (generating it on first use)
    segtool demo --checkpoint             print the demo model's path
    segtool demo --write-clip OUT.mp4 [--labels DIR] [--seed S --frames N --size WxH --fps F]
    segtool demo --make-data DIR [--train N --val N --seed S --size WxH --veins]
    segtool demo --pack RUN/last.pt OUT.pt [--bn-data DIR]   float16 copy, BatchNorm statistics recomputed
                                          (how assets/demo_rocks.pt is made; see docs/demo.md)

`--clip` and `--checkpoint` print only the path, so they compose:
    segtool predict "$(segtool demo --clip)" -c "$(segtool demo --checkpoint)" -o demo_masks --overlay
"""

from __future__ import annotations

import argparse
import sys


def add_parser(sub) -> None:
    p = sub.add_parser(
        "demo",
        help="the built-in demo (model + synthetic rock clip) and synthetic training data",
        description="Show where the built-in demo's model and synthetic rock clip are (the clip is generated into "
        "the cache on first use: $SEGTOOL_CACHE, $XDG_CACHE_HOME/segtool or ~/.cache/segtool), or generate "
        "synthetic labelled rock pictures. See docs/demo.md.",
        epilog="Exit codes: 0 done; 2 bad usage or unwritable output; 130 interrupted.",
    )
    what = p.add_mutually_exclusive_group()
    what.add_argument(
        "--clip", action="store_true", help="print the demo clip's path (generating it if needed)"
    )
    what.add_argument("--checkpoint", action="store_true", help="print the demo model's path")
    what.add_argument(
        "--write-clip", metavar="OUT.mp4", help="generate a synthetic rock clip (H.264) at OUT.mp4"
    )
    what.add_argument(
        "--make-data",
        metavar="DIR",
        help="write a labelled training set (train/ and val/ images+masks, classes.json)",
    )
    what.add_argument(
        "--pack",
        nargs=2,
        metavar=("CKPT", "OUT"),
        help="copy a checkpoint with float16 weights (about half the size; loads as float32)",
    )
    p.add_argument(
        "--bn-data",
        metavar="DIR",
        help="with --pack: recompute BatchNorm statistics on the images under DIR with the final weights",
    )
    p.add_argument("--bn-images", type=int, default=400, help="with --bn-data: images to use (default 400)")
    p.add_argument(
        "--labels", metavar="DIR", help="with --write-clip: also write each frame's label (DIR/000000.png …)"
    )
    p.add_argument("--train", type=int, default=800, help="with --make-data: training pictures (default 800)")
    p.add_argument("--val", type=int, default=100, help="with --make-data: validation pictures (default 100)")
    p.add_argument(
        "--seed",
        type=int,
        default=None,
        help="random seed (default 0; a different seed gives different pictures)",
    )
    p.add_argument("--size", default="480x270", help="picture size WxH (default 480x270)")
    p.add_argument("--frames", type=int, default=250, help="with --write-clip: frames (default 250)")
    p.add_argument("--fps", type=int, default=25, help="with --write-clip: frame rate (default 25)")
    p.add_argument(
        "--veins",
        action="store_true",
        help="with --make-data: add a third class, quartz veins across some rocks",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=run)


def _size(text: str) -> tuple[int, int]:
    from segtool.base.errors import UserInputError

    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise UserInputError(f"--size {text!r}: use WIDTHxHEIGHT, e.g. 480x270") from None
    if w < 32 or h < 32 or w % 2 or h % 2:
        raise UserInputError(f"--size {text!r}: width and height must be even and at least 32")
    return w, h


def _write_error(target: str, e: OSError, option: str) -> str:
    """What went wrong writing under `target`, and what to do: names a file standing where a folder is needed."""
    from pathlib import Path

    for p in (Path(target), *Path(target).parents):
        if p.exists() and not p.is_dir():
            return (
                f"cannot write {target}: {str(p)!r} is a file, not a folder; move or rename that file, "
                f"or give {option} a path where only folders stand"
            )
    return f"cannot write {target}: {e.strerror or e}; give {option} a folder you can write (with free space)"


def _bar(total: int, desc: str, quiet: bool):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="frame", disable=quiet, file=sys.stderr, leave=False)


def run(args: argparse.Namespace) -> int:
    from segtool import demo
    from segtool.base.errors import UserInputError

    for name in ("train", "val", "frames", "fps"):
        if getattr(args, name) < (0 if name in ("train", "val") else 1):
            raise UserInputError(f"--{name} {getattr(args, name)}: use a positive number")
    size = _size(args.size)
    seed = 0 if args.seed is None else args.seed
    if args.checkpoint:
        print(demo.demo_checkpoint())
        return 0
    if args.clip:
        path = demo.demo_clip_path()
        if not path.is_file():
            with _bar(demo.DEMO_CLIP.frames, "generating the demo clip", args.quiet) as bar:
                path = demo.ensure_demo_clip(progress=lambda done, total: bar.update(done - bar.n))
        print(path)
        return 0
    if args.write_clip:
        spec = demo.ClipSpec(seed=seed, width=size[0], height=size[1], frames=args.frames, fps=args.fps)
        with _bar(spec.frames, "generating", args.quiet) as bar:
            demo.write_clip(
                args.write_clip, spec, labels=args.labels, progress=lambda d, t: bar.update(d - bar.n)
            )
        print(args.write_clip)
        return 0
    if args.make_data:
        from segtool.demo_footage import write_dataset

        if args.train + args.val == 0:
            raise UserInputError("--train 0 --val 0 writes nothing; ask for some pictures")
        with _bar(args.train + args.val, "generating", args.quiet) as bar:
            try:
                write_dataset(
                    args.make_data,
                    args.train,
                    args.val,
                    size=size,
                    seed=seed,
                    veins=args.veins,
                    progress=lambda d, t: bar.update(d - bar.n),
                )
            except OSError as e:
                raise UserInputError(_write_error(args.make_data, e, "--make-data DIR")) from e
        print(f"wrote {args.train} training and {args.val} validation pictures to {args.make_data}")
        return 0
    if args.pack:
        return _pack(*args.pack, bn_data=args.bn_data, bn_images=args.bn_images, quiet=args.quiet)
    ckpt = demo.demo_checkpoint()
    clip = demo.demo_clip_path()
    print(f"demo model: {ckpt}")
    print(
        f"demo clip:  {clip}" + ("" if clip.is_file() else "  (generated on first use: segtool demo --clip)")
    )
    print("try:")
    print("  segtool                      # the app plays the demo")
    print(
        '  segtool predict "$(segtool demo --clip)" -c "$(segtool demo --checkpoint)" -o demo_masks --overlay'
    )
    return 0


def _pack(
    src: str, dst: str, *, bn_data: str | None = None, bn_images: int = 400, quiet: bool = False
) -> int:
    """Write `src` again with float16 weight matrices (a `last.pt`'s resume state is not carried over),
    optionally with BatchNorm statistics recomputed on `bn_data` first (`recompute_bn_stats`)."""
    from pathlib import Path

    from segtool.base.errors import UserInputError
    from segtool.models.checkpoint import load_checkpoint, save_checkpoint

    ckpt = load_checkpoint(src)
    info = {"packed_from": Path(src).name}
    if bn_data:
        exts = {".jpg", ".jpeg", ".png"}
        files = sorted(
            p for p in Path(bn_data).rglob("*") if p.suffix.lower() in exts and "masks" not in p.parts
        )
        if not files:
            raise UserInputError(
                f"--bn-data {bn_data}: no .jpg/.png images found under it (masks/ folders are skipped)"
            )
        files = files[:bn_images]
        with _bar(len(files), "BatchNorm statistics", quiet) as bar:
            ckpt.state_dict = recompute_bn_stats(ckpt, files, progress=lambda n: bar.update(n))
        info["bn_recomputed_on"] = f"{len(files)} images of {bn_data}"
        if ckpt.confidence_reference is not None:  # measured with the old statistics: no longer this model's
            ckpt.confidence_reference = None
            print(
                "note: the confidence reference was measured before the BatchNorm statistics changed and is "
                f"left out; measure it again: segtool info {dst} --add-confidence-reference VAL_IMAGES -o OUT.pt"
            )
    ckpt.train = {**(ckpt.train or {}), **info}
    save_checkpoint(ckpt, dst, half=True)
    print(f"{dst}: {Path(dst).stat().st_size / 1e6:.2f} MB (from {Path(src).stat().st_size / 1e6:.2f} MB)")
    return 0


def recompute_bn_stats(ckpt, files: list, batch_size: int = 8, progress=None) -> dict:
    """BatchNorm running statistics recomputed as exact averages over `files`, with the weights frozen
    ("precise BN", Wu & Johnson 2021; Detectron's PreciseBN).

    Why: torchvision's MobileNetV3 BatchNorm layers use momentum 0.01, so their running statistics
    average the last ~100 training steps. When the weights still move fast (training from scratch),
    those averages describe older weights; through 50 layers the mismatch compounds, and in eval mode
    the network can predict one class everywhere although training-mode outputs are right. Recomputing
    the statistics for the final weights fixes that without changing a single weight.
    """
    import cv2
    import numpy as np
    import torch

    from segtool.models.preprocess import preprocess

    # Training mode runs the auxiliary head too (its statistics are renewed as well); no dropout sits
    # before a BatchNorm layer, and no_grad keeps every weight as it is.
    model = ckpt.build_model().train()
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.reset_running_stats()
            m.momentum = None  # cumulative average over every batch seen
    with torch.no_grad():
        for i in range(0, len(files), batch_size):
            chunk = files[i : i + batch_size]
            imgs = [cv2.cvtColor(cv2.imread(str(f)), cv2.COLOR_BGR2RGB) for f in chunk]
            sizes = {im.shape for im in imgs}
            groups = [[im for im in imgs if im.shape == s] for s in sizes]
            for g in groups:
                x = torch.from_numpy(np.stack(g)).permute(0, 3, 1, 2)
                model(preprocess(x, ckpt.preprocess))
            if progress is not None:
                progress(len(chunk))
    return {k: v.detach().clone() for k, v in model.state_dict().items()}
