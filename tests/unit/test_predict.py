"""`segtool predict` / run_export end to end on real files: frame accuracy, containers, resume, bad input."""

from __future__ import annotations

import csv
import dataclasses
import json
import threading

import av
import numpy as np
import pytest
import torch
from PIL import Image

from segtool.cli import main
from segtool.core.engine import Engine
from segtool.core.export import ExportOptions, run_export
from segtool.core.frame import Prediction
from segtool.core.pipeline import run_pipeline
from segtool.core.sources import open_source
from segtool.models import UserInputError, load_checkpoint
from tests.videos import N

CAMVID_COLORS = [
    (128, 128, 128),
    (128, 0, 0),
    (192, 192, 128),
    (128, 64, 128),
    (60, 40, 222),
    (128, 128, 0),
    (192, 128, 128),
    (64, 64, 128),
    (64, 0, 128),
    (64, 64, 0),
    (0, 128, 192),
]


class OracleEngine:
    """Answers each frame with the CamVid label of the val image it shows (nearest by pixels).

    The issue's "oracle check": if the pipeline ever pairs a frame with another index (off by one,
    reordered, duplicated), the exported mask i is the label of another frame and the test fails.
    """

    def __init__(self, truth, labels):
        self._small = np.stack([self._thumb(t) for t in truth])
        self._labels = labels
        self.palette = np.array(CAMVID_COLORS, np.uint8)
        self.class_names = [f"c{i}" for i in range(11)]
        self.device = torch.device("cpu")
        self.device_label = "oracle"

    @staticmethod
    def _thumb(rgb):
        return rgb[::8, ::8].astype(np.float32)

    def predict(self, frames, confidence=False):
        out = []
        for rgb in frames:
            d = np.abs(self._small - self._thumb(rgb)).mean(axis=(1, 2, 3))
            out.append(Prediction(self._labels[int(d.argmin())].copy()))
        return out


@pytest.fixture(scope="module")
def labels(shared_data):
    files = sorted((shared_data / "camvid" / "valannot").glob("0016E5_*.png"))
    assert len(files) == N
    return [np.asarray(Image.open(f)) for f in files]


@pytest.fixture(scope="module")
def oracle(truth, labels):
    return OracleEngine(truth, labels)


def _mask_files(out):
    return sorted((out / "masks").glob("*.png"))


def test_exported_mask_i_belongs_to_frame_i(clip, oracle, labels, tmp_path):
    with open_source(clip) as src:
        res = run_export(src, oracle, tmp_path / "all", ExportOptions())
    assert res.exit_code == 0
    assert res.summary["complete"]
    assert res.summary["frames_written"] == N
    files = _mask_files(tmp_path / "all")
    assert [f.name for f in files] == [f"{i:06d}.png" for i in range(N)]
    for i, f in enumerate(files):
        assert np.array_equal(np.asarray(Image.open(f)), labels[i]), f"mask {i} is not frame {i}'s label"
    rows = list(csv.DictReader(open(tmp_path / "all" / "coverage.csv")))
    assert [int(r["frame"]) for r in rows] == list(range(N))
    assert float(rows[7]["pts_s"]) == pytest.approx(7 / 15, abs=1e-3)


def test_selection_and_ffv1_keep_frame_indices(clip, oracle, labels, tmp_path):
    opts = ExportOptions(format="ffv1", start=10, end=60, every=3)
    with open_source(clip) as src:
        res = run_export(src, oracle, tmp_path / "sel", opts)
    picked = list(range(10, 60, 3))
    assert res.exit_code == 0
    assert res.summary["frames_expected"] == len(picked) == res.summary["frames_written"]
    with av.open(str(tmp_path / "sel" / "masks.mkv")) as c:
        masks = [f.to_ndarray(format="gray") for f in c.decode(video=0)]
    assert len(masks) == len(picked)
    for k, i in enumerate(picked):
        assert np.array_equal(masks[k], labels[i]), f"ffv1 frame {k} is not source frame {i}"


