"""Label sets of a fragment model (issue 19): fragments stored as instances, the edge class derived from
them when training (as the instance importers derive it), never painted; round trips keep the instances;
retraining keeps the checkpoint's `fragments` entry so measuring keeps the edge-seeded split."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from segtool.core.fragments.analyse import FragmentSpec, analyse_prediction
from segtool.core.label_edit import UNKNOWN, LabelEditor
from segtool.core.labelset import LabelSet, export_cvat, import_cvat
from segtool.models import load_checkpoint
from segtool.training.data import check_dataset, open_dataset
from segtool.training.data.instances import instances_to_classes
from segtool.training.data.labelset import labelset_classes
from tests.helpers import make_fragment_checkpoint, tiny_config

FRAG = {"interior": "rock", "edge": "rock_edge"}
CLASSES = [
    {"name": "background", "color": [0, 0, 0]},
    {"name": "rock", "color": [200, 120, 60]},
    {"name": "rock_edge", "color": [255, 230, 0]},
]


def _frame(seed: int = 0, size: int = 64):
    """A photo with two touching bright fragments, their instance ids, and a mask painted as label mode does
    (fragments = rock, a background stroke, the rest unknown)."""
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 90, (size, size, 3), np.uint8)
    inst = np.zeros((size, size), np.uint16)
    inst[8:30, 8:30] = 1
    inst[8:30, 30:52] = 2
    img[inst > 0] += 140
    mask = np.full((size, size), UNKNOWN, np.uint8)
    mask[inst > 0] = 1
    mask[40:60, 4:60] = 0
    return img, inst, mask


def test_fragments_become_interior_and_the_importers_edge_band():
    _, inst, _ = _frame()
    full = np.where(inst > 0, 1, 0).astype(np.uint8)  # every pixel labelled: what an instance PNG set says
    assert np.array_equal(labelset_classes(full, inst, 1, 2), instances_to_classes(inst, 3))
    ids = labelset_classes(full, inst, 1, 2, edge_width=2)
    assert np.array_equal(ids, instances_to_classes(inst, 2))
    assert ids[8, 20] == 2  # the shared outline too
    assert ids[20, 29] == 2
    assert ids[20, 30] == 2
    assert ids[20, 20] == 1


def test_rock_without_an_outline_has_an_unknown_edge_never_background():
    mask = np.full((40, 40), UNKNOWN, np.uint8)
    mask[10:30, 5:20] = 1  # a rock brush stroke, no outline
    mask[10:30, 20:35] = 0  # background beside it
    ids = labelset_classes(mask, None, 1, 2)
    assert (ids[10:30, 17:20] == UNKNOWN).all()  # 3 px next to the background: where its edge is, unknown
    assert (ids[12:28, 5:17] == 1).all()  # rock next to unknown stays rock (no outline there)
    assert (ids[10:30, 20:35] == 0).all()
    assert ids[0, 0] == UNKNOWN
    assert not (ids == 2).any()


def test_label_set_of_a_fragment_model_records_it_and_hides_the_edge(tmp_path):
    ls = LabelSet.create(tmp_path / "L", CLASSES, fragments=FRAG)
    assert ls.fragments == FRAG
    assert ls.paintable == [0, 1]
    assert json.loads((tmp_path / "L" / "manifest.json").read_text())["fragments"] == FRAG
    img, inst, mask = _frame()
    ls.save(img, mask, source="pile.jpg", instances=inst)
    back = LabelSet.open(tmp_path / "L")
    assert back.fragments == FRAG
    saved = Image.open(tmp_path / "L" / "instances" / "pile.png")
    assert saved.mode.startswith("I")  # 16-bit ids
    assert np.array_equal(back.load_instances("pile"), inst)
    plain = LabelSet.create(tmp_path / "P", CLASSES[:2])
    assert plain.fragments is None
    assert plain.paintable == [0, 1]
    with pytest.raises(ValueError, match="16-bit"):
        ls.save(img, mask, source="pile.jpg", instances=inst[:10])
    with pytest.raises(ValueError, match="16-bit"):
        ls.save(img, mask, source="pile.jpg", instances=inst.astype(np.int32) * 70000)


def test_training_data_derives_the_edge_and_the_check_accepts_no_edge_pixels(tmp_path):
    ls = LabelSet.create(tmp_path / "L", CLASSES, fragments=FRAG)
    img, inst, mask = _frame()
    ls.save(img, mask, source="a.jpg", instances=inst)
    img2, _, mask2 = _frame(1)
    scribble = np.full_like(mask2, UNKNOWN)
    scribble[15:22, 12:25] = 1  # a rock stroke inside the fragment, no outline
    scribble[45:50, 10:50] = 0
    ls.save(img2, scribble, source="b.jpg")
    data = open_dataset(tmp_path / "L", val_fraction=0.0)
    assert data.fragments == FRAG
    a = next(s for s in data.samples if s.image.stem == "a")
    ids = data.load_mask(a)
    expect = instances_to_classes(inst, 3)
    assert np.array_equal(ids[inst > 0], expect[inst > 0])
    assert (ids[mask == 0] == 0).all()
    b = next(s for s in data.samples if s.image.stem == "b")
    assert np.array_equal(data.load_mask(b), scribble)  # no outline, far from background: as painted
    # Scribbles only (no outline anywhere): rock_edge has no pixels, and that is a note, not a warning.
    (tmp_path / "L" / "instances" / "a.png").unlink()
    rep = check_dataset(open_dataset(tmp_path / "L", val_fraction=0.0))
    assert rep.ok
    assert not [w for w in rep.warnings if "rock_edge" in w]
    assert any("rock_edge" in s and "outline fragments" in s for s in rep.summary)
    assert [c["derived"] for c in rep.classes] == [False, False, True]  # the wizard's class table says so


def test_editing_over_a_fragment_takes_pixels_out_of_it_and_undo_restores():
    ed = LabelEditor(shape=(40, 40))
    fid = ed.outline_fragment([(5, 5), (30, 5), (30, 30), (5, 30)], 1)
    assert fid == 1
    assert ed.instances[15, 15] == 1
    ed.begin_stroke(15, 15, 3, 0)  # background over the fragment
    ed.end_stroke()
    assert ed.instances[15, 15] == 0
    assert ed.instances[25, 25] == 1
    ed.begin_stroke(25, 25, 2, 1)  # its own class: the fragment stays (and no undo entry: nothing changed)
    ed.end_stroke()
    assert ed.instances[25, 25] == 1
    ed.fill_polygon([(20, 20), (35, 20), (35, 35), (20, 35)], UNKNOWN)  # erase a corner
    assert ed.instances[28, 28] == 0
    assert ed.mask[28, 28] == UNKNOWN
    ed.undo()
    ed.undo()
    assert ed.instances[15, 15] == 1
    assert ed.instances[28, 28] == 1
    assert ed.mask[15, 15] == 1
    ed.redo()
    assert ed.instances[15, 15] == 0


def test_cvat_round_trip_keeps_the_instances_and_the_fragment_setup(tmp_path):
    ls = LabelSet.create(tmp_path / "L", CLASSES, fragments=FRAG)
    img, inst, mask = _frame()
    inst[inst == 2] = 300  # ids above 255 survive too
    ls.save(img, mask, source="pile.jpg", instances=inst)
    z = export_cvat(ls, tmp_path / "cvat.zip")
    back = import_cvat(z, tmp_path / "L" / "images", tmp_path / "back")
    assert np.array_equal(back.load_instances("pile"), inst)
    assert np.array_equal(back.load_mask("pile"), mask)
    assert back.fragments == FRAG
    assert back.paintable == [0, 1]


def test_retraining_a_fragment_model_on_its_label_set_keeps_edge_seeded_measuring(tmp_path):
    from segtool.training.trainer import train

    start = make_fragment_checkpoint(tmp_path / "start.pt")
    ls = LabelSet.create(tmp_path / "L", CLASSES, fragments=load_checkpoint(start).fragments)
    for i in range(5):
        img, inst, mask = _frame(i)
        ls.save(img, mask, source=f"p{i}.jpg", instances=inst)
    train(tiny_config(tmp_path / "L", tmp_path / "run", epochs=1, init=str(start), val_fraction=0.2))
    best = load_checkpoint(tmp_path / "run" / "best.pt")
    assert best.class_names == ["background", "rock", "rock_edge"]
    assert best.fragments == FRAG
    spec = FragmentSpec.from_checkpoint(best.fragments, best.class_names)
    assert spec.method == "edge-seeded watershed"
    assert spec.edge_id == 2
    # ... and the split the Measure panel runs cuts two touching fragments along an edge band.
    ids = instances_to_classes(_frame()[1], 3)
    assert analyse_prediction(ids, None, spec).table.area_px.size == 2


def _same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal up to renumbering the ids (0 stays 0)."""
    pairs = {(int(x), int(y)) for x, y in zip(a.ravel(), b.ravel(), strict=True)}
    return len(pairs) == len({p[0] for p in pairs}) == len({p[1] for p in pairs}) and all(
        (x == 0) == (y == 0) for x, y in pairs
    )


