"""ONNX Runtime (CPU execution provider; CUDA's where the installed package has it)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from segtool.base.errors import UserInputError


class OnnxRuntimeBackend:
    name = "onnxruntime"
    channels_last = False  # ONNX models take plain NCHW arrays

    def __init__(self, onnx_path: Path, device: torch.device, threads: int, precision_note: str) -> None:
        import onnxruntime as ort

        providers = ["CPUExecutionProvider"]
        if device.type == "cuda":
            if "CUDAExecutionProvider" not in ort.get_available_providers():
                raise UserInputError(
                    f"--runtime onnxruntime --device {device}: this onnxruntime has no CUDA provider "
                    f"(it has {', '.join(ort.get_available_providers())}); use --runtime torch on the GPU, or --device cpu"
                )
            providers = [("CUDAExecutionProvider", {"device_id": device.index or 0}), "CPUExecutionProvider"]
        elif device.type != "cpu":
            raise UserInputError(
                f"--runtime onnxruntime runs on the CPU (or CUDA), not {device}; use --runtime torch or --device cpu"
            )
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(str(onnx_path), so, providers=providers)
        self.compiles = 1  # the session is built once; its graph has dynamic N, H, W
        self.input_name = self.session.get_inputs()[0].name
        self.output_name = self.session.get_outputs()[0].name
        self.device = device
        self.label = f"ONNX Runtime {ort.__version__}, {precision_note}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        arr = np.ascontiguousarray(x.detach().float().cpu().numpy())
        out = self.session.run([self.output_name], {self.input_name: arr})[0]
        return torch.from_numpy(out).to(self.device)
