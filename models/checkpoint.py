"""segtool checkpoints: a self-describing `.pt` file that rebuilds its own model.

Format (plain types and tensors only, loadable with `torch.load(weights_only=True)`):
    {"format": "segtool-checkpoint", "version": 1, "model": ModelConfig.to_dict(),
     "classes": [{"name", "color"}], "ignore_index": 255,
     "preprocess": {"mean", "std", "resize_short"}, "state_dict": {...}, "train": {...} | None,
     "fragments": {"interior": CLASS, "edge": CLASS | None[, "centre": CLASS, "split": "centre"]} | None,
     "confidence_reference": {"mean", "p10", "images", "source", "data"} | None}
`fragments` (optional; older files lack it) names the class that is the inside of a rock fragment and
the class of its edge band, so fragment tools know how to split a prediction into fragments. A model
trained for the learned centre split also names its `centre` class (the core of every fragment) and
says `"split": "centre"`; without a "split" key the edge split is used, as for every older file.
`confidence_reference` (optional; models.confidence) is how sure the model was on its own validation
images: the app's "model is unsure" notice compares the footage with it.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from segtool.base.atomic import atomic_writer, describe_write_error
from segtool.base.errors import CheckpointError, UserInputError
from segtool.models.classes import class_palette, validate_classes
from segtool.models.confidence import check_reference
from segtool.models.config import ModelConfig
from segtool.models.deeplab import DeepLabV3, build_from_config
from segtool.models.state_dict import explain_mismatch, is_state_dict, strip_prefixes

FORMAT = "segtool-checkpoint"
VERSION = 1
IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]


# EfficientNet-Lite's ImageNet weights were trained on (pixel - 127.5) / 127.5 (TensorFlow's Lite builder
# uses 127/128; timm's pretrained config 0.5/0.5): the input its first BatchNorm statistics expect.
LITE_MEAN = [0.5, 0.5, 0.5]
LITE_STD = [0.5, 0.5, 0.5]


def default_preprocess(resize_short: int | None = 520, *, backbone: str | None = None) -> dict[str, Any]:
    """The normalisation the backbone's ImageNet weights were trained with (torchvision's ImageNet mean/std;
    0.5/0.5 for EfficientNet-Lite); `resize_short` = shorter image side fed to the network (None = native
    size). 520 is what torchvision's published DeepLabV3 weights were evaluated with."""
    lite = backbone is not None and backbone.startswith("efficientnet_lite")
    return {
        "mean": list(LITE_MEAN if lite else IMAGENET_MEAN),
        "std": list(LITE_STD if lite else IMAGENET_STD),
        "resize_short": resize_short,
    }