def test_coco_round_trip_through_the_cli_keeps_fragments_and_background(tmp_path, capsys):
    from segtool.cli import main

    ls = LabelSet.create(tmp_path / "L", CLASSES, fragments=FRAG)
    img, inst, mask = _frame()
    inst[inst == 2] = 300
    mask[0:4, 0:20] = 1  # rock painted without an outline: COCO cannot hold it, and the export says so
    ls.save(img, mask, source="pile.jpg", instances=inst)
    out = tmp_path / "coco" / "fragments.json"
    out.parent.mkdir()
    assert main(["labels", "export-coco", str(tmp_path / "L"), "-o", str(out)]) == 0
    assert "80 px of rock painted without an outline" in capsys.readouterr().out
    assert (
        main(
            [
                "labels",
                "import-coco",
                str(out),
                "--images",
                str(tmp_path / "L" / "images"),
                "-o",
                str(tmp_path / "back"),
            ]
        )
        == 0
    )
    back = LabelSet.open(tmp_path / "back")
    assert back.fragments == FRAG
    assert back.class_names == ["background", "rock", "rock_edge"]
    assert main(["labels", "info", str(tmp_path / "back")]) == 0
    assert "2 fragment(s) outlined" in capsys.readouterr().out
    assert _same_partition(back.load_instances("pile"), inst)
    expect = mask.copy()
    expect[0:4, 0:20] = UNKNOWN
    assert np.array_equal(back.load_mask("pile"), expect)
    assert main(["labels", "import-coco", str(out), "-o", str(tmp_path / "b2")]) == 2
    assert "--images" in capsys.readouterr().err
    assert main(["labels", "export-coco", str(tmp_path / "back"), "-o", str(tmp_path / "x.json")]) == 0
    plain = LabelSet.create(tmp_path / "P", CLASSES[:2])
    plain.save(img, np.zeros(mask.shape, np.uint8), source="pile.jpg")
    assert main(["labels", "export-coco", str(tmp_path / "P"), "-o", str(tmp_path / "y.json")]) == 2
    assert "export-cvat" in capsys.readouterr().err


