"""Video file sources on real footage: frame accuracy across containers and codecs, rotation,
odd sizes, B-frames, variable frame rate, random access, truncation, bad input.

The real clip (`clips/camvid_0016E5_val_15fps.mp4`) has ground truth: frame i is the i-th CamVid
val PNG of sequence 0016E5. Variants are re-encoded from those PNGs with PyAV once per session.
"""

from __future__ import annotations

import shutil

import av
import numpy as np
import pytest
from PIL import Image

from segtool.core.errors import SourceInterrupted, UserInputError
from segtool.core.sources import VideoSource, open_source
from tests.videos import CLIP, X264, N, _encode  # noqa: F401 (fixtures live in tests/unit/conftest.py)

# --- helpers -----------------------------------------------------------------------------------


def _dist(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


def assert_is_frame(rgb: np.ndarray, i: int, truth: list[np.ndarray], crop=None, turn: int = 0) -> None:
    """Decoded frame i must be closer to ground truth i than to i-1 and i+1."""
    assert rgb.dtype == np.uint8
    assert rgb.ndim == 3
    assert rgb.shape[2] == 3
    assert rgb.flags.c_contiguous
    if turn:
        rgb = np.rot90(rgb, -turn // 90)

    def ref(j):
        return truth[j] if crop is None else truth[j][: crop[0], : crop[1]]

    here = _dist(rgb, ref(i))
    for j in (i - 1, i + 1):
        if 0 <= j < len(truth):
            assert here < _dist(rgb, ref(j)), (
                f"frame {i} looks like truth {j} ({here:.2f} vs {_dist(rgb, ref(j)):.2f})"
            )
    assert here < 12, f"frame {i} differs from its ground truth by {here:.1f} grey levels on average"


READ_ORDER = [0, 37, 100, 5, 99, 36, 38, 1, 0, 64, 63]  # forward, backward, neighbours, repeats


# --- the real clip -----------------------------------------------------------------------------


def test_clip_metadata(clip):
    with open_source(clip) as src:
        assert isinstance(src, VideoSource)
        assert (src.kind, src.is_live, src.frames_expected, src.fps) == ("video", False, N, 15.0)
        assert src.description == f"video {clip.name} (480x360, 15.0 fps, 101 frames)"
        assert src.skipped == []


def test_clip_every_frame_accurate(clip, truth):
    with open_source(clip) as src:
        frames = list(src.frames())
    assert [f.index for f in frames] == list(range(N))
    for f in frames:
        assert f.size == (360, 480)
        assert f.name is None
        assert_is_frame(f.rgb, f.index, truth)
    assert frames[37].pts_s == pytest.approx(37 / 15)


def test_clip_random_access_matches_sequential(clip, truth):
    with open_source(clip) as src:
        sequential = {f.index: f.rgb for f in src.frames()}
        for i in READ_ORDER:
            f = src.read(i)
            assert f.index == i
            assert f.pts_s == pytest.approx(i / 15)
            assert np.array_equal(f.rgb, sequential[i]), f"read({i}) differs from the {i}-th decoded frame"
            assert_is_frame(f.rgb, i, truth)
        with pytest.raises(IndexError):
            src.read(N)
        with pytest.raises(IndexError):
            src.read(-1)


def test_clip_start_end_every(clip, truth):
    with open_source(clip) as src:
        picked = list(src.frames(start=37, end=80, every=7))
        assert [f.index for f in picked] == [37, 44, 51, 58, 65, 72, 79]
        for f in picked:
            assert_is_frame(f.rgb, f.index, truth)
        assert [f.index for f in src.frames(start=95)] == [95, 96, 97, 98, 99, 100]
        assert [f.index for f in src.frames(end=3)] == [0, 1, 2]
        assert [f.index for f in src.frames(start=98, end=10_000)] == [98, 99, 100]


def test_iterators_are_independent(clip):
    with open_source(clip) as src:
        a, b = src.frames(), src.frames(start=50)
        assert next(a).index == 0
        assert next(b).index == 50
        assert src.read(80).index == 80
        assert next(a).index == 1
        assert next(b).index == 51


@pytest.mark.parametrize("bad", [dict(every=0), dict(start=-1), dict(start=101), dict(start=10, end=10)])
def test_bad_selection(clip, bad):
    with open_source(clip) as src, pytest.raises(UserInputError) as e:
        src.frames(**bad)
    assert str(next(iter(bad.values()))) in str(e.value)


# --- re-encoded variants -----------------------------------------------------------------------


@pytest.mark.parametrize("name", ["mkv_vp9", "avi_mjpeg", "mp4_bframes", "odd_479x359"])
def test_variant_counts_and_accuracy(variants, truth, name):
    crop = (359, 479) if name == "odd_479x359" else None
    with open_source(variants[name]) as src:
        assert src.frames_expected == N
        frames = list(src.frames())
        assert [f.index for f in frames] == list(range(N))
        for f in frames:
            assert f.size == (crop or (360, 480))
            assert_is_frame(f.rgb, f.index, truth, crop=crop)
        assert [f.pts_s for f in frames[:3]] == pytest.approx([0, 1 / 15, 2 / 15], abs=1e-3)
        for i in READ_ORDER:
            f = src.read(i)
            assert f.index == i, f"{name}: read({i}) != frame {i}"
            assert np.array_equal(f.rgb, frames[i].rgb), f"{name}: read({i}) != frame {i}"


def test_fixtures_exercise_seeking(variants):
    """Guard the fixtures: B-frames really reorder, and there are keyframes to seek to."""
    with av.open(str(variants["mp4_bframes"])) as c:
        packets = [(p.pts, p.is_keyframe) for p in c.demux(c.streams.video[0]) if p.size]
    assert [p for p, _ in packets] != sorted(p for p, _ in packets)
    assert sum(k for _, k in packets) >= 5
    with av.open(str(variants["mkv_vp9"])) as c:
        assert sum(p.is_keyframe for p in c.demux(c.streams.video[0]) if p.size) >= 5


def test_rotation_metadata_gives_upright_frames(rotated_mov, truth):
    with open_source(rotated_mov) as src:
        assert src.rotation == 90
        assert (src.width, src.height) == (360, 480)
        assert "360x480" in src.description
        frames = list(src.frames())
        assert len(frames) == N
        for f in frames[::10]:
            assert f.size == (480, 360)  # portrait: 480 rows, 360 columns
            assert_is_frame(f.rgb, f.index, truth, turn=90)
        assert np.array_equal(src.read(42).rgb, frames[42].rgb)


def test_rotation_agrees_with_opencv(rotated_mov):
    """OpenCV applies the display matrix on its own: an independent check of the direction."""
    import cv2

    cap = cv2.VideoCapture(str(rotated_mov))
    ok, bgr = cap.read()
    cap.release()
    assert ok
    with open_source(rotated_mov) as src:
        ours = src.read(0).rgb
    assert ours.shape == bgr.shape
    assert _dist(ours, bgr[:, :, ::-1]) < 3


def test_variable_frame_rate(vfr_mkv, truth):
    path, pts_s = vfr_mkv
    with open_source(path) as src:
        assert src.frames_expected == N  # Matroska has no frame count: counted from packets
        frames = list(src.frames())
        assert [f.pts_s for f in frames] == pytest.approx(pts_s, abs=1e-3)
        for f in frames[::7]:
            assert_is_frame(f.rgb, f.index, truth)
        for i in (77, 3, 50):
            f = src.read(i)
            assert f.pts_s == pytest.approx(pts_s[i], abs=1e-3)
            assert np.array_equal(f.rgb, frames[i].rgb)
        assert [f.index for f in src.frames(start=10, end=20, every=3)] == [10, 13, 16, 19]


# --- broken and bad input ----------------------------------------------------------------------


def _collect_until_interrupted(src, **kw):
    got = []
    with pytest.raises(SourceInterrupted) as e:
        for f in src.frames(**kw):
            got.append(f)
    return got, e.value


def test_truncated_mp4_yields_frames_then_interrupts(clip, truth, tmp_path):
    data = clip.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])  # the header (moov) is at the front: it still opens
    with open_source(cut) as src:
        got, err = _collect_until_interrupted(src)
    assert 10 < len(got) < N
    assert [f.index for f in got] == list(range(len(got)))
    assert err.last_index == got[-1].index
    assert f"frame {len(got)}" in str(err)
    assert "cut.mp4" in str(err)
    for f in got[-3:]:
        assert_is_frame(f.rgb, f.index, truth)


