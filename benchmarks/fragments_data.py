"""Training folders and the fixed hold-out split for the rock-fragment model (docs/fragments.md).

    python benchmarks/fragments_data.py build OUT --sets gravel conveyor grains muckseg [--edge-width 3] [--rock-only | --centre [F]] [--unknown-outside grains]
    python benchmarks/fragments_data.py init-v3plus assets/demo_rocks.pt OUT.pt   # demo weights + a new decoder

`build` writes OUT/train/{images,masks}, OUT/val/{images,masks} (val = the hold-out below) and
OUT/classes.json, with masks derived from the fragment outlines by training/data/instances.py:
background / rock / rock_edge, 255 where nobody labelled (the conveyor's unlabelled area).
`--rock-only` writes background / rock (no edge class) for the distance-transform baseline; `--centre`
adds rock_centre (the core of every fragment, fraction F of its largest inner distance, default
instances.CENTRE_FRACTION) for the learned centre split. `--unknown-outside SET` writes 255 (unknown, not
trained on) instead of background outside every fragment of that set: the grains photos leave small
grains and the gaps between grains unlabelled, and as background they teach "small grain = background".

Hold-out (fixed by file name, never trained on; the numbers in docs/fragments.md are measured on it):
  gravel:    6_P1060355_0, 7_P1060359_3 (the last two of six)
  conveyor:  tiles whose number is divisible by 5 (image05, images0010, …): 36 of 174
  muckseg:   the bottom half (rows 2048-4095) of its one image; the top half is its training part
  grains:    the 3 of its 9 photos sorted last by name (sveg_IMG_5220, sveg_barton_creek,
             sveg_california_gravel): whole photos, each from another place than the others
  rockpiles: all 15 (no licence: test only)
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from segtool.training.data.instances import (  # noqa: E402
    CENTRE_FRACTION,
    FRAGMENT_CLASSES,
    FRAGMENT_CLASSES_CENTRE,
    coco_instances,
    instances_to_classes,
    read_instance_png,
)

# SEGTOOL_SHARED_DATA: the shared data folder when the checkout is not beside it (a git worktree)
DENSE = Path(os.environ.get("SEGTOOL_SHARED_DATA", REPO.parent / "shared" / "data")) / "rocks_dense"
GRAVEL_HOLDOUT = {"6_P1060355_0", "7_P1060359_3"}
GRAINS_HOLDOUT = {"sveg_IMG_5220", "sveg_barton_creek", "sveg_california_gravel"}
MUCK_SPLIT_ROW = 2048


def is_holdout(set_name: str, stem: str) -> bool:
    if set_name == "gravel":
        return stem in GRAVEL_HOLDOUT
    if set_name == "grains":
        return stem in GRAINS_HOLDOUT
    if set_name == "conveyor":
        m = re.search(r"(\d+)$", stem)
        return bool(m) and int(m.group(1)) % 5 == 0
    return set_name == "rockpiles"


def labelled_items(set_name: str, root: Path = DENSE):
    """(stem, rgb HxWx3, instances HxW int32, known HxW bool | None, holdout) for every labelled image.
    The conveyor's instances come from its COCO file (belt polygons = labelled background, nothing = unknown)."""
    d = root / set_name
    if set_name == "conveyor":
        for img in sorted((d / "images").glob("*.png")):
            inst, known = coco_instances(d / "coco_train.json", img.name, ("banda",))
            rgb = np.asarray(Image.open(img).convert("RGB"))
            yield img.stem, rgb, inst, known, is_holdout(set_name, img.stem)
    elif set_name == "muckseg":
        img = next((d / "images").iterdir())
        rgb = np.asarray(Image.open(img).convert("RGB"))
        inst = read_instance_png(d / "instances" / (img.stem + ".png"))
        r = MUCK_SPLIT_ROW
        yield img.stem + "_top", rgb[:r], inst[:r], None, False
        yield img.stem + "_bottom", rgb[r:], inst[r:], None, True
    elif set_name == "rockpiles":
        from skimage.measure import label

        for img in sorted((d / "images").glob("*.jpg")):
            m = np.asarray(Image.open(d / "masks" / (img.stem + ".png"))) > 0
            yield (
                img.stem,
                np.asarray(Image.open(img).convert("RGB")),
                label(m, connectivity=1).astype(np.int32),
                None,
                True,
            )
    else:
        for img in sorted((d / "images").iterdir()):
            inst = read_instance_png(d / "instances" / (img.stem + ".png"))
            yield (
                img.stem,
                np.asarray(Image.open(img).convert("RGB")),
                inst,
                None,
                is_holdout(set_name, img.stem),
            )