@dataclass
class Checkpoint:
    """A loaded (or to-be-saved) checkpoint."""

    config: ModelConfig
    classes: list[dict[str, Any]]
    state_dict: dict[str, torch.Tensor]
    preprocess: dict[str, Any] = field(default_factory=default_preprocess)
    ignore_index: int = 255
    train: dict[str, Any] | None = None
    source: str | None = field(default=None, compare=False)  # the file it was loaded from (for messages)
    fragments: dict[str, Any] | None = None
    confidence_reference: dict[str, Any] | None = None  # models.confidence.make_reference

    @property
    def class_names(self) -> list[str]:
        return [c["name"] for c in self.classes]

    @property
    def palette(self) -> list[list[int]]:
        """One [r, g, b] per class (validated when loaded); raises `UserInputError` naming a class that
        has no colour (a checkpoint may be stored without colours), with the fix."""
        return class_palette(self.classes)

    def build_model(self) -> DeepLabV3:
        """Rebuild the network from the stored config and load the weights (eval mode)."""
        model = build_from_config(self.config)
        what = f"the weights in {self.source}" if self.source else "the checkpoint's weights"
        load_weights(
            model,
            self.state_dict,
            what=what,
            fix="the file's 'model' entry does not describe its weights "
            "(edited, or saved by another tool); convert the original weights again with `segtool import-weights`, "
            "or use the checkpoint they came from",
        )
        return model.eval()

    def to_dict(self, half: bool = False, *, weights: bool = True) -> dict[str, Any]:
        """Plain types and tensors, as saved: the one place the checkpoint format is written (an exported
        `.onnx` model's metadata is this without the weights, `weights=False`). `half` stores
        convolution/linear weights as float16 (about half the file size; `load_checkpoint` casts them back
        to float32, so use and fine-tuning are unchanged apart from the rounding, ~3 significant digits).
        1-D tensors (biases, BatchNorm statistics) stay float32: they are few, and a tiny running variance
        would round to 0 in fp16."""
        out = {
            "format": FORMAT,
            "version": VERSION,
            "model": self.config.to_dict(),
            "classes": [dict(c) for c in self.classes],
            "ignore_index": int(self.ignore_index),
            "preprocess": check_preprocess(self.preprocess),
            "state_dict": {k: _stored(v, half) for k, v in self.state_dict.items()},
            "train": self.train,
            "fragments": check_fragments(self.fragments, self.class_names),
            "confidence_reference": check_reference(self.confidence_reference),
        }
        if not weights:
            del out["state_dict"]
        return out

    @classmethod
    def from_dict(cls, obj: dict[str, Any], *, source: str | None = None, weights: bool = True) -> Checkpoint:
        """The one reader of the format's fields (after the caller checked `format`/`version`): config,
        classes, preprocessing, fragments, confidence reference and, with `weights`, the state dict, each validated.
        `weights=False` gives a weightless Checkpoint (an exported model's metadata).

        Raises:
            UserInputError: naming the entry that is missing or wrong (the caller adds the file and the fix).
        """
        if not isinstance(obj, dict):
            raise UserInputError(
                f"it holds a {type(obj).__name__}, not a mapping of the checkpoint's entries"
            )
        try:
            config = ModelConfig.from_dict(obj["model"])
            classes = validate_classes(obj["classes"], require_colors=False)
            state_dict: dict[str, torch.Tensor] = {}
            if weights:
                state_dict = obj["state_dict"]
                if not is_state_dict(state_dict):
                    raise UserInputError("its state_dict entry is not a mapping of names to tensors")
                state_dict = _as_float32(strip_prefixes(state_dict))
            if "preprocess" not in obj:
                raise KeyError("preprocess")
            ignore = obj.get("ignore_index", 255)
            if not isinstance(ignore, int) or isinstance(ignore, bool):
                raise UserInputError(
                    f"ignore_index must be an integer (255: pixels without a label); got {ignore!r}"
                )
            train = obj.get("train")
            if train is not None and not isinstance(train, dict):
                raise UserInputError(f"train must be a mapping or null; got {train!r}")
            ckpt = cls(
                config=config,
                classes=classes,
                state_dict=state_dict,
                preprocess=check_preprocess(obj["preprocess"]),
                ignore_index=ignore,
                train=train,
                source=source,
                fragments=check_fragments(obj.get("fragments"), [c["name"] for c in classes]),
                confidence_reference=check_reference(obj.get("confidence_reference")),
            )
        except KeyError as e:
            raise UserInputError(f"the entry {e} is missing") from e
        except (TypeError, ValueError, AttributeError) as e:  # a value of the wrong type deep inside an entry
            raise UserInputError(f"an entry has a value of the wrong type ({e})") from e
        if len(classes) != config.num_classes:
            raise UserInputError(
                f"{len(classes)} classes are named but the model has {config.num_classes} outputs"
            )
        return ckpt


