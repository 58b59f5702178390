"""The scribble case of issue 19 on real data: strokes on a gravel photo, `--init assets/rock_fragments.pt`
(docs/training.md "Fine-tuning a model"). The retrained model keeps its colours, preprocessing and
`fragments` entry, config.json names its real network, and report.json scores the start."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from segtool.cli import main
from segtool.models import load_checkpoint

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def _scribbles(inst: np.ndarray) -> np.ndarray:
    """Rock strokes across the inside of the 20 largest stones, background strokes over the sand, the rest 255."""
    out = np.full(inst.shape, 255, np.uint8)
    ids, area = np.unique(inst[inst > 0], return_counts=True)
    rows = np.arange(inst.shape[0])[:, None]
    for k in ids[np.argsort(area)[-20:]]:
        inside = ndimage.binary_erosion(inst == k, iterations=4)
        ys = np.nonzero(inside.any(axis=1))[0]
        if len(ys):
            out[inside & (np.abs(rows - int(np.median(ys))) <= 3)] = 1
    out[ndimage.binary_erosion(inst == 0, iterations=6) & ((rows % 48) < 7)] = 0
    return out


def test_scribbles_on_gravel_keep_what_the_shipped_model_knew(shared_data, tmp_path, capsys):
    gravel = shared_data / "rocks_dense" / "gravel"
    data = tmp_path / "labels"
    for sub in ("images", "masks"):
        (data / sub).mkdir(parents=True)
    for stem in ("1_P1060330_1", "2_P1060338_0"):
        Image.open(gravel / "images" / f"{stem}.jpg").save(data / "images" / f"{stem}.png")
        inst = np.asarray(Image.open(gravel / "instances" / f"{stem}.png")).astype(np.int64)
        Image.fromarray(_scribbles(inst)).save(data / "masks" / f"{stem}.png")
    (data / "classes.json").write_text(json.dumps(["background", "rock", "rock_edge"]))  # names only
    start = REPO / "assets" / "rock_fragments.pt"
    run = tmp_path / "run"
    assert (
        main(
            [
                "train",
                str(data),
                "-o",
                str(run),
                "--init",
                str(start),
                "--epochs",
                "1",
                "--batch-size",
                "4",
                "--repeat",
                "4",
                "--device",
                "cpu",
                "--workers",
                "0",
                "-q",
            ]
        )
        == 0
    )
    ref = load_checkpoint(start)
    best = load_checkpoint(run / "best.pt")
    # the data's three classes keep the start's colours (rock stays (200, 120, 60)); its 4th class, the
    # centre of the learned split, is not among them, so the new model splits by edges and says so
    assert [c["color"] for c in best.classes] == [c["color"] for c in ref.classes][:3]
    assert best.preprocess["resize_short"] == ref.preprocess["resize_short"] == 448  # the start's size stays
    assert best.fragments == {"interior": "rock", "edge": "rock_edge"}
    cfg = json.loads((run / "config.json").read_text())
    net = ref.config
    assert (cfg["backbone"], cfg["width_mult"], cfg["aspp_channels"], cfg["freeze_backbone"]) == (
        net.backbone,
        net.width_mult,
        net.aspp_channels,
        True,
    )
    report = json.loads((run / "report.json").read_text())
    assert report["start"]["images"] == report["images"] == 1
    assert report["start"]["miou"] is not None
    assert report["start"]["per_class_iou"]["rock_edge"] is None  # nobody stroked the edge: not scored
    out = capsys.readouterr()
    assert "start model" in out.out
    assert "centre class 'rock_centre' is not among the data's classes" in out.out + out.err
