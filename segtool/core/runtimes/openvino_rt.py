"""OpenVINO on the CPU: the fastest runtime measured on CPU laptops (docs/runtimes.md)."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import torch

from segtool.base.errors import UserInputError

# --precision → OpenVINO's inference precision hint. `auto` is f32, like torch on the CPU: OpenVINO's own
# default is bf16 on CPUs with AVX512-BF16/AMX, ~1.7x faster here but it moved 0.65 % of a test model's
# pixels to another class (the issue asks >= 99.9 % agreement); `--precision bf16` asks for it (docs/runtimes.md).
PRECISION_HINTS = {"auto": "f32", "fp32": "f32", "bf16": "bf16"}

_core = None
_core_lock = threading.Lock()


def openvino_core():
    """The process's one `openvino.Core`, made on first use and kept for the life of the process: every OpenVINO model
    segtool compiles goes through it.

    Why never more than one (issue 23, a SIGSEGV of the test suite with no traceback): on Linux, OpenVINO's
    CPU plugin, made once per Core, swaps the calling thread's alternate signal stack (sigaltstack) for an
    mmap'ed one of its own; when the plugin goes (with its Core's last compiled model) it unmaps that
    stack and puts the old one back only if the *releasing* thread's current stack is its own. Two Cores
    whose models are released out of order (the INT8 check holds the fp32 and the int8 model, the viewer
    makes its new engine before dropping the old) or a model released on another thread leave a thread's
    alternate stack pointing at unmapped, or later reused, memory: the next signal handled on it (Python's
    handlers run there: Ctrl-C, SIGCHLD) kills the process with SIGSEGV, or the kernel writes the signal
    frame over live memory. One Core that lives as long as the process makes one plugin and never unmaps
    its stack (OpenVINO also recommends one Core per application). tests/unit/test_openvino_core.py.
    """
    global _core
    with _core_lock:
        if _core is None:
            import openvino as ov

            _core = ov.Core()
        return _core


class OpenVINOBackend:
    name = "openvino"
    channels_last = False

    def __init__(
        self, onnx_path: Path, device: torch.device, threads: int, precision: str, cache_dir: Path | None
    ) -> None:
        import openvino as ov

        if device.type != "cpu":
            raise UserInputError(
                f"--runtime openvino runs on the CPU here, not {device}; use --runtime torch on the GPU, or --device cpu"
            )
        if precision not in ("auto", "fp32", "bf16"):
            raise UserInputError(
                f"--precision {precision} is not available with OpenVINO; use auto, fp32 or bf16"
            )
        core = openvino_core()  # never a Core of its own: see openvino_core
        config: dict[str, object] = {"INFERENCE_NUM_THREADS": int(threads), "PERFORMANCE_HINT": "LATENCY"}
        config["INFERENCE_PRECISION_HINT"] = PRECISION_HINTS[precision]
        if cache_dir is not None:
            # OpenVINO keeps the compiled blob here, keyed by the model and the config: later runs load it
            config["CACHE_DIR"] = str(cache_dir)
        try:
            self.compiled = core.compile_model(str(onnx_path), "CPU", config)
        except RuntimeError as e:
            if precision == "bf16" and "bf16" in str(e).lower():
                raise UserInputError(
                    "--precision bf16: this CPU has no bfloat16 support in OpenVINO; use fp32 or auto"
                ) from e
            raise
        self.compiles = 1  # compiled once with dynamic N, H, W: frame-size changes do not recompile
        self.request = self.compiled.create_infer_request()
        hint = (
            str(self.compiled.get_property("INFERENCE_PRECISION_HINT"))
            .replace("<Type: '", "")
            .replace("'>", "")
        )
        self.precision = {"float32": "fp32", "bfloat16": "bf16", "float16": "fp16"}.get(hint, hint)
        self.label = f"OpenVINO {ov.__version__.split('-')[0]}, {self.precision}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        arr = np.ascontiguousarray(x.detach().float().cpu().numpy())
        self.request.infer({0: arr})
        # copy: the request reuses its output buffer on the next call
        return torch.from_numpy(self.request.get_output_tensor(0).data.copy())
