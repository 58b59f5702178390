"""How fast segtool starts: `segtool --help`, launch → window, launch → first demo overlay.

Everything is measured from outside, on a fresh process each time, so the same script measures any
checkout (`--repo`), before and after a change, on the same machine:

  help      wall time of `python -m segtool --help` and `--version` (median of --runs), beside
            `python -c "import torch"` for scale.
  window    launch of `python -m segtool` → a window of that process is mapped on the X server
            (`xdotool search --onlyvisible --pid PID --name ^segtool`, polled every 20 ms).
  overlay   launch → the first demo overlay on screen: the screen is grabbed every 50 ms and the first
            grab with more than 400 pixels of the demo's rock overlay colour (red, blended at 50 %) counts.

The app runs with fresh settings (a temporary XDG_CONFIG_HOME, so the demo plays) and a shared demo cache
(--cache, filled by one warm-up launch that is not counted). Needs an X server of its own (the overlay is
found by colour on the whole screen): pass `--xvfb :75` to start one for the run, or set DISPLAY.

Usage: python benchmarks/bench_startup.py [--repo PATH] [--runs 5] [--xvfb :75] [--skip-gui]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def timed(cmd: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    # cwd = the checkout: `python -m` puts the current folder before PYTHONPATH on sys.path
    subprocess.run(
        cmd, env=env, cwd=env["PYTHONPATH"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False
    )
    return time.perf_counter() - t0


def overlay_pixels(display: str) -> int:
    """Pixels of the screen that look like the demo's rock overlay (rock colour 250,50,83 over sand)."""
    import numpy as np
    from PIL import ImageGrab

    a = np.asarray(ImageGrab.grab(xdisplay=display).convert("RGB")).astype(np.int16)
    r, g, b = a[..., 0], a[..., 1], a[..., 2]
    return int(((r > 170) & (g < 110) & (b < 130) & (r - g > 100)).sum())


def window_visible(display: str, pid: int) -> bool:
    """A visible window of this very process (its _NET_WM_PID), so no other window on the display counts."""
    out = subprocess.run(
        ["xdotool", "search", "--onlyvisible", "--pid", str(pid), "--name", "^segtool"],
        env=dict(os.environ, DISPLAY=display),
        capture_output=True,
        text=True,
        check=False,
    )
    return bool(out.stdout.strip())


def launch_once(python: str, env: dict[str, str], display: str, timeout_s: float) -> tuple[float, float]:
    """(launch → window, launch → first overlay) in seconds; nan when not seen within the timeout."""
    cfg = tempfile.mkdtemp(prefix="segtool_bench_cfg_")
    env = dict(env, XDG_CONFIG_HOME=cfg, DISPLAY=display)
    env.pop("QT_QPA_PLATFORM", None)
    t0 = time.perf_counter()
    # cwd = the checkout: `python -m` puts the current folder before PYTHONPATH on sys.path
    proc = subprocess.Popen(
        [python, "-m", "segtool"],
        env=env,
        cwd=env["PYTHONPATH"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    t_win = t_overlay = float("nan")
    try:
        while time.perf_counter() - t0 < timeout_s and proc.poll() is None:
            now = time.perf_counter() - t0
            if t_win != t_win and window_visible(display, proc.pid):
                t_win = time.perf_counter() - t0
            if t_win == t_win and overlay_pixels(display) > 400:
                t_overlay = time.perf_counter() - t0
                break
            time.sleep(max(0.0, 0.02 - (time.perf_counter() - t0 - now)))
        if proc.poll() is not None:
            print("app exited early:", proc.stderr.read().decode(errors="replace")[-2000:], file=sys.stderr)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(cfg, ignore_errors=True)
    return t_win, t_overlay


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repo", default=str(REPO), help="checkout to measure (put first on PYTHONPATH)")
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--xvfb", help="start Xvfb on this display (e.g. :75) for the GUI part")
    ap.add_argument("--cache", default=str(Path(tempfile.gettempdir()) / "segtool_bench_cache"))
    ap.add_argument("--skip-gui", action="store_true")
    ap.add_argument("--timeout", type=float, default=90.0)
    args = ap.parse_args()

    env = dict(os.environ, PYTHONPATH=args.repo, SEGTOOL_CACHE=args.cache)
    env.pop("QT_QPA_PLATFORM", None)
    print(f"repo {args.repo}  python {args.python}  cpus {os.cpu_count()}  load {os.getloadavg()[0]:.2f}")
    rows = {
        "segtool --help": [args.python, "-m", "segtool", "--help"],
        "segtool --version": [args.python, "-m", "segtool", "--version"],
        "import torch": [args.python, "-c", "import torch"],
    }
    results: dict[str, float] = {}
    for name, cmd in rows.items():
        timed(cmd, env)  # warm the file cache
        times = [timed(cmd, env) for _ in range(args.runs)]
        results[name] = statistics.median(times)
        print(f"{name:20s} median {results[name]:6.2f} s  (runs: {', '.join(f'{t:.2f}' for t in times)})")
    print(f"--help / import torch = {results['segtool --help'] / results['import torch']:.2f}")
    if args.skip_gui:
        return 0

    xvfb = None
    display = args.xvfb or os.environ.get("DISPLAY")
    if args.xvfb:
        xvfb = subprocess.Popen(
            ["Xvfb", args.xvfb, "-screen", "0", "1600x1000x24", "-nolisten", "tcp"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(1.5)
    if not display:
        print("no X display: pass --xvfb :75 or set DISPLAY", file=sys.stderr)
        return 2
    try:
        launch_once(args.python, env, display, args.timeout * 3)  # warm-up: generates the demo clip
        wins, overlays = [], []
        for i in range(args.runs):
            w, o = launch_once(args.python, env, display, args.timeout)
            wins.append(w)
            overlays.append(o)
            print(f"launch {i + 1}: window {w:6.2f} s  first overlay {o:6.2f} s")
        for name, vals in (("launch → window", wins), ("launch → overlay", overlays)):
            ok = [v for v in vals if v == v]  # a launch that failed (nan) is counted, not averaged in
            med = f"{statistics.median(ok):6.2f} s" if ok else "   n/a"
            print(f"{name:20s} median {med}  ({len(ok)} of {len(vals)} launches)")
    finally:
        if xvfb is not None:
            xvfb.terminate()
            xvfb.wait(10)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
