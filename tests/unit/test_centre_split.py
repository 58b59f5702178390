"""The learned centre split (issue 20): fragment outlines → 4 classes with rock_centre (the core of every
fragment), the split that seeds one fragment per core, the checkpoint's `"split": "centre"`, old 3-class
checkpoints unchanged, and `segtool fragments` on a tiny 4-class checkpoint."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch
from PIL import Image

from segtool.base.errors import CheckpointError, UserInputError
from segtool.cli import main
from segtool.core.fragments import FragmentSettings, FragmentSpec, analyse_prediction
from segtool.core.fragments import split as split_mod
from segtool.core.fragments.split import relabel_sequential, split_with_centres, split_with_edges
from segtool.models import Checkpoint, load_checkpoint, save_checkpoint
from segtool.models.classes import make_classes
from segtool.models.deeplab import build_deeplabv3
from segtool.training.data.instances import (
    FRAGMENT_CLASSES_CENTRE,
    InstanceOptions,
    centre_core,
    instances_to_classes,
)
from segtool.training.finetune import kept_fragments
from segtool.training.trainer import fragments_entry

CENTRE = {"interior": "rock", "edge": "rock_edge", "centre": "rock_centre", "split": "centre"}
NAMES4 = [c.name for c in FRAGMENT_CLASSES_CENTRE]


def _square_and_line() -> np.ndarray:
    """A 9x9 fragment (rows/cols 1-9) and a 1-px-thick fragment (row 12, cols 2-8) on 14x12 background."""
    inst = np.zeros((14, 12), np.int32)
    inst[1:10, 1:10] = 1
    inst[12, 2:9] = 2
    return inst


def test_instances_to_four_classes_exact_cores():
    inst = _square_and_line()
    # Edge 1 px: the square's outline is its outer ring; its deepest pixel (5, 5) is 4 px from it, so
    # f = 0.5 keeps the pixels >= 2 px in: rows/cols 3-7. The line is all outline (deepest 0 px): its
    # core is all of it, drawn over the edge — every fragment gets a core.
    ids = instances_to_classes(inst, edge_width=1, centre=0.5)
    want = np.zeros(inst.shape, np.uint8)
    want[1:10, 1:10] = 2
    want[2:9, 2:9] = 1
    want[3:8, 3:8] = 3
    want[12, 2:9] = 3
    np.testing.assert_array_equal(ids, want)
    # Edge 3 px: the core stays inside the band (>= 3 px in: rows/cols 4-6), whatever the fraction.
    ids = instances_to_classes(inst, edge_width=3, centre=0.5)
    want = np.zeros(inst.shape, np.uint8)
    want[1:10, 1:10] = 2
    want[4:7, 4:7] = 3
    want[12, 2:9] = 3
    np.testing.assert_array_equal(ids, want)
    # f = 0.9 of 4 px: only the pixels 3.6 px in or more, i.e. the centre pixel alone at edge 1.
    core = centre_core(inst, 0.9, 1.0)
    assert core[1:10, 1:10].sum() == 1 and core[5, 5]
    # Without centre: the 3 classes, exactly as before.
    ids3 = instances_to_classes(inst, edge_width=1)
    want3 = np.zeros(inst.shape, np.uint8)
    want3[1:10, 1:10] = 2
    want3[2:9, 2:9] = 1
    want3[12, 2:9] = 2
    np.testing.assert_array_equal(ids3, want3)
    with pytest.raises(UserInputError, match="centre fraction"):
        InstanceOptions(centre=1.5).validate()


def _bridged_discs() -> tuple[np.ndarray, np.ndarray]:
    """(4-class prediction, truth ids) of two touching discs whose interiors join through a bridge."""
    yy, xx = np.mgrid[:40, :70]
    truth = np.zeros((40, 70), np.int32)
    truth[(yy - 20) ** 2 + (xx - 20) ** 2 <= 13**2] = 1
    truth[((yy - 20) ** 2 + (xx - 47) ** 2 <= 13**2) & (truth == 0)] = 2
    ids = instances_to_classes(truth, edge_width=2, centre=0.5)
    bridge = (abs(yy - 20) <= 2) & (xx >= 29) & (xx <= 38)  # the model calls the contact "rock"
    ids[bridge & (ids == 2)] = 1
    return ids.astype(np.uint8), truth


@pytest.mark.parametrize("flood", ["distance", "flat", "hybrid"])
def test_centre_split_separates_discs_the_edge_split_merges(flood):
    ids, truth = _bridged_discs()
    rock = ids > 0
    edges = split_with_edges((ids == 1) | (ids == 3), rock)
    assert len(np.unique(edges[edges > 0])) == 1  # the bridge joins the interiors: one seed, one fragment
    labels = split_with_centres(ids == 3, rock, ids == 2, flood)
    frag = np.unique(labels[labels > 0])
    assert len(frag) == 2
    for k in (1, 2):
        best = max(((labels == f) & (truth == k)).sum() / ((labels == f) | (truth == k)).sum() for f in frag)
        assert best > 0.85, (flood, k, best)
    # the same through the class-id entry point every caller uses
    spec = FragmentSpec.from_checkpoint(CENTRE, NAMES4)
    assert (spec.interior_id, spec.edge_id, spec.centre_id) == (1, 2, 3)
    assert spec.method == "centre-seeded watershed"
    r = analyse_prediction(ids, None, spec, FragmentSettings(min_size_px=0, include_border=True))
    assert len(r.table) == 2
    assert (r.labels > 0).sum() == rock.sum()  # every rock pixel in a fragment


def test_centre_split_seedless_rock_and_small_seeds():
    rock = np.zeros((20, 30), bool)
    rock[2:8, 2:8] = True  # a rock whose core the model missed: a fragment of its own
    rock[10:18, 10:28] = True
    centre = np.zeros_like(rock)
    centre[13:15, 13:15] = True
    centre[13:15, 23:25] = True
    centre[11, 19] = True  # one-pixel speckle
    assert len(np.unique(split_with_centres(centre, rock, min_seed_px=1))) - 1 == 4
    labels = split_with_centres(centre, rock, min_seed_px=2)
    assert len(np.unique(labels)) - 1 == 3
    assert (labels > 0).sum() == rock.sum()
    assert not split_with_centres(np.zeros_like(rock), np.zeros_like(rock)).any()


def _unequal_discs() -> tuple[np.ndarray, np.ndarray]:
    """(4-class prediction, truth ids) of a large and a small disc touching at column 40, their insides
    joined by a bridge across the contact (so one inside holds both cores: the watershed decides)."""
    yy, xx = np.mgrid[:44, :80]
    truth = np.zeros((44, 80), np.int32)
    truth[(yy - 22) ** 2 + (xx - 22) ** 2 <= 18**2] = 1
    truth[((yy - 22) ** 2 + (xx - 49) ** 2 <= 10**2) & (truth == 0)] = 2
    ids = instances_to_classes(truth, edge_width=2, centre=0.5)
    bridge = (abs(yy - 22) <= 3) & (xx >= 36) & (xx <= 44)
    ids[bridge & (ids == 2)] = 1
    return ids.astype(np.uint8), truth


def _iou(labels: np.ndarray, truth: np.ndarray, k: int) -> float:
    frag = np.unique(labels[labels > 0])
    return max(((labels == f) & (truth == k)).sum() / ((labels == f) | (truth == k)).sum() for f in frag)


def test_hybrid_flood_splits_unequal_discs_at_the_neck_like_the_distance_flood():
    ids, truth = _unequal_discs()
    rock = ids > 0
    assert not (ids[22, 36:45] == 2).any()  # the bridge: the insides are one piece along the middle row
    got = {f: split_with_centres(ids == 3, rock, ids == 2, f) for f in ("hybrid", "distance", "flat")}
    for flood in ("hybrid", "distance"):
        lab = got[flood]
        assert len(np.unique(lab[lab > 0])) == 2 and (lab > 0).sum() == rock.sum()
        # the seam lies at the neck (the contact is column 40): the middle row changes fragment there
        row = lab[22, 30:50]
        assert np.flatnonzero(row[1:] != row[:-1]).tolist() == [9], (flood, row)
        assert _iou(lab, truth, 1) > 0.99 and _iou(lab, truth, 2) > 0.99
    np.testing.assert_array_equal(got["hybrid"], got["distance"])
    # breadth-first flooding meets halfway between the cores instead: 2 px into the large disc
    assert _iou(got["flat"], truth, 2) < 0.95


def test_hybrid_flood_one_seed_no_seed_and_a_sliver_along_the_background():
    rock = np.zeros((30, 64), bool)
    edge = np.zeros_like(rock)
    centre = np.zeros_like(rock)
    # A and A2: rocks with one core each, their insides ringed by edge
    for x0 in (2, 24):
        rock[2:14, x0 : x0 + 12] = edge[2:14, x0 : x0 + 12] = True
        edge[4:12, x0 + 2 : x0 + 10] = False
        centre[6:10, x0 + 4 : x0 + 8] = True
    # B between them: an inside with no core, fenced off from both by edge, nearer A's inside (0 px of
    # edge of its own on A's side, 2 px on A2's). Like the edge bands, it is flooded breadth-first from
    # both (the distance flood's order after every inside with a core is done): A takes the larger part.
    rock[2:14, 14:24] = edge[2:14, 14:24] = True
    edge[4:12, 14:22] = False
    # C: a rock piece of its own with no core: a fragment of its own
    rock[20:26, 2:10] = True
    # D: a cored rock with a 1-px strip of edge along the background leading to an edge blob (E): one
    # fragment, as with the distance flood (a background marker would make the strip a seam)
    rock[18:28, 38:48] = edge[18:28, 38:48] = True
    edge[20:26, 40:46] = False
    centre[22:24, 42:44] = True
    rock[22, 48:56] = edge[22, 48:56] = True
    rock[20:25, 56:61] = edge[20:25, 56:61] = True
    got = {}
    for flood in ("hybrid", "distance"):
        lab = split_with_centres(centre, rock, edge, flood)
        assert (lab > 0).sum() == rock.sum(), flood
        a, a2 = lab[7, 7], lab[7, 29]
        assert a != a2 and (lab[2:14, 2:14] == a).all() and (lab[2:14, 26:36] == a2).all(), flood
        assert (lab[4:12, 14:18] == a).all() and (lab[4:12, 20:22] == a2).all(), flood  # B: shared
        assert len(np.unique(lab[20:26, 2:10])) == 1 and lab[20, 2] not in (a, a2), flood  # C: its own
        d = np.unique(lab[rock & (np.arange(64) >= 38)])
        assert len(d) == 1 and d[0] not in (a, a2, lab[20, 2]), flood  # D, the strip and E: one
        assert len(np.unique(lab[lab > 0])) == 4, flood
        got[flood] = lab
    # the same fragments; only the 1-px seam where two breadth-first fronts meet may fall differently
    assert (got["hybrid"] != got["distance"]).sum() <= 8
    assert split_mod.CENTRE_FLOOD == "hybrid" and "hybrid" in split_mod.CENTRE_FLOODS


def test_hybrid_flood_on_real_gravel_outlines_matches_the_distance_flood(shared_data):
    """The ceiling's setting on a real hold-out photo's outlines (labels -> 4 classes -> split): the hybrid
    flood finds the distance flood's fragments, and as many of the labelled ones."""
    from segtool.training.data.instances import read_instance_png

    truth = read_instance_png(shared_data / "rocks_dense" / "gravel" / "instances" / "6_P1060355_0.png")
    ids = instances_to_classes(truth, edge_width=3, centre=0.5)
    rock = ids > 0
    got = {f: split_with_centres(ids == 3, rock, ids == 2, f) for f in ("hybrid", "distance")}
    assert (got["hybrid"] == got["distance"])[rock].mean() > 0.97

    def found(labels: np.ndarray) -> int:  # labelled fragments matched at IoU >= 0.5
        both = (labels > 0) & (truth > 0)
        pairs, inter = np.unique(labels[both].astype(np.int64) * (1 << 20) + truth[both], return_counts=True)
        la, ta = np.bincount(labels.ravel()), np.bincount(truth.ravel())
        iou = inter / (la[pairs >> 20] + ta[pairs & ((1 << 20) - 1)] - inter)
        return int((iou >= 0.5).sum())

    n = len(np.unique(truth[truth > 0]))
    hybrid, distance = found(got["hybrid"]), found(got["distance"])
    assert n > 50 and hybrid >= 0.85 * n, (hybrid, n)
    assert abs(hybrid - distance) <= 0.02 * n, (hybrid, distance, n)  # 131 and 133 of 135 when written


