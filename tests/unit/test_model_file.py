"""One home for "a model file" (issue 23 item 2, issue 19 item 4, issue 24's ONNX items): `open_model` on a
checkpoint, its ONNX export and the shipped names; the checkpoint format written in one place; exported
metadata validated (exit 2 with the file, the bad value and the fix); a batch reads the model once."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from segtool.cli import main as segtool_main
from segtool.core.batch.runner import EngineSpec
from segtool.core.engine import Engine
from segtool.core.model_file import SHIPPED_MODELS, open_model, resolve_model_path
from segtool.core.onnx_export import METADATA_KEY, checkpoint_metadata, export_onnx
from segtool.models import UserInputError, load_checkpoint, save_checkpoint
from segtool.models.checkpoint import Checkpoint

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def fragment_ckpt(tmp_path_factory):
    """The tiny test checkpoint with a `fragments` entry (so the export must carry it)."""
    from tests.helpers import make_small_checkpoint

    path, _ = make_small_checkpoint(tmp_path_factory.mktemp("mf") / "tiny.pt", resize_short=64)
    ck = load_checkpoint(path)
    return save_checkpoint(dataclasses.replace(ck, fragments={"interior": "rock", "edge": None}), path)


@pytest.fixture(scope="module")
def exported(fragment_ckpt, tmp_path_factory):
    return export_onnx(load_checkpoint(fragment_ckpt), tmp_path_factory.mktemp("mfx") / "tiny.onnx")


def _rgb(h=48, w=64):
    return np.random.default_rng(0).integers(0, 255, (h, w, 3), dtype=np.uint8)


def test_checkpoint_opens_once_and_the_engine_does_not_read_it_again(fragment_ckpt, tmp_path):
    copy = tmp_path / "m.pt"
    copy.write_bytes(fragment_ckpt.read_bytes())
    mf = open_model(copy)
    assert mf.kind == "checkpoint"
    assert not mf.is_onnx
    assert not mf.shipped
    assert mf.path == copy
    assert mf.class_names == ["background", "rock"]
    assert mf.checkpoint.state_dict
    assert mf.stamp == (copy.stat().st_size, copy.stat().st_mtime_ns)
    assert open_model(mf) is mf  # a ModelFile passes through
    copy.unlink()  # the Engine must work from what was read: no second read of the file
    e = Engine(mf, device="cpu", runtime="torch")
    assert e.model_file is mf
    assert e.predict_one(_rgb()).mask.shape == (48, 64)


def test_exported_model_opens_with_the_same_checkpoint_fields_and_the_graph_logits(fragment_ckpt, exported):
    ck = load_checkpoint(fragment_ckpt)
    mf = open_model(exported)
    assert mf.kind == "onnx"
    assert mf.is_onnx
    assert mf.onnx_logits == 2
    assert mf.onnx_opset == 17
    assert mf.checkpoint.state_dict == {}
    assert mf.checkpoint.classes == ck.classes
    assert mf.checkpoint.preprocess == ck.preprocess
    assert mf.checkpoint.fragments == {"interior": "rock", "edge": None}
    assert mf.onnx_parameters > 0
    e = Engine(mf, device="cpu", runtime="onnxruntime")
    assert e.onnx_path == exported
    assert e.checkpoint is mf.checkpoint
    assert e.predict_one(_rgb()).mask.shape == (48, 64)


def test_the_checkpoint_format_is_written_in_one_place(fragment_ckpt):
    ck = load_checkpoint(fragment_ckpt)
    meta = checkpoint_metadata(ck)
    saved = ck.to_dict(weights=False)
    assert "state_dict" not in saved
    assert "state_dict" in ck.to_dict()
    assert {k: v for k, v in meta.items() if k not in ("format", "version", "export", "int8")} == {
        k: v for k, v in saved.items() if k not in ("format", "version")
    }
    back = Checkpoint.from_dict(meta, weights=False)
    assert back.classes == ck.classes
    assert back.fragments == ck.fragments
    assert back.config == ck.config


@pytest.mark.parametrize("name", sorted(SHIPPED_MODELS))
def test_shipped_names_resolve_to_the_installed_files(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no file of that name here
    mf = open_model(name)
    assert mf.path == REPO / "assets" / SHIPPED_MODELS[name]
    assert mf.shipped
    assert mf.name == name
    assert open_model(f"{name}.pt").path == mf.path
    # a file of that name in the current folder wins, as a path always does
    Path(f"{name}.pt").write_bytes(mf.path.read_bytes())
    assert resolve_model_path(f"{name}.pt") == Path(f"{name}.pt")


def test_an_unknown_name_lists_the_shipped_ones(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UserInputError, match="rock_frgments does not exist.*rock_fragments, demo_rocks"):
        open_model("rock_frgments")


@pytest.mark.slow
def test_shipped_names_work_in_info_predict_eval_and_export(tmp_path, monkeypatch, capsys):
    from tests.helpers import make_dataset

    monkeypatch.chdir(tmp_path)
    assert segtool_main(["info", "rock_fragments"]) == 0
    out = capsys.readouterr().out
    assert "the shipped model rock_fragments" in out
    assert "rock_edge" in out
    Image.fromarray(_rgb(40, 50)).save(tmp_path / "a.png")
    assert segtool_main(["predict", "a.png", "-c", "demo_rocks", "-o", "masks", "-q"]) == 0
    assert (tmp_path / "masks").is_dir()
    data = make_dataset(tmp_path / "data")
    assert segtool_main(["eval", "demo_rocks", str(data), "-o", "ev"]) in (0, 1), capsys.readouterr().err
    assert segtool_main(["export-onnx", "demo_rocks", "-o", "demo.onnx"]) == 0
    assert open_model("demo.onnx").class_names == open_model("demo_rocks").class_names


def test_train_init_resolves_a_shipped_name():
    from segtool.commands.train import _init

    assert _init("rock_fragments") == str(REPO / "assets" / "rock_fragments.pt")
    assert _init("imagenet") == "imagenet"
    assert _init("scratch") == "scratch"


# --- exported metadata, validated against the checkpoint format (issue 24) ----------------------------


def _edit_metadata(src: Path, dst: Path, edit) -> Path:
    """Copy an exported model with its `segtool.checkpoint` metadata text replaced by `edit(text)`."""
    import onnx

    model = onnx.load(str(src))
    for p in model.metadata_props:
        if p.key == METADATA_KEY:
            p.value = edit(p.value)
    onnx.save(model, str(dst))
    return dst


def _json_edit(fn):
    def edit(text):
        meta = json.loads(text)
        return json.dumps(fn(meta))

    return edit


def _classes(n):
    def fn(m):
        names = ["background", "rock", "sky"][:n]
        m["classes"] = [{"name": x, "color": [i * 40, 0, 0]} for i, x in enumerate(names)]
        return m

    return fn


BAD_METADATA = {
    # case: (edit of the metadata text, what the message must name)
    "one_class": (_json_edit(_classes(1)), "at least 2 classes"),
    "three_classes": (_json_edit(_classes(3)), "3 classes are named but the model has 2 outputs"),
    "three_classes_and_config": (
        _json_edit(lambda m: {**_classes(3)(m), "model": {**m["model"], "num_classes": 3}}),
        "names 3 classes (background, rock, sky) but the network outputs 2 class scores",
    ),
    "resize_short_negative": (
        _json_edit(lambda m: {**m, "preprocess": {**m["preprocess"], "resize_short": -5}}),
        "resize_short must be an integer >= 16 or null (native size); got -5",
    ),
    "cut_short": (lambda text: text[: len(text) // 2], "not valid JSON, perhaps cut short"),
    "preprocess_missing": (
        _json_edit(lambda m: {k: v for k, v in m.items() if k != "preprocess"}),
        "the entry 'preprocess' is missing",
    ),
    "classes_a_string": (_json_edit(lambda m: {**m, "classes": "background,rock"}), "got 'background,rock'"),
    "a_list": (_json_edit(lambda m: [m]), "is a list, not an object"),
}


@pytest.mark.parametrize("case", sorted(BAD_METADATA))
def test_bad_metadata_is_exit_2_in_info_and_predict_with_file_value_and_fix(case, exported, tmp_path, capsys):
    edit, what = BAD_METADATA[case]
    bad = _edit_metadata(exported, tmp_path / f"{case}.onnx", edit)
    Image.fromarray(_rgb()).save(tmp_path / "a.png")
    for argv in (
        ["info", str(bad)],
        ["predict", str(tmp_path / "a.png"), "-c", str(bad), "-o", str(tmp_path / "out"), "-q"],
    ):
        assert segtool_main(argv) == 2, argv
        err = capsys.readouterr().err
        assert str(bad) in err, err
        assert what in err, err
        assert "segtool export-onnx" in err, err
        assert "Traceback" not in err
    assert not (tmp_path / "out").exists()  # refused before anything was written


def test_a_graph_that_does_not_state_its_class_count_is_checked_on_the_first_run(exported, tmp_path):
    import onnx

    model = onnx.load(str(exported))
    model.graph.output[0].type.tensor_type.shape.dim[1].dim_param = "k"  # K no longer stated
    for p in model.metadata_props:
        if p.key == METADATA_KEY:
            p.value = json.dumps(
                {
                    **_classes(3)(json.loads(p.value)),
                    "model": {**json.loads(p.value)["model"], "num_classes": 3},
                }
            )
    bad = tmp_path / "k.onnx"
    onnx.save(model, str(bad))
    mf = open_model(bad)  # nothing to compare yet
    assert mf.onnx_logits is None
    assert len(mf.class_names) == 3
    e = Engine(mf, device="cpu", runtime="onnxruntime")
    with pytest.raises(
        UserInputError, match=r"names 3 classes .* outputs 2 class scores.*segtool export-onnx"
    ):
        e.predict_one(_rgb())


def test_export_onnx_into_a_place_that_cannot_be_written_is_exit_2(fragment_ckpt, tmp_path, capsys):
    if not Path("/proc").is_dir():
        pytest.skip("needs /proc (Linux), a folder no one can create files in, root included")
    assert segtool_main(["export-onnx", str(fragment_ckpt), "-o", "/proc/model.onnx"]) == 2
    err = capsys.readouterr().err
    assert "/proc/model.onnx" in err
    assert "Traceback" not in err
    if os.geteuid() != 0:  # a read-only folder of the user's own (root may write anywhere)
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o500)
        try:
            assert segtool_main(["export-onnx", str(fragment_ckpt), "-o", str(ro / "m.onnx")]) == 2
            assert str(ro / "m.onnx") in capsys.readouterr().err
        finally:
            ro.chmod(0o700)


def test_export_onnx_refuses_an_exported_model_as_input(exported, tmp_path, capsys):
    assert segtool_main(["export-onnx", str(exported), "-o", str(tmp_path / "again.onnx")]) == 2
    assert "already an exported model" in capsys.readouterr().err


# --- batches -----------------------------------------------------------------------------------------


def test_a_batch_in_this_process_reads_the_model_once(fragment_ckpt, tmp_path, monkeypatch):
    import segtool.models.checkpoint as mc

    for i in range(3):
        Image.fromarray(_rgb()).save(tmp_path / f"{i}.png")
    reads = []
    real = mc.safe_torch_load
    monkeypatch.setattr(mc, "safe_torch_load", lambda p: reads.append(p) or real(p))
    code = segtool_main(
        [
            "predict",
            str(tmp_path / "0.png"),
            str(tmp_path / "1.png"),
            str(tmp_path / "2.png"),
            "-c",
            str(fragment_ckpt),
            "-o",
            str(tmp_path / "out"),
            "-q",
        ]
    )
    assert code == 0, reads
    assert len(reads) == 1, reads
    assert json.loads((tmp_path / "out" / "batch.json").read_text())["settings"]["checkpoint"] == str(
        fragment_ckpt.resolve()
    )


def test_a_worker_refuses_a_model_file_that_changed_since_the_batch_checked_it(fragment_ckpt, tmp_path):
    copy = tmp_path / "m.pt"
    copy.write_bytes(fragment_ckpt.read_bytes())
    mf = open_model(copy)
    spec = EngineSpec(str(copy), device="cpu", runtime="torch", stamp=mf.stamp)
    assert spec.build().model_file.path == copy  # unchanged: the worker opens it
    os.utime(copy, ns=(mf.stamp[1] + 10**9, mf.stamp[1] + 10**9))  # replaced / touched meanwhile
    with pytest.raises(UserInputError, match="changed since the batch checked it"):
        spec.build()
    assert spec.build(mf).model_file is mf  # the batch's own process uses what it read


def test_random_edits_of_the_metadata_never_give_a_traceback_or_a_wrong_model(exported, tmp_path):
    """Seeded property test: cut the metadata text anywhere, or set an entry to a random value; opening
    the file either refuses it with a UserInputError or gives a model that agrees with the graph."""
    import random

    rng = random.Random(24)
    import onnx

    meta = json.loads(next(p.value for p in onnx.load(str(exported)).metadata_props if p.key == METADATA_KEY))
    values = [None, -5, 0, 3.5, "x", "", [], {}, [1, 2], {"a": 1}, True, [{"name": "a"}], 10**9]
    for i in range(40):
        if i % 2:
            edit = lambda text: text[: rng.randrange(len(text))]  # noqa: E731
        else:
            key = rng.choice(
                sorted(meta) + ["preprocess.resize_short", "preprocess.mean", "model.num_classes"]
            )
            value = rng.choice(values)

            def edit(text, key=key, value=value):
                m = json.loads(text)
                if "." in key:
                    outer, inner = key.split(".")
                    m[outer] = {**m[outer], inner: value}
                else:
                    m[key] = value
                return json.dumps(m)

        path = _edit_metadata(exported, tmp_path / f"r{i}.onnx", edit)
        try:
            mf = open_model(path)
        except UserInputError as e:
            assert str(path) in str(e) or "newer segtool" in str(e)
            continue
        assert len(mf.class_names) == mf.onnx_logits == 2
        rs = mf.checkpoint.preprocess["resize_short"]
        assert rs is None or (isinstance(rs, int) and rs >= 16)
