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
import math
import os
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from segtool.base.atomic import describe_write_error
from segtool.base.errors import UserInputError
from segtool.models.checkpoint import Checkpoint

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
    """What `segtool.checkpoint` holds: the checkpoint as `Checkpoint.to_dict` writes it (the format is
    written in that one place), without the weights, under this file's own format name, plus the export
    and INT8 records."""
    import onnx

    export = {
        "opset": OPSET,
        "policy": EXPORT_POLICY,
        "torch": torch.__version__,
        "onnx": onnx.__version__,
        "input": "image: N x 3 x H x W float32, normalised",
        "output": "logits: N x K x H x W",
    }
    meta = ck.to_dict(weights=False)
    meta.update(format=ONNX_FORMAT, version=ONNX_FORMAT_VERSION, export=export, int8=int8)
    return meta


def check_writable(path: Path) -> None:
    """Refuse an output folder that cannot take the file (read-only, missing) before minutes of work,
    with the file, the cause and the fix."""
    if not path.parent.is_dir():
        raise UserInputError(
            f"cannot write {path}: folder {path.parent} does not exist; create it or choose another -o"
        )
    try:
        fd, probe = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".probe", dir=path.parent)
    except OSError as e:
        raise UserInputError(describe_write_error(path, e)) from e
    os.close(fd)
    os.unlink(probe)


def export_onnx(
    ck: Checkpoint, path: str | os.PathLike, *, sample_size: tuple[int, int] = (256, 320)
) -> Path:
    """Write `ck` as a dynamic-size ONNX model with its metadata, atomically (temporary name, then rename)."""
    path = Path(path)
    check_writable(path)
    model = _Logits(ck.build_model().float().eval()).eval()
    x = torch.randn(1, 3, *sample_size)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp.onnx", dir=path.parent)
    os.close(fd)
    try:
        with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
            # the TorchScript exporter is deprecated in favour of dynamo (slower to export, same graph speed)
            warnings.simplefilter("ignore")
            torch.onnx.export(
                model,
                (x,),
                tmp,
                dynamo=False,
                opset_version=OPSET,
                input_names=["image"],
                output_names=["logits"],
                dynamic_axes={
                    "image": {0: "n", 2: "height", 3: "width"},
                    "logits": {0: "n", 2: "height", 3: "width"},
                },
            )
        write_metadata(tmp, checkpoint_metadata(ck))
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; the model is an ordinary file others may read
        os.replace(tmp, path)
    except OSError as e:  # the folder filled up or became read-only while exporting
        Path(tmp).unlink(missing_ok=True)
        raise UserInputError(describe_write_error(path, e)) from e
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_metadata(path: str | os.PathLike, meta: dict[str, Any]) -> None:
    """Set the `segtool.checkpoint` metadata of an ONNX file in place, and state the class count K in the
    graph's N×K×H×W output (the exporter leaves it symbolic), so a reader can check the metadata against it."""
    import onnx

    model = onnx.load(str(path))
    outs = model.graph.output
    if len(outs) == 1 and len(outs[0].type.tensor_type.shape.dim) == 4:
        outs[0].type.tensor_type.shape.dim[1].dim_value = len(meta["classes"])
    props = [p for p in model.metadata_props if p.key != METADATA_KEY]
    del model.metadata_props[:]
    model.metadata_props.extend(props)
    entry = model.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, json.dumps(meta)
    model.producer_name = "segtool"
    onnx.save(model, str(path))


REEXPORT = (
    "export it again with `segtool export-onnx CKPT -o MODEL.onnx` (the file's metadata must not be edited)"
)


@dataclass(frozen=True)
class OnnxFile:
    """What segtool reads of an exported model in one pass over the file: its validated metadata, the
    checkpoint it describes (without weights), and facts of the graph (`logits`: the class count the
    graph's output declares, None when the shape does not say)."""

    metadata: dict[str, Any]
    checkpoint: Checkpoint
    logits: int | None
    opset: int | None
    parameters: int