def test_split_classes_reads_the_flood_at_call_time(monkeypatch):
    """benchmarks/eval_fragments.py and bench_fragments.py compare floods through the class-id entry
    point every caller uses by setting CENTRE_FLOOD: the splits must follow it."""
    ids, _truth = _unequal_discs()
    spec = FragmentSpec.from_checkpoint(CENTRE, NAMES4)
    for flood in ("flat", "distance"):
        monkeypatch.setattr(split_mod, "CENTRE_FLOOD", flood)
        np.testing.assert_array_equal(spec.split(ids), split_with_centres(ids == 3, ids > 0, ids == 2, flood))
    assert not np.array_equal(
        split_with_centres(ids == 3, ids > 0, ids == 2, "flat"),
        split_with_centres(ids == 3, ids > 0, ids == 2, "distance"),
    )


def test_checkpoint_split_roundtrip_and_old_entries(tmp_path):
    save_checkpoint(_tiny4(), tmp_path / "c.pt")
    assert load_checkpoint(tmp_path / "c.pt").fragments == CENTRE
    raw = torch.load(tmp_path / "c.pt", weights_only=True)
    for bad, match in (
        ({**CENTRE, "split": "middle"}, "split"),
        ({"interior": "rock", "edge": "rock_edge", "split": "centre"}, "centre class"),
        ({**CENTRE, "centre": "granite"}, "granite"),
    ):
        raw["fragments"] = bad
        torch.save(raw, tmp_path / "bad.pt")
        with pytest.raises(CheckpointError, match=match):
            load_checkpoint(tmp_path / "bad.pt")
    # an entry without "split" (every checkpoint before this) is the edge split, even with a centre class
    raw["fragments"] = {"interior": "rock", "edge": "rock_edge"}
    torch.save(raw, tmp_path / "old.pt")
    old = load_checkpoint(tmp_path / "old.pt")
    assert old.fragments == {"interior": "rock", "edge": "rock_edge"}
    spec = FragmentSpec.from_checkpoint(old.fragments, old.class_names)
    assert spec.centre_id is None and spec.method == "edge-seeded watershed"
    # --interior names another class: the plain distance split, no centre
    assert FragmentSpec.from_checkpoint(CENTRE, NAMES4, interior="rock_centre").centre_id is None
    # training records it: automatic for outlines with rock_centre, or from --fragments I,E,C
    assert fragments_entry("", "instances", NAMES4) == CENTRE
    assert fragments_entry("", "instances", NAMES4[:3]) == {"interior": "rock", "edge": "rock_edge"}
    assert fragments_entry("rock,rock_edge,rock_centre", "folder", NAMES4) == CENTRE
    with pytest.raises(UserInputError, match="--fragments"):
        fragments_entry("rock,rock_edge,granite", "folder", NAMES4)
    # fine-tuning keeps it while the data has the class, else falls back to the edge split and says so
    assert kept_fragments(CENTRE, NAMES4, {}) == (CENTRE, None)
    entry, note = kept_fragments(CENTRE, NAMES4[:3], {})
    assert entry == {"interior": "rock", "edge": "rock_edge"} and "rock_centre" in note


