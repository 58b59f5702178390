"""`segtool fragments` end to end on real files: --from-masks reproduces labelled sizes, a model run
writes every output, interrupt + --resume gives the same result, video windows, bad input."""

from __future__ import annotations

import csv
import dataclasses
import json
import shutil
import threading
from fractions import Fraction

import av
import numpy as np
import pytest
from PIL import Image

from segtool.cli import main
from segtool.core.fragments import FragmentSettings
from segtool.core.fragments.job import RECORDS, FragmentsOptions, run_fragments
from segtool.models import load_checkpoint, save_checkpoint


@pytest.fixture(scope="module")
def frag_ckpt(small_checkpoint, tmp_path_factory):
    """The small real checkpoint (background, rock) marked as a rock-only fragments model, run at 96 px."""
    ck = load_checkpoint(small_checkpoint[0])
    ck = dataclasses.replace(
        ck, preprocess=dict(ck.preprocess, resize_short=96), fragments={"interior": "rock", "edge": None}
    )
    return save_checkpoint(ck, tmp_path_factory.mktemp("frag") / "frag.pt")


@pytest.fixture
def gravel(shared_data, tmp_path):
    """Two labelled gravel images (instances) and their photos, copied to a small folder."""
    src = shared_data / "rocks_dense" / "gravel"
    if not src.is_dir():
        pytest.skip("rocks_dense/gravel not found")
    names = sorted(p.stem for p in (src / "instances").glob("*.png"))[:2]
    for sub, ext in (("instances", ".png"), ("images", ".jpg")):
        (tmp_path / sub).mkdir()
        for n in names:
            shutil.copy(src / sub / f"{n}{ext}", tmp_path / sub / f"{n}{ext}")
    return tmp_path


def _rows(out):
    with open(out / "fragments.csv") as f:
        return list(csv.DictReader(f))


