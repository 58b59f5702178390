"""ONNX export of a segtool checkpoint: a self-describing `.onnx` file that any runtime can run.

The graph takes `image`: N×3×H×W float32, already normalised (mean/std from the metadata), any N, H and W;
it returns `logits`: N×K×H×W at the input's size (the network's own bilinear upsampling, as in torch).
The checkpoint's classes, colours, preprocessing and model config travel in the ONNX metadata under the key
`segtool.checkpoint` (JSON), so `segtool predict -c model.onnx` needs nothing else.

Exporter: torch's TorchScript-based `torch.onnx.export(dynamo=False)`, opset 17. The dynamo exporter gave
the same graph speed under ONNX Runtime and OpenVINO but took 64 s instead of 3 s for mobilenet_v3_large
on this project's 2-core CPU (docs/runtimes.md).
"""

from __future__ import annotations

import json
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

import torch

from models.checkpoint import Checkpoint, _check_preprocess
from models.config import ModelConfig
from models.errors import UserInputError

OPSET = 17
METADATA_KEY = "segtool.checkpoint"
ONNX_FORMAT = "segtool-onnx"
ONNX_FORMAT_VERSION = 1
# Part of the cache key: change it when the exported graph changes for the same weights.
EXPORT_POLICY = f"opset{OPSET}-dynamic-nhw-logits-v1"


class _Logits(torch.nn.Module):
    """The network with only the output the engine uses (the auxiliary head is a training aid)."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)["out"]


def checkpoint_metadata(ck: Checkpoint, *, int8: dict[str, Any] | None = None) -> dict[str, Any]:
    """What `segtool.checkpoint` holds: everything of the checkpoint but its weights."""
    import onnx

    return {
        "format": ONNX_FORMAT,
        "version": ONNX_FORMAT_VERSION,
        "model": ck.config.to_dict(),
        "classes": [dict(c) for c in ck.classes],
        "ignore_index": int(ck.ignore_index),
        "preprocess": _check_preprocess(ck.preprocess),
        "train": ck.train,
        "export": {"opset": OPSET, "policy": EXPORT_POLICY, "torch": torch.__version__, "onnx": onnx.__version__,
                   "input": "image: N x 3 x H x W float32, normalised", "output": "logits: N x K x H x W"},
        "int8": int8,
    }  # fmt: skip


def export_onnx(ck: Checkpoint, path: str | os.PathLike, *, sample_size: tuple[int, int] = (256, 320)) -> Path:
    """Write `ck` as a dynamic-size ONNX model with its metadata, atomically (temporary name, then rename)."""
    path = Path(path)
    if not path.parent.is_dir():
        raise UserInputError(f"cannot write {path}: folder {path.parent} does not exist; create it or choose another -o")
    model = _Logits(ck.build_model().float().eval()).eval()
    x = torch.randn(1, 3, *sample_size)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp.onnx", dir=path.parent)
    os.close(fd)
    try:
        with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
            # the TorchScript exporter is deprecated in favour of dynamo (slower to export, same graph speed)
            warnings.simplefilter("ignore")
            torch.onnx.export(
                model, (x,), tmp, dynamo=False, opset_version=OPSET, input_names=["image"], output_names=["logits"],
                dynamic_axes={"image": {0: "n", 2: "height", 3: "width"}, "logits": {0: "n", 2: "height", 3: "width"}},
            )  # fmt: skip
        write_metadata(tmp, checkpoint_metadata(ck))
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; the model is an ordinary file others may read
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_metadata(path: str | os.PathLike, meta: dict[str, Any]) -> None:
    """Set the `segtool.checkpoint` metadata of an ONNX file in place."""
    import onnx

    model = onnx.load(str(path))
    props = [p for p in model.metadata_props if p.key != METADATA_KEY]
    del model.metadata_props[:]
    model.metadata_props.extend(props)
    entry = model.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, json.dumps(meta)
    model.producer_name = "segtool"
    onnx.save(model, str(path))


def read_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The `segtool.checkpoint` metadata of an exported model, with a clear error for other ONNX files."""
    import onnx

    path = Path(path)
    if not path.is_file():
        raise UserInputError(f"{path} does not exist; check the path")
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as e:  # noqa: BLE001 - onnx raises DecodeError and friends
        raise UserInputError(f"{path} is not a readable ONNX model ({e}); export it again with segtool export-onnx") from e
    for p in model.metadata_props:
        if p.key == METADATA_KEY:
            meta = json.loads(p.value)
            if meta.get("format") != ONNX_FORMAT:
                break
            if meta.get("version", 0) > ONNX_FORMAT_VERSION:
                raise UserInputError(f"{path} was exported by a newer segtool (format version {meta['version']}); upgrade segtool")
            return meta
    raise UserInputError(
        f"{path} has no segtool metadata (key {METADATA_KEY}): segtool needs the classes and preprocessing; "
        "export the model with `segtool export-onnx CKPT -o MODEL.onnx`"
    )


def checkpoint_from_metadata(meta: dict[str, Any]) -> Checkpoint:
    """A weightless Checkpoint (classes, preprocessing, config) for an exported model."""
    return Checkpoint(
        config=ModelConfig.from_dict(meta["model"]),
        classes=meta["classes"],
        state_dict={},
        preprocess=meta["preprocess"],
        ignore_index=int(meta.get("ignore_index", 255)),
        train=meta.get("train"),
    )


def is_onnx_path(path: Any) -> bool:
    return isinstance(path, (str, os.PathLike)) and str(path).lower().endswith(".onnx")