def test_old_three_class_prediction_is_split_exactly_as_before():
    rng = np.random.default_rng(3)
    ids = rng.integers(0, 3, (60, 80)).astype(np.uint8)
    ids[10:30, 10:40] = 1
    ids[10:30, 40:42] = 2
    spec = FragmentSpec.from_checkpoint({"interior": "rock", "edge": "rock_edge"}, NAMES4[:3])
    r = analyse_prediction(ids, None, spec, FragmentSettings(min_size_px=0))
    want = relabel_sequential(split_with_edges(ids == 1, (ids == 1) | (ids == 2)))
    np.testing.assert_array_equal(r.labels, want)


def _tiny4() -> Checkpoint:
    """A tiny real 4-class network (random weights, logits scaled so every class occurs) with the centre
    split's classes and entry."""
    from tests.helpers import randomize_bn_stats

    torch.manual_seed(0)
    model = randomize_bn_stats(
        build_deeplabv3(
            backbone="mobilenet_v3_large", num_classes=4, aux_head=False, width_mult=0.5, aspp_channels=32
        )
    ).eval()
    with torch.no_grad():
        model.classifier[-1].weight.mul_(50.0)
    ck = Checkpoint(
        config=model.config,
        classes=make_classes(NAMES4, [list(c.color) for c in FRAGMENT_CLASSES_CENTRE]),
        state_dict=model.state_dict(),
        fragments=dict(CENTRE),
    )
    return dataclasses.replace(ck, preprocess=dict(ck.preprocess, resize_short=None))