def test_cancel_then_resume_gives_every_frame_once(clip, oracle, labels, fast_ckpt, tmp_path, capsys):
    out = tmp_path / "resume"
    cancel = threading.Event()

    def stop_after_20(p):
        if p.done >= 20:
            cancel.set()

    with open_source(clip) as src:
        first = run_export(
            src, oracle, out, ExportOptions(overlay=True), progress=stop_after_20, cancel=cancel
        )
    assert first.exit_code == 130
    assert first.summary["complete"] is False
    assert json.loads((out / "summary.json").read_text())["complete"] is False
    assert (out / "overlay.partial.mp4").exists()
    assert not (out / "overlay.mp4").exists()
    with pytest.raises(
        UserInputError, match=r"already holds a segtool export \(.segtool-export.json\); add --resume"
    ):
        with open_source(clip) as src:
            run_export(src, oracle, out, ExportOptions(overlay=True))
    assert (
        main(["predict", str(clip), "-c", str(fast_ckpt), "-o", str(out), "-q", "--overlay"]) == 2
    )  # CLI: exit 2
    assert "add --resume to continue it" in capsys.readouterr().err
    with open_source(clip) as src:
        second = run_export(src, oracle, out, ExportOptions(overlay=True, resume=True))
    assert second.exit_code == 0
    assert second.summary["frames_written"] == N
    assert 20 <= second.summary["frames_resumed"] < N
    files = _mask_files(out)
    assert len(files) == N
    assert all(np.array_equal(np.asarray(Image.open(f)), labels[i]) for i, f in enumerate(files))
    assert [int(r["frame"]) for r in csv.DictReader(open(out / "coverage.csv"))] == list(range(N))
    with av.open(str(out / "overlay.mp4")) as c:
        assert sum(1 for _ in c.decode(video=0)) == N
    assert not (out / "overlay.partial.mp4").exists()


def test_resume_refuses_other_settings(clip, oracle, tmp_path):
    out = tmp_path / "o"
    with open_source(clip) as src:
        run_export(src, oracle, out, ExportOptions(end=5))
    with open_source(clip) as src, pytest.raises(UserInputError, match="other inputs.*end: 5 then, 9 now"):
        run_export(src, oracle, out, ExportOptions(end=9, resume=True))


@pytest.mark.parametrize("name", ["mkv_vp9", "avi_mjpeg", "mp4_bframes", "odd_479x359", "rotated_mov"])
def test_reencoded_containers_export_every_frame(name, variants, rotated_mov, fast_ckpt, tmp_path, capsys):
    video = rotated_mov if name == "rotated_mov" else variants[name]
    out = tmp_path / name
    assert main(["predict", str(video), "-c", str(fast_ckpt), "-o", str(out), "-q", "--device", "cpu"]) == 0
    files = _mask_files(out)
    assert len(files) == N  # frame count of the export equals the source's
    expected = {"rotated_mov": (480, 360), "odd_479x359": (359, 479)}.get(name, (360, 480))
    assert Image.open(files[0]).size[::-1] == expected
    assert Image.open(files[-1]).mode == "P"
    assert json.loads((out / "summary.json").read_text())["complete"] is True


