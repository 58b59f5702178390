"""Per-file and text sinks: PNG masks, JPEG overlays, coverage CSV, summary.json, SinkGroup resume,
and the user errors (folder not writable, disk full). Real files in tmp_path."""

from __future__ import annotations

import csv
import itertools
import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from segtool.base import atomic
from segtool.base.atomic import temp_sibling
from segtool.core.errors import UserInputError
from segtool.core.frame import Frame, Prediction
from segtool.core.sinks import (
    CoverageCsvSink,
    OverlayJpgSink,
    PngMaskSink,
    SinkGroup,
    write_summary,
)

PALETTE = np.array([[0, 0, 0], [250, 50, 83], [10, 200, 10]], np.uint8)
CLASSES = ["background", "rock", "sky"]


def make(i: int, h: int = 24, w: int = 32, name: str | None = None) -> tuple[Frame, Prediction]:
    """Frame i: a mask whose class-1 band grows with i (every frame different), grey frame."""
    mask = np.zeros((h, w), np.uint8)
    mask[:, : (i * 3) % w] = 1
    mask[: h // 4, : w // 4] = 2
    rgb = np.full((h, w, 3), (i * 10) % 256, np.uint8)
    return Frame(i, None if name else i / 25, rgb, name), Prediction(mask)


def read_png(path: Path) -> tuple[np.ndarray, list[int], str]:
    with Image.open(path) as im:
        return np.array(im), im.getpalette(), im.mode


# --- PNG masks -------------------------------------------------------------------------------------
def test_png_video_mode_round_trip(tmp_path):
    sink = PngMaskSink(tmp_path, PALETTE)
    assert sink.open(resume=False) == 0
    for i in range(3):
        sink.write(*make(i))
    sink.close(True)
    files = sorted(p.name for p in (tmp_path / "masks").iterdir())
    assert files == ["000000.png", "000001.png", "000002.png"]  # no temporary files left
    for i in range(3):
        ids, palette, mode = read_png(tmp_path / "masks" / f"{i:06d}.png")
        assert mode == "P"
        assert palette[: 3 * len(PALETTE)] == PALETTE.ravel().tolist()
        assert (ids == make(i)[1].mask).all()


def test_png_index_uses_at_least_six_digits(tmp_path):
    sink = PngMaskSink(tmp_path, PALETTE)
    sink.open(resume=False)
    frame, pred = make(0)
    sink.write(Frame(1234567, 1.0, frame.rgb), pred)
    assert (tmp_path / "masks" / "1234567.png").is_file()


def test_png_named_mode_keeps_subfolders_and_replaces_suffix(tmp_path):
    sink = PngMaskSink(tmp_path, PALETTE)
    sink.open(resume=False)
    sink.write(*make(0, name="a.jpg"))
    sink.write(*make(1, name="sub/deeper/b.JPEG"))
    sink.close(True)
    assert (tmp_path / "masks" / "a.png").is_file()
    ids, _, mode = read_png(tmp_path / "masks" / "sub" / "deeper" / "b.png")
    assert mode == "P"
    assert (ids == make(1)[1].mask).all()


def test_png_ids_beyond_palette_stay_valid(tmp_path):
    sink = PngMaskSink(tmp_path, PALETTE)
    sink.open(resume=False)
    frame, pred = make(2)
    mask = pred.mask.copy()
    mask[0, 0] = 255
    sink.write(frame, Prediction(mask))
    ids, palette, _ = read_png(tmp_path / "masks" / "000002.png")
    assert (ids == mask).all()
    assert len(palette) == 256 * 3
    assert palette[:9] == PALETTE.ravel().tolist()


def test_png_name_clash_and_escaping_names_are_user_errors(tmp_path):
    sink = PngMaskSink(tmp_path, PALETTE)
    sink.open(resume=False)
    sink.write(*make(0, name="x.jpg"))
    with pytest.raises(UserInputError, match="x.png"):
        sink.write(*make(1, name="x.png"))
    with pytest.raises(UserInputError, match="relative path"):
        sink.write(*make(2, name="../evil.jpg"))


def test_png_write_is_atomic(tmp_path, monkeypatch):
    sink = PngMaskSink(tmp_path, PALETTE)
    sink.open(resume=False)

    def crash(src, dst):
        raise KeyboardInterrupt  # the process dies between writing the bytes and the rename

    monkeypatch.setattr(atomic.os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        sink.write(*make(0))
    assert list((tmp_path / "masks").iterdir()) == []  # neither a final file nor a left-over


def test_png_resume_counts_existing_and_removes_temporaries(tmp_path):
    sink = PngMaskSink(tmp_path, PALETTE)
    sink.open(resume=False)
    for i in range(5):
        sink.write(*make(i))
    sink.close(False)
    stale = temp_sibling(tmp_path / "masks" / "000005.png")
    stale.write_bytes(b"half a png")
    sink = PngMaskSink(tmp_path, PALETTE)
    assert sink.open(resume=True) == 5
    assert not stale.exists()
    assert sink.keyed
    assert sink.has(4)
    assert not sink.has(5)


def test_overlay_jpg_sink(tmp_path):
    sink = OverlayJpgSink(tmp_path, PALETTE, alpha=0.5)
    sink.open(resume=False)
    frame, pred = make(3, name="dir/img.png")
    sink.write(frame, pred)
    sink.close(True)
    path = tmp_path / "overlays" / "dir" / "img.jpg"
    with Image.open(path) as im:
        assert im.format == "JPEG"
        assert im.size == (32, 24)
        got = np.asarray(im.convert("RGB"), float)
    expected = frame.rgb * 0.5 + PALETTE[pred.mask] * 0.5
    assert np.abs(got - expected).mean() < 4  # JPEG is lossy; the picture is the blend


# --- coverage.csv ------------------------------------------------------------------------------------
def read_csv(path: Path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh))


def test_csv_rows_sum_to_one_and_partial_naming(tmp_path):
    path = tmp_path / "coverage.csv"
    sink = CoverageCsvSink(path, CLASSES)
    sink.open(resume=False)
    for i in range(4):
        sink.write(*make(i))
    assert not path.exists()
    assert (tmp_path / "coverage.partial.csv").is_file()
    sink.close(True)
    assert not (tmp_path / "coverage.partial.csv").exists()
    rows = read_csv(path)
    assert rows[0] == ["frame", "pts_s", *CLASSES]
    assert [r[0] for r in rows[1:]] == ["0", "1", "2", "3"]
    assert rows[2][1] == "0.040000"
    for r in rows[1:]:
        assert sum(float(x) for x in r[2:]) == pytest.approx(1.0, abs=1e-5)
        assert all(len(x.split(".")[1]) == 6 for x in r[2:])


def test_csv_named_mode_has_name_column(tmp_path):
    path = tmp_path / "coverage.csv"
    sink = CoverageCsvSink(path, CLASSES)
    sink.open(resume=False)
    sink.write(*make(0, name="sub/a, b.jpg"))
    sink.close(True)
    rows = read_csv(path)
    assert rows[0] == ["frame", "name", "pts_s", *CLASSES]
    assert rows[1][:3] == ["0", "sub/a, b.jpg", ""]


def test_csv_resume_drops_torn_row_and_never_duplicates(tmp_path):
    path = tmp_path / "coverage.csv"
    sink = CoverageCsvSink(path, CLASSES)
    sink.open(resume=False)
    for i in range(5):
        sink.write(*make(i))
    sink.close(False)
    with open(tmp_path / "coverage.partial.csv", "a", encoding="utf-8") as fh:
        fh.write("5,0.2000")  # a crash in the middle of row 5
    sink = CoverageCsvSink(path, CLASSES)
    n = sink.open(resume=True)
    assert n == 5
    for i in range(n, 9):
        sink.write(*make(i))
    sink.close(True)
    assert [r[0] for r in read_csv(path)[1:]] == [str(i) for i in range(9)]


def test_csv_resume_with_other_classes_is_a_user_error(tmp_path):
    sink = CoverageCsvSink(tmp_path / "coverage.csv", CLASSES)
    sink.open(resume=False)
    sink.write(*make(0))
    sink.close(False)
    with pytest.raises(UserInputError, match="-o"):
        CoverageCsvSink(tmp_path / "coverage.csv", ["a", "b"]).open(resume=True)


# --- SinkGroup resume protocol -----------------------------------------------------------------------
def test_group_resume_restarts_at_the_common_prefix(tmp_path):
    """PNGs for 0-4 and 6 exist, the CSV has 0-3: restart at 4, nothing missing, nothing doubled."""
    png, table = PngMaskSink(tmp_path, PALETTE), CoverageCsvSink(tmp_path / "coverage.csv", CLASSES)
    group = SinkGroup([png, table])
    group.open(resume=False)
    for i in range(4):
        group.write(*make(i))
    png.write(*make(4))
    png.write(*make(6))
    group.close(False)

    group = SinkGroup([PngMaskSink(tmp_path, PALETTE), CoverageCsvSink(tmp_path / "coverage.csv", CLASSES)])
    n = group.open(resume=True, order=itertools.count(0))
    assert n == 4
    for i in range(n, 10):
        group.write(*make(i))
    group.close(True)
    assert [r[0] for r in read_csv(tmp_path / "coverage.csv")[1:]] == [str(i) for i in range(10)]
    assert len(list((tmp_path / "masks").glob("*.png"))) == 10


def test_group_resume_follows_folder_order(tmp_path):
    names = ["b.jpg", "a/c.jpg", "z.png"]
    group = SinkGroup([PngMaskSink(tmp_path, PALETTE)])
    group.open(resume=False)
    group.write(*make(0, name=names[0]))
    group.write(*make(2, name=names[2]))  # not a prefix: a/c.jpg is missing
    group.close(False)
    group = SinkGroup([PngMaskSink(tmp_path, PALETTE)])
    assert group.open(resume=True, order=names) == 1
    group.close(False)
    with pytest.raises(ValueError, match="order"):
        SinkGroup([PngMaskSink(tmp_path, PALETTE)]).open(resume=True)


def test_group_fresh_open_returns_zero(tmp_path):
    assert SinkGroup([PngMaskSink(tmp_path, PALETTE)]).open(resume=False) == 0


# --- summary.json -----------------------------------------------------------------------------------
def test_summary_is_plain_json_written_atomically(tmp_path):
    summary = {
        "source": Path("/videos/a.mp4"),
        "frames_written": np.int64(12),
        "fps": float("nan"),
        "classes": CLASSES,
        "complete": True,
    }
    path = write_summary(tmp_path / "out", summary)
    assert path == tmp_path / "out" / "summary.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data == {
        "source": "/videos/a.mp4",
        "frames_written": 12,
        "fps": None,
        "classes": CLASSES,
        "complete": True,
    }
    assert sorted(os.listdir(tmp_path / "out")) == ["summary.json"]