def test_cli_fragments_on_a_four_class_checkpoint(tmp_path, capsys):
    from segtool.core.engine import Engine

    ckpt = save_checkpoint(_tiny4(), tmp_path / "c4.pt")
    rng = np.random.default_rng(1)
    (tmp_path / "img").mkdir()
    for i in range(2):
        blocks = rng.integers(0, 255, (9, 12, 3), np.uint8).repeat(8, 0).repeat(8, 1)  # structure at 8 px
        Image.fromarray(blocks).save(tmp_path / "img" / f"p{i}.png")
    out = tmp_path / "out"
    code = main(["fragments", str(tmp_path / "img"), "-c", str(ckpt), "-o", str(out), "--instances", "-q"])
    assert code == 0, capsys.readouterr().err
    s = json.loads((out / "summary.json").read_text())
    assert s["settings"]["method"] == "centre-seeded watershed"
    capsys.readouterr()
    assert main(["info", str(ckpt)]) == 0
    assert "centre-seeded watershed, centres 'rock_centre'" in capsys.readouterr().out
    engine = Engine(str(ckpt), device="cpu", threads=1)
    spec = FragmentSpec.from_checkpoint(engine.checkpoint.fragments, engine.class_names)
    for i in range(2):
        rgb = np.asarray(Image.open(tmp_path / "img" / f"p{i}.png").convert("RGB"))
        pred = engine.predict_one(rgb)
        assert (pred.mask == 3).any() and len(np.unique(pred.mask)) >= 2  # centres and something else
        got = np.asarray(Image.open(out / "instances" / f"p{i}.png")).astype(np.int32)
        assert got.max() >= 1
        np.testing.assert_array_equal(got, relabel_sequential(spec.split(pred.mask)))
        # and it is not what the edge split of the same map gives
        assert not np.array_equal(got, relabel_sequential(split_with_edges(pred.mask == 1, pred.mask > 0)))


