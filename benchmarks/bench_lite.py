"""EfficientNet-Lite0 vs mobilenet_v3_large as a DeepLabV3 / V3+ backbone: one CPU thread, the same input.

Times the forward pass of each network (median of N, after a warm-up) by the thread's CPU clock, which a
machine shared with other jobs disturbs far less than wall time, and prints the Lite0 / MobileNet ratio.
Also prints the parameter counts and the one-off cost of importing timm (paid only by Lite backbones).

With --openvino, also the same networks exported to ONNX (segtool's exporter) and run by OpenVINO on one
thread in f32, as `segtool predict` runs them on a CPU by default (process CPU time of the inference call).

Usage: python benchmarks/bench_lite.py [--size 512] [--repeats 5] [--decoders none,v3plus] [--output-stride 16] [--openvino]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import torch

from segtool.models import build_deeplabv3


def cpu_time_forward(model: torch.nn.Module, x: torch.Tensor, repeats: int) -> float:
    """Median single-thread CPU seconds of one forward pass (after one warm-up)."""
    times = []
    with torch.inference_mode():
        model(x)
        for _ in range(repeats):
            t = time.thread_time()
            model(x)
            times.append(time.thread_time() - t)
    return statistics.median(times)


def openvino_seconds(model: torch.nn.Module, x: torch.Tensor, repeats: int, tmp: str) -> float:
    """Median CPU seconds of OpenVINO (1 inference thread, f32) on the model exported by segtool's exporter.

    Process CPU time: OpenVINO computes on its own thread, which the caller's thread clock would miss, and
    wall time on a shared machine counts the other jobs too."""
    import openvino as ov

    from segtool.core.onnx_export import export_onnx
    from segtool.models import Checkpoint, make_classes

    ck = Checkpoint(
        config=model.config,
        classes=make_classes(["a", "b"], [[0, 0, 0], [255, 0, 0]]),
        state_dict=model.state_dict(),
        train={},
    )
    path = export_onnx(ck, f"{tmp}/{model.config.backbone}.onnx")
    compiled = ov.Core().compile_model(
        str(path), "CPU", {"INFERENCE_PRECISION_HINT": "f32", "INFERENCE_NUM_THREADS": 1}
    )
    arr = x.numpy()
    compiled(arr)
    times = []
    for _ in range(repeats):
        t = time.process_time()
        compiled(arr)
        times.append(time.process_time() - t)
    return statistics.median(times)


def timm_import_seconds() -> float:
    """Wall seconds `import timm` adds to a fresh interpreter that has already imported torchvision."""
    code = "import time, torchvision; t = time.perf_counter(); import timm; print(time.perf_counter() - t)"
    return float(
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--decoders", default="none,v3plus")
    ap.add_argument("--output-stride", type=int, default=16, choices=(8, 16))
    ap.add_argument(
        "--openvino", action="store_true", help="also time the exported models on OpenVINO (1 thread)"
    )
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="bench-lite-")
    torch.set_num_threads(1)
    x = torch.randn(1, 3, args.size, args.size)
    print(
        f"torch {torch.__version__}; input 1x3x{args.size}x{args.size}; output stride {args.output_stride}; "
        f"1 thread, median CPU time of {args.repeats}"
    )
    print(
        f"{'decoder':8} {'backbone':20} {'params M':>9} {'torch ms':>9}"
        + (f" {'openvino ms':>12}" if args.openvino else "")
    )
    for decoder in args.decoders.split(","):
        ms, ov_ms = {}, {}
        for backbone in ("mobilenet_v3_large", "efficientnet_lite0"):
            model = build_deeplabv3(
                backbone=backbone,
                num_classes=2,
                output_stride=args.output_stride,
                decoder=decoder,
                aux_head=False,
            ).eval()
            ms[backbone] = 1000 * cpu_time_forward(model, x, args.repeats)
            params = sum(p.numel() for p in model.parameters()) / 1e6
            line = f"{decoder:8} {backbone:20} {params:9.2f} {ms[backbone]:9.0f}"
            if args.openvino:
                ov_ms[backbone] = 1000 * openvino_seconds(model, x, args.repeats, tmp)
                line += f" {ov_ms[backbone]:12.0f}"
            print(line)
        print(
            f"{decoder:8} ratio efficientnet_lite0 / mobilenet_v3_large = {ms['efficientnet_lite0'] / ms['mobilenet_v3_large']:.2f} (torch)"
            + (
                f", {ov_ms['efficientnet_lite0'] / ov_ms['mobilenet_v3_large']:.2f} (openvino)"
                if args.openvino
                else ""
            )
        )
    print(f"import timm (once per process, Lite backbones only): {timm_import_seconds():.2f} s wall")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
