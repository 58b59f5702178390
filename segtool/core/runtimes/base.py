"""What every runtime backend does: a normalised N×3×H×W float tensor in, N×K×H×W logits out.

The Engine keeps everything around the network — resizing, normalisation, test-time augmentation, the
sliding window, confidence — so those behave the same whichever runtime runs the network.
"""

from __future__ import annotations

from typing import Protocol

import torch

RUNTIMES = ("auto", "torch", "openvino", "onnxruntime")
LABELS = {"torch": "PyTorch", "openvino": "OpenVINO", "onnxruntime": "ONNX Runtime"}


class Backend(Protocol):
    """A network ready to run on one device.

    Attributes:
        name: "torch", "openvino" or "onnxruntime".
        label: what a person reads, with the runtime's version and precision (e.g. "OpenVINO 2026.4, f32").
        channels_last: the backend wants channels-last strided input (torch with oneDNN / cuDNN).
        compiles: how many times the network was compiled for this backend (a dynamic-shape model
            compiles once, whatever frame sizes follow).
    """

    name: str
    label: str
    channels_last: bool
    compiles: int

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits at the input's size (N×K×H×W) for a normalised N×3×H×W float tensor on the engine's device."""
        ...