# --- user errors -------------------------------------------------------------------------------------
def test_output_under_a_regular_file_is_a_user_error(tmp_path):
    blocker = tmp_path / "file.txt"
    blocker.write_text("not a folder")
    out = blocker / "out"
    for sink in (PngMaskSink(out, PALETTE), CoverageCsvSink(out / "coverage.csv", CLASSES)):
        with pytest.raises(UserInputError) as err:
            sink.open(resume=False)
        assert "file.txt" in str(err.value)
        assert "-o" in str(err.value)


def test_read_only_folder_is_a_user_error(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("running as root: chmod does not stop root writing (covered by the regular-file test)")
    out = tmp_path / "ro"
    out.mkdir()
    out.chmod(0o555)
    try:
        with pytest.raises(UserInputError, match="-o"):
            PngMaskSink(out, PALETTE).open(resume=False)
    finally:
        out.chmod(0o755)


def noise(i: int, h: int = 128, w: int = 128) -> tuple[Frame, Prediction]:
    # Random ids do not compress, so each PNG is ~16 KiB and the disk fills within a few frames.
    mask = np.random.default_rng(i).integers(0, 3, (h, w), dtype=np.uint8)
    return Frame(i, i / 25, np.zeros((h, w, 3), np.uint8)), Prediction(mask)


def test_disk_full_png_is_a_user_error_naming_the_file(tiny_disk):
    sink = PngMaskSink(tiny_disk, PALETTE)
    sink.open(resume=False)
    with pytest.raises(UserInputError) as err:
        for i in range(100):
            sink.write(*noise(i))
    msg = str(err.value)
    assert "disk full" in msg
    assert "--resume" in msg
    assert ".png" in msg
    # Whatever was written is complete: every PNG present decodes to its mask.
    names = sorted(p.name for p in (tiny_disk / "masks").iterdir())
    assert names
    assert all(not n.startswith(".") for n in names)
    for name in names:
        i = int(name[:6])
        assert (read_png(tiny_disk / "masks" / name)[0] == noise(i)[1].mask).all()


def test_disk_full_csv_is_a_user_error(tiny_disk):
    (tiny_disk / "filler").write_bytes(b"\0" * (256 * 1024 - 8192))
    sink = CoverageCsvSink(tiny_disk / "coverage.csv", [f"class{i}" for i in range(200)])
    sink.open(resume=False)
    with pytest.raises(UserInputError, match="coverage.partial.csv.*--resume"):
        for i in range(1000):
            sink.write(*make(i))


def test_name_too_long_names_the_limit_and_the_fix(tmp_path):
    sink = PngMaskSink(tmp_path, PALETTE)
    sink.open(resume=False)
    frame, pred = make(0, name="n" * 300 + ".jpg")
    with pytest.raises(
        UserInputError, match=r"name is too long \(304 bytes; this file system allows 255.*shorten"
    ):
        sink.write(frame, pred)
