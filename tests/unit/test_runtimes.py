"""Runtimes behind the Engine: ONNX export with metadata, OpenVINO / ONNX Runtime against PyTorch on real
CamVid frames, TTA / sliding window / confidence through each runtime, the conversion cache, dynamic sizes,
and the errors for a bad or missing runtime."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from PIL import Image

from segtool.cli import main as segtool_main
from segtool.core import runtimes
from segtool.core.engine import Engine
from segtool.core.onnx_export import METADATA_KEY, export_onnx, read_metadata
from segtool.core.runtimes import cache
from segtool.models import (
    UserInputError,
    load_checkpoint,
)
from tests.helpers import _tiny_checkpoint

ONNX_RUNTIMES = ("openvino", "onnxruntime")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return _tiny_checkpoint(tmp_path_factory.mktemp("rt") / "tiny.pt")


@pytest.fixture(scope="module")
def camvid_frames(shared_data):
    files = sorted((shared_data / "camvid" / "val").glob("*.png"))[::50][:2]
    return [np.asarray(Image.open(f).convert("RGB")) for f in files]


def test_export_round_trip_keeps_classes_preprocessing_and_dynamic_size(tiny, tmp_path):
    import onnx

    out = tmp_path / "model.onnx"
    assert segtool_main(["export-onnx", str(tiny), "-o", str(out)]) == 0
    meta = read_metadata(out)
    ck = load_checkpoint(tiny)
    assert meta["classes"] == ck.classes
    assert meta["preprocess"] == ck.preprocess
    assert meta["model"] == ck.config.to_dict()
    assert meta["export"]["opset"] == 17
    assert meta["int8"] is None
    model = onnx.load(str(out))
    assert [p.key for p in model.metadata_props] == [METADATA_KEY]
    dims = model.graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_param or d.dim_value for d in dims] == ["n", 3, "height", "width"]
    # the file alone is enough: masks equal the checkpoint's on two sizes
    rgb = np.random.default_rng(0).integers(0, 255, (70, 90, 3), dtype=np.uint8)
    ref = Engine(tiny, device="cpu", runtime="torch").predict_one(rgb).mask
    for rt in ONNX_RUNTIMES:
        e = Engine(out, device="cpu", runtime=rt)
        assert e.class_names == ["background", "rock"]
        assert e.onnx_path == out
        assert (e.predict_one(rgb).mask == ref).mean() > 0.999


def test_info_describes_an_exported_model(tiny, tmp_path, capsys):
    out = export_onnx(load_checkpoint(tiny), tmp_path / "m.onnx")
    assert segtool_main(["info", str(out)]) == 0
    text = capsys.readouterr().out
    assert "opset 17" in text
    assert "int8         no" in text
    assert "openvino" in text
    assert "rock" in text
    assert segtool_main(["info", str(out), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["onnx"]["opset"] == 17
    assert d["parameters"] > 100_000


@pytest.mark.parametrize("runtime", ONNX_RUNTIMES)
def test_runtime_agrees_with_torch_on_real_camvid_frames(small_checkpoint, camvid_frames, runtime):
    """≥ 99.9 % of pixels get the same class as PyTorch fp32 (the model is resized to 520 px, as shipped)."""
    ref = Engine(small_checkpoint[0], device="cpu", runtime="torch")
    eng = Engine(small_checkpoint[0], device="cpu", runtime=runtime)
    assert eng.runtime == runtime
    assert eng.model is None
    for rgb in camvid_frames:
        a, b = ref.predict_one(rgb, confidence=True), eng.predict_one(rgb, confidence=True)
        assert 0.05 < (a.mask == 1).mean() < 0.95  # both classes occur: the comparison means something
        assert (a.mask == b.mask).mean() >= 0.999
        assert np.abs(a.confidence - b.confidence).max() < 1e-3


@pytest.mark.parametrize("runtime", ONNX_RUNTIMES)
def test_tta_tiling_and_confidence_are_the_same_on_every_runtime(tiny, runtime):
    rgb = np.random.default_rng(1).integers(0, 255, (150, 190, 3), dtype=np.uint8)
    rgb[:70] //= 3
    opts = dict(
        device="cpu", tta="flip,ms", tile=96, max_pixels=96 * 96
    )  # 150x190 > max_pixels: sliding window
    ref = Engine(tiny, runtime="torch", **opts).predict([rgb, rgb[:, ::-1].copy()], confidence=True)
    got = Engine(tiny, runtime=runtime, **opts).predict([rgb, rgb[:, ::-1].copy()], confidence=True)
    for a, b in zip(ref, got):
        assert 0.05 < (a.mask == 1).mean() < 0.95
        assert (a.mask == b.mask).mean() >= 0.999
        assert np.abs(a.confidence - b.confidence).max() < 1e-3


def test_conversion_is_cached_by_content(tmp_path):
    ck_path = _tiny_checkpoint(tmp_path / "fresh.pt", seed=7)  # weights no other test converted
    before = cache.conversions
    Engine(ck_path, device="cpu", runtime="onnxruntime")
    assert cache.conversions == before + 1
    onnx_file = cache.runtime_cache_root() / cache.checkpoint_key(load_checkpoint(ck_path)) / "model.onnx"
    mtime = onnx_file.stat().st_mtime_ns
    copy = tmp_path / "copy.pt"  # the same weights under another name: same cache entry
    copy.write_bytes(ck_path.read_bytes())
    Engine(copy, device="cpu", runtime="openvino")
    Engine(ck_path, device="cpu", runtime="onnxruntime")
    assert cache.conversions == before + 1
    assert onnx_file.stat().st_mtime_ns == mtime
    assert any((onnx_file.parent / "openvino").iterdir())  # OpenVINO's compiled blob is kept beside it
    # other weights, another entry
    Engine(_tiny_checkpoint(tmp_path / "other.pt", seed=8), device="cpu", runtime="onnxruntime")
    assert cache.conversions == before + 2


@pytest.mark.parametrize("runtime", ONNX_RUNTIMES)
def test_mixed_frame_sizes_run_on_one_compiled_model(tiny, runtime):
    eng = Engine(tiny, device="cpu", runtime=runtime)
    ref = Engine(tiny, device="cpu", runtime="torch")
    rng = np.random.default_rng(2)
    sizes = [(60, 80), (97, 131), (60, 80), (128, 96), (33, 47)]
    frames = [rng.integers(0, 255, (*s, 3), dtype=np.uint8) for s in sizes]
    for f in frames:  # one at a time, like a folder of mixed photos
        assert (eng.predict_one(f).mask == ref.predict_one(f).mask).mean() > 0.999
    assert eng.backend.compiles == 1
    if runtime == "openvino":
        assert eng.backend.compiled.input(0).get_partial_shape().is_dynamic


def test_auto_picks_openvino_on_the_cpu(tiny, monkeypatch):
    monkeypatch.delenv("SEGTOOL_RUNTIME", raising=False)
    assert Engine(tiny, device="cpu").runtime == "openvino"
    monkeypatch.setattr(runtimes, "installed_runtimes", lambda: ["onnxruntime", "torch"])
    assert Engine(tiny, device="cpu").runtime == "onnxruntime"
    monkeypatch.setenv("SEGTOOL_RUNTIME", "torch")
    assert Engine(tiny, device="cpu").runtime == "torch"


def test_bad_or_missing_runtime_exits_2_with_the_fix(tiny, tmp_path, monkeypatch, capsys):
    img = tmp_path / "a.png"
    Image.fromarray(np.zeros((40, 50, 3), np.uint8)).save(img)
    base = ["predict", str(img), "-c", str(tiny), "-o", str(tmp_path / "out"), "-q"]
    with pytest.raises(SystemExit) as e:
        segtool_main([*base, "--runtime", "tensorrt"])
    assert e.value.code == 2
    assert "invalid choice: 'tensorrt'" in capsys.readouterr().err
    monkeypatch.setattr(runtimes, "installed_runtimes", lambda: ["onnxruntime", "torch"])
    assert segtool_main([*base, "--runtime", "openvino"]) == 2
    err = capsys.readouterr().err
    assert "OpenVINO is not installed" in err
    assert "pip install" in err
    assert "Traceback" not in err
    onnx_file = export_onnx(load_checkpoint(tiny), tmp_path / "m.onnx")
    assert (
        segtool_main(
            [
                "predict",
                str(img),
                "-c",
                str(onnx_file),
                "-o",
                str(tmp_path / "o2"),
                "-q",
                "--runtime",
                "torch",
            ]
        )
        == 2
    )
    assert "needs the .pt checkpoint" in capsys.readouterr().err
    monkeypatch.setenv("SEGTOOL_RUNTIME", "fast")
    with pytest.raises(UserInputError, match="SEGTOOL_RUNTIME='fast'"):
        Engine(tiny, device="cpu")
    with pytest.raises(UserInputError, match="not available with ONNX Runtime"):
        Engine(tiny, device="cpu", runtime="onnxruntime", precision="bf16")


def test_predict_and_eval_run_an_exported_model(tiny, tmp_path, capsys):
    img_dir = tmp_path / "imgs"
    img_dir.mkdir()
    rng = np.random.default_rng(3)
    for i in range(2):
        Image.fromarray(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)).save(img_dir / f"{i}.png")
    onnx_file = export_onnx(load_checkpoint(tiny), tmp_path / "m.onnx")
    out = tmp_path / "out"
    assert (
        segtool_main(
            ["predict", str(img_dir), "-c", str(onnx_file), "-o", str(out), "-q", "--runtime", "openvino"]
        )
        == 0
    )
    summary = json.loads((out / "summary.json").read_text())
    assert summary["complete"]
    assert "OpenVINO" in summary["device"]
    assert summary["frames_written"] == 2
    ref = tmp_path / "ref"
    assert (
        segtool_main(["predict", str(img_dir), "-c", str(tiny), "-o", str(ref), "-q", "--runtime", "torch"])
        == 0
    )
    for name in ("0.png", "1.png"):
        a, b = np.asarray(Image.open(out / "masks" / name)), np.asarray(Image.open(ref / "masks" / name))
        assert (a == b).mean() > 0.999


@pytest.fixture(scope="module")
def labelled_rocks(shared_data, tmp_path_factory):
    """16 real rock-pile photos (96×96) with their binary masks, as an images/ + masks/ dataset."""
    root = tmp_path_factory.mktemp("rocks")
    (root / "images").mkdir()
    (root / "masks").mkdir()
    src = shared_data / "rocks_dense" / "rockpiles"
    for img in sorted((src / "images").glob("*.jpg"))[:16]:
        Image.open(img).convert("RGB").resize((96, 96)).save(root / "images" / f"{img.stem}.png")
        Image.open(src / "masks" / f"{img.stem}.png").resize((96, 96), Image.NEAREST).save(
            root / "masks" / f"{img.stem}.png"
        )
    (root / "classes.json").write_text(
        json.dumps([{"name": "background", "color": [0, 0, 0]}, {"name": "rock", "color": [250, 50, 83]}])
    )
    return root


def test_int8_export_is_kept_or_rejected_by_measured_miou(tiny, labelled_rocks, tmp_path, capsys):
    out = tmp_path / "q.onnx"
    args = [
        "export-onnx",
        str(tiny),
        "-o",
        str(out),
        "--int8",
        "--calibrate",
        str(labelled_rocks),
        "--check-frames",
        "4",
    ]
    assert segtool_main([*args, "--max-drop", "100"]) == 0
    meta = read_metadata(out)["int8"]
    # 15 pairs and no split named: a quarter at most (3) held out to measure, the other 12 calibrate
    assert meta["kept"]
    assert meta["calibration"]["frames"] == 12
    assert meta["check"]["frames"] == 3
    assert meta["miou_drop_points"] == pytest.approx(
        (meta["check"]["miou_fp32"] - meta["check"]["miou_int8"]) * 100, abs=1e-3
    )
    import onnx

    ops = {n.op_type for n in onnx.load(str(out)).graph.node}
    assert "QuantizeLinear" in ops
    assert "DequantizeLinear" in ops
    assert (
        "int8         yes"
        in (capsys.readouterr(), segtool_main(["info", str(out)]), capsys.readouterr().out)[2]
    )
    eng = Engine(out, device="cpu", runtime="openvino")
    assert eng.int8
    assert "int8" in eng.device_label
    # a drop that can never be met: the float model is written instead, exit 1, the reason is in the metadata
    rejected = tmp_path / "r.onnx"
    assert (
        segtool_main(
            [
                "export-onnx",
                str(tiny),
                "-o",
                str(rejected),
                "--int8",
                "--calibrate",
                str(labelled_rocks),
                "--check-frames",
                "4",
                "--max-drop",
                "-1000",
            ]
        )
        == 1
    )
    assert "INT8 rejected" in capsys.readouterr().err
    meta = read_metadata(rejected)["int8"]
    assert meta["kept"] is False
    assert "QuantizeLinear" not in {n.op_type for n in onnx.load(str(rejected)).graph.node}
    assert not Engine(rejected, device="cpu", runtime="onnxruntime").int8


def test_int8_needs_calibration_data(tiny, tmp_path, capsys):
    assert segtool_main(["export-onnx", str(tiny), "-o", str(tmp_path / "q.onnx"), "--int8"]) == 2
    assert "--int8 needs --calibrate" in capsys.readouterr().err
    assert segtool_main(["export-onnx", str(tiny), "-o", str(tmp_path / "q.txt")]) == 2
    assert not os.path.exists(tmp_path / "q.onnx")


@pytest.mark.gpu
def test_auto_keeps_pytorch_on_cuda(tiny, tmp_path, monkeypatch):
    """Unmeasured here (no GPU was lent): on CUDA `auto` is PyTorch; an .onnx with --device cuda needs ONNX
    Runtime's CUDA build and says so otherwise."""
    import torch

    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    monkeypatch.delenv("SEGTOOL_RUNTIME", raising=False)
    assert Engine(tiny, device="cuda").runtime == "torch"
    onnx_file = export_onnx(load_checkpoint(tiny), tmp_path / "m.onnx")
    assert Engine(onnx_file).device.type == "cpu"  # --device auto with an exported model: the CPU
    import onnxruntime as ort

    if "CUDAExecutionProvider" not in ort.get_available_providers():
        with pytest.raises(UserInputError, match="no CUDA provider"):
            Engine(onnx_file, device="cuda")