def test_from_masks_reproduces_labelled_sizes(gravel, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(
        [
            "fragments",
            str(gravel / "instances"),
            "--from-masks",
            "instances",
            "-o",
            str(out),
            "--min-size",
            "0",
            "--include-border",
            "--scale",
            "0.39",
            "--instances",
            "-q",
        ]
    )
    assert code == 0, capsys.readouterr().err
    rows = _rows(out)
    for i, f in enumerate(sorted((gravel / "instances").glob("*.png"))):
        inst = np.asarray(Image.open(f)).astype(np.int64)
        want = sorted(int(n) for n in np.bincount(inst.ravel())[1:] if n)
        got = sorted(int(r["area_px"]) for r in rows if int(r["frame"]) == i)
        assert got == want  # every labelled fragment, at exactly its labelled area
        d = {int(r["area_px"]): float(r["diameter_mm"]) for r in rows if int(r["frame"]) == i}
        assert all(abs(dm - 2 * np.sqrt(a / np.pi) * 0.39) < 1e-3 for a, dm in d.items())
        written = np.asarray(Image.open(out / "instances" / f.name))
        assert written.dtype == np.uint16
        assert len(np.unique(written)) - 1 == len(want)
    s = json.loads((out / "summary.json").read_text())
    assert s["complete"]
    assert s["unit"] == "mm"
    assert s["scale_mm_per_px"] == 0.39
    assert s["overall"]["fragments"] == len(rows)
    # the default border rule leaves out exactly the fragments touching the border
    out2 = tmp_path / "out2"
    assert (
        main(
            [
                "fragments",
                str(gravel / "instances"),
                "--from-masks",
                "instances",
                "-o",
                str(out2),
                "--min-size",
                "0",
                "-q",
            ]
        )
        == 0
    )
    s2 = json.loads((out2 / "summary.json").read_text())
    assert s2["overall"]["fragments"] == sum(r["touches_border"] == "0" for r in rows)
    rows2 = _rows(out2)  # fragments.csv says which pieces count: its in_distribution column
    assert list(rows2[0])[-2:] == ["fines", "in_distribution"]
    assert sum(r["in_distribution"] == "1" for r in rows2) == s2["overall"]["fragments"] > 0
    assert all(r["in_distribution"] == ("1" if r["touches_border"] == "0" else "0") for r in rows2)
    assert (out2 / "curves.png").stat().st_size > 10_000
    assert (out2 / "distribution.csv").is_file()


def test_model_run_writes_every_output(gravel, frag_ckpt, tmp_path, capsys):
    out = tmp_path / "m"
    code = main(
        [
            "fragments",
            str(gravel / "images"),
            "-c",
            str(frag_ckpt),
            "-o",
            str(out),
            "--instances",
            "--overlay",
            "-q",
        ]
    )
    assert code == 0, capsys.readouterr().err
    rows = _rows(out)
    assert rows
    assert all(r["confidence"] for r in rows)
    assert list(rows[0])[-2:] == ["fines", "in_distribution"]  # the columns docs/fragments.md promises
    for i, img in enumerate(sorted((gravel / "images").glob("*.jpg"))):
        lab = np.asarray(Image.open(out / "instances" / f"{img.stem}.png")).astype(np.int64)
        counts = np.bincount(lab.ravel())
        mine = {int(r["fragment"]): int(r["area_px"]) for r in rows if int(r["frame"]) == i}
        assert mine == {k: int(counts[k]) for k in range(1, len(counts)) if counts[k]}
        assert (out / "overlays" / f"{img.stem}.jpg").is_file()
    s = json.loads((out / "summary.json").read_text())
    assert s["complete"]
    assert s["unit"] == "px"
    assert s["settings"]["method"] == "distance-transform watershed"


def test_interrupt_then_resume_gives_the_same_result(gravel, tmp_path):
    masks = tmp_path / "many"
    masks.mkdir()
    for k in range(5):  # five masks: the two labelled ones, shifted copies
        src = sorted((gravel / "instances").glob("*.png"))[k % 2]
        Image.fromarray(np.roll(np.asarray(Image.open(src)), 7 * k, axis=1)).save(masks / f"m{k}.png")
    opts = FragmentsOptions(from_masks="instances", settings=FragmentSettings(min_size_px=10))
    full = run_fragments([str(masks)], tmp_path / "full", opts)
    assert full.exit_code == 0
    assert full.frames_done == 5
    cancel = threading.Event()
    part = run_fragments(
        [str(masks)], tmp_path / "part", opts, progress=lambda n: n >= 2 and cancel.set(), cancel=cancel
    )
    assert part.exit_code == 130
    assert part.frames_done == 2
    assert json.loads((tmp_path / "part" / "summary.json").read_text())["complete"] is False
    with open(tmp_path / "part" / RECORDS, "a") as f:
        f.write('{"key": "torn')  # a crash in the middle of a line
    with pytest.raises(Exception, match="--resume"):
        run_fragments([str(masks)], tmp_path / "part", opts)
    other = dataclasses.replace(opts, resume=True, settings=FragmentSettings(min_size_px=11))
    with pytest.raises(Exception, match="other settings"):
        run_fragments([str(masks)], tmp_path / "part", other)
    done = run_fragments([str(masks)], tmp_path / "part", dataclasses.replace(opts, resume=True))
    assert done.exit_code == 0
    assert done.frames_done == 5
    assert (tmp_path / "part" / "fragments.csv").read_text() == (
        tmp_path / "full" / "fragments.csv"
    ).read_text()
    a = json.loads((tmp_path / "part" / "summary.json").read_text())
    b = json.loads((tmp_path / "full" / "summary.json").read_text())
    assert a["overall"] == b["overall"]
    assert a["complete"]


def test_video_windows_and_over_time(frag_ckpt, tmp_path, capsys):
    from segtool.demo_footage import make_clip

    video = tmp_path / "pile.mp4"
    with av.open(str(video), "w") as c:
        st = c.add_stream("libx264", rate=Fraction(10, 1))
        st.width, st.height, st.pix_fmt = 160, 96, "yuv420p"
        for fr in make_clip(seed=3, size=(160, 96), frames=30, fps=10):
            for p in st.encode(av.VideoFrame.from_ndarray(fr.rgb, format="rgb24")):
                c.mux(p)
        for p in st.encode():
            c.mux(p)
    out = tmp_path / "v"
    code = main(
        [
            "fragments",
            str(video),
            "-c",
            str(frag_ckpt),
            "-o",
            str(out),
            "--every",
            "3",
            "--window",
            "1",
            "--min-size",
            "0",
            "--include-border",
            "--overlay",
            "-q",
        ]
    )
    assert code == 0, capsys.readouterr().err
    s = json.loads((out / "summary.json").read_text())
    wins = s["sources"][0]["windows"]
    assert [w["frames"] for w in wins] == [4, 3, 3]  # frames 0,3,6,9 | 12,15,18 | 21,24,27 at 10 fps
    assert (out / "over_time.png").is_file()
    frames = sorted({int(r["frame"]) for r in _rows(out)})
    assert set(frames) <= set(range(0, 30, 3))
    with av.open(str(out / "overlay_pile.mp4")) as c:  # H.264 outline video: one frame per measured frame
        assert sum(1 for _ in c.decode(video=0)) == 10


def test_bad_input_exits_2(gravel, frag_ckpt, tmp_path, capsys):
    out = tmp_path / "o"
    assert (
        main(["fragments", str(gravel / "instances"), "--from-masks", "instances", "-o", str(out), "-q"]) == 0
    )
    assert (
        main(["fragments", str(gravel / "instances"), "--from-masks", "instances", "-o", str(out), "-q"]) == 2
    )
    assert "--resume" in capsys.readouterr().err
    assert (
        main(
            [
                "fragments",
                str(gravel / "images"),
                "--from-masks",
                "instances",
                "-o",
                str(tmp_path / "x"),
                "-q",
            ]
        )
        == 2
    )
    assert (
        main(
            [
                "fragments",
                str(gravel / "images"),
                "-c",
                str(frag_ckpt),
                "-o",
                str(tmp_path / "y"),
                "--scale",
                "-1",
            ]
        )
        == 2
    )
    assert (
        main(
            [
                "fragments",
                str(gravel / "images"),
                "-c",
                str(frag_ckpt),
                "--interior",
                "sky",
                "-o",
                str(tmp_path / "z"),
            ]
        )
        == 2
    )


def test_shipped_model_by_name(tmp_path, capsys):
    from segtool.demo import shipped_model

    path = shipped_model("rock_fragments.pt")
    assert path is not None
    assert path.stat().st_size < 8_000_000
    ck = load_checkpoint(path)
    # the learned centre split (docs/fragments.md, "The shipped model")
    assert ck.fragments == {
        "interior": "rock",
        "edge": "rock_edge",
        "centre": "rock_centre",
        "split": "centre",
    }
    assert ck.class_names == ["background", "rock", "rock_edge", "rock_centre"]
    assert ck.confidence_reference and ck.confidence_reference["images"] >= 40
    img = tmp_path / "pile.png"
    from segtool.demo_footage import make_image

    Image.fromarray(make_image(seed=2, size=(160, 96))[0]).save(img)
    assert main(["fragments", str(img), "-c", "rock_fragments", "-o", str(tmp_path / "o"), "-q"]) == 0
    s = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert s["complete"]
    assert s["settings"]["method"] == "centre-seeded watershed"


def test_runtime_choice_gives_the_same_fragments(gravel, tmp_path, capsys):
    """The shipped fragment model through ONNX Runtime finds the same rocks as through PyTorch."""
    d50, n = {}, {}
    for rt in ("torch", "onnxruntime"):
        out = tmp_path / rt
        assert (
            main(
                [
                    "fragments",
                    str(gravel / "images"),
                    "-c",
                    "rock_fragments",
                    "-o",
                    str(out),
                    "-q",
                    "--runtime",
                    rt,
                ]
            )
            == 0
        )
        overall = json.loads((out / "summary.json").read_text())["overall"]
        d50[rt], n[rt] = overall["by_area"]["D50"], overall["fragments"]
    assert n["torch"] > 10
    assert n["onnxruntime"] == pytest.approx(n["torch"], rel=0.02)
    assert d50["onnxruntime"] == pytest.approx(d50["torch"], rel=0.02)
    out = tmp_path / "torch"
    assert (
        main(
            [
                "fragments",
                str(gravel / "images"),
                "-c",
                "rock_fragments",
                "-o",
                str(out),
                "-q",
                "--resume",
                "--runtime",
                "onnxruntime",
            ]
        )
        == 2
    )  # a resume must continue the same job
    assert "runtime" in capsys.readouterr().err