def read_onnx(path: str | os.PathLike) -> OnnxFile:
    """Read and validate an exported model: metadata against the format (the same reader as a `.pt`
    checkpoint's, `Checkpoint.from_dict`), its class count against the graph's output.

    Raises:
        UserInputError: naming the file, what is wrong and the fix (export it again).
    """
    import onnx

    path = Path(path)
    if not path.is_file():
        raise UserInputError(f"{path} does not exist; check the path")
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as e:  # noqa: BLE001 - onnx raises DecodeError and friends
        raise UserInputError(
            f"{path} is not a readable ONNX model ({e}); export it again with segtool export-onnx"
        ) from e
    meta = _metadata(path, model)
    try:
        ck = Checkpoint.from_dict(meta, source=str(path), weights=False)
    except UserInputError as e:
        raise UserInputError(f"{path}: its segtool metadata is wrong: {e}; {REEXPORT}") from e
    logits = _declared_logits(model)
    if logits is not None and logits != len(ck.classes):
        raise UserInputError(
            f"{path}: its metadata names {len(ck.classes)} classes ({', '.join(ck.class_names)}) but the "
            f"network outputs {logits} class scores; {REEXPORT}"
        )
    params = 0
    for init in model.graph.initializer:
        if len(init.dims) >= 1 and init.data_type in (onnx.TensorProto.FLOAT, onnx.TensorProto.INT8):
            params += math.prod(int(d) for d in init.dims)
    opset = max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=None)
    return OnnxFile(meta, ck, logits, opset, params)


def _metadata(path: Path, model: Any) -> dict[str, Any]:
    """The `segtool.checkpoint` entry as a dict, or a message saying what is wrong with it."""
    for p in model.metadata_props:
        if p.key != METADATA_KEY:
            continue
        try:
            meta = json.loads(p.value)
        except ValueError as e:
            raise UserInputError(
                f"{path}: its segtool metadata ({METADATA_KEY}) is not valid JSON, perhaps cut short "
                f"({e}); {REEXPORT}"
            ) from e
        if not isinstance(meta, dict):
            raise UserInputError(
                f"{path}: its segtool metadata ({METADATA_KEY}) is a {type(meta).__name__}, not an "
                f"object of named entries; {REEXPORT}"
            )
        if meta.get("format") != ONNX_FORMAT:
            break
        version = meta.get("version")
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise UserInputError(
                f"{path}: its segtool metadata has version {version!r}, not a format version; {REEXPORT}"
            )
        if version > ONNX_FORMAT_VERSION:
            raise UserInputError(
                f"{path} was exported by a newer segtool (format version {version}); upgrade segtool"
            )
        return meta
    raise UserInputError(
        f"{path} has no segtool metadata (key {METADATA_KEY}): segtool needs the classes and preprocessing; "
        "export the model with `segtool export-onnx CKPT -o MODEL.onnx`"
    )


def _declared_logits(model: Any) -> int | None:
    """K of the graph's N×K×H×W output when the graph states it (a fixed dimension), else None."""
    outs = list(model.graph.output)
    if len(outs) != 1 or not outs[0].type.HasField("tensor_type"):
        return None
    dims = outs[0].type.tensor_type.shape.dim
    if len(dims) != 4 or not dims[1].HasField("dim_value"):
        return None
    return int(dims[1].dim_value) or None


def read_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The validated `segtool.checkpoint` metadata of an exported model (see `read_onnx`)."""
    return read_onnx(path).metadata


def checkpoint_from_metadata(meta: dict[str, Any]) -> Checkpoint:
    """A weightless Checkpoint (classes, preprocessing, config, fragments) for an exported model."""
    return Checkpoint.from_dict(meta, weights=False)


def is_onnx_path(path: Any) -> bool:
    """True for a path naming an exported model (`.onnx`). Only `segtool.core.model_file.open_model`
    decides with it; everything else asks the `ModelFile` it returns."""
    return isinstance(path, (str, os.PathLike)) and str(path).lower().endswith(".onnx")
