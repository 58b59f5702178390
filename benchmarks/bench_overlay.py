"""Micro-benchmark of overlay rendering and the predict output sinks (CPU only, no model).

Usage: python benchmarks/bench_overlay.py [--frames N]

Prints milliseconds per frame and frames per second at 1080p and 480x360, so the cost of writing
outputs can be compared with inference time (the writer thread must keep up with the engine).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from segtool.core import overlay
from segtool.core.frame import Frame, Prediction
from segtool.core.sinks import CoverageCsvSink, Ffv1MaskSink, OverlayJpgSink, OverlayVideoSink, PngMaskSink

PALETTE = np.array([[0, 0, 0], [250, 50, 83], [10, 200, 10], [40, 90, 230]], np.uint8)


def scene(i: int, h: int, w: int) -> tuple[Frame, Prediction]:
    """A moving textured frame and a mask of smooth blobs, like a real segmentation."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    field = np.sin(xx / w * 6 + i * 0.1) + np.cos(yy / h * 5 - i * 0.07)
    mask = np.digitize(field, [-1.0, 0.0, 1.0]).astype(np.uint8)
    rng = np.random.default_rng(i)
    rgb = cv2.GaussianBlur(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), (7, 7), 0)
    return Frame(i, i / 25, rgb), Prediction(mask)


def per_call_ms(fn, repeat: int) -> float:
    fn()
    start = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - start) / repeat * 1e3


def bench_sink(make_sink, frames) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        sink = make_sink(Path(tmp))
        sink.open(resume=False)
        start = time.perf_counter()
        for frame, pred in frames:
            sink.write(frame, pred)
        sink.close(True)
        return (time.perf_counter() - start) / len(frames) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=30, help="frames per sink measurement")
    args = parser.parse_args()
    for h, w in [(1080, 1920), (360, 480)]:
        frames = [scene(i, h, w) for i in range(args.frames)]
        rgb, mask = frames[0][0].rgb, frames[0][1].mask
        print(f"--- {w}x{h}")
        rows = {
            "colorize": per_call_ms(lambda: overlay.colorize(mask, PALETTE), 20),  # noqa: B023
            "blend": per_call_ms(lambda: overlay.blend(rgb, mask, PALETTE, 0.5), 20),  # noqa: B023
            "blend (1 class hidden)": per_call_ms(
                lambda: overlay.blend(rgb, mask, PALETTE, 0.5, [True, False]),  # noqa: B023
                20,
            ),
            "outlines": per_call_ms(lambda: overlay.outlines(mask), 20),  # noqa: B023
            "coverage": per_call_ms(lambda: overlay.coverage(mask, len(PALETTE)), 20),  # noqa: B023
            "PngMaskSink.write": bench_sink(lambda d: PngMaskSink(d, PALETTE), frames),
            "OverlayJpgSink.write": bench_sink(lambda d: OverlayJpgSink(d, PALETTE), frames),
            "CoverageCsvSink.write": bench_sink(
                lambda d: CoverageCsvSink(d / "coverage.csv", ["a", "b", "c", "d"]), frames
            ),
            "Ffv1MaskSink.write": bench_sink(lambda d: Ffv1MaskSink(d / "masks.mkv", 25), frames),
            "OverlayVideoSink.write": bench_sink(
                lambda d: OverlayVideoSink(d / "overlay.mp4", 25, PALETTE), frames
            ),
        }
        for name, ms in rows.items():
            print(f"{name:26s} {ms:8.2f} ms/frame  {1000 / ms:8.1f} fps")


if __name__ == "__main__":
    main()