def test_truncated_mkv_clean_eof_is_detected(variants, tmp_path):
    """Matroska cut off ends without a decode error; the duration says it is short."""
    data = variants["mkv_vp9"].read_bytes()
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(data[: len(data) * 2 // 3])
    with open_source(cut) as src:
        got, err = _collect_until_interrupted(src, every=2)
    assert 20 < len(got) < N // 2 + 1
    assert err.last_index == got[-1].index
    assert "cut.mkv" in str(err)


def test_truncated_read_raises_interrupted(clip, tmp_path):
    data = clip.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    with open_source(cut) as src:
        assert src.read(3).index == 3
        with pytest.raises(SourceInterrupted):
            src.read(N - 1)


def test_not_a_video(tmp_path):
    bad = tmp_path / "notes.mp4"
    bad.write_text("this is not a video\n" * 50)
    with pytest.raises(UserInputError, match="notes.mp4"):
        open_source(bad)


def test_empty_video_file(tmp_path):
    empty = tmp_path / "empty.mkv"
    empty.write_bytes(b"")
    with pytest.raises(UserInputError, match=r"empty\.mkv.*0 bytes"):
        open_source(empty)


def test_audio_only_file(tmp_path):
    wav = tmp_path / "tone.wav"
    with av.open(str(wav), "w") as out:
        s = out.add_stream("pcm_s16le", rate=8000, layout="mono")
        samples = (np.sin(np.arange(8000) / 5) * 3000).astype(np.int16)[None]
        frame = av.AudioFrame.from_ndarray(samples, format="s16", layout="mono")
        frame.sample_rate = 8000
        out.mux(s.encode(frame))
        out.mux(s.encode())
    with pytest.raises(UserInputError, match=r"tone\.wav.*no video stream"):
        open_source(wav)


def test_header_only_file_is_user_error(clip, tmp_path):
    """Cut inside the first frame: nothing decodes, so it is bad input rather than a partial run."""
    cut = tmp_path / "stub.mp4"
    shutil.copyfile(clip, cut)
    with open(cut, "r+b") as fh:
        fh.truncate(2200)  # moov (~2 KB) survives, the first frame's data does not
    with pytest.raises(UserInputError, match="stub.mp4"):
        open_source(cut)


def test_random_access_every_frame_shuffled_open_gop(variants):
    """Every index in random order on the open-GOP B-frame file equals sequential decoding."""
    import random

    with open_source(variants["mp4_bframes"]) as src:
        sequential = [f.rgb for f in src.frames()]
        order = list(range(N))
        random.Random(7).shuffle(order)
        wrong = [i for i in order if not np.array_equal(src.read(i).rgb, sequential[i])]
    assert wrong == []


def test_closed_source_refuses(clip):
    src = open_source(clip)
    src.close()
    src.close()  # twice is fine
    assert src.closed
    with pytest.raises(ValueError, match="closed"):
        src.read(0)
    with pytest.raises(ValueError, match="closed"):
        src.frames()


def test_animated_gif_is_a_video(tmp_path):
    shades = [Image.fromarray(np.full((20, 30, 3), 40 * k, np.uint8)) for k in range(5)]
    shades[0].save(tmp_path / "anim.gif", save_all=True, append_images=shades[1:], duration=100, loop=0)
    with open_source(tmp_path / "anim.gif") as src:
        assert (src.kind, src.frames_expected) == ("video", 5)
        frames = list(src.frames())
        assert [int(f.rgb[0, 0, 0]) for f in frames] == [0, 40, 80, 120, 160]
        assert [f.pts_s for f in frames] == pytest.approx([0, 0.1, 0.2, 0.3, 0.4])
        assert int(src.read(3).rgb[5, 5, 1]) == 120


def test_unreadable_video_message_has_no_ffmpeg_error_number(tmp_path):
    """PyAV's "[Errno 1094995529] Invalid data found…" reached the app as it was."""
    from segtool.core.sources import open_source

    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"garbage" * 100)
    with pytest.raises(UserInputError) as exc:
        open_source(str(bad))
    assert "Errno" not in str(exc.value)
    assert "1094995529" not in str(exc.value)
    assert "Invalid data" in str(exc.value) or "not a video" in str(exc.value)
