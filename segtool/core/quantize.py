"""INT8 post-training static quantisation of an exported model, calibrated on the user's own frames.

ONNX Runtime's `quantize_static` (QDQ format, per-channel symmetric int8 weights, uint8 activations, MinMax
calibration) on the convolutions only: the logits and their upsampling stay float, so the class scores are
not rounded where the argmax is taken. The quantised graph runs in ONNX Runtime and in OpenVINO (which fuses
the QDQ pairs into int8 convolutions).

The calibration inputs are made by the Engine's own preprocessing (a recording backend captures what the
network would receive), so they are exactly what inference feeds the model. When DATA is labelled, frames
held out from calibration measure mIoU before and after; INT8 is kept only when it drops by at most
`max_drop` points.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from segtool.base.errors import UserInputError
from segtool.models.checkpoint import Checkpoint


@dataclass
class QuantResult:
    kept: bool
    path: Path
    info: dict[str, Any]
    message: str


class _Recorder:
    """A backend that keeps the normalised network input and returns zero logits (no forward pass needed)."""

    name, label, channels_last, compiles = "recorder", "recorder", False, 0

    def __init__(self, num_classes: int) -> None:
        self.num_classes = num_classes
        self.inputs: list[np.ndarray] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.inputs.append(np.ascontiguousarray(x.detach().float().cpu().numpy()))
        return torch.zeros((x.shape[0], self.num_classes, *x.shape[2:]))


@dataclass
class _Frames:
    calibration: list[Callable[[], np.ndarray]]
    check: list[tuple[Callable[[], np.ndarray], Callable[[], np.ndarray] | None]]
    labelled: bool
    described: str


def _spread(items: list, n: int) -> list:
    """At most n items spread evenly over the list (a video's whole length, not its first seconds)."""
    if len(items) <= n:
        return list(items)
    idx = np.linspace(0, len(items) - 1, n).round().astype(int)
    return [items[i] for i in idx]


def _collect(
    data: str | os.PathLike, ck: Checkpoint, calib_frames: int, check_frames: int, classes: str | None
) -> _Frames:
    from segtool.training.data import open_dataset

    path = Path(data)
    if not path.exists():
        raise UserInputError(f"--calibrate {path} does not exist; give a dataset, an image folder or a video")
    try:
        ds = open_dataset(path, val_fraction=0.0, classes=classes)
    except UserInputError:
        if classes:
            raise
        ds = None  # not a labelled dataset: read it as frames (images or a video) below
    if ds is not None and any(s.mask is not None for s in ds.samples):
        if ds.class_names != ck.class_names:
            raise UserInputError(
                f"--calibrate {path} has classes {', '.join(ds.class_names)} but the checkpoint predicts "
                f"{', '.join(ck.class_names)}; give --classes FILE naming them, or calibrate on unlabelled frames"
            )
        labelled = [s for s in ds.samples if s.mask is not None]
        val = [s for s in labelled if s.split == "val"]
        if val and check_frames:
            check = _spread(val, check_frames)
            pool = [s for s in ds.samples if s.split != "val"] or [s for s in ds.samples if s not in check]
        else:  # no split named: hold out every k-th labelled sample
            check = _spread(labelled, min(check_frames, len(labelled) // 4)) if check_frames else []
            pool = [s for s in ds.samples if s not in check]
        calib = _spread(pool, calib_frames)
        return _Frames(
            [lambda s=s: ds.load_image(s) for s in calib],
            [((lambda s=s: ds.load_image(s)), (lambda s=s: ds.load_mask(s))) for s in check],
            True,
            f"labelled {ds.form} dataset: {len(calib)} calibration frames, {len(check)} held-out labelled frames",
        )
    from segtool.core.sources import open_source

    frames: list[np.ndarray] = []
    with open_source(str(path)) as source:
        total = source.frames_expected
        every = max(1, (total or 0) // (calib_frames + 20)) if total else 1
        for i, f in enumerate(source.frames()):
            if i % every == 0:
                frames.append(f.rgb.copy())
            if len(frames) >= calib_frames + 20:
                break
    if not frames:
        raise UserInputError(
            f"--calibrate {path}: no frames could be read; give images, a video or a labelled dataset"
        )
    n_check = min(20, len(frames) // 5)
    check = frames[::5][:n_check] if n_check else []
    ids = {id(f) for f in check}
    calib = [f for f in frames if id(f) not in ids][:calib_frames]
    return _Frames(
        [lambda f=f: f for f in calib],
        [((lambda f=f: f), None) for f in check],
        False,
        f"unlabelled frames: {len(calib)} calibration frames, {len(check)} held out to compare with float",
    )


class _Reader:
    """ONNX Runtime's CalibrationDataReader: one preprocessed frame per call, made on demand."""

    def __init__(
        self, engine, loaders: list[Callable[[], np.ndarray]], progress: Callable[[str], None]
    ) -> None:
        self.engine, self.loaders, self.progress = engine, iter(loaders), progress
        self.n, self.total, self.t0 = 0, len(loaders), time.perf_counter()

    def get_next(self) -> dict[str, np.ndarray] | None:
        loader = next(self.loaders, None)
        if loader is None:
            return None
        rec: _Recorder = self.engine.backend
        rec.inputs.clear()
        self.engine.predict_one(loader())
        self.n += 1
        if self.n % 25 == 0 or self.n == self.total:
            self.progress(f"calibration {self.n}/{self.total} frames ({time.perf_counter() - self.t0:.0f} s)")
        return {"image": rec.inputs[0]}

    def rewind(self) -> None:  # pragma: no cover - only used by some calibrators
        raise NotImplementedError


def _eval_runtime() -> str:
    from segtool.core.runtimes import installed_runtimes

    for r in ("openvino", "onnxruntime"):
        if r in installed_runtimes():
            return r
    raise UserInputError(
        "INT8 needs ONNX Runtime (pip install onnxruntime) to quantise and OpenVINO or ONNX Runtime to run"
    )


def _compare(
    fp32: Path, int8: Path, frames: _Frames, ck: Checkpoint, threads: int | None, runtime: str
) -> dict[str, Any]:
    """mIoU of both models on the held-out labelled frames, or their argmax agreement without labels."""
    from segtool.core.engine import Engine
    from segtool.training.metrics import ConfusionMatrix

    engines = {
        k: Engine(p, device="cpu", runtime=runtime, threads=threads)
        for k, p in (("fp32", fp32), ("int8", int8))
    }
    cms = {k: ConfusionMatrix(len(ck.classes), ck.ignore_index) for k in engines}
    same = total = 0
    for load_rgb, load_label in frames.check:
        rgb = load_rgb()
        preds = {k: e.predict_one(rgb).mask for k, e in engines.items()}
        same += int((preds["fp32"] == preds["int8"]).sum())
        total += preds["fp32"].size
        if load_label is not None:
            label = load_label()
            for k in engines:
                cms[k].update(preds[k], label)
    out: dict[str, Any] = {
        "runtime": runtime,
        "frames": len(frames.check),
        "argmax_agreement": same / total if total else None,
    }
    if frames.labelled and frames.check:
        out["miou_fp32"] = cms["fp32"].compute()["miou"]
        out["miou_int8"] = cms["int8"].compute()["miou"]
    return out


def quantize_int8(
    ck: Checkpoint,
    out: str | os.PathLike,
    data: str | os.PathLike,
    *,
    calib_frames: int = 300,
    check_frames: int = 100,
    max_drop: float = 1.0,
    threads: int | None = None,
    classes: str | None = None,
    progress: Callable[[str], None] = lambda m: None,
) -> QuantResult:
    """Export `ck`, quantise it on frames of `data`, check the accuracy change and write `out`.

    Returns a QuantResult; `kept` is False when the INT8 model lost more than `max_drop` mIoU points on the
    held-out labelled frames — then `out` holds the float model, with the measurement in its metadata.
    """
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from segtool.core.engine import Engine
    from segtool.core.onnx_export import checkpoint_metadata, export_onnx, write_metadata

    out = Path(out)
    frames = _collect(data, ck, calib_frames, check_frames, classes)
    if len(frames.calibration) < 50:
        progress(
            f"warning: only {len(frames.calibration)} calibration frames; a few hundred give steadier ranges"
        )
    runtime = _eval_runtime()
    with tempfile.TemporaryDirectory(prefix="segtool-int8-") as tmp:
        tmp = Path(tmp)
        fp32 = export_onnx(ck, tmp / "fp32.onnx")
        progress(f"exported the float model; calibrating on {frames.described}")
        pre = tmp / "pre.onnx"
        quant_pre_process(str(fp32), str(pre), skip_symbolic_shape=True)
        engine = Engine(ck, device="cpu", runtime="torch", threads=threads)
        engine.backend = _Recorder(len(ck.classes))  # the Engine's preprocessing, without running the network
        engine.channels_last = False
        q = tmp / "int8.onnx"
        t0 = time.perf_counter()
        quantize_static(
            str(pre),
            str(q),
            _Reader(engine, frames.calibration, progress),
            quant_format=QuantFormat.QDQ,
            op_types_to_quantize=["Conv"],
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.MinMax,
            extra_options={
                "CalibMaxIntermediateOutputs": 8,
                "ActivationSymmetric": False,
                "WeightSymmetric": True,
            },
        )
        calib_s = time.perf_counter() - t0
        write_metadata(q, checkpoint_metadata(ck))  # so the comparison's Engine can read it
        progress("comparing float and INT8 on the held-out frames")
        check = _compare(fp32, q, frames, ck, threads, runtime)
        info: dict[str, Any] = {
            "method": "ONNX Runtime static quantisation, QDQ, Conv only, per-channel int8 weights, uint8 activations, MinMax",
            "calibration": {
                "data": str(data),
                "frames": len(frames.calibration),
                "what": frames.described,
                "seconds": round(calib_s, 1),
            },
            "check": check,
            "max_drop_points": max_drop,
        }
        if "miou_fp32" in check and check["miou_fp32"] is not None and check["miou_int8"] is not None:
            drop = (check["miou_fp32"] - check["miou_int8"]) * 100
            info["miou_drop_points"] = round(drop, 3)
            kept = drop <= max_drop
            verdict = (
                f"mIoU {check['miou_fp32'] * 100:.2f} -> {check['miou_int8'] * 100:.2f} "
                f"({-drop:+.2f} points) on {check['frames']} held-out labelled frames"
            )
            if check["frames"] < 20:
                verdict += (
                    f" (only {check['frames']} frames: a rough figure; label more frames or give a val split)"
                )
        else:
            kept = True
            verdict = (
                f"accuracy change NOT measured ({str(data)!r} has no labels); INT8 and float agree on "
                f"{check['argmax_agreement'] * 100:.2f} % of pixels of {check['frames']} held-out frames"
                if check["argmax_agreement"] is not None
                else "accuracy change NOT measured (no held-out frames)"
            )
        info["kept"] = kept
        info["verdict"] = verdict
        final = q if kept else fp32
        write_metadata(final, checkpoint_metadata(ck, int8=info))
        tmp_out = out.with_name(f".{out.name}.tmp")
        try:
            shutil.copyfile(
                final, tmp_out
            )  # then rename: a stop mid-copy never leaves a broken model at `out`
            os.replace(tmp_out, out)
        except OSError as e:
            tmp_out.unlink(missing_ok=True)
            raise UserInputError(
                f"could not write {out}: {e.strerror or e}; check the folder and free space"
            ) from e
    if kept:
        msg = f"wrote {out} (INT8, {out.stat().st_size / 1e6:.1f} MB): {verdict}"
    else:
        msg = (
            f"segtool: INT8 rejected: {verdict}, more than the allowed {max_drop:g}; wrote the float model to {out} "
            "instead (its metadata records the measurement). Calibrate on more or more typical frames, or raise --max-drop"
        )
    return QuantResult(kept, out, info, msg)
