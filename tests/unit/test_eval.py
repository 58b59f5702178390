"""`segtool eval`: table + report.json on datasets, folders and videos with label frames."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from segtool.cli import main
from segtool.models import load_checkpoint
from segtool.training.trainer import train
from tests.helpers import make_dataset, tiny_config
from tests.videos import _encode

EVAL_SIZE = 40  # the 64-px images are resized for the network and its logits back to label size


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    data = make_dataset(tmp_path_factory.mktemp("data"), n_train=4, n_val=2)
    run = tmp_path_factory.mktemp("runs") / "run"
    train(tiny_config(data, run, epochs=1, eval_size=EVAL_SIZE))
    return data, run


def _frames_and_labels(data: Path, tmp: Path) -> tuple[Path, Path, list[np.ndarray]]:
    """All images of the dataset as a folder of frames (f000.png…) and their labels (l000.png…)."""
    frames, labels = tmp / "frames", tmp / "labels"
    frames.mkdir()
    labels.mkdir()
    rgb = []
    for k, img in enumerate(sorted(data.glob("*/images/*.png"))):
        shutil.copy(img, frames / f"f{k:03d}.png")
        shutil.copy(img.parent.parent / "masks" / img.name, labels / f"l{k:03d}.png")
        rgb.append(np.asarray(Image.open(img).convert("RGB")))
    return frames, labels, rgb


def test_eval_dataset_prints_table_and_matches_the_training_report(trained, tmp_path, capsys):
    data, run = trained
    out = tmp_path / "report.json"
    assert main(["eval", str(run / "best.pt"), str(data), "-o", str(out), "--device", "cpu", "-q"]) == 0
    text = capsys.readouterr().out
    assert "background" in text
    assert "rock" in text
    assert "mIoU" in text
    assert f"wrote {out}" in text
    report = json.loads(out.read_text())
    assert report["split"] == "val"  # the data names a split: val is scored
    assert report["images"] == 2
    assert set(report) >= {
        "miou",
        "pixel_accuracy",
        "mean_accuracy",
        "per_class_iou",
        "confusion_matrix",
        "classes",
    }
    # The trainer's validation uses predict's preprocessing: the same numbers as `segtool eval`, here through
    # the resize path (images 64 px, network input 40 px), where a different resize would show
    assert load_checkpoint(run / "best.pt").preprocess["resize_short"] == EVAL_SIZE
    trained_report = json.loads((run / "report.json").read_text())
    assert report["confusion_matrix"] == trained_report["confusion_matrix"]
    assert report["miou"] == pytest.approx(trained_report["miou"])

    assert (
        main(
            [
                "eval",
                str(run / "best.pt"),
                str(data),
                "-o",
                str(out),
                "--split",
                "all",
                "--device",
                "cpu",
                "-q",
            ]
        )
        == 0
    )
    assert json.loads(out.read_text())["images"] == 6


def test_eval_folder_and_video_with_label_frames(trained, tmp_path, capsys):
    data, run = trained
    frames, labels, rgb = _frames_and_labels(data, tmp_path)
    ckpt = str(run / "best.pt")
    rep_all = tmp_path / "all.json"
    main(["eval", ckpt, str(data), "--split", "all", "-o", str(rep_all), "--device", "cpu", "-q"])
    rep_dir = tmp_path / "dir.json"
    assert (
        main(
            ["eval", ckpt, str(frames), "--labels", str(labels), "-o", str(rep_dir), "--device", "cpu", "-q"]
        )
        == 0
    )
    # same images and labels (natural order of names) → the same matrix as the dataset route
    assert (
        json.loads(rep_dir.read_text())["confusion_matrix"]
        == json.loads(rep_all.read_text())["confusion_matrix"]
    )

    video = _encode(tmp_path / "clip.mkv", rgb, "ffv1", "bgr0")  # lossless: frames are the images
    rep_vid = tmp_path / "vid.json"
    assert (
        main(["eval", ckpt, str(video), "--labels", str(labels), "-o", str(rep_vid), "--device", "cpu", "-q"])
        == 0
    )
    vid = json.loads(rep_vid.read_text())
    assert vid["images"] == 6
    assert vid["confusion_matrix"] == json.loads(rep_all.read_text())["confusion_matrix"]

    # --labels-glob picks a subset; a count that does not match the frames is refused with the fix
    capsys.readouterr()
    assert (
        main(
            [
                "eval",
                ckpt,
                str(video),
                "--labels",
                str(labels),
                "--labels-glob",
                "l00[0-2]*",
                "-o",
                str(rep_vid),
                "-q",
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "(6 frames)" in err
    assert "3 label file(s)" in err
    assert "add the 3 missing label file(s)" in err
    short = _encode(
        tmp_path / "short.mkv", rgb[:4], "ffv1", "bgr0"
    )  # more labels than frames: which to remove
    assert main(["eval", ckpt, str(short), "--labels", str(labels), "-o", str(rep_vid), "-q"]) == 2
    err = capsys.readouterr().err
    assert "4 frame(s)" in err
    assert "remove the 2 extra label file(s) from" in err
    assert "--labels-glob" in err


def test_eval_refuses_other_classes_and_unknown_label_values(trained, tmp_path, capsys):
    data, run = trained
    other = make_dataset(tmp_path / "other", n_train=1, n_val=1, classes=("background", "rock", "sky"))
    assert main(["eval", str(run / "best.pt"), str(other), "-o", str(tmp_path / "r.json"), "-q"]) == 2
    assert "classes background, rock, sky" in capsys.readouterr().err
    frames, labels, _ = _frames_and_labels(data, tmp_path)
    bad = np.zeros((64, 64), np.uint8)
    bad[0, 0] = 11
    Image.fromarray(bad).save(labels / "l000.png")
    assert (
        main(
            [
                "eval",
                str(run / "best.pt"),
                str(frames),
                "--labels",
                str(labels),
                "-o",
                str(tmp_path / "r.json"),
                "-q",
            ]
        )
        == 2
    )
    assert "l000.png" in capsys.readouterr().err
    # naming 11 as void makes it count as ignore
    assert (
        main(
            [
                "eval",
                str(run / "best.pt"),
                str(frames),
                "--labels",
                str(labels),
                "--void-ids",
                "11",
                "-o",
                str(tmp_path / "r.json"),
                "-q",
            ]
        )
        == 0
    )


CAMVID_FRAMES = 11  # the first frames of CamVid's val sequence 0016E5: 07959 … 07979


@pytest.fixture(scope="module")
def camvid_model(shared_data, tmp_path_factory):
    """An 11-class CamVid checkpoint whose last layer is fitted (ridge regression on the frames' own
    labels) so that it segments the frames for real: many classes occur in both labels and predictions."""
    from segtool.models import Checkpoint, build_deeplabv3, make_classes, save_checkpoint
    from segtool.training.data.classes import CAMVID_CLASSES, CAMVID_VOID_ID

    names = sorted((shared_data / "camvid/val").glob("0016E5_*.png"))[:CAMVID_FRAMES]
    rgb = [np.asarray(Image.open(p).convert("RGB")) for p in names]
    labels = [np.asarray(Image.open(shared_data / "camvid/valannot" / p.name)) for p in names]
    torch.manual_seed(0)
    model = build_deeplabv3(backbone="mobilenet_v3_large", num_classes=11, aux_head=False, width_mult=0.5)
    feats = []
    model.classifier[4].register_forward_pre_hook(lambda m, a: feats.append(a[0]))
    x = torch.from_numpy(np.stack(rgb)).permute(0, 3, 1, 2).float() / 255
    x = (x - torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)) / torch.tensor([0.229, 0.224, 0.225]).view(
        1, 3, 1, 1
    )
    with torch.no_grad():
        for m in model.modules():  # BatchNorm statistics of these frames: random features that vary
            if isinstance(m, torch.nn.BatchNorm2d):
                m.reset_running_stats()
                m.momentum = None
        model.train()(x)
        feats.clear()
        model.eval()(x)
        f = feats[0]  # N, C, h, w
        y = torch.nn.functional.interpolate(
            torch.from_numpy(np.stack(labels))[:, None].float(), size=f.shape[-2:], mode="nearest"
        )
        y = y.long().flatten()
        keep = y != CAMVID_VOID_ID
        a = torch.cat([f.permute(0, 2, 3, 1).reshape(-1, f.shape[1]), torch.ones(y.numel(), 1)], 1)[keep]
        target = torch.nn.functional.one_hot(y[keep], 11).float()
        w = torch.linalg.solve(a.T @ a + 1e-2 * torch.eye(a.shape[1]), a.T @ target)  # (C+1, 11)
        model.classifier[4].weight.copy_(w[:-1].T[:, :, None, None])
        model.classifier[4].bias.copy_(w[-1])
    ck = Checkpoint(
        config=model.config,
        classes=make_classes([c.name for c in CAMVID_CLASSES], [list(c.color) for c in CAMVID_CLASSES]),
        state_dict=model.state_dict(),
        preprocess={"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225], "resize_short": None},
    )
    frames = tmp_path_factory.mktemp("camvid") / "frames"
    frames.mkdir()
    for p in names:
        shutil.copy(p, frames / p.name)
    return save_checkpoint(ck, frames.parent / "camvid11.pt"), frames, names, labels


def test_eval_via_core_matches_the_cli_loop_on_real_camvid_frames(camvid_model, shared_data, tmp_path):
    """`segtool eval` now runs `segtool.core.evaluate` (shared with the app); its report on real CamVid
    val frames with their real labels (void 11 found automatically) is what the former CLI loop computed:
    one Engine prediction per frame, counted with numpy against the label."""
    from segtool.core.engine import Engine
    from segtool.core.evaluate import evaluate, label_folder_frames

    ckpt, frames, names, labels = camvid_model
    engine = Engine(ckpt, device="cpu")
    ref = np.zeros((11, 11), np.int64)
    for p, label in zip(names, labels):
        pred = engine.predict_one(np.asarray(Image.open(p).convert("RGB"))).mask
        ok = label != 11
        ref += np.bincount(label[ok].astype(np.int64) * 11 + pred[ok], minlength=121).reshape(11, 11)
    glob = "0016E5_079[5-7]*.png"  # exactly the frames copied
    out = tmp_path / "report.json"
    assert (
        main(
            [
                "eval",
                str(ckpt),
                str(frames),
                "--labels",
                str(shared_data / "camvid/valannot"),
                "--labels-glob",
                glob,
                "-o",
                str(out),
                "--device",
                "cpu",
                "-q",
                "--batch-size",
                "3",
            ]
        )
        == 0
    )
    report = json.loads(out.read_text())
    assert report["images"] == CAMVID_FRAMES
    assert report["void_ids"] == [11]
    assert report["confusion_matrix"] == ref.tolist()
    assert sum(1 for v in report["per_class_iou"].values() if v) >= 4  # a real segmentation
    assert report["miou"] > 0.1
    tp = np.diag(ref)
    iou = [tp[i] / u for i, u in enumerate(ref.sum(0) + ref.sum(1) - tp) if u]
    assert report["miou"] == pytest.approx(float(np.mean(iou)))
    # the app calls the same function: the same report, field for field
    again = evaluate(
        engine,
        label_folder_frames(frames, engine.checkpoint, shared_data / "camvid/valannot", labels_glob=glob),
        checkpoint_label=str(ckpt),
        data_label=str(frames),
    )
    assert json.loads(json.dumps(again)) == report
