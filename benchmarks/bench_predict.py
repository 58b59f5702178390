"""End-to-end speed of `segtool predict` against the model alone and a naive per-frame loop.

On the same checkpoint and video, in one run:
  (a) model-only throughput: the engine's network on an input already on the device;
  (b) `segtool predict --overlay` end to end (decode thread, inference, writer thread; PNG masks,
      H.264 overlay, coverage CSV, summary);
  (c) a naive loop in the style of the seed notebooks: OpenCV read -> PIL -> torchvision transforms ->
      model -> argmax -> colour overlay -> OpenCV write, one frame at a time.
Prints (b)/(a) and (b)/(c). With --long N it also runs predict on an N-frame video in a subprocess and
reports its peak memory (RSS) and the growth from 10 % to 100 % of the run.

Usage: python benchmarks/bench_predict.py [--device cpu|cuda] [--backbone mobilenet_v3_large]
                                          [--frames 303] [--long 3030] [--size native|1080]
"""

from __future__ import annotations

import argparse
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

from models import Checkpoint, build_deeplabv3, make_classes, save_checkpoint  # noqa: E402
from segtool.cli import main as segtool_main  # noqa: E402
from segtool.core.engine import Engine  # noqa: E402

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
    from models import load_checkpoint

    ck = load_checkpoint(ckpt_path)
    net = ck.build_model().to(device).eval()
    tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize(ck.preprocess["mean"], ck.preprocess["std"])])
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
            writer = cv2.VideoWriter(str(out / "naive.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 15, (bgr.shape[1], bgr.shape[0]))
        writer.write(blended)
        n += 1
    sync(device)
    writer.release()
    cap.release()
    return n / (time.perf_counter() - t)


def predict_e2e(ckpt: Path, video: Path, out: Path, device: str, threads: int | None) -> float:
    """(b) `segtool predict --overlay` in this process."""
    extra = ["--threads", str(threads)] if threads else []
    t = time.perf_counter()
    rc = segtool_main(["predict", str(video), "-c", str(ckpt), "-o", str(out), "--overlay", "-q", "--device", device, *extra])
    elapsed = time.perf_counter() - t
    assert rc == 0, f"predict failed with exit code {rc}"
    import json

    return json.loads((out / "summary.json").read_text())["frames_written"] / elapsed


def long_run_memory(ckpt: Path, video: Path, out: Path, device: str) -> tuple[float, list[float], int]:
    """Run predict in a subprocess and sample its RSS: (peak MB, RSS at 10/25/50/75/100 % of the run, frames)."""
    cmd = [sys.executable, "-m", "segtool", "predict", str(video), "-c", str(ckpt), "-o", str(out), "--overlay", "-q", "--device", device]
    proc = subprocess.Popen(cmd, cwd=REPO)
    samples: list[tuple[float, float]] = []

    def sample() -> None:
        status = Path(f"/proc/{proc.pid}/status")
        while proc.poll() is None:
            try:
                rss = next(int(ln.split()[1]) for ln in status.read_text().splitlines() if ln.startswith("VmRSS"))
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


def speed(engine: Engine, ckpt: Path, video: Path, tmp: Path, args, h: int, w: int, device: torch.device) -> None:
    """(a), (b), (c) and their ratios, on the same checkpoint and video."""
    a = model_only(engine, h, w, min(args.frames, 60 if device.type == "cpu" else 400))
    print(f"(a) model only        {a:8.2f} frames/s", flush=True)
    b = predict_e2e(ckpt, video, tmp / "pred", args.device, args.threads)
    print(f"(b) segtool predict   {b:8.2f} frames/s  (masks PNG + overlay.mp4 + coverage.csv)", flush=True)
    c = naive_loop(ckpt, video, tmp, device)
    print(f"(c) naive loop        {c:8.2f} frames/s", flush=True)
    print(f"(b)/(a) = {b / a:.2f}    (b)/(c) = {b / c:.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--backbone", default="mobilenet_v3_large")
    ap.add_argument("--frames", type=int, default=303, help="frames of the speed runs (0: skip them)")
    ap.add_argument("--long", type=int, default=0, help="frames of the memory run (0: skip it)")
    ap.add_argument("--threads", type=int, default=None, help="CPU threads for the model in (a), (b) and (c) (default: segtool's)")
    ap.add_argument("--height", type=int, default=0, help="resize the video to this height (e.g. 1080); 0 = 360 (native)")
    args = ap.parse_args()
    device = torch.device(args.device if args.device != "cuda" else "cuda:0")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        ckpt = make_checkpoint(tmp / "model.pt", args.backbone)
        engine = Engine(ckpt, device=args.device, threads=args.threads)  # sets torch's thread count for (c) too
        name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"
        print(f"device: {name}; torch {torch.__version__}; {args.backbone}; {engine.device_label}")
        if args.frames:
            video = make_video(tmp / "clip.mp4", args.frames, args.height or None)
            with av.open(str(video)) as c:
                h, w = c.streams.video[0].height, c.streams.video[0].width
            print(f"video {w}x{h}, {args.frames} frames")
            speed(engine, ckpt, video, tmp, args, h, w, device)
        if args.long:
            long_video = make_video(tmp / "long.mp4", args.long, args.height or None)
            peak, at, frames = long_run_memory(ckpt, long_video, tmp / "long", args.device)
            print(f"memory over {frames} frames: peak RSS {peak:.0f} MB; RSS at 10/25/50/75/100 % of the run: "
                  + " / ".join(f"{r:.0f}" for r in at) + f" MB (growth from 10 % to the end {at[-1] - at[0]:+.0f} MB)")


if __name__ == "__main__":
    main()
