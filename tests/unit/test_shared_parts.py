"""One implementation each: the pieces inference, training, the CLI and the app used to compute apart
(preprocessing, device and CPU-count choices) now come from one place; these tests pin that down."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import segtool.models.device as device_mod
from segtool.base.errors import UserInputError
from segtool.commands._interrupt import first_ctrl_c_cancels
from segtool.core.engine import Engine
from segtool.models import Checkpoint, build_deeplabv3, load_checkpoint, make_classes, save_checkpoint
from segtool.models.device import (
    default_cpu_threads,
    default_loader_workers,
    resolve_device,
    resolve_precision,
)
from segtool.models.state_dict import load_matching
from segtool.training.config import TrainConfig
from segtool.training.engine import evaluate
from segtool.training.init import build_model

REPO = Path(__file__).resolve().parents[2]


def _network_inputs_of_engine(engine: Engine, rgb: np.ndarray) -> torch.Tensor:
    seen = []
    h = engine.model.register_forward_pre_hook(lambda m, args: seen.append(args[0].detach().clone()))
    try:
        engine.predict_one(rgb)
    finally:
        h.remove()
    return seen[0]


def _network_inputs_of_validation(ck, rgb: np.ndarray) -> torch.Tensor:
    model = ck.build_model()
    seen = []
    model.register_forward_pre_hook(lambda m, args: seen.append(args[0].detach().clone()))
    image = torch.from_numpy(rgb).permute(2, 0, 1).contiguous()  # as EvalSamples gives it
    loader = [([image], [torch.zeros(rgb.shape[:2], dtype=torch.uint8)])]
    evaluate(
        model,
        loader,
        torch.device("cpu"),
        num_classes=len(ck.classes),
        preprocess_cfg=ck.preprocess,
        channels_last=True,
    )
    return seen[0]


@pytest.mark.parametrize(
    ("name", "shrinks"), [("rocks/train/images/1.jpeg", True), ("camvid/val/0016E5_07959.png", False)]
)
def test_engine_and_validation_feed_the_network_identical_tensors(
    small_checkpoint, shared_data, name, shrinks
):
    """A real photo at a size that needs the resize (1600x1066 shrinks to 520 with antialiasing; CamVid's
    480x360 grows to 520): the Engine (predict, eval, the app) and training's validation give the network
    the very same tensor, bit for bit."""
    rgb = np.array(Image.open(shared_data / name).convert("RGB"))
    ck = load_checkpoint(small_checkpoint[0])
    assert ck.preprocess["resize_short"] == 520
    assert (min(rgb.shape[:2]) > 520) == shrinks
    engine = Engine(ck, device="cpu", threads=1)
    a = _network_inputs_of_engine(engine, rgb)
    b = _network_inputs_of_validation(ck, rgb)
    assert a.shape == b.shape == (1, 3, *engine.network_size(*rgb.shape[:2]))
    assert a.shape[-2:] != rgb.shape[:2]  # the resize path ran
    assert torch.equal(a.contiguous(), b.contiguous())


def test_training_and_inference_resolve_devices_and_precision_alike():
    # the trainer's amp flag is the engine's precision setting: on = auto, off = fp32
    for dev in (torch.device("cpu"),):
        assert resolve_precision("auto", dev) is None
        assert resolve_precision("fp32", dev) is None
    assert resolve_device("auto", local_rank=1).type in ("cpu", "cuda", "mps")
    import segtool.training.trainer as trainer

    assert trainer.resolve_device is resolve_device
    assert trainer.resolve_precision is resolve_precision


@pytest.mark.parametrize(("cores", "threads", "workers"), [(1, 1, 0), (2, 1, 1), (3, 2, 2), (16, 15, 4)])
def test_cpu_count_defaults_come_from_one_place(monkeypatch, cores, threads, workers):
    monkeypatch.setattr(device_mod.os, "sched_getaffinity", lambda pid: set(range(cores)), raising=False)
    assert default_cpu_threads() == threads
    assert default_loader_workers() == workers
    # the CLI's --workers default and the training child's threads use them
    from segtool.commands import train as train_cmd
    from segtool.core.train_process import TrainProcess

    args = train_cmd_args(train_cmd)
    assert train_cmd._config(args).workers == workers
    assert TrainProcess({}).threads == threads


def train_cmd_args(train_cmd):
    import argparse

    parser = argparse.ArgumentParser()
    train_cmd.add_parser(parser.add_subparsers())
    return parser.parse_args(["train", "data", "-o", "run"])


def test_no_other_cpu_count_rule():
    """Only models/device.py reads the core count: every default (torch threads, loader workers) is its."""
    offenders = [
        str(p.relative_to(REPO))
        for folder in ("segtool", "training", "models")
        for p in (REPO / folder).rglob("*.py")
        if "os.cpu_count" in p.read_text(encoding="utf-8") and p != REPO / "models" / "device.py"
    ]
    assert offenders == []


def test_partial_loading_returns_and_reports_what_it_skipped(tmp_path):
    """One partial-loading rule (models.state_dict.load_matching) for fine-tuning and pretrained weights:
    tensors of another shape or with no place in the model are skipped and listed, the rest load."""
    torch.manual_seed(0)
    src = build_deeplabv3(backbone="mobilenet_v3_large", num_classes=2, aux_head=True)
    dst = build_deeplabv3(backbone="mobilenet_v3_large", num_classes=3, aux_head=False)
    report = load_matching(dst, src.state_dict())
    assert "classifier.4.weight: file [2, 256, 1, 1] vs model [3, 256, 1, 1]" in report.skipped
    assert "aux_classifier.0.weight: no place in the model" in report.skipped
    assert len(report.skipped) == 2 + sum(k.startswith("aux_classifier.") for k in src.state_dict())
    assert report.loaded == report.total - 2
    assert report.missing == []
    assert torch.equal(dst.backbone["0"][0].weight, src.backbone["0"][0].weight)
    notes = report.notes("rocks.pt")
    assert notes[0] == f"initialised {report.total - 2} of {report.total} tensors from rocks.pt"
    assert notes[1].startswith(f"warning: {len(report.skipped)} tensor(s) of rocks.pt not loaded")
    assert "and" in notes[1]

    # fine-tuning prints it: the trainer sends build_model's notes as messages (stderr in the CLI)
    ck = tmp_path / "two.pt"
    save_checkpoint(
        Checkpoint(
            config=src.config, classes=make_classes(["background", "rock"]), state_dict=src.state_dict()
        ),
        ck,
    )
    _, notes = build_model(
        TrainConfig(data="x", output="y", init=str(ck), aux_weight=0.0), ["background", "rock"]
    )
    assert any(
        n.startswith("warning: ") and "aux_classifier.0.weight: no place in the model" in n for n in notes
    )


def test_first_ctrl_c_cancels_the_second_interrupts():
    """predict and train share this handler: Ctrl-C #1 sets the event and says so, #2 raises, and the
    previous handler is back afterwards. Run in a fresh interpreter: a real SIGINT sent into the test
    process itself would meet whatever signal handlers and signal stacks earlier tests' libraries set."""
    import subprocess
    import sys

    code = """
import os, signal, sys, time
from segtool.commands._interrupt import first_ctrl_c_cancels
before = signal.getsignal(signal.SIGINT)
with first_ctrl_c_cancels("stopping after this step") as cancel:
    assert not cancel.is_set()
    os.kill(os.getpid(), signal.SIGINT)
    deadline = time.monotonic() + 20  # a loaded machine may take a while to run the handler: poll, never a fixed sleep
    while not cancel.is_set() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert cancel.is_set()
    try:
        os.kill(os.getpid(), signal.SIGINT)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            time.sleep(0.01)
        print("no-interrupt")
    except KeyboardInterrupt:
        print("interrupted")
assert signal.getsignal(signal.SIGINT) is before
print("restored")
"""
    res = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=str(Path(__file__).resolve().parents[2]),
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["interrupted", "restored"]
    assert "stopping after this step" in res.stderr
    import segtool.commands.predict as predict_cmd
    import segtool.commands.train as train_cmd

    assert predict_cmd.first_ctrl_c_cancels is train_cmd.first_ctrl_c_cancels is first_ctrl_c_cancels


