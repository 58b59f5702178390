"""The built-in demo: how soon a new user sees a mask, and how fast the demo model runs on the CPU.

Measures, on this machine's CPU (no GPU is used):

  model     the demo model on frames of the demo clip (480x270, network input 480x270): ms per frame
            and frames per second with 1 and 2 torch threads (`Engine.predict_one`, channels_last).
  predict   `segtool predict DEMO_CLIP -c DEMO_MODEL -o TMP --overlay` end to end: fps from summary.json
            (decode + model + PNG masks + H.264 overlay + CSV).
  app       `segtool` with no arguments, in a fresh process: seconds from process start to the first
            frame painted with its mask while playing, with an empty cache (the clip is generated
            first, as on a first run) and with the clip already cached; then the app's own
            inference / display fps and dropped frames over --play-seconds of looping playback.

On a shared machine the wall-clock numbers include waiting for a core (the load average is printed);
the model's CPU time per frame (1 thread) is what a frame costs on a free core.

Usage: python benchmarks/bench_demo.py [--play-seconds 10] [--frames 60] [--skip-app] [--skip-predict]
Run under `xvfb-run -s "-screen 0 1600x1000x24"` to include X11 painting; otherwise Qt runs offscreen.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

# The child process: the same start-up as `segtool` without arguments (segtool.gui.app.main), with
# probes. T0 is the parent's clock just before it spawned the process, so imports are included.
APP_CHILD = r"""
import json, os, sys, time
T0 = float(os.environ["BENCH_T0"])
if not os.environ.get("DISPLAY"):
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
from segtool.gui.app import main
from segtool.gui.main_window import MainWindow
from segtool.gui.settings import AppSettings, ini_settings
t_import = time.time() - T0
out = {"import_s": t_import}
play_s = float(os.environ["BENCH_PLAY_S"])

def probe():
    wins = [w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow) and w.isVisible()]
    if not wins:
        QTimer.singleShot(5, probe); return
    w = wins[-1]
    if "first_overlay_s" not in out:
        if w.playing and w.current is not None and w.current.mask is not None:
            out["first_overlay_s"] = time.time() - T0
            out["shown_at_first"] = w.shown_frames
            out["t_first"] = time.perf_counter()
        QTimer.singleShot(5, probe); return
    if time.perf_counter() - out["t_first"] < play_s:
        QTimer.singleShot(100, probe); return
    s = w.worker.stats
    out["display_fps"] = (w.shown_frames - out.pop("shown_at_first")) / (time.perf_counter() - out.pop("t_first"))
    out["inference_fps"] = s.inference_fps
    out["dropped"] = s.dropped
    out["latency_ms"] = 1000 * s.latency_s
    out["device"] = w.status_device.text()
    w.close(); QApplication.instance().quit()