def fingerprint(ckpt: Checkpoint) -> str:
    """SHA-256 of what a checkpoint computes: config, classes, preprocessing and every weight's bytes.

    Two files with the same weights give the same fingerprint whatever their names or paths; any
    change that can change a mask (one weight, a colour, the input size) gives another.
    """
    h = hashlib.sha256()
    meta = {
        "model": ckpt.config.to_dict(),
        "classes": ckpt.classes,
        "preprocess": ckpt.preprocess,
        "ignore_index": ckpt.ignore_index,
    }
    h.update(json.dumps(meta, sort_keys=True, default=str).encode())
    for name in sorted(ckpt.state_dict):
        t = ckpt.state_dict[name].detach().cpu().contiguous().reshape(-1)
        h.update(f"{name}:{t.dtype}:{tuple(ckpt.state_dict[name].shape)}".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def splits_by_centres(fragments: Any) -> bool:
    """True for a `fragments` entry of the learned centre split (`"split": "centre"`)."""
    return isinstance(fragments, dict) and fragments.get("split") == "centre"


def check_fragments(value: Any, class_names: list[str]) -> dict[str, Any] | None:
    """Validate a checkpoint's `fragments` entry: None, or {"interior": class, "edge": class | None}
    naming two different classes of the model, optionally with "centre": class and "split": "centre"
    (the learned centre split; "split": "edge" is the default and is not written)."""
    if value is None:
        return None
    if not isinstance(value, dict) or not isinstance(value.get("interior"), str):
        raise UserInputError(f'fragments must be {{"interior": CLASS, "edge": CLASS or null}}; got {value!r}')
    interior, edge, centre = value["interior"], value.get("edge"), value.get("centre")
    for what, name in (("interior", interior), ("edge", edge), ("centre", centre)):
        if name is not None and name not in class_names:
            raise UserInputError(
                f"fragments {what} class {name!r} is not one of the model's classes ({', '.join(class_names)})"
            )
    if edge is not None and (not isinstance(edge, str) or edge == interior):
        raise UserInputError(
            f"fragments edge must be another class than the interior ({interior!r}) or null; got {edge!r}"
        )
    split = value.get("split", "edge")
    if split not in ("edge", "centre"):
        raise UserInputError(f'fragments split must be "edge" or "centre"; got {split!r}')
    if split == "centre" and (centre is None or centre in (interior, edge)):
        raise UserInputError(
            f'fragments "split": "centre" needs a centre class other than the interior and edge; got {centre!r}'
        )
    out = {"interior": interior, "edge": edge}
    if centre is not None:
        out["centre"] = centre
    if split == "centre":
        out["split"] = "centre"
    return out


def _stored(t: torch.Tensor, half: bool) -> torch.Tensor:
    t = t.detach().cpu().contiguous()
    return t.half() if half and t.is_floating_point() and t.dim() >= 2 else t


def load_weights(model: nn.Module, state_dict: dict[str, torch.Tensor], *, what: str, fix: str = "") -> None:
    """`load_state_dict(strict=True)` with a mismatch explained in words instead of torch's key dump:
    the first mismatching tensor and what to do lead, the details follow.
    Missing `num_batches_tracked` buffers (files from older PyTorch) are tolerated."""
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    got = {k: tuple(v.shape) for k, v in state_dict.items()}
    problems = explain_mismatch(
        expected, got, backbone=getattr(getattr(model, "config", None), "backbone", None)
    )
    if problems:
        first = _first_mismatch(expected, got)
        fix = fix or (
            "check --backbone and the other model options, or convert the weights with "
            "`segtool import-weights` using the options they were trained with"
        )
        raise CheckpointError(
            f"{what} do not fit the model ({first}); {fix}. Details:\n  " + "\n  ".join(problems)
        )
    model.load_state_dict(state_dict, strict=False)


def _first_mismatch(expected: dict[str, tuple], got: dict[str, tuple]) -> str:
    for k, shape in expected.items():
        if k not in got:
            if not k.endswith("num_batches_tracked"):
                return f"first mismatch: {k} is missing"
        elif tuple(got[k]) != tuple(shape):
            return f"first mismatch: {k} is {list(got[k])} in the file, the model needs {list(shape)}"
    extra = next((k for k in got if k not in expected), None)
    return f"first mismatch: {extra} has no place in the model" if extra else "shapes differ"


def check_preprocess(p: Any) -> dict[str, Any]:
    """Validate a checkpoint's `preprocess` entry (mean, std: three numbers; resize_short: int >= 16 or null)."""
    if not isinstance(p, dict):
        raise UserInputError(f"preprocess must be a dict with mean, std and resize_short; got {p!r}")
    for key in ("mean", "std"):
        v = p.get(key)
        if not (isinstance(v, (list, tuple)) and len(v) == 3 and all(isinstance(x, (int, float)) for x in v)):
            raise UserInputError(f"preprocess {key} must be three numbers (one per RGB channel); got {v!r}")
    if any(float(s) <= 0 for s in p["std"]):
        raise UserInputError(f"preprocess std must be positive; got {p['std']!r}")
    r = p.get("resize_short")
    if r is not None and (not isinstance(r, int) or isinstance(r, bool) or r < 16):
        raise UserInputError(
            f"preprocess resize_short must be an integer >= 16 or null (native size); got {r!r}"
        )
    return {"mean": [float(x) for x in p["mean"]], "std": [float(x) for x in p["std"]], "resize_short": r}


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> Path:
    """torch.save through `models.atomic.atomic_writer` (temporary file, fsync, rename): a kill, a power
    cut or a full disk never leaves a half-written file under the real name.

    Raises:
        UserInputError: the file could not be written (full disk, read-only folder, name too long),
            naming the file and the fix.
    """
    path = Path(path)
    if not path.parent.is_dir():
        raise UserInputError(
            f"cannot write {path}: folder {path.parent} does not exist; create it or choose another -o"
        )
    try:
        with atomic_writer(path) as f:
            torch.save(obj, f)
    except OSError as e:
        raise UserInputError(describe_write_error(path, e)) from e
    return path


def save_checkpoint(ckpt: Checkpoint, path: str | os.PathLike, *, half: bool = False) -> Path:
    """Validate and write a checkpoint atomically; `half` stores the weight matrices as float16
    (see `Checkpoint.to_dict`)."""
    validate_classes(ckpt.classes)
    if len(ckpt.classes) != ckpt.config.num_classes:
        raise UserInputError(
            f"{len(ckpt.classes)} classes named but the model has {ckpt.config.num_classes} outputs; make them agree"
        )
    return atomic_torch_save(ckpt.to_dict(half=half), path)


def safe_torch_load(path: str | os.PathLike) -> Any:
    """`torch.load(weights_only=True)` with every failure turned into a message that says what is wrong.
    Files that need arbitrary code to unpickle are refused, never executed (there is no unsafe fallback)."""
    path = Path(path)
    if not path.exists():
        raise UserInputError(f"{path} does not exist; check the path")
    if path.is_dir():
        raise UserInputError(f"{path} is a folder; give the checkpoint file (.pt) inside it")
    if path.stat().st_size == 0:
        raise CheckpointError(
            f"{path} is empty (0 bytes); the file was not written completely — copy or save it again"
        )
    with open(path, "rb") as f:
        magic = f.read(4)
    # torch.save writes a zip archive (PK..); files from before PyTorch 1.6 start with a pickle protocol byte.
    if not (magic.startswith(b"PK") or magic[:1] == b"\x80"):
        raise CheckpointError(
            f"{path} is not a PyTorch file (it starts with {magic!r}); check that you picked the right file"
        )
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        text = str(e)
        if "Weights only load failed" not in text and "Unsupported" not in text and "GLOBAL" not in text:
            raise CheckpointError(
                f"{path} is not a readable PyTorch file (truncated or damaged: {text.splitlines()[0][:160]})"
            ) from e
        hint = next(
            (ln for ln in text.splitlines() if "GLOBAL" in ln or "Unsupported" in ln), text.splitlines()[0]
        )
        raise CheckpointError(
            f"{path} refused: it contains Python objects that would run code when loaded ({hint.strip()[:200]}). "
            "segtool only loads plain weights. If you trust the file, re-save just its tensors "
            "(torch.save(model.state_dict(), 'weights.pth')) and convert them with `segtool import-weights`."
        ) from e
    except Exception as e:  # noqa: BLE001 - any other failure of a damaged file gets the same explanation
        first = (str(e).splitlines() or [type(e).__name__])[0]
        raise CheckpointError(
            f"{path} is not a readable PyTorch file (truncated or damaged: {first[:160]}); copy or download it again"
        ) from e


def _as_float32(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Weights stored in half precision (fp16/bf16, to save space) come back as float32, the dtype
    every model is built with; other tensors (e.g. BatchNorm's int64 counters) are kept as they are."""
    return {k: v.float() if v.dtype in (torch.float16, torch.bfloat16) else v for k, v in state_dict.items()}


def load_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """Load and validate a segtool checkpoint (weights stay on the CPU).

    Raises:
        CheckpointError / UserInputError: with a message naming the problem and the fix.
    """
    path = Path(path)
    obj = safe_torch_load(path)
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        if isinstance(obj, dict) and (
            is_state_dict(obj) or is_state_dict(obj.get("model")) or is_state_dict(obj.get("state_dict"))
        ):
            raise CheckpointError(
                f"{path} is a plain state dict, not a segtool checkpoint (it does not say which network or classes it is "
                f"for); convert it once with: segtool import-weights {path} --backbone resnet50 --classes NAME,NAME,... "
                "-o model.pt"
            )
        if isinstance(obj, torch.Tensor):
            what = f"a single tensor of shape {list(obj.shape)}"
        elif isinstance(obj, dict):
            keys = ", ".join(map(repr, list(obj)[:5])) + (", …" if len(obj) > 5 else "")
            what = f"a dictionary without a 'format': '{FORMAT}' entry (keys {keys})"
        else:
            what = f"a {type(obj).__name__}"
        raise CheckpointError(
            f"{path} is not a segtool checkpoint: it holds {what}. If it holds a model's weights, convert them once "
            f"with: segtool import-weights {path} --backbone resnet50 --classes NAME,NAME,... -o model.pt "
            "(`segtool import-weights --help` lists the options)"
        )
    version = obj.get("version")
    if not isinstance(version, int) or version > VERSION:
        raise CheckpointError(
            f"{path} has checkpoint version {version!r}; this segtool reads version {VERSION} — upgrade segtool"
        )
    try:
        return Checkpoint.from_dict(obj, source=str(path))
    except UserInputError as e:
        text = str(e)
        if text.startswith("the entry"):
            raise CheckpointError(f"{path} is a damaged segtool checkpoint: {text}") from e
        raise CheckpointError(f"{path}: {text}") from e