def test_every_source_answers_the_same_interface(shared_data, clip, tmp_path):
    """path, names, seekable, read and origin are on the Source base class: export and the app ask them
    directly instead of probing with getattr.

    Runs in a fresh interpreter. It was moved there while a SIGSEGV late in the full suite was blamed on
    this test; the cause was elsewhere (two OpenVINO Cores released out of order left the main thread's
    signal stack unmapped, fixed by one Core per process: tests/unit/test_openvino_core.py). The behaviour
    checked is the same either way.
    """
    import subprocess
    import sys

    code = f"""
import cv2, pytest
from pathlib import Path
from PIL import Image
from segtool.base.errors import UserInputError
from segtool.core.sources import open_source
from segtool.core.sources.live import CameraSource

shared_data, clip, tmp_path = Path({str(shared_data)!r}), Path({str(clip)!r}), Path({str(tmp_path)!r})
folder = tmp_path / "frames"
folder.mkdir()
for n in ("b10.png", "b2.png"):
    Image.open(shared_data / "camvid/val/0016E5_07959.png").save(folder / n)
image = shared_data / "camvid/val/0016E5_07959.png"
with open_source(image) as s:
    assert (s.path, s.names, s.seekable, s.origin) == (image, None, True, str(image))
    assert s.read(0).rgb.shape == (360, 480, 3)
with open_source(folder) as s:
    assert s.path == folder
    assert s.names == ["b2.png", "b10.png"]
    assert s.read(1).name == "b10.png"
with open_source(clip) as s:
    assert s.path == clip
    assert s.names is None
    assert s.seekable
    assert s.read(3).index == 3
cam = CameraSource(0, capture=cv2.VideoCapture(str(clip)), label="test camera")
try:
    assert cam.path is None
    assert cam.names is None
    assert not cam.seekable
    assert cam.origin == cam.description
    with pytest.raises(UserInputError, match="cannot jump to frame 5"):
        cam.read(5)
finally:
    cam.close()
print("ok")
"""
    res = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=str(Path(__file__).resolve().parents[2]),
    )
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout.split() == ["ok"]