def test_label_set_of_a_centre_model_derives_the_cores():
    from segtool.training.data.labelset import labelset_classes, labelset_fragments

    entry = labelset_fragments({"fragments": CENTRE}, NAMES4)
    assert entry == CENTRE
    assert labelset_fragments({"fragments": CENTRE}, NAMES4[:3]) == {"interior": "rock", "edge": "rock_edge"}
    inst = _square_and_line()
    mask = np.zeros(inst.shape, np.uint8)
    mask[inst > 0] = 1
    mask[0, 11] = 3  # a centre pixel kept from a prediction, outside every outline: a core needs one
    got = labelset_classes(mask, inst, 1, 2, edge_width=1, centre=3, centre_fraction=0.5)
    want = instances_to_classes(inst, edge_width=1, centre=0.5)
    want[0, 11] = 1
    np.testing.assert_array_equal(got, want)


@pytest.mark.slow  # a real (tiny) training run: ~9 s on the loaded 2-core machine
def test_training_on_outlines_with_centres_writes_four_classes(tmp_path):
    from segtool.training.trainer import train
    from tests.helpers import tiny_config

    rng = np.random.default_rng(0)
    for split, n in (("train", 2), ("val", 1)):
        for i in range(n):
            img = rng.integers(0, 90, (64, 64, 3), np.uint8)
            inst = np.zeros((64, 64), np.uint16)
            inst[8:30, 8:30] = 1
            inst[8:30, 30:52] = 2
            img[inst > 0] += 140
            for sub, arr, ext in (("images", img, ".jpg"), ("instances", inst, ".png")):
                (tmp_path / "d" / split / sub).mkdir(parents=True, exist_ok=True)
                Image.fromarray(arr).save(tmp_path / "d" / split / sub / f"{split}{i}{ext}")
    cfg = tiny_config(
        tmp_path / "d", tmp_path / "run", epochs=1, edge_width=2, fragment_classes="edge+centre"
    )
    train(cfg)
    ck = load_checkpoint(tmp_path / "run" / "last.pt")
    assert ck.class_names == NAMES4
    assert ck.fragments == CENTRE
    with pytest.raises(UserInputError, match="--fragment-classes"):
        dataclasses.replace(cfg, fragment_classes="centre").validate()