def test_start_from_a_prediction_with_fragments_replaces_them_in_one_undo_step():
    ed = LabelEditor(shape=(20, 20))
    ed.outline_fragment([(1, 1), (6, 1), (6, 6), (1, 6)], 1)
    pred = np.zeros((20, 20), np.uint8)
    pred[8:16, 8:16] = 1
    frags = np.zeros((20, 20), np.uint16)
    frags[8:16, 8:12], frags[8:16, 12:16] = 1, 2
    conf = np.ones((20, 20), np.float32)
    conf[8:16, 14:16] = 0.3  # unsure there: unknown, and in no fragment
    ed.set_from_prediction(pred, conf, 0.5, instances=frags)
    assert ed.instances[10, 9] == 1
    assert ed.instances[10, 13] == 2
    assert ed.instances[10, 15] == 0
    assert ed.mask[10, 15] == UNKNOWN
    assert ed.instances[3, 3] == 0
    ed.undo()
    assert ed.instances[3, 3] == 1
    assert not ed.instances[8:16, 8:16].any()
    assert ed.mask[10, 9] == UNKNOWN


def test_real_gravel_outlines_train_the_same_classes_from_a_label_set_as_from_the_instance_folder(
    tmp_path, shared_data
):
    """Every fragment of the real gravel set outlined in a label set: training reads exactly the classes the
    instance importer gives the same outlines (the sand between grains painted background, as the importer's
    default reads it)."""
    gravel = shared_data / "rocks_dense" / "gravel"
    ls = LabelSet.create(tmp_path / "L", CLASSES, fragments=FRAG)
    for img_path in sorted((gravel / "images").glob("*.jpg")):
        inst = np.asarray(Image.open(gravel / "instances" / f"{img_path.stem}.png")).astype(np.uint16)
        rgb = np.asarray(Image.open(img_path).convert("RGB"))
        ls.save(rgb, np.where(inst > 0, 1, 0).astype(np.uint8), source=img_path.name, instances=inst)
    ours = open_dataset(tmp_path / "L", val_fraction=0.0)
    theirs = open_dataset(gravel, val_fraction=0.0)
    assert len(ours.samples) == len(theirs.samples) == 6
    by_stem = {s.image.stem: s for s in theirs.samples}
    for s in ours.samples:
        assert np.array_equal(ours.load_mask(s), theirs.load_mask(by_stem[s.image.stem])), s.image.stem


def test_info_says_which_split_a_fragment_model_uses(tmp_path, capsys):
    """`segtool info` names a checkpoint's fragments entry (a retrained model can be checked for it), and
    says nothing of fragments for a plain model."""
    from segtool.cli import main
    from tests.helpers import make_fragment_checkpoint, make_small_checkpoint

    frag = make_fragment_checkpoint(tmp_path / "frag.pt")
    assert main(["info", str(frag)]) == 0
    assert "fragments    interior 'rock'; edge-seeded watershed, edges 'rock_edge'" in capsys.readouterr().out
    plain, _ = make_small_checkpoint(tmp_path / "plain.pt")
    assert main(["info", str(plain)]) == 0
    assert "fragments" not in capsys.readouterr().out
