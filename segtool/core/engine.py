"""The inference engine: a checkpoint on a device, frames in, class-id masks out.

Preprocessing comes from the checkpoint (mean/std, shorter-side resize); logits are upsampled to each
frame's own size; optional flip / multi-scale test-time augmentation; sliding-window inference for
images too large to run whole. Not thread-safe: one thread owns an Engine.

The network itself runs on a runtime backend (segtool/core/runtimes: PyTorch, OpenVINO, ONNX Runtime) that
maps a normalised N×3×H×W tensor to logits; everything else here is the same whichever runtime runs it.
An exported `.onnx` model (segtool export-onnx) is accepted wherever a checkpoint is.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from segtool.base.errors import UserInputError
from segtool.core.frame import Prediction
from segtool.core.model_file import ModelFile, open_model
from segtool.core.runtimes import open_backend, requested_runtime, resolve_runtime
from segtool.core.tiling import plan_tiles
from segtool.models.checkpoint import Checkpoint, fingerprint
from segtool.models.device import default_cpu_threads, describe_device, resolve_device, resolve_precision
from segtool.models.preprocess import Preprocess

TTA_MODES = ("flip", "ms")


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


MS_SCALES = (0.75, 1.0, 1.25)


def parse_tta(text: str | Sequence[str] | None) -> tuple[str, ...]:
    """`"flip,ms"` → ("flip", "ms"); empty → ()."""
    if not text:
        return ()
    items = [t.strip() for t in (text.split(",") if isinstance(text, str) else text) if t.strip()]
    bad = [t for t in items if t not in TTA_MODES]
    if bad:
        raise UserInputError(f"unknown test-time augmentation {bad[0]!r}; use flip, ms or flip,ms")
    return tuple(dict.fromkeys(items))


class Engine:
    """A model ready to segment RGB frames.

    Args:
        checkpoint: a `Checkpoint`, a `ModelFile` already opened (not read again), or what `open_model` takes:
            the path of a segtool checkpoint (.pt), of an exported model (.onnx), or a shipped model's name.
        device: auto, cpu, cuda, cuda:N or mps.
        precision: auto (bf16/fp16 autocast on CUDA, fp32 elsewhere; OpenVINO's own choice on its CPU), fp32,
            fp16 or bf16.
        tta: test-time augmentation modes ("flip", "ms").
        tile: sliding-window size in network pixels, used when the network input would exceed
            `max_pixels`.
        max_pixels: largest network input run whole.
        threads: CPU threads (default: all cores on 2-core machines, cores-1 above).
        runtime: auto, torch, openvino or onnxruntime (see segtool.core.runtimes).
    """

    def __init__(
        self,
        checkpoint: Checkpoint | ModelFile | str | os.PathLike,
        *,
        device: str = "auto",
        precision: str = "auto",
        tta: str | Sequence[str] | None = None,
        tile: int = 1024,
        max_pixels: int = 2048 * 2048,
        threads: int | None = None,
        runtime: str = "auto",
    ) -> None:
        self._fingerprint: str | None = None
        self.model_file: ModelFile | None = (
            None if isinstance(checkpoint, Checkpoint) else open_model(checkpoint)
        )
        mf = self.model_file
        self.checkpoint = checkpoint if mf is None else mf.checkpoint
        self.onnx_path: Path | None = mf.path if mf is not None and mf.is_onnx else None
        self.onnx_metadata: dict | None = (
            dict(mf.onnx_metadata) if mf is not None and mf.onnx_metadata is not None else None
        )
        # an exported graph that does not state its class count is checked on the first run instead
        self._check_logits = mf is not None and mf.is_onnx and mf.onnx_logits is None
        ck = self.checkpoint
        self.palette = np.asarray(ck.palette, np.uint8)  # refuses classes without colours, with the fix
        self.class_names = ck.class_names
        self.num_classes = len(ck.classes)
        wanted = requested_runtime(runtime)
        if (wanted in ("openvino", "onnxruntime") or self.onnx_path is not None) and (
            device or "auto"
        ).strip().lower() == "auto":
            # a CPU runtime asked for by name, or an exported model: `auto` must not pick a GPU they cannot use
            # (a .pt checkpoint is the way to the GPU; --device cuda with an .onnx needs ONNX Runtime's CUDA build)
            device = "cpu"
        self.device = resolve_device(device)
        self.runtime = resolve_runtime(wanted, self.device, onnx_model=self.onnx_path is not None)
        self.autocast_dtype = resolve_precision(precision, self.device) if self.runtime == "torch" else None
        self.tta = parse_tta(tta)
        self.tile, self.max_pixels = int(tile), int(max_pixels)
        self.threads = threads or default_cpu_threads()
        if self.device.type == "cpu":
            torch.set_num_threads(self.threads)
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # fixed input sizes per video: autotune once
        self.int8 = bool(self.onnx_metadata and (self.onnx_metadata.get("int8") or {}).get("kept"))
        self.backend = open_backend(
            self.runtime,
            ck,
            onnx_path=self.onnx_path,
            device=self.device,
            precision=precision,
            autocast_dtype=self.autocast_dtype,
            threads=self.threads,
            int8=self.int8,
        )
        self.channels_last = self.backend.channels_last
        self.model = getattr(self.backend, "model", None)  # the torch module (torch runtime only)
        self._preprocess = Preprocess(ck.preprocess, self.device)  # the same code as training's validation
        self.resize_short = self._preprocess.resize_short

    @property
    def device_label(self) -> str:
        """e.g. "cpu (1 threads), OpenVINO 2026.4.1, fp32": where, with which runtime and precision."""
        return f"{describe_device(self.device)}, {self.backend.label}"

    def identity(self) -> dict:
        """Every engine setting that changes a mask, for an export's job record (resume must match).
        The device is left out on purpose: a job started on a laptop may continue on another machine;
        the precision it implies is recorded instead."""
        if self._fingerprint is None:
            # an exported model carries no torch weights: its file's bytes are what it computes
            self._fingerprint = (
                file_sha256(self.onnx_path) if self.onnx_path is not None else fingerprint(self.checkpoint)
            )
        if self.runtime == "torch":
            prec = {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[self.autocast_dtype]
        else:
            prec = getattr(self.backend, "precision", "fp32")
        return {
            "checkpoint": self._fingerprint,
            "classes": [c["name"] for c in self.checkpoint.classes],
            "runtime": self.runtime,
            "int8": self.int8,
            "precision": prec,
            "tta": list(self.tta),
            "resize_short": self.resize_short,
            "tile": self.tile,
            "max_pixels": self.max_pixels,
        }

    # --- public API -------------------------------------------------------------------------------

    def predict(self, frames: Sequence[np.ndarray], *, confidence: bool = False) -> list[Prediction]:
        """Segment a list of HxWx3 uint8 RGB frames; frames of equal size run as one batch."""
        results: list[Prediction | None] = [None] * len(frames)
        groups: dict[tuple[int, ...], list[int]] = {}
        for i, f in enumerate(frames):
            if f.ndim != 3 or f.shape[2] != 3 or f.dtype != np.uint8:
                raise UserInputError(f"frame {i} must be HxWx3 uint8 RGB, got {f.dtype} {f.shape}")
            groups.setdefault(f.shape, []).append(i)
        for idx in groups.values():
            batch = np.stack([frames[i] for i in idx]) if len(idx) > 1 else frames[idx[0]][None]
            for i, pred in zip(idx, self._predict_batch(batch, confidence)):
                results[i] = pred
        return results  # type: ignore[return-value]

    def predict_one(self, rgb: np.ndarray, *, confidence: bool = False) -> Prediction:
        return self.predict([rgb], confidence=confidence)[0]

    def network_size(self, height: int, width: int) -> tuple[int, int]:
        """The size a frame is resized to before the network (shorter side = resize_short)."""
        return self._preprocess.network_size(height, width)

    # --- internals --------------------------------------------------------------------------------

    def _to_device(self, batch: np.ndarray) -> torch.Tensor:
        if (
            not batch.flags.writeable
        ):  # e.g. a view of a read-only decoded buffer; torch wants writable memory
            batch = batch.copy()
        t = torch.from_numpy(np.ascontiguousarray(batch))
        if self.device.type == "cuda":
            t = t.pin_memory().to(self.device, non_blocking=True)
        else:
            t = t.to(self.device)
        return t.permute(0, 3, 1, 2)  # N,3,H,W uint8 (a view: no copy)

    @torch.inference_mode()
    def _predict_batch(self, batch: np.ndarray, confidence: bool) -> list[Prediction]:
        n, h, w, _ = batch.shape
        x = self._to_device(batch)
        x = self._preprocess(x, channels_last=self.channels_last)
        nh, nw = x.shape[-2:]
        if nh * nw > self.max_pixels:
            masks, conf = self._tiled(x, (h, w), confidence)
        else:
            scores = self._scores(x, (h, w), need_probs=confidence)
            c, m = scores.max(dim=1)
            masks, conf = m.to(torch.uint8), (c.float() if confidence else None)
        masks_np = masks.cpu().numpy()
        conf_np = conf.cpu().numpy() if conf is not None else None
        return [Prediction(masks_np[i], conf_np[i] if conf_np is not None else None) for i in range(n)]

    def _logits(self, x: torch.Tensor) -> torch.Tensor:
        out = self.backend.forward(x)
        if self._check_logits:
            if out.dim() != 4 or out.shape[1] != self.num_classes:
                raise UserInputError(
                    f"{self.onnx_path}: its metadata names {self.num_classes} classes ({', '.join(self.class_names)}) but "
                    f"the network outputs {out.shape[1] if out.dim() == 4 else list(out.shape)} class scores; export it "
                    "again with `segtool export-onnx CKPT -o MODEL.onnx` (the file's metadata must not be edited)"
                )
            self._check_logits = False
        return out

    def _scores(self, x: torch.Tensor, out_size: tuple[int, int], need_probs: bool = True) -> torch.Tensor:
        """Class scores at `out_size`: probabilities averaged over the test-time augmentations, or, with no
        augmentation and no confidence wanted, the logits themselves (same argmax, no softmax pass)."""
        scales = MS_SCALES if "ms" in self.tta else (1.0,)
        flips = (False, True) if "flip" in self.tta else (False,)
        total = None
        for s in scales:
            xs = x if s == 1.0 else F.interpolate(x, scale_factor=s, mode="bilinear", align_corners=False)
            for flip in flips:
                logits = self._logits(xs.flip(-1) if flip else xs)
                if flip:
                    logits = logits.flip(-1)
                logits = F.interpolate(logits.float(), size=out_size, mode="bilinear", align_corners=False)
                if not need_probs and len(scales) * len(flips) == 1:
                    return logits
                p = logits.softmax(dim=1)
                total = p if total is None else total + p
        return total / (len(scales) * len(flips))

    def _tiled(self, x: torch.Tensor, out_size: tuple[int, int], confidence: bool):
        """Sliding window over the network-resolution input; each core is upsampled into the output."""
        n, _, nh, nw = x.shape
        h, w = out_size
        sy, sx = h / nh, w / nw
        mask = torch.empty((n, h, w), dtype=torch.uint8, device="cpu")
        conf = torch.empty((n, h, w), dtype=torch.float32, device="cpu") if confidence else None
        for t in plan_tiles(nh, nw, self.tile):
            # output-pixel extent of this tile's window and core
            oy0, oy1, ox0, ox1 = round(t.y0 * sy), round(t.y1 * sy), round(t.x0 * sx), round(t.x1 * sx)
            cy0, cy1, cx0, cx1 = round(t.cy0 * sy), round(t.cy1 * sy), round(t.cx0 * sx), round(t.cx1 * sx)
            probs = self._scores(
                x[:, :, t.y0 : t.y1, t.x0 : t.x1], (oy1 - oy0, ox1 - ox0), need_probs=confidence
            )
            core = probs[:, :, cy0 - oy0 : cy1 - oy0, cx0 - ox0 : cx1 - ox0]
            c, m = core.max(dim=1)
            mask[:, cy0:cy1, cx0:cx1] = m.to(torch.uint8).cpu()
            if conf is not None:
                conf[:, cy0:cy1, cx0:cx1] = c.float().cpu()
        return mask, conf
