"""Video sinks (FFV1 masks, H.264 overlay): decoded back with PyAV, partial naming, resume, crashes."""

from __future__ import annotations

import os
from pathlib import Path

import av
import numpy as np
import pytest

from segtool.core.errors import UserInputError
from segtool.core.frame import Frame, Prediction
from segtool.core.sinks import (
    CoverageCsvSink,
    Ffv1MaskSink,
    OverlayVideoSink,
    SinkGroup,
    decode_video_frames,
)

PALETTE = np.array([[0, 0, 0], [250, 50, 83], [10, 200, 10]], np.uint8)
FPS = 25


def make(i: int, h: int = 48, w: int = 64) -> tuple[Frame, Prediction]:
    """Frame i: every mask different (a band that grows with i), a frame whose brightness follows i."""
    mask = np.zeros((h, w), np.uint8)
    mask[:, : (i * 3) % w] = 1
    mask[: h // 4, : w // 4] = 2
    mask[h - 1, w - 1] = i % 3
    rgb = np.full((h, w, 3), (i * 9) % 200, np.uint8)
    return Frame(i, i / FPS, rgb), Prediction(mask)


def masks_of(path: Path) -> list[np.ndarray]:
    return [f.to_ndarray(format="gray") for f in decode_video_frames(path)]


def times_of(path: Path) -> list[float]:
    with av.open(str(path)) as c:
        return [round(float(f.time), 4) for f in c.decode(video=0)]


def write(sink, frames, *, resume=False, complete=True, start=None) -> int:
    n = sink.open(resume=resume)
    for i in frames if start is None else range(n, start):
        sink.write(*make(i))
    sink.close(complete)
    return n


# --- FFV1 -------------------------------------------------------------------------------------------
def test_ffv1_is_lossless_with_one_frame_per_source_frame(tmp_path):
    path = tmp_path / "masks.mkv"
    write(Ffv1MaskSink(path, FPS), range(10))
    assert sorted(os.listdir(tmp_path)) == ["masks.mkv"]
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        assert stream.codec_context.name == "ffv1"
        assert stream.codec_context.pix_fmt == "gray"
    got = masks_of(path)
    assert len(got) == 10
    assert all((g == make(i)[1].mask).all() for i, g in enumerate(got))
    assert times_of(path) == [round(i / FPS, 4) for i in range(10)]


def test_ffv1_without_pts_spaces_frames_by_fps(tmp_path):
    sink = Ffv1MaskSink(tmp_path / "masks.mkv", 10)
    sink.open(resume=False)
    for i in range(3):
        frame, pred = make(i)
        sink.write(Frame(i, None, frame.rgb), pred)
    sink.close(True)
    assert times_of(tmp_path / "masks.mkv") == [0.0, 0.1, 0.2]


def test_interrupted_video_keeps_partial_name_and_plays(tmp_path):
    write(Ffv1MaskSink(tmp_path / "masks.mkv", FPS), range(5), complete=False)
    assert sorted(os.listdir(tmp_path)) == ["masks.partial.mkv"]
    assert len(masks_of(tmp_path / "masks.partial.mkv")) == 5


def test_ffv1_resume_continues_without_gap_or_duplicate(tmp_path):
    path = tmp_path / "masks.mkv"
    write(Ffv1MaskSink(path, FPS), range(5), complete=False)
    n = write(Ffv1MaskSink(path, FPS), None, resume=True, start=12)
    assert n == 5
    assert sorted(os.listdir(tmp_path)) == ["masks.mkv"]
    got = masks_of(path)
    assert len(got) == 12
    assert all((g == make(i)[1].mask).all() for i, g in enumerate(got))
    assert times_of(path) == [round(i / FPS, 4) for i in range(12)]


def test_ffv1_resume_after_a_crash_uses_what_is_readable(tmp_path):
    """A killed run leaves a cut-off file: resume keeps its readable frames and redoes the rest."""
    path, partial = tmp_path / "masks.mkv", tmp_path / "masks.partial.mkv"
    write(Ffv1MaskSink(path, FPS), range(20), complete=False)
    data = partial.read_bytes()
    partial.write_bytes(data[: len(data) * 6 // 10])
    sink = Ffv1MaskSink(path, FPS)
    n = sink.open(resume=True)
    assert 0 < n < 20
    for i in range(n, 20):
        sink.write(*make(i))
    sink.close(True)
    got = masks_of(path)
    assert len(got) == 20
    assert all((g == make(i)[1].mask).all() for i, g in enumerate(got))


def test_ffv1_resume_interrupted_again_then_finished(tmp_path):
    path = tmp_path / "masks.mkv"
    write(Ffv1MaskSink(path, FPS), range(3), complete=False)
    assert write(Ffv1MaskSink(path, FPS), None, resume=True, start=7, complete=False) == 3
    assert sorted(os.listdir(tmp_path)) == ["masks.partial.mkv"]
    assert write(Ffv1MaskSink(path, FPS), None, resume=True, start=9) == 7
    got = masks_of(path)
    assert len(got) == 9
    assert all((g == make(i)[1].mask).all() for i, g in enumerate(got))


def test_resume_of_a_finished_video_with_nothing_new_leaves_it_as_is(tmp_path):
    path = tmp_path / "masks.mkv"
    write(Ffv1MaskSink(path, FPS), range(4))
    before = path.read_bytes()
    assert write(Ffv1MaskSink(path, FPS), [], resume=True) == 4
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["masks.mkv"]


def test_fresh_open_removes_an_old_finished_video(tmp_path):
    path = tmp_path / "masks.mkv"
    write(Ffv1MaskSink(path, FPS), range(4))
    write(Ffv1MaskSink(path, FPS), range(2), complete=False)
    assert sorted(os.listdir(tmp_path)) == ["masks.partial.mkv"]  # no stale "complete" file beside it


def test_group_trims_a_sink_that_got_further(tmp_path):
    """The mask video has 8 frames but the CSV only 5: the video keeps 5, the run restarts at 5."""
    mkv, table = tmp_path / "masks.mkv", tmp_path / "coverage.csv"
    write(Ffv1MaskSink(mkv, FPS), range(8), complete=False)
    write(CoverageCsvSink(table, ["bg", "rock", "sky"]), range(5), complete=False)
    group = SinkGroup([Ffv1MaskSink(mkv, FPS), CoverageCsvSink(table, ["bg", "rock", "sky"])])
    n = group.open(resume=True)
    assert n == 5
    for i in range(n, 10):
        group.write(*make(i))
    group.close(True)
    got = masks_of(mkv)
    assert len(got) == 10
    assert all((g == make(i)[1].mask).all() for i, g in enumerate(got))
    assert times_of(mkv) == [round(i / FPS, 4) for i in range(10)]


# --- H.264 overlay ------------------------------------------------------------------------------------
def test_overlay_video_count_size_and_timing(tmp_path):
    path = tmp_path / "overlay.mp4"
    write(OverlayVideoSink(path, FPS, PALETTE), range(12))
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        assert stream.codec_context.name == "h264"
        frames = list(c.decode(video=0))
    assert len(frames) == 12
    assert (frames[0].width, frames[0].height) == (64, 48)
    assert frames[0].format.name == "yuv420p"
    assert [round(float(f.time), 4) for f in frames] == [round(i / FPS, 4) for i in range(12)]
    # The picture is the blend: compare the mean colour of frame 5 (lossy, so loosely).
    frame, pred = make(5)
    expected = (frame.rgb * 0.5 + PALETTE[pred.mask] * 0.5).mean(axis=(0, 1))
    got = frames[5].to_ndarray(format="rgb24").reshape(-1, 3).mean(axis=0)
    assert np.abs(got - expected).max() < 6


def test_overlay_video_pads_odd_sizes_to_even(tmp_path):
    path = tmp_path / "overlay.mp4"
    sink = OverlayVideoSink(path, FPS, PALETTE)
    sink.open(resume=False)
    for i in range(3):
        frame, pred = make(i, h=47, w=63)
        sink.write(frame, pred)
    sink.close(True)
    frames = list(decode_video_frames(path))
    assert len(frames) == 3
    assert (frames[0].width, frames[0].height) == (64, 48)


def test_overlay_video_resume(tmp_path):
    path = tmp_path / "overlay.mp4"
    write(OverlayVideoSink(path, FPS, PALETTE), range(5), complete=False)
    assert sorted(os.listdir(tmp_path)) == ["overlay.partial.mp4"]
    assert len(list(decode_video_frames(tmp_path / "overlay.partial.mp4"))) == 5
    assert write(OverlayVideoSink(path, FPS, PALETTE), None, resume=True, start=11) == 5
    assert sorted(os.listdir(tmp_path)) == ["overlay.mp4"]
    assert times_of(path) == [round(i / FPS, 4) for i in range(11)]


def test_overlay_partial_survives_a_crash(tmp_path):
    """Fragmented MP4: a file cut mid-way still decodes up to its last complete fragment."""
    path, partial = tmp_path / "overlay.mp4", tmp_path / "overlay.partial.mp4"
    write(OverlayVideoSink(path, 5, PALETTE), range(30), complete=False)  # fps 5: key frame every 10
    data = partial.read_bytes()
    partial.write_bytes(data[: len(data) * 8 // 10])
    sink = OverlayVideoSink(path, 5, PALETTE)
    n = sink.open(resume=True)
    assert 10 <= n < 30
    for i in range(n, 30):
        sink.write(*make(i))
    sink.close(True)
    assert times_of(path) == [round(i / FPS, 4) for i in range(30)]  # the frames carry pts_s


# --- errors -------------------------------------------------------------------------------------------
def test_video_output_under_a_regular_file_is_a_user_error(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(UserInputError, match="-o"):
        Ffv1MaskSink(tmp_path / "f" / "masks.mkv", FPS).open(resume=False)


def test_disk_full_while_encoding_video_is_a_user_error(tiny_disk):
    sink = Ffv1MaskSink(tiny_disk / "masks.mkv", FPS)
    sink.open(resume=False)
    rng = np.random.default_rng(0)
    with pytest.raises(UserInputError) as err:
        for i in range(200):
            mask = rng.integers(0, 3, (128, 128), dtype=np.uint8)  # incompressible
            sink.write(Frame(i, i / FPS, np.zeros((128, 128, 3), np.uint8)), Prediction(mask))
        sink.close(True)
    assert "masks.partial.mkv" in str(err.value)
    assert "--resume" in str(err.value)
    with pytest.raises(UserInputError):
        sink.close(False)  # still full: the close reports it too, and does not hang or crash


@pytest.mark.parametrize(
    ("sink_type", "pix_fmt"), [(Ffv1MaskSink, "gray"), (OverlayVideoSink, "yuv420p")], ids=["ffv1", "h264"]
)
def test_a_cut_file_never_yields_a_damaged_frame(tmp_path, sink_type, pix_fmt):
    """Wherever a crash cuts the partial file, what resume reads back is an exact prefix."""
    path = tmp_path / ("masks.mkv" if sink_type is Ffv1MaskSink else "overlay.mp4")
    args = () if sink_type is Ffv1MaskSink else (PALETTE,)
    write(sink_type(path, 5, *args), range(20), complete=False)
    partial = tmp_path / f"{path.stem}.partial{path.suffix}"
    data = partial.read_bytes()
    reference = [f.to_ndarray(format=pix_fmt) for f in decode_video_frames(partial)]
    assert len(reference) == 20
    for cut in range(100, len(data), max(1, len(data) // 40)):
        partial.write_bytes(data[:cut])
        got = [f.to_ndarray(format=pix_fmt) for f in decode_video_frames(partial)]
        assert len(got) <= 20, cut
        assert all((g == r).all() for g, r in zip(got, reference, strict=False)), cut