def test_truncated_video_exports_what_decodes_and_exits_1(clip, fast_ckpt, tmp_path, capsys):
    cut = tmp_path / "cut.mp4"
    data = clip.read_bytes()
    cut.write_bytes(data[: len(data) * 6 // 10])
    out = tmp_path / "out"
    assert main(["predict", str(cut), "-c", str(fast_ckpt), "-o", str(out), "-q", "--overlay"]) == 1
    err = capsys.readouterr().err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["complete"] is False
    assert "frame" in summary["stopped"]
    assert "partial" in err
    n = len(_mask_files(out))
    assert 0 < n < N
    assert summary["frames_written"] == n
    assert (out / "overlay.partial.mp4").exists()
    assert not (out / "overlay.mp4").exists()


def test_folder_export_with_overlays_and_warning(fast_ckpt, tmp_path, capsys):
    src = tmp_path / "photos"
    src.mkdir()
    rng = np.random.default_rng(0)
    for name, (h, w) in {"img2.jpg": (90, 120), "img10.png": (61, 47), "a.tif": (40, 40)}.items():
        Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(src / name)
    (src / "notes.txt").write_text("field notes")
    out = tmp_path / "out"
    assert main(["predict", str(src), "-c", str(fast_ckpt), "-o", str(out), "-q", "--overlay"]) == 0
    captured = capsys.readouterr()
    assert "skipped notes.txt" in captured.err
    assert Image.open(out / "masks" / "img10.png").size == (47, 61)
    assert sorted(p.name for p in (out / "overlays").iterdir()) == ["a.jpg", "img10.jpg", "img2.jpg"]
    rows = list(csv.DictReader(open(out / "coverage.csv")))
    assert [r["name"] for r in rows] == ["a.tif", "img2.jpg", "img10.png"]  # natural order


def _bad(argv, capsys, code=2):
    assert main(argv) == code
    return capsys.readouterr().err


def test_bad_inputs_exit_2_with_a_message(fast_ckpt, small_checkpoint, tmp_path, capsys):
    ck = ["-c", str(fast_ckpt)]
    out = ["-o", str(tmp_path / "o"), "-q"]
    assert "does not exist" in _bad(["predict", str(tmp_path / "nope.mp4"), *ck, *out], capsys)
    (tmp_path / "zero.png").touch()
    assert "zero.png" in _bad(["predict", str(tmp_path / "zero.png"), *ck, *out], capsys)
    (tmp_path / "empty").mkdir()
    assert "no images" in _bad(["predict", str(tmp_path / "empty"), *ck, *out], capsys)
    (tmp_path / "fake.mp4").write_text("this is not a video")
    assert "fake.mp4" in _bad(["predict", str(tmp_path / "fake.mp4"), *ck, *out], capsys)
    assert "cam:97" in _bad(["predict", "cam:97", *ck, *out], capsys)
    err = _bad(
        ["predict", "http://127.0.0.1:9/live.mp4", *ck, *out, "--timeout", "1", "--reconnects", "0"], capsys
    )
    assert "127.0.0.1:9" in err
    blocker = tmp_path / "file"
    blocker.write_text("x")
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "one.png")
    assert "choose another -o" in _bad(
        ["predict", str(tmp_path / "one.png"), *ck, "-o", str(blocker / "out"), "-q"], capsys
    )
    nocolor = load_checkpoint(small_checkpoint[0])
    nocolor = dataclasses.replace(nocolor, classes=[{"name": "background"}, {"name": "rock"}])
    torch.save(
        {**nocolor.to_dict(), "classes": [{"name": "background"}, {"name": "rock"}]}, tmp_path / "nocolor.pt"
    )
    assert "colour" in _bad(
        ["predict", str(tmp_path / "one.png"), "-c", str(tmp_path / "nocolor.pt"), *out], capsys
    )
    assert "ffv1" in _bad(["predict", str(tmp_path / "one.png"), *ck, *out, "--format", "ffv1"], capsys)


def test_existing_export_needs_resume_or_overwrite(fast_ckpt, tmp_path, capsys):
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "one.png")
    argv = ["predict", str(tmp_path / "one.png"), "-c", str(fast_ckpt), "-o", str(tmp_path / "o"), "-q"]
    assert main(argv) == 0
    assert "--overwrite" in _bad(argv, capsys)
    assert main([*argv, "--overwrite"]) == 0
    assert main([*argv, "--resume"]) == 0  # already complete: nothing to redo


