"""`segtool propagate`: checks of the user's input, then propagated masks written to a folder.

```
DIR/<frame:06d>.png             8-bit class ids, 255 = unknown (FRAME+1 … FRAME+N, or FRAME-1 … FRAME-N)
DIR/instances/<frame:06d>.png   16-bit fragment ids (only with --instances)
```

Frames are numbered as `segtool predict` numbers them (decode order, frame-exact: the project's video
source). Each PNG is written to a temporary name and renamed, so an interrupted run leaves whole files.
"""

from __future__ import annotations

import io
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from segtool.base.errors import UserInputError
from segtool.core.propagate import METHODS, UNKNOWN, Propagated, frames_around, propagate_frames
from segtool.core.sinks._files import atomic_write_bytes, prepare_dir

MASK_HELP = "a class-index PNG (8-bit, one channel: class ids, 255 = unknown), e.g. a label set's masks/*.png"


@dataclass
class PropagateResult:
    """What a run wrote: (frame index, known share, model-filled share) per frame, and whether it was cancelled."""

    frames: list[tuple[int, float, float]] = field(default_factory=list)
    cancelled: bool = False


def read_index_png(path: str | os.PathLike, what: str, *, bits16: bool = False) -> np.ndarray:
    """A single-channel label PNG as an array; UserInputError naming the file and the fix otherwise."""
    p = Path(path)
    if not p.is_file():
        raise UserInputError(f"{what} {p} does not exist; give {MASK_HELP}")
    try:
        with Image.open(p) as im:
            if im.mode in ("RGB", "RGBA", "LA", "CMYK", "YCbCr"):
                raise UserInputError(
                    f"{what} {p} is a colour image ({im.mode}); give {MASK_HELP} "
                    "(colour masks: import them into a label set first)"
                )
            a = np.asarray(im)
    except (UnidentifiedImageError, OSError, SyntaxError) as e:
        raise UserInputError(f"{what} {p} cannot be read as an image ({e}); give {MASK_HELP}") from e
    if a.ndim != 2:
        raise UserInputError(f"{what} {p} has {a.shape[-1]} channels; give {MASK_HELP}")
    if bits16:
        return a.astype(np.uint16)
    if a.dtype != np.uint8:
        raise UserInputError(f"{what} {p} holds {a.dtype} values; give {MASK_HELP}")
    return a


def _png(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="PNG")
    return buf.getvalue()


def check_request(source, mask: np.ndarray, mask_path, at: int, n: int, num_classes: int | None) -> None:
    """Refuse, in words, what `run_propagate` cannot do with this source and mask."""
    if n <= 0:
        raise UserInputError(f"-n {n}: give how many frames to propagate to, 1 or more")
    if source.is_live:
        raise UserInputError(
            f"{source.description}: a live source cannot be propagated along; record it to a file first"
        )
    total = source.frames_expected
    if at < 0 or (total is not None and at >= total):
        last = "" if total is None else f" (it has {total} frames, 0 to {total - 1})"
        raise UserInputError(
            f"--at {at}: no such frame in {source.origin}{last}; give the frame the mask belongs to"
        )
    first = source.read(at)
    h, w = first.rgb.shape[:2]
    if mask.shape != (h, w):
        raise UserInputError(
            f"mask {mask_path} is {mask.shape[1]}x{mask.shape[0]} but the frames of {source.origin} "
            f"are {w}x{h}; give the mask of frame {at} of this video (same size)"
        )
    if num_classes is not None:
        bad = sorted(set(np.unique(mask).tolist()) - {*range(num_classes), UNKNOWN})
        if bad:
            raise UserInputError(
                f"mask {mask_path} has class ids {bad[:8]} but the model has {num_classes} classes "
                f"(0..{num_classes - 1}); use the model the labels were made for, or leave out -c"
            )


def run_propagate(
    source,
    mask_path: str | os.PathLike,
    at: int,
    n: int,
    out: str | os.PathLike,
    *,
    instances_path: str | os.PathLike | None = None,
    backward: bool = False,
    method: str = "dis",
    model=None,
    min_confidence: float = 0.9,
    overwrite: bool = False,
    cancel: threading.Event | None = None,
    progress: Callable[[Propagated], None] | None = None,
) -> PropagateResult:
    """Propagate the mask of frame `at` of the open `source` to `n` frames and write them under `out`.

    Raises:
        UserInputError: bad mask, frame, count, folder or model (the message names the value and the fix).
    """
    if method not in METHODS:
        raise UserInputError(f"--flow {method!r}: use one of {', '.join(METHODS)}")
    if not 0.0 <= min_confidence <= 1.0:
        raise UserInputError(f"--min-confidence {min_confidence}: use a probability between 0 and 1")
    mask = read_index_png(mask_path, "mask")
    check_request(source, mask, mask_path, at, n, None if model is None else model.num_classes)
    inst = None
    if instances_path is not None:
        inst = read_index_png(instances_path, "instances", bits16=True)
        if inst.shape != mask.shape:
            raise UserInputError(
                f"instances {instances_path} is {inst.shape[1]}x{inst.shape[0]} but the mask is "
                f"{mask.shape[1]}x{mask.shape[0]}; give the instance PNG of the same frame"
            )
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UserInputError(f"-o {out} is a file; give a folder for the propagated masks")
    total = source.frames_expected
    wanted = (
        [at - k for k in range(1, n + 1) if at - k >= 0]
        if backward
        else [at + k for k in range(1, n + 1) if total is None or at + k < total]
    )
    if not wanted:
        raise UserInputError(
            f"--at {at}: no frame {'before' if backward else 'after'} it in {source.origin}; "
            f"choose an earlier frame{'' if backward else ' or --backward'}"
        )
    clash = [out / f"{i:06d}.png" for i in wanted if (out / f"{i:06d}.png").exists()]
    if clash and not overwrite:
        raise UserInputError(
            f"{clash[0]} already exists ({len(clash)} of the {len(wanted)} files); choose another -o "
            "or pass --overwrite to replace them"
        )
    prepare_dir(out)
    if inst is not None:
        prepare_dir(out / "instances")
    result = PropagateResult()
    frames = frames_around(source, at, n, backward=backward)
    for p in propagate_frames(
        frames, mask, inst, method=method, model=model, min_confidence=min_confidence, cancel=cancel
    ):
        atomic_write_bytes(out / f"{p.index:06d}.png", _png(p.mask))
        if p.instances is not None:
            atomic_write_bytes(out / "instances" / f"{p.index:06d}.png", _png(p.instances))
        result.frames.append((p.index, p.known_share, p.from_model))
        if progress is not None:
            progress(p)
    result.cancelled = len(result.frames) < len(wanted) and cancel is not None and cancel.is_set()
    return result
