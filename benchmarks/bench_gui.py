"""Responsiveness of the desktop app while a slow model saturates the CPU, and its memory on a long play.

Plays the real clip in the real MainWindow (offscreen unless a display is set; run it under `xvfb-run`
to include X11 painting) and measures:

  stall    a 10 ms QTimer heartbeat on the GUI thread: lateness of each beat (p50 / p99 / max). This is
           how long the window could not react to input.
  rates    display fps (pictures painted), inference fps (results per second), frames dropped by the
           `latest` policy, decode-to-result latency.
  pairing  every painted picture is one ViewResult (frame + the mask computed from it): the mask-vs-frame
           lag is 0 by construction; printed is how far the painted frame is behind the playback clock
           (in frames) and the worker-to-screen delay.
  memory   RSS while the clip loops for --long-frames frames (first sample after a warm-up), growth and
           the slope per 1,000 frames.

Usage: python benchmarks/bench_gui.py [--backbone resnet50] [--resize-short 0] [--seconds 30]
                                      [--long-frames 3000] [--long-speed 4] [--device cpu]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import torch  # noqa: E402
from PySide6.QtCore import QElapsedTimer, QEventLoop, Qt, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from segtool.gui.main_window import MainWindow  # noqa: E402
from segtool.gui.settings import AppSettings, ini_settings  # noqa: E402
from segtool.models import Checkpoint, build_deeplabv3, make_classes, save_checkpoint  # noqa: E402

CLIP = REPO.parent / "shared" / "data" / "clips" / "camvid_0016E5_val_15fps.mp4"


def rss_mb() -> float:
    try:
        for line in open("/proc/self/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def make_checkpoint(path: Path, backbone: str, resize_short: int | None) -> Path:
    torch.manual_seed(0)
    model = build_deeplabv3(backbone=backbone, num_classes=2, aux_head=False)
    ck = Checkpoint(
        config=model.config,
        classes=make_classes(["background", "rock"], [[0, 0, 0], [250, 50, 83]]),
        state_dict=model.state_dict(),
    )
    import dataclasses

    ck = dataclasses.replace(ck, preprocess=dict(ck.preprocess, resize_short=resize_short))
    return save_checkpoint(ck, path)


def wait(app: QApplication, cond, timeout_s: float) -> bool:
    """Run the event loop until `cond()` or the timeout. A real QEventLoop with an instance timer, not
    a processEvents() loop: PySide6 6.12 on Python 3.11 drops a reference to None on every call of a
    static void method (processEvents, QTimer.singleShot, QTest.qWait), which ends in
    "Fatal Python error: deallocating None" after some thousand calls."""
    t0 = time.perf_counter()
    loop = QEventLoop()
    poll = QTimer(interval=20)

    def check() -> None:
        if cond() or time.perf_counter() - t0 > timeout_s:
            loop.quit()

    poll.timeout.connect(check)
    poll.start()
    if not cond():
        loop.exec()
    poll.stop()
    return bool(cond())


def pct(a, q) -> float:
    return float(np.percentile(np.asarray(a), q)) if len(a) else float("nan")


class Recorder:
    """Heartbeat lateness and painted results, recorded on the GUI thread."""

    def __init__(self, win: MainWindow) -> None:
        self.win = win
        self.beats: list[float] = []
        self.shown: list[tuple[float, int, float, float]] = []  # (t_painted, index, t_made, latency_s)
        self._last = None
        self._clock = QElapsedTimer()
        self.timer = QTimer(interval=10, timeout=self._beat)
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        original = win.render

        def render() -> None:
            original()
            r = win.current
            if r is not None and r.playing:
                self.shown.append((time.perf_counter(), r.index, r.t_made, win.worker.stats.latency_s))

        win.render = render

    def start(self) -> None:
        self.beats.clear()
        self.shown.clear()
        self._last = None
        self._clock.start()
        self.timer.start()

    def stop(self) -> None:
        self.timer.stop()

    def _beat(self) -> None:
        now = self._clock.nsecsElapsed() / 1e9
        if self._last is not None:
            self.beats.append(max(0.0, now - self._last - 0.010))
        self._last = now


def phase_stall(app, win, rec, seconds: float, fps: float) -> dict:
    win.worker.speed, win.worker.loop = 1.0, True
    win.seek(0)
    wait(
        app, lambda: win.current is not None and win.current.index == 0 and win.current.mask is not None, 120
    )
    rec.start()
    win.toggle_play()
    wait(app, lambda: False, seconds)
    win.toggle_play()
    rec.stop()
    s = win.worker.stats
    shown = rec.shown
    latency = [lat for _, _, _, lat in shown]  # frame released by the decoder -> result posted
    delay = [t - made for t, _, made, _ in shown]  # result posted -> painted
    span = shown[-1][0] - shown[0][0] if len(shown) > 1 else float("nan")
    return {
        "beats": len(rec.beats),
        "stall_p50_ms": 1000 * pct(rec.beats, 50),
        "stall_p99_ms": 1000 * pct(rec.beats, 99),
        "stall_max_ms": 1000 * max(rec.beats, default=float("nan")),
        "display_fps": (len(shown) - 1) / span if len(shown) > 1 else 0.0,
        "inference_fps": s.inference_fps,
        "dropped": s.dropped,
        "latency_ms": 1000 * s.latency_s,
        "painted": len(shown),
        "latency_p50_ms": 1000 * pct(latency, 50),
        "latency_p99_ms": 1000 * pct(latency, 99),
        "fps": fps,
        "worker_to_screen_ms_p99": 1000 * pct(delay, 99),
    }


def phase_memory(app, win, rec, frames: int, speed: float) -> dict:
    win.worker.speed, win.worker.loop = speed, True
    win.seek(0)
    wait(app, lambda: win.current is not None and win.current.index == 0, 120)
    rec.start()
    win.toggle_play()
    samples = []  # (frames passed, rss, time)
    state = {"loops": 0, "prev": -1, "warm": None, "passed": 0}
    t0 = time.perf_counter()

    def sample() -> bool:
        if rec.shown:
            i = rec.shown[-1][1]
            if i < state["prev"]:
                state["loops"] += 1
            state["prev"] = i
            passed = state["passed"] = state["loops"] * 101 + i
            if state["warm"] is None and passed >= 200:
                state["warm"] = rss_mb()
            if state["warm"] is not None and (not samples or time.perf_counter() - samples[-1][2] > 1.0):
                samples.append((passed, rss_mb(), time.perf_counter()))
        return state["passed"] >= frames

    wait(app, sample, 3600)
    warm = state["warm"]
    win.toggle_play()
    rec.stop()
    x = np.array([p for p, _, _ in samples], float)
    y = np.array([r for _, r, _ in samples], float)
    half = len(y) // 2
    slope = float(np.polyfit(x[half:], y[half:], 1)[0] * 1000) if len(x) - half > 2 else float("nan")
    return {
        "frames_played": int(x[-1]) if len(x) else 0,
        "painted": len(rec.shown),
        "seconds": time.perf_counter() - t0,
        "rss_after_warmup_mb": warm,
        "rss_end_mb": float(y[-1]) if len(y) else float("nan"),
        "rss_max_mb": float(y.max()) if len(y) else float("nan"),
        "rss_slope_second_half_mb_per_1000_frames": slope,
        "stall_p99_ms": 1000 * pct(rec.beats, 99),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backbone", default="resnet50")
    ap.add_argument("--resize-short", type=int, default=0, help="0 = native frame size (slowest)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--long-frames", type=int, default=3000)
    ap.add_argument("--long-speed", type=float, default=4.0)
    args = ap.parse_args()
    if not CLIP.exists():
        print(f"clip not found: {CLIP}")
        return 2
    tmp = Path(tempfile.mkdtemp(prefix="bench_gui_"))
    ckpt = make_checkpoint(tmp / "slow.pt", args.backbone, args.resize_short or None)
    app = QApplication.instance() or QApplication([])
    win = MainWindow(AppSettings(ini_settings(tmp / "settings.ini")))
    win.resize(1280, 800)
    win.show()
    win.panel.set_device_key(args.device, "auto")
    rec = Recorder(win)
    rss0 = rss_mb()
    win.open_checkpoint(ckpt)
    win.open_source(str(CLIP))
    if not wait(app, lambda: win.engine_info is not None and win.current is not None, 300):
        print("model or clip did not load:", win.last_error)
        return 1
    print(
        f"platform: {platform.platform()}, {os.cpu_count()} CPUs, Qt platform {app.platformName()}, "
        f"torch {torch.__version__} ({torch.get_num_threads()} threads)"
    )
    print(
        f"model: {args.backbone}, input {'native 480x360' if not args.resize_short else f'short side {args.resize_short}'}, "
        f"{win.engine_info.device_label}; RSS before loading {rss0:.0f} MB"
    )

    st = phase_stall(app, win, rec, args.seconds, 15.0)
    print(f"\n== live playback at 1x for {args.seconds:.0f} s (clip 15 fps) ==")
    print(
        f"GUI heartbeat lateness (10 ms timer, {st['beats']} beats): p50 {st['stall_p50_ms']:.1f} ms, "
        f"p99 {st['stall_p99_ms']:.1f} ms, max {st['stall_max_ms']:.1f} ms   (target p99 < 30 ms)"
    )
    print(
        f"display {st['display_fps']:.2f} fps, inference {st['inference_fps']:.2f} fps, "
        f"dropped {st['dropped']} frames (policy latest), painted {st['painted']}"
    )
    print(
        "mask vs frame on screen: 0 frames apart (each picture is one frame with the mask computed from it)"
    )
    print(
        f"decode-to-result latency of painted frames: p50 {st['latency_p50_ms']:.0f} ms, p99 {st['latency_p99_ms']:.0f} ms "
        f"(= {st['latency_p99_ms'] * st['fps'] / 1000:.1f} frames of video); "
        f"worker-to-screen p99 {st['worker_to_screen_ms_p99']:.1f} ms"
    )

    if args.long_frames > 0:
        mem = phase_memory(app, win, rec, args.long_frames, args.long_speed)
        print(
            f"\n== long play: {mem['frames_played']} frames (clip looped) at {args.long_speed:g}x in {mem['seconds']:.0f} s, "
            f"{mem['painted']} painted =="
        )
        print(
            f"RSS after 200 frames {mem['rss_after_warmup_mb']:.0f} MB, at the end {mem['rss_end_mb']:.0f} MB, "
            f"max {mem['rss_max_mb']:.0f} MB; slope over the second half "
            f"{mem['rss_slope_second_half_mb_per_1000_frames']:+.1f} MB per 1,000 frames; "
            f"heartbeat p99 {mem['stall_p99_ms']:.1f} ms"
        )
    win.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