QTimer.singleShot(0, probe)
app = QApplication.instance() or QApplication(sys.argv[:1])
code = main([], settings=AppSettings(ini_settings(os.environ["BENCH_SETTINGS"])))
print("BENCH " + json.dumps(out))
sys.exit(code)
"""


def bench_model(frames: int) -> list[dict]:
    import torch

    from segtool import demo
    from segtool.core.engine import Engine
    from segtool.demo_footage import make_clip

    rgb = [f.rgb for f in make_clip(0, (480, 270), frames=frames, fps=25)]
    rows = []
    for threads in (1, 2):
        engine = Engine(demo.demo_checkpoint(), device="cpu", threads=threads)
        for f in rgb[:5]:
            engine.predict_one(f)  # warm-up (oneDNN primitive creation)
        t, c = time.perf_counter(), time.process_time()
        for f in rgb:
            engine.predict_one(f)
        ms = (time.perf_counter() - t) / len(rgb) * 1000
        # CPU time per frame: on a shared machine the wall clock includes waiting for a core; with one
        # thread, CPU time is what the frame costs on a free core.
        cpu_ms = (time.process_time() - c) / len(rgb) * 1000
        rows.append(
            {
                "threads": threads,
                "torch_threads": torch.get_num_threads(),
                "ms_per_frame": ms,
                "fps": 1000 / ms,
                "cpu_ms_per_frame": cpu_ms,
            }
        )
    return rows


def bench_predict(tmp: Path) -> dict:
    from segtool import demo

    clip = demo.ensure_demo_clip()
    out = tmp / "predict"
    cmd = [
        sys.executable,
        "-m",
        "segtool",
        "predict",
        str(clip),
        "-c",
        str(demo.demo_checkpoint()),
        "-o",
        str(out),
        "--overlay",
        "-q",
    ]
    t = time.perf_counter()
    subprocess.run(cmd, check=True, cwd=REPO)
    wall = time.perf_counter() - t
    s = json.loads((out / "summary.json").read_text())
    return {
        "frames": s["frames_written"],
        "fps": s["fps"],
        "seconds": s["seconds"],
        "wall_s_with_startup": wall,
    }


def bench_app(tmp: Path, cache: Path, play_s: float) -> dict:
    env = dict(
        os.environ,
        SEGTOOL_CACHE=str(cache),
        BENCH_PLAY_S=str(play_s),
        BENCH_SETTINGS=str(tmp / "s.ini"),
        PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""),
    )
    env["BENCH_T0"] = repr(time.time())
    p = subprocess.run(
        [sys.executable, "-c", APP_CHILD], env=env, capture_output=True, text=True, timeout=600
    )
    line = next((ln for ln in p.stdout.splitlines() if ln.startswith("BENCH ")), None)
    if line is None:
        raise RuntimeError(f"app run failed (exit {p.returncode}):\n{p.stdout}\n{p.stderr[-3000:]}")
    return json.loads(line[6:])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=60, help="frames for the model timing")
    ap.add_argument("--play-seconds", type=float, default=10.0, help="playback measured in the app")
    ap.add_argument("--skip-app", action="store_true")
    ap.add_argument("--skip-predict", action="store_true")
    ap.add_argument("--skip-model", action="store_true")
    ap.add_argument(
        "--runtimes",
        default="",
        help="also measure the app's live rate with each of these runtimes "
        "(e.g. torch,openvino,onnxruntime; set through $SEGTOOL_RUNTIME, which the app's Auto follows)",
    )
    args = ap.parse_args(argv)
    import torch

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} logical CPUs, torch {torch.__version__}, "
        f"display: {os.environ.get('DISPLAY') or 'offscreen'}, load average {load:.1f} (other jobs slow the wall-clock figures)"
    )
    for r in [] if args.skip_model else bench_model(args.frames):
        print(
            f"model   {r['threads']} thread(s): {r['ms_per_frame']:.1f} ms/frame = {r['fps']:.1f} fps (480x270); "
            f"CPU time {r['cpu_ms_per_frame']:.1f} ms/frame"
        )
    with tempfile.TemporaryDirectory(prefix="bench_demo_") as d:
        tmp = Path(d)
        if not args.skip_predict:
            r = bench_predict(tmp)
            print(
                f"predict {r['frames']} frames: {r['fps']:.1f} fps ({r['seconds']:.1f} s; {r['wall_s_with_startup']:.1f} s "
                "with start-up), masks + overlay.mp4 + coverage.csv"
            )
        if not args.skip_app:
            cache = tmp / "cache"
            for label in ("first run (clip generated)", "cached clip"):
                r = bench_app(tmp, cache, args.play_seconds)
                print(
                    f"app     {label}: first overlay {r['first_overlay_s']:.1f} s after start (imports {r['import_s']:.1f} s); "
                    f"then inference {r['inference_fps']:.1f} fps, display {r['display_fps']:.1f} fps, "
                    f"latency {r['latency_ms']:.0f} ms, dropped {r['dropped']} ({r['device']})"
                )
            for rt in [r for r in args.runtimes.split(",") if r]:
                os.environ["SEGTOOL_RUNTIME"] = rt
                bench_app(tmp, cache, 3.0)  # untimed: the first use converts the model (cached from then on)
                r = bench_app(tmp, cache, args.play_seconds)
                print(
                    f"app     runtime {rt}: inference {r['inference_fps']:.1f} fps, display {r['display_fps']:.1f} fps, "
                    f"latency {r['latency_ms']:.0f} ms, dropped {r['dropped']} ({r['device']})"
                )
            os.environ.pop("SEGTOOL_RUNTIME", None)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
