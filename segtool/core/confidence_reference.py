"""Add a confidence reference to a checkpoint that has none (made before segtool stored one, or trained
without validation images): measure the model on images it was not trained on and write a new
checkpoint. `segtool info MODEL --add-confidence-reference IMAGES -o OUT.pt` calls it.

The reference is what `segtool train` stores from its validation images (`models.confidence`); the
app's "model is unsure" notice compares the footage with it (`core.confidence`).
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from segtool.base.errors import UserInputError
from segtool.core.model_file import ModelFile, open_model
from segtool.models.confidence import make_reference, rescaled_mean

MAX_FRAMES = 200  # frames taken from a long video (evenly spaced): enough for a mean and a 10th percentile


def reference_source(spec: str | os.PathLike) -> str:
    """What to read for `spec`: a dataset split folder with an `images/` folder inside (e.g. a training
    set's `val/`) means its images; anything else as given (an image, a folder of images, a video)."""
    p = Path(spec)
    return str(p / "images") if p.is_dir() and (p / "images").is_dir() else str(spec)


def measure_reference(
    model: ModelFile | str | os.PathLike,
    spec: str | os.PathLike,
    *,
    max_frames: int = MAX_FRAMES,
    device: str = "auto",
    runtime: str = "torch",
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """The model's `confidence_reference` measured on the frames of `spec` (at most `max_frames`, evenly
    spaced), exactly as the app measures footage: one `rescaled_mean` per frame.

    Raises:
        UserInputError: the source cannot be read or holds no frame, naming it.
    """
    from segtool.core.engine import Engine
    from segtool.core.sources import open_source

    if max_frames < 1:
        raise UserInputError(f"--reference-frames {max_frames}: give at least 1")
    source = reference_source(spec)
    engine = Engine(
        open_model(model) if not isinstance(model, ModelFile) else model, device=device, runtime=runtime
    )
    values: list[float] = []
    with open_source(source) as src:
        total = src.frames_expected
        if total is None:
            raise UserInputError(f"{spec}: a live source; give images or a video file")
        every = max(1, math.ceil(total / max_frames))
        wanted = len(range(0, total, every))
        for frame in src.frames(every=every):
            pred = engine.predict_one(frame.rgb, confidence=True)
            values.append(rescaled_mean(pred.confidence, engine.num_classes))
            if progress is not None:
                progress(len(values), wanted)
    ref = make_reference(values, "images", str(spec))
    if ref is None:
        raise UserInputError(f"{spec}: no frames to measure on; give a folder of images or a video")
    return ref


def check_output(model: ModelFile, output: str | os.PathLike) -> Path:
    """Refuse before any measuring what `write_with_reference` could not write: an exported .onnx model
    (its checkpoint must be given), an output that is a folder or not a .pt file.

    Raises:
        UserInputError: naming the file and the fix.
    """
    if model.is_onnx:
        raise UserInputError(
            f"{model.path} is an exported ONNX model: add the reference to the .pt checkpoint it was exported "
            "from, then export it again (`segtool export-onnx`); the export carries the reference"
        )
    out = Path(output)
    if out.is_dir():
        raise UserInputError(f"-o {out} is a folder; give the new checkpoint's file name (e.g. model_ref.pt)")
    if out.suffix.lower() not in (".pt", ".pth"):
        raise UserInputError(f"-o {out}: a checkpoint file ends in .pt; e.g. -o {out.with_suffix('.pt')}")
    return out


def write_with_reference(
    model: ModelFile | str | os.PathLike, reference: dict[str, Any], output: str | os.PathLike
) -> tuple[Path, list[str]]:
    """Write `model` again as `output` with `reference` as its `confidence_reference` (atomically: a
    temporary name, then rename; `output` may be the model itself). Weights stored as float16 stay
    float16. Returns the file written and notes for the user (what was not carried over).

    Raises:
        UserInputError: `model` is not a `.pt` checkpoint (an exported .onnx model cannot be rewritten:
            add the reference to its checkpoint and export again), or `output` cannot be written.
    """
    import torch

    from segtool.models.checkpoint import safe_torch_load, save_checkpoint

    mf = open_model(model)
    out = check_output(mf, output)
    raw = safe_torch_load(mf.path)
    half = any(
        isinstance(v, torch.Tensor) and v.dtype == torch.float16 for v in raw.get("state_dict", {}).values()
    )
    notes = []
    if raw.get("resume"):
        notes.append(
            f"{mf.path}'s resume state (optimizer, epoch) is not carried over: {out} is for use only"
        )
    old = mf.checkpoint.confidence_reference
    if old:
        kind = (
            "" if old["source"] == "images" else f"{old['source']} "
        )  # "validation images", not "images images"
        notes.append(f"replaced the reference it had ({old['mean']:.2f} on {old['images']} {kind}images)")
    # a copy: the ModelFile's checkpoint is shared and read-only
    save_checkpoint(dataclasses.replace(mf.checkpoint, confidence_reference=reference), out, half=half)
    return out, notes
