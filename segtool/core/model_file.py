"""One home for "a model file": `open_model(path or shipped name)` → `ModelFile`.

Every place that takes a model from the user — the Engine, the viewer session, batch workers, `segtool
info`, the app's dialogs, label mode's teaching — opens it here, and only here is it decided what kind of
file it is:

- a segtool checkpoint (`.pt`, `.pth`): read once with its weights (`models.checkpoint.load_checkpoint`);
- an exported model (`.onnx`, `segtool export-onnx`): its metadata read and validated against the same
  format (`Checkpoint.from_dict`), its class count checked against the graph's output; the weights stay
  in the file, which the runtime reads itself;
- a shipped model by name (`rock_fragments`, `demo_rocks`; see `SHIPPED_MODELS`): the file installed
  with segtool (`segtool.demo.shipped_model`), then as above. A file of that name in the current folder
  wins, as a path always does.

Callers ask the `ModelFile` (`is_onnx`, `checkpoint`, `path`) instead of looking at suffixes.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from segtool.base.errors import UserInputError
from segtool.models.checkpoint import Checkpoint, load_checkpoint

# name → file in assets/ (installed to share/segtool/); the names users type after -c / --init
SHIPPED_MODELS = {"rock_fragments": "rock_fragments.pt", "demo_rocks": "demo_rocks.pt"}


@dataclass(frozen=True, eq=False)
class ModelFile:
    """A model file that has been opened and validated. Read-only: share it between threads (each Engine
    copies the weights it runs), never mutate its checkpoint.

    Attributes:
        path: the file (a shipped name resolved to its installed file).
        kind: "checkpoint" (.pt with weights) or "onnx" (exported; weights stay in the file).
        checkpoint: classes, colours, preprocessing, config, fragments; the weights too for a checkpoint
            (an exported model's Checkpoint has an empty state dict).
        name: what the user gave (a path or a shipped name), for messages.
        onnx_metadata: an exported model's `segtool.checkpoint` metadata (validated), else None.
        onnx_logits: the class count the exported graph's output declares (None: not stated, checked on
            the first run by the Engine).
        stamp: (size, modification time in ns) when read: `check_unchanged` tells a later reader (a batch
            worker) that it reads the file that was validated.
    """

    path: Path
    kind: str
    checkpoint: Checkpoint
    name: str
    onnx_metadata: Mapping[str, Any] | None = None
    onnx_logits: int | None = None
    onnx_opset: int | None = None
    onnx_parameters: int = 0
    stamp: tuple[int, int] = (0, 0)
    shipped: bool = field(default=False)

    @property
    def is_onnx(self) -> bool:
        return self.kind == "onnx"

    @property
    def class_names(self) -> list[str]:
        return self.checkpoint.class_names

    def check_unchanged(self) -> None:
        """Raise `UserInputError` if the file was replaced or edited since it was read."""
        if file_stamp(self.path) != self.stamp:
            raise UserInputError(
                f"{self.path} changed since it was checked (replaced or edited while in use); "
                "run again so that every worker uses the same model"
            )


def file_stamp(path: Path) -> tuple[int, int]:
    """(size, mtime in ns) of a file; (0, 0) when it cannot be read."""
    try:
        st = path.stat()
    except OSError:
        return (0, 0)
    return (st.st_size, st.st_mtime_ns)


def shipped_model_paths() -> dict[str, Path]:
    """The shipped models installed here: name → file (missing ones left out)."""
    from segtool.demo import shipped_model

    found = {name: shipped_model(file) for name, file in SHIPPED_MODELS.items()}
    return {name: p for name, p in found.items() if p is not None}


def shipped_name(text: str) -> str | None:
    """The shipped model `text` names ("rock_fragments" or "rock_fragments.pt"), else None."""
    stem = text[:-3] if text.endswith(".pt") else text
    return stem if stem in SHIPPED_MODELS and "/" not in text and os.sep not in text else None


def resolve_model_path(path_or_name: str | os.PathLike) -> Path:
    """The file a model argument means: an existing path as it is, a shipped name as its installed file.

    Raises:
        UserInputError: neither (the message lists the shipped names), or a shipped model not installed.
    """
    p = Path(path_or_name).expanduser()
    if p.exists():
        return p
    name = shipped_name(str(path_or_name))
    if name is None:
        raise UserInputError(
            f"{p} does not exist; check the path (shipped models by name: {', '.join(SHIPPED_MODELS)})"
        )
    found = shipped_model_paths().get(name)
    if found is None:
        raise UserInputError(
            f"the shipped model {name} ({SHIPPED_MODELS[name]}) is not installed; reinstall segtool "
            "or give the model file's path"
        )
    return found


def is_model_argument_shipped(path_or_name: str | os.PathLike) -> bool:
    """True when `path_or_name` is a shipped name that no file of that name shadows."""
    return not Path(path_or_name).expanduser().exists() and shipped_name(str(path_or_name)) is not None


def open_model(model: ModelFile | str | os.PathLike) -> ModelFile:
    """Open and validate a model file: a checkpoint (.pt), an exported model (.onnx) or a shipped name.

    A `ModelFile` is returned as it is (callers may pass either). This is the only place that decides what
    kind of file a model is.

    Raises:
        UserInputError (CheckpointError): the file is missing, unreadable or not a valid model, with the fix.
    """
    if isinstance(model, ModelFile):
        return model
    if isinstance(model, Checkpoint):
        raise TypeError(
            "open_model takes a path or a shipped name; wrap a loaded Checkpoint with from_checkpoint"
        )
    path = resolve_model_path(model)
    shipped = is_model_argument_shipped(model)
    if path.is_dir():
        raise UserInputError(f"{path} is a folder; give the model file (.pt or .onnx) inside it")
    stamp = file_stamp(path)
    from segtool.core.onnx_export import is_onnx_path, read_onnx

    if is_onnx_path(path):
        f = read_onnx(path)
        return ModelFile(
            path,
            "onnx",
            f.checkpoint,
            str(model),
            MappingProxyType(f.metadata),
            f.logits,
            f.opset,
            f.parameters,
            stamp,
            shipped,
        )
    return ModelFile(path, "checkpoint", load_checkpoint(path), str(model), stamp=stamp, shipped=shipped)


def from_checkpoint(ck: Checkpoint, path: str | os.PathLike | None = None) -> ModelFile:
    """A `ModelFile` for a Checkpoint already in memory (a training run's, a test's)."""
    p = Path(path or ck.source or "")
    return ModelFile(
        p,
        "checkpoint",
        ck,
        str(path or ck.source or "(in memory)"),
        stamp=file_stamp(p) if p.name else (0, 0),
    )