@pytest.mark.parametrize("bad", ["300,0,0", "1,2", "a,b,c", "-1,0,0"])
def test_one_colour_rule_for_labelmaps_colors_option_and_checkpoints(tmp_path, bad):
    from segtool.models.classes import make_classes, parse_colors
    from segtool.training.data.classes import read_labelmap

    (tmp_path / "labelmap.txt").write_text(f"background:0,0,0::\nrock:{bad}::\n")
    with pytest.raises(
        UserInputError, match=f"line 2: colour '{bad}' (is not three whole numbers|has .* outside 0-255)"
    ):
        read_labelmap(tmp_path / "labelmap.txt")
    with pytest.raises(UserInputError, match="RGB triple"):
        parse_colors(f"0,0,0;{bad}")
    with pytest.raises(UserInputError, match="'rock' colour"):
        make_classes(
            ["background", "rock"],
            [[0, 0, 0], [int(v) if v.lstrip("-").isdigit() else v for v in bad.split(",")]],
        )


def test_training_child_process_runs_with_loader_workers(tmp_path):
    """The app trains in a child process with `default_loader_workers()` loader processes (1 or more on
    any multi-core machine). The forked workers used to hang at the first batch: the child's stdin
    watcher held sys.stdin's lock, which multiprocessing takes in every fork."""
    from segtool.core.train_process import TrainProcess
    from tests.helpers import make_dataset

    data = make_dataset(tmp_path / "data", n_train=2, n_val=1)
    cfg = TrainConfig(
        data=str(data),
        output=str(tmp_path / "run"),
        backbone="mobilenet_v3_large",
        epochs=1,
        crop_size=64,
        batch_size=2,
        eval_size=64,
        device="cpu",
        workers=1,
    ).to_dict()
    proc = TrainProcess(cfg, threads=1).start()
    try:
        if not proc.wait(timeout=240):
            # a hung fork keeps the child's pipes open: end the child's own children too, then fail
            for pid in Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split():
                os.kill(int(pid), signal.SIGKILL)
            proc.kill()
            pytest.fail("the training child did not finish within 240 s (its loader workers hung)")
        assert proc.outcome().kind == "finished", proc.outcome()
    finally:
        proc.shutdown()
    assert (tmp_path / "run" / "best.pt").is_file()