def test_disk_full_is_reported_and_resumable(clip, fast_ckpt, tiny_disk, capsys):
    out = tiny_disk / "o"
    assert main(["predict", str(clip), "-c", str(fast_ckpt), "-o", str(out), "-q", "--overlay"]) == 2
    err = capsys.readouterr().err
    assert "disk full" in err
    assert "--resume" in err
    assert not (out / "overlay.mp4").exists()  # nothing looks complete


def test_latest_policy_drops_and_counts(clip, small_checkpoint):
    """While the model is busy, newer frames replace the unread one and each replaced frame is counted.
    Made deterministic: the first inference waits until the source has given all 30 frames, so exactly one
    frame waits at the end (the newest) and 28 were dropped, however fast or loaded the machine is."""
    engine = Engine(small_checkpoint[0], device="cpu")
    all_given = threading.Event()

    class FirstCallWaits:
        calls = 0

        def predict(self, frames, confidence=False):
            FirstCallWaits.calls += 1
            if FirstCallWaits.calls == 1:
                assert all_given.wait(60), "the source never finished"
            return engine.predict(frames, confidence=confidence)

    def frames(src):
        yield from src.frames(0, 30)
        all_given.set()  # runs once the decode thread has handed over frame 29

    seen = []
    with open_source(clip) as src:
        res = run_pipeline(
            frames(src), FirstCallWaits(), policy="latest", on_result=lambda f, p: seen.append(f.index)
        )
    assert res.complete
    assert res.frames_written == 2
    assert res.dropped == 28
    assert len(seen) == 2  # newest frames, in order, the last one included
    assert seen[0] < 29
    assert seen[-1] == 29


def test_overlay_opacity_and_hidden_classes_from_the_command_line(fast_ckpt, tmp_path, capsys):
    """`--opacity` and `--hide` give the CLI's overlays the look the app's export gets from the view:
    a hidden class shows the bare frame, the others are blended at the given opacity."""
    yy, xx = np.mgrid[0:96, 0:128]
    rgb = np.stack([xx * 2, yy * 2, np.full_like(xx, 90)], -1).astype(np.uint8)  # smooth: JPEG stays close
    Image.fromarray(rgb).save(tmp_path / "pic.png")
    out = tmp_path / "out"
    argv = [
        "predict",
        str(tmp_path / "pic.png"),
        "-c",
        str(fast_ckpt),
        "-o",
        str(out),
        "-q",
        "--overlay",
        "--opacity",
        "0.8",
        "--hide",
        "background",
    ]
    assert main(argv) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["overlay_style"] == {"opacity": 0.8, "hidden_classes": ["background"]}
    mask = np.asarray(Image.open(out / "masks" / "pic.png").convert("RGB"))
    palette = np.asarray(load_checkpoint(fast_ckpt).palette, float)
    is_bg = (mask == palette[0]).all(-1)
    assert is_bg.any(), "the test image must show both classes"
    assert (~is_bg).any(), "the test image must show both classes"
    ov = np.asarray(Image.open(out / "overlays" / "pic.jpg")).astype(float)
    assert np.abs(ov[is_bg] - rgb[is_bg]).mean() < 4  # hidden: the frame itself
    want = 0.2 * rgb[~is_bg] + 0.8 * palette[1]
    assert np.abs(ov[~is_bg] - want).mean() < 6  # rock at 80 %

    err = _bad(
        [
            "predict",
            str(tmp_path / "pic.png"),
            "-c",
            str(fast_ckpt),
            "-o",
            str(tmp_path / "o2"),
            "-q",
            "--overlay",
            "--hide",
            "sky",
        ],
        capsys,
    )
    assert "--hide sky" in err
    assert "background, rock" in err
    assert not (tmp_path / "o2").exists()  # refused before OUT was touched (no job record left behind)
    err = _bad(
        [
            "predict",
            str(tmp_path / "pic.png"),
            "-c",
            str(fast_ckpt),
            "-o",
            str(tmp_path / "o3"),
            "-q",
            "--overlay",
            "--opacity",
            "1.5",
        ],
        capsys,
    )
    assert "--opacity 1.5" in err
