"""`segtool eval`: table + report.json on datasets, folders and videos with label frames."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from segtool.cli import main
from tests.unit.test_train import make_dataset, tiny_config
from tests.videos import _encode
from training.trainer import train


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    data = make_dataset(tmp_path_factory.mktemp("data"), n_train=4, n_val=2)
    run = tmp_path_factory.mktemp("runs") / "run"
    train(tiny_config(data, run, epochs=1))
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
    assert "background" in text and "rock" in text and "mIoU" in text and f"wrote {out}" in text
    report = json.loads(out.read_text())
    assert report["split"] == "val" and report["images"] == 2  # the data names a split: val is scored
    assert set(report) >= {"miou", "pixel_accuracy", "mean_accuracy", "per_class_iou", "confusion_matrix", "classes"}
    # The trainer's validation uses predict's preprocessing: the same numbers as `segtool eval`.
    trained_report = json.loads((run / "report.json").read_text())
    assert report["confusion_matrix"] == trained_report["confusion_matrix"]
    assert report["miou"] == pytest.approx(trained_report["miou"])

    assert main(["eval", str(run / "best.pt"), str(data), "-o", str(out), "--split", "all", "--device", "cpu", "-q"]) == 0
    assert json.loads(out.read_text())["images"] == 6


def test_eval_folder_and_video_with_label_frames(trained, tmp_path, capsys):
    data, run = trained
    frames, labels, rgb = _frames_and_labels(data, tmp_path)
    ckpt = str(run / "best.pt")
    rep_all = tmp_path / "all.json"
    main(["eval", ckpt, str(data), "--split", "all", "-o", str(rep_all), "--device", "cpu", "-q"])
    rep_dir = tmp_path / "dir.json"
    assert main(["eval", ckpt, str(frames), "--labels", str(labels), "-o", str(rep_dir), "--device", "cpu", "-q"]) == 0
    # same images and labels (natural order of names) → the same matrix as the dataset route
    assert json.loads(rep_dir.read_text())["confusion_matrix"] == json.loads(rep_all.read_text())["confusion_matrix"]

    video = _encode(tmp_path / "clip.mkv", rgb, "ffv1", "bgr0")  # lossless: frames are the images
    rep_vid = tmp_path / "vid.json"
    assert main(["eval", ckpt, str(video), "--labels", str(labels), "-o", str(rep_vid), "--device", "cpu", "-q"]) == 0
    vid = json.loads(rep_vid.read_text())
    assert vid["images"] == 6 and vid["confusion_matrix"] == json.loads(rep_all.read_text())["confusion_matrix"]

    # --labels-glob picks a subset; a count that does not match the frames is refused with the fix
    capsys.readouterr()
    assert main(["eval", ckpt, str(video), "--labels", str(labels), "--labels-glob", "l00[0-2]*", "-o", str(rep_vid), "-q"]) == 2
    err = capsys.readouterr().err
    assert "(6 frames)" in err and "3 label file(s)" in err and "add the 3 missing label file(s)" in err
    short = _encode(tmp_path / "short.mkv", rgb[:4], "ffv1", "bgr0")  # more labels than frames: which to remove
    assert main(["eval", ckpt, str(short), "--labels", str(labels), "-o", str(rep_vid), "-q"]) == 2
    err = capsys.readouterr().err
    assert "4 frame(s)" in err and "remove the 2 extra label file(s) from" in err and "--labels-glob" in err


def test_eval_refuses_other_classes_and_unknown_label_values(trained, tmp_path, capsys):
    data, run = trained
    other = make_dataset(tmp_path / "other", n_train=1, n_val=1, classes=("background", "rock", "sky"))
    assert main(["eval", str(run / "best.pt"), str(other), "-o", str(tmp_path / "r.json"), "-q"]) == 2
    assert "classes background, rock, sky" in capsys.readouterr().err
    frames, labels, _ = _frames_and_labels(data, tmp_path)
    bad = np.zeros((64, 64), np.uint8)
    bad[0, 0] = 11
    Image.fromarray(bad).save(labels / "l000.png")
    assert main(["eval", str(run / "best.pt"), str(frames), "--labels", str(labels), "-o", str(tmp_path / "r.json"), "-q"]) == 2
    assert "l000.png" in capsys.readouterr().err
    # naming 11 as void makes it count as ignore
    assert main(["eval", str(run / "best.pt"), str(frames), "--labels", str(labels), "--void-ids", "11",
                 "-o", str(tmp_path / "r.json"), "-q"]) == 0  # fmt: skip
