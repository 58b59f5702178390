"""End-to-end speed of `segtool predict` against the model alone and a naive per-frame loop, per runtime.

On the same checkpoint and video, in one run, for each runtime (PyTorch, OpenVINO, ONNX Runtime):
  (a) model-only throughput: the engine's network (its runtime backend) on an input already on the device;
  (b) `segtool predict --overlay --runtime R` end to end (decode thread, inference, writer thread; PNG
      masks, H.264 overlay, coverage CSV, summary);
and once (before and after the runtimes; their mean is the baseline):
  (c) a naive loop in the style of the seed notebooks: OpenCV read -> PIL -> torchvision transforms ->
      torch model -> argmax -> colour overlay -> OpenCV write, one frame at a time.
Prints (b)/(a) and (b)/(c) per runtime. With --int8 DATA it also exports the model as INT8 calibrated on
DATA (segtool export-onnx --int8) and times (a) and (b) for it on the ONNX runtimes: the INT8 speed-up over
the same runtime in float, with the accuracy change measured when DATA is labelled. With --long N it also
runs predict on an N-frame video in a subprocess and reports its peak memory (RSS).

Usage: python benchmarks/bench_predict.py [--device cpu|cuda] [--backbone mobilenet_v3_large]
                                          [--frames 303] [--long 3030] [--height 1080] [--threads 1]
                                          [--runtimes torch,openvino,onnxruntime] [--checkpoint CKPT]
                                          [--int8 DATA]
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import av
import cv2
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torchvision import transforms

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from segtool.cli import main as segtool_main  # noqa: E402
from segtool.core.engine import Engine  # noqa: E402
from segtool.models import Checkpoint, build_deeplabv3, make_classes, save_checkpoint  # noqa: E402

CLIP = REPO.parent / "shared" / "data" / "clips" / "camvid_0016E5_val_15fps.mp4"


def make_video(path: Path, frames: int, height: int | None) -> Path:
    """Loop the real clip (or synthetic frames when it is absent) into an H.264 file of `frames` frames."""
    src = []
    if CLIP.exists():
        with av.open(str(CLIP)) as c:
            src = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    else:
        rng = np.random.default_rng(0)
        src = [rng.integers(0, 255, (360, 480, 3), dtype=np.uint8) for _ in range(30)]
    if height:
        w = round(src[0].shape[1] * height / src[0].shape[0] / 2) * 2
        src = [cv2.resize(f, (w, height), interpolation=cv2.INTER_LINEAR) for f in src]
    with av.open(str(path), "w") as out:
        s = out.add_stream("libx264", rate=15)
        s.height, s.width = src[0].shape[:2]
        s.pix_fmt = "yuv420p"
        s.options = {"preset": "veryfast", "crf": "20"}
        for i in range(frames):
            out.mux(s.encode(av.VideoFrame.from_ndarray(src[i % len(src)], format="rgb24")))
        out.mux(s.encode())
    return path


def make_checkpoint(path: Path, backbone: str) -> Path:
    torch.manual_seed(0)
    model = build_deeplabv3(backbone=backbone, num_classes=2, aux_head=False)
    ck = Checkpoint(
        config=model.config,
        classes=make_classes(["background", "rock"], [[0, 0, 0], [250, 50, 83]]),
        state_dict=model.state_dict(),
        preprocess={"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225], "resize_short": None},
    )
    return save_checkpoint(ck, path)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def model_only(engine: Engine, h: int, w: int, frames: int) -> float:
    """(a) frames/s of the network alone, input already on the device, same batch size as predict."""
    batch = 4 if engine.device.type == "cuda" else 1
    h, w = engine.network_size(h, w)
    x = torch.randn(batch, 3, h, w, device=engine.device)
    if engine.channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        for _ in range(3):
            engine._logits(x)
        sync(engine.device)
        t = time.perf_counter()
        n = 0
        while n < frames:
            engine._logits(x).argmax(1)
            n += batch
        sync(engine.device)
    return n / (time.perf_counter() - t)


def naive_loop(ckpt_path: Path, video: Path, out: Path, device: torch.device) -> float:
    """(c) the seed notebooks' style: everything on one thread, frame by frame."""
    from segtool.models import load_checkpoint

    ck = load_checkpoint(ckpt_path)
    net = ck.build_model().to(device).eval()
    tf = transforms.Compose(
        [transforms.ToTensor(), transforms.Normalize(ck.preprocess["mean"], ck.preprocess["std"])]
    )
    palette = np.array([c["color"] for c in ck.classes], np.uint8)
    cap = cv2.VideoCapture(str(video))
    writer = None
    n = 0
    t = time.perf_counter()
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        pil = Image.fromarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
        x = tf(pil).unsqueeze(0).to(device)
        with torch.no_grad():
            logits = net(x)["out"]
            logits = F.interpolate(logits, size=bgr.shape[:2], mode="bilinear", align_corners=False)
            mask = logits.argmax(1)[0].cpu().numpy().astype(np.uint8)
        color = cv2.cvtColor(palette[mask], cv2.COLOR_RGB2BGR)
        blended = cv2.addWeighted(bgr, 0.5, color, 0.5, 0)
        if writer is None:
            writer = cv2.VideoWriter(
                str(out / "naive.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 15, (bgr.shape[1], bgr.shape[0])
            )
        writer.write(blended)
        n += 1
    sync(device)
    writer.release()
    cap.release()
    return n / (time.perf_counter() - t)


def predict_e2e(
    ckpt: Path, video: Path, out: Path, device: str, threads: int | None, runtime: str = "auto"
) -> float:
    """(b) `segtool predict --overlay` in this process (after one untimed run, so a first conversion to the
    runtime's format, cached from then on, is not counted)."""
    extra = ["--threads", str(threads)] if threads else []
    cmd = [
        "predict",
        str(video),
        "-c",
        str(ckpt),
        "-o",
        str(out),
        "--overlay",
        "-q",
        "--device",
        device,
        "--runtime",
        runtime,
        *extra,
    ]
    Engine(ckpt, device=device, threads=threads, runtime=runtime)  # converts (once) and caches
    t = time.perf_counter()
    rc = segtool_main(cmd)
    elapsed = time.perf_counter() - t
    assert rc == 0, f"predict failed with exit code {rc}"
    import json

    return json.loads((out / "summary.json").read_text())["frames_written"] / elapsed


def interleaved_model_only(
    models: list[tuple[str, Path, str]], device: str, threads: int | None, h: int, w: int, rounds: int
) -> None:
    """(a) again, robust to a machine whose load changes by the second: the runtimes take turns, two forward
    passes each per round, and each one's median over the rounds is compared with torch's."""
    engines = {
        label: Engine(model, device=device, threads=threads, runtime=rt) for label, model, rt in models
    }
    times: dict[str, list[float]] = {label: [] for label in engines}
    x = None
    with torch.inference_mode():
        for r in range(rounds + 1):
            for label, e in engines.items():
                if x is None:
                    nh, nw = e.network_size(h, w)
                    x = torch.randn(1, 3, nh, nw, device=e.device)
                xi = x.contiguous(memory_format=torch.channels_last) if e.channels_last else x.contiguous()
                t = time.perf_counter()
                for _ in range(2):
                    e._logits(xi).argmax(1)
                sync(e.device)
                if r:  # round 0 warms up
                    times[label].append((time.perf_counter() - t) / 2)
    med = {label: float(np.median(v)) for label, v in times.items()}
    base = med.get("torch")
    print(f"\n(a) interleaved, {rounds} rounds of 2 forward passes each, median ms per frame:")
    for label, m in med.items():
        vs = f"  {base / m:.2f}x torch" if base else ""
        print(f"  {label:<18} {1000 * m:7.1f} ms = {1 / m:6.2f} frames/s{vs}")
    for label in med:
        if label.endswith(" int8") and label[:-5] in med:
            print(f"  INT8 speed-up on {label[:-5]}: {med[label[:-5]] / med[label]:.2f}x")


def mixed_sizes(ckpt: Path, device: str, threads: int | None, runtimes: list[str]) -> None:
    """A folder of mixed photo sizes, one frame at a time: ms per megapixel on the first pass over 4 sizes never
    seen before (a runtime that recompiles per size pays it here) against a second pass over the same frames."""
    src = sorted((REPO.parent / "shared" / "data" / "camvid" / "val").glob("*.png"))[:8]
    rng = np.random.default_rng(0)
    base = [np.asarray(Image.open(f).convert("RGB")) for f in src] or [
        rng.integers(0, 255, (360, 480, 3), dtype=np.uint8)
    ] * 8
    sizes = [(360, 480), (480, 640), (300, 400), (540, 720)]
    frames = [cv2.resize(base[i % len(base)], sizes[i % 4][::-1]) for i in range(8)]
    mp = sum(f.shape[0] * f.shape[1] for f in frames) / 1e6
    print(
        f"\nmixed sizes: {len(frames)} CamVid frames cycling through {', '.join(f'{w}x{h}' for h, w in sizes)}, one at a time"
    )
    for rt in runtimes:
        engine = Engine(ckpt, device=device, threads=threads, runtime=rt)
        engine.predict_one(
            np.zeros((64, 64, 3), np.uint8)
        )  # the engine is built and warm; no size above seen yet
        passes = []
        for _ in range(2):
            t = time.perf_counter()
            for f in frames:
                engine.predict_one(f)
            passes.append(1000 * (time.perf_counter() - t) / mp)
        print(
            f"  {rt:<12} first pass {passes[0]:7.0f} ms/MP, second pass {passes[1]:7.0f} ms/MP "
            f"(first/second {passes[0] / passes[1]:.2f}); compiled {engine.backend.compiles}x"
        )


def long_run_memory(ckpt: Path, video: Path, out: Path, device: str) -> tuple[float, list[float], int]:
    """Run predict in a subprocess and sample its RSS: (peak MB, RSS at 10/25/50/75/100 % of the run, frames)."""
    cmd = [
        sys.executable,
        "-m",
        "segtool",
        "predict",
        str(video),
        "-c",
        str(ckpt),
        "-o",
        str(out),
        "--overlay",
        "-q",
        "--device",
        device,
    ]
    proc = subprocess.Popen(cmd, cwd=REPO)
    samples: list[tuple[float, float]] = []

    def sample() -> None:
        status = Path(f"/proc/{proc.pid}/status")
        while proc.poll() is None:
            try:
                rss = next(
                    int(ln.split()[1]) for ln in status.read_text().splitlines() if ln.startswith("VmRSS")
                )
                samples.append((time.perf_counter(), rss / 1024))
            except (OSError, StopIteration):
                pass
            time.sleep(0.25)

    th = threading.Thread(target=sample)
    th.start()
    proc.wait()
    th.join()
    assert proc.returncode == 0
    import json

    frames = json.loads((out / "summary.json").read_text())["frames_written"]
    rss = [r for _, r in samples]
    at = [rss[min(len(rss) - 1, int(len(rss) * q))] for q in (0.1, 0.25, 0.5, 0.75, 1.0)]
    return max(rss), at, frames


def speed(
    ckpt: Path,
    video: Path,
    tmp: Path,
    args,
    h: int,
    w: int,
    device: torch.device,
    runtimes: list[str],
    int8_model: Path | None = None,
) -> None:
    """(a), (b) per runtime, (c) before and after them, and the ratios, on the same checkpoint and video."""
    n_model = min(args.frames, 60 if device.type == "cpu" else 400)
    c1 = naive_loop(ckpt, video, tmp, device)
    print(f"(c) naive loop (before)      {c1:8.2f} frames/s", flush=True)
    rows = []
    models = [(rt, ckpt, rt) for rt in runtimes]
    if int8_model is not None:
        models += [(f"{rt} int8", int8_model, rt) for rt in runtimes if rt != "torch"]
    for label, model, rt in models:
        engine = Engine(model, device=args.device, threads=args.threads, runtime=rt)
        a = model_only(engine, h, w, n_model)
        b = predict_e2e(model, video, tmp / f"pred_{label.replace(' ', '_')}", args.device, args.threads, rt)
        print(
            f"{label:<16} (a) model only {a:7.2f} frames/s   (b) segtool predict {b:7.2f} frames/s   [{engine.device_label}]",
            flush=True,
        )
        rows.append((label, a, b))
        del engine
    c2 = naive_loop(ckpt, video, tmp, device)
    c = (c1 + c2) / 2
    print(f"(c) naive loop (after)       {c2:8.2f} frames/s; mean {c:.2f}", flush=True)
    print("\n| runtime | (a) model only | (b) predict | (b)/(a) | (b)/(c) |\n|---|---|---|---|---|")
    for label, a, b in rows:
        print(f"| {label} | {a:.2f} | {b:.2f} | {b / a:.2f} | {b / c:.2f} |")
    fast = {label: (a, b) for label, a, b in rows}
    for rt in runtimes:
        if f"{rt} int8" in fast:
            (a0, b0), (a1, b1) = fast[rt], fast[f"{rt} int8"]
            print(f"INT8 speed-up on {rt}: model {a1 / a0:.2f}x, predict {b1 / b0:.2f}x")
    if "torch" in fast:
        for label, a, b in rows:
            print(
                f"{label}: (a) {a / fast['torch'][0]:.2f}x torch's, (b) {b / fast['torch'][1]:.2f}x torch's"
            )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--backbone", default="mobilenet_v3_large")
    ap.add_argument("--frames", type=int, default=303, help="frames of the speed runs (0: skip them)")
    ap.add_argument("--long", type=int, default=0, help="frames of the memory run (0: skip it)")
    ap.add_argument(
        "--threads",
        type=int,
        default=None,
        help="CPU threads for the model in (a), (b) and (c) (default: segtool's)",
    )
    ap.add_argument(
        "--height", type=int, default=0, help="resize the video to this height (e.g. 1080); 0 = 360 (native)"
    )
    ap.add_argument(
        "--runtimes",
        default=None,
        help="comma-separated runtimes to time (default: every installed one on CPU, torch on GPUs)",
    )
    ap.add_argument("--checkpoint", default=None, help="time this checkpoint instead of a random 2-class one")
    ap.add_argument(
        "--int8",
        metavar="DATA",
        default=None,
        help="also time an INT8 export calibrated on DATA (or an INT8 .onnx of --checkpoint made before)",
    )
    ap.add_argument("--calib-frames", type=int, default=100)
    ap.add_argument(
        "--mixed", action="store_true", help="also time a folder of mixed frame sizes per runtime"
    )
    ap.add_argument(
        "--rounds", type=int, default=0, help="also time (a) with the runtimes taking turns, N rounds"
    )
    args = ap.parse_args()
    device = torch.device(args.device if args.device != "cuda" else "cuda:0")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        os.environ.setdefault(
            "SEGTOOL_CACHE", str(tmp / "cache")
        )  # conversions go with the run, not into ~/.cache
        ckpt = Path(args.checkpoint) if args.checkpoint else make_checkpoint(tmp / "model.pt", args.backbone)
        engine = Engine(
            ckpt, device=args.device, threads=args.threads, runtime="torch"
        )  # sets torch's thread count for (c) too
        name = (
            torch.cuda.get_device_name(device)
            if device.type == "cuda"
            else f"CPU {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"
        )
        load = os.getloadavg()[0]
        print(
            f"device: {name}; torch {torch.__version__}; {engine.checkpoint.config.backbone}; load average {load:.1f}"
        )
        from segtool.core.runtimes import installed_runtimes

        runtimes = (
            args.runtimes.split(",")
            if args.runtimes
            else (installed_runtimes() if device.type == "cpu" else ["torch"])
        )
        int8_model = None
        if args.int8 and args.int8.endswith(
            ".onnx"
        ):  # an INT8 model exported before (of the same checkpoint)
            int8_model = Path(args.int8)
        elif args.int8:
            from segtool.core.quantize import quantize_int8

            res = quantize_int8(
                engine.checkpoint,
                tmp / "int8.onnx",
                args.int8,
                calib_frames=args.calib_frames,
                check_frames=50,
                max_drop=100.0,
                threads=args.threads,
                progress=lambda m: None,
            )
            print(f"INT8 export: {res.info['verdict']}")
            int8_model = res.path
        del engine
        if args.frames:
            video = make_video(tmp / "clip.mp4", args.frames, args.height or None)
            with av.open(str(video)) as c:
                h, w = c.streams.video[0].height, c.streams.video[0].width
            print(f"video {w}x{h}, {args.frames} frames; runtimes {', '.join(runtimes)}")
            speed(ckpt, video, tmp, args, h, w, device, runtimes, int8_model)
        if args.rounds:
            h0, w0 = (args.height, round(480 * args.height / 360 / 2) * 2) if args.height else (360, 480)
            models = [(rt, ckpt, rt) for rt in runtimes]
            if int8_model is not None:
                models += [(f"{rt} int8", int8_model, rt) for rt in runtimes if rt != "torch"]
            interleaved_model_only(models, args.device, args.threads, h0, w0, args.rounds)
        if args.mixed:
            mixed_sizes(ckpt, args.device, args.threads, runtimes)
        if args.long:
            long_video = make_video(tmp / "long.mp4", args.long, args.height or None)
            peak, at, frames = long_run_memory(ckpt, long_video, tmp / "long", args.device)
            print(
                f"memory over {frames} frames: peak RSS {peak:.0f} MB; RSS at 10/25/50/75/100 % of the run: "
                + " / ".join(f"{r:.0f}" for r in at)
                + f" MB (growth from 10 % to the end {at[-1] - at[0]:+.0f} MB)"
            )


if __name__ == "__main__":
    main()