def build(
    out: Path,
    sets: list[str],
    edge_width: int,
    rock_only: bool,
    centre: float | None = None,
    unknown_outside: tuple[str, ...] = (),
) -> None:
    if rock_only and centre is not None:
        raise SystemExit("--rock-only and --centre exclude each other")
    classes = FRAGMENT_CLASSES[:2] if rock_only else FRAGMENT_CLASSES_CENTRE if centre else FRAGMENT_CLASSES
    for split in ("train", "val"):
        for sub in ("images", "masks"):
            (out / split / sub).mkdir(parents=True, exist_ok=True)
    counts = {"train": 0, "val": 0}
    for set_name in sets:
        for stem, rgb, inst, known, hold in labelled_items(set_name):
            if set_name in unknown_outside:
                known = np.zeros(inst.shape, bool)  # only the outlined fragments are known
            ids = instances_to_classes(inst, edge_width, known, centre=centre)
            if rock_only:
                ids[ids == 2] = 1
            split = "val" if hold else "train"
            name = f"{set_name}_{stem}"
            Image.fromarray(rgb).save(out / split / "images" / f"{name}.png")
            Image.fromarray(ids).save(out / split / "masks" / f"{name}.png")
            counts[split] += 1
    (out / "classes.json").write_text(
        json.dumps([{"name": c.name, "color": list(c.color)} for c in classes], indent=1)
    )
    print(
        f"{out}: {counts['train']} train / {counts['val']} val images ({', '.join(sets)}; edge {edge_width} px"
        + (f"; centre fraction {centre:g}" if centre else "")
        + (f"; unknown outside the fragments of {', '.join(unknown_outside)})" if unknown_outside else ")")
    )


def init_v3plus(src: Path, dst: Path, num_classes: int = 3) -> None:
    """A DeepLabV3+ (stride-4 decoder) with the backbone and ASPP of `src` and a random decoder: the
    edge band is a few pixels wide, far below the plain head's 1/16 output grid."""
    import torch

    from segtool.models.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
    from segtool.models.classes import make_classes
    from segtool.models.deeplab import build_deeplabv3

    ck = load_checkpoint(src)
    c = ck.config
    torch.manual_seed(0)
    model = build_deeplabv3(
        backbone=c.backbone,
        num_classes=num_classes,
        output_stride=c.output_stride,
        decoder="v3plus",
        aux_head=True,
        width_mult=c.width_mult,
        aspp_channels=c.aspp_channels,
    )
    own = model.state_dict()
    take = {
        k: v
        for k, v in ck.state_dict.items()
        if k in own and v.shape == own[k].shape and not k.startswith(("classifier.4", "aux"))
    }
    model.load_state_dict(take, strict=False)
    names = [x.name for x in FRAGMENT_CLASSES[:num_classes]]
    classes = make_classes(names, [list(x.color) for x in FRAGMENT_CLASSES[:num_classes]])
    save_checkpoint(
        Checkpoint(
            config=model.config, classes=classes, state_dict=model.state_dict(), preprocess=ck.preprocess
        ),
        dst,
    )
    print(f"{dst}: {len(take)} of {len(own)} tensors from {src}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build")
    b.add_argument("out")
    b.add_argument("--sets", nargs="+", default=["gravel", "conveyor"])
    b.add_argument("--edge-width", type=int, default=3)
    b.add_argument("--rock-only", action="store_true")
    b.add_argument(
        "--centre",
        nargs="?",
        type=float,
        const=CENTRE_FRACTION,
        default=None,
        metavar="F",
        help=f"4 classes: + rock_centre, the fragment cores (fraction F, default {CENTRE_FRACTION})",
    )
    b.add_argument(
        "--unknown-outside",
        nargs="+",
        default=[],
        metavar="SET",
        help="sets whose pixels outside every fragment are unknown (255), not background: grains",
    )
    i = sub.add_parser("init-v3plus")
    i.add_argument("src")
    i.add_argument("dst")
    i.add_argument("--classes", type=int, default=3)
    a = ap.parse_args()
    if a.cmd == "build":
        build(Path(a.out), a.sets, a.edge_width, a.rock_only, a.centre, tuple(a.unknown_outside))
    else:
        init_v3plus(Path(a.src), Path(a.dst), a.classes)


if __name__ == "__main__":
    main()
