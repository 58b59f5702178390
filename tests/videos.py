"""Real-footage video fixtures shared by the source, export and app tests.

The real clip (`clips/camvid_0016E5_val_15fps.mp4`) has ground truth: frame i is the i-th CamVid
val PNG of sequence 0016E5. Variants are re-encoded from those PNGs with PyAV once per session.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

CLIP = "clips/camvid_0016E5_val_15fps.mp4"
N = 101


# --- fixtures ----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def clip(shared_data: Path) -> Path:
    path = shared_data / CLIP
    if not path.is_file():
        pytest.skip(f"{path} not found")
    return path


@pytest.fixture(scope="session")
def truth(shared_data: Path) -> list[np.ndarray]:
    """The 101 ground-truth frames (RGB uint8), in sorted file-name order."""
    pngs = sorted((shared_data / "camvid" / "val").glob("0016E5_*.png"))
    assert len(pngs) == N, f"expected {N} 0016E5 PNGs, found {len(pngs)}"
    return [np.asarray(Image.open(p).convert("RGB")) for p in pngs]


def _encode(
    path: Path,
    images: list[np.ndarray],
    codec: str,
    pix_fmt: str,
    *,
    options: dict[str, str] | None = None,
    rotation: int | None = None,
    pts: list[int] | None = None,
    time_base: Fraction | None = None,
    max_b_frames: int = 0,
) -> Path:
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=15)
        stream.height, stream.width = images[0].shape[:2]
        stream.pix_fmt = pix_fmt
        stream.options = options or {}
        if max_b_frames:
            stream.codec_context.max_b_frames = max_b_frames
        if time_base is not None:
            stream.codec_context.time_base = time_base
        if rotation is not None:
            stream.set_display_rotation(rotation)
        for k, img in enumerate(images):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")
            if pts is not None:
                frame.pts, frame.time_base = pts[k], time_base
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    return path


X264 = {"preset": "ultrafast", "crf": "18"}


@pytest.fixture(scope="session")
def variants(truth, tmp_path_factory) -> dict[str, Path]:
    """Re-encodings of the ground truth: name -> file."""
    d = tmp_path_factory.mktemp("video_variants")
    return {
        "mkv_vp9": _encode(
            d / "vp9.mkv",
            truth,
            "libvpx-vp9",
            "yuv420p",
            options={"deadline": "realtime", "cpu-used": "8", "crf": "20", "b": "0", "g": "10"},
        ),
        "avi_mjpeg": _encode(d / "mjpeg.avi", truth, "mjpeg", "yuvj420p", options={"q:v": "3"}),
        "mp4_bframes": _encode(
            d / "bframes.mp4",
            truth,
            "libx264",
            "yuv420p",
            # Short open GOPs: seeks land on keyframes that B-frames before them depend on.
            options={**X264, "preset": "fast", "x264-params": "keyint=12:min-keyint=12:bframes=3:open-gop=1"},
            max_b_frames=3,
        ),
        # 479x359: odd sizes break naive 4:2:0 handling; VP9 accepts them.
        "odd_479x359": _encode(
            d / "odd.webm",
            [t[:359, :479] for t in truth],
            "libvpx-vp9",
            "yuv420p",
            options={"deadline": "realtime", "cpu-used": "8", "crf": "20", "b": "0"},
        ),
    }


@pytest.fixture(scope="session")
def rotated_mov(truth, tmp_path_factory) -> Path:
    """A phone-style clip: stored landscape, display matrix says turn 90° counter-clockwise."""
    d = tmp_path_factory.mktemp("video_rot")
    return _encode(d / "portrait.mov", truth, "libx264", "yuv420p", options={**X264, "g": "15"}, rotation=90)


@pytest.fixture(scope="session")
def vfr_mkv(truth, tmp_path_factory) -> tuple[Path, list[float]]:
    """Variable frame rate: frame durations alternate 40 ms and 120 ms (millisecond timestamps)."""
    d = tmp_path_factory.mktemp("video_vfr")
    pts_ms = [0]
    for k in range(1, N):
        pts_ms.append(pts_ms[-1] + (40 if k % 2 else 120))
    path = _encode(d / "vfr.mkv", truth, "mjpeg", "yuvj420p", pts=pts_ms, time_base=Fraction(1, 1000))
    return path, [p / 1000 for p in pts_ms]
