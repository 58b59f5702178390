"""Background jobs of the training wizard, each a QThread that owns everything it touches.

- `DataCheckJob`: open the dataset and read every mask (`training.rundata.check_run_data`).
- `StepTimeJob`: time two training steps of the chosen network on the chosen device, for the
  schedule presets' time estimates (a short probe; the real training runs in a child process).
- `ExamplesJob`: predict a few validation images with the trained model (prediction vs label).

Results are plain Python objects or read-only numpy copies; failures become the `failed` signal.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PySide6.QtCore import QThread, Signal

_tokens = itertools.count(1)


class _Interrupted(Exception):
    """Raised inside a progress callback when the thread was asked to stop."""


@dataclass(frozen=True)
class DataCheck:
    """What the Data page shows: the reports as dicts and text, the split, the class colours."""

    reports: list[dict[str, Any]]
    text: str
    train: int
    val: int
    split_note: str
    form: str
    own_split: bool  # the data named its split (folders, ImageSets), so no random split applies
    colors: list[tuple[int, int, int]] = field(default_factory=list)

    @property
    def errors(self) -> list[str]:
        return [e for r in self.reports for e in r["errors"]]

    @property
    def warnings(self) -> list[str]:
        return [w for r in self.reports for w in r["warnings"]]

    @property
    def ok(self) -> bool:
        return not self.errors


class DataCheckJob(QThread):
    """Validate a dataset. Signals carry the job's `token` first (results of a replaced job are ignored by
    comparing tokens: `sender()` is unreliable for queued Python slots): progress(token, done, total),
    done(token, DataCheck), failed(token, message)."""

    progress = Signal(int, int, int)
    done = Signal(int, object)
    failed = Signal(int, str)

    def __init__(self, config: dict[str, Any], parent=None) -> None:
        super().__init__(parent)
        self.config = dict(config)
        self.token = next(_tokens)

    def run(self) -> None:  # noqa: D102
        try:
            from segtool.training.config import TrainConfig
            from segtool.training.rundata import check_run_data, open_run_data

            rd = open_run_data(TrainConfig.from_dict(self.config))

            def progress(done: int, total: int) -> None:
                if self.isInterruptionRequested():
                    raise _Interrupted
                self.progress.emit(self.token, done, total)

            reports = check_run_data(rd, progress=progress)
            d = rd.train_data
            self.done.emit(
                self.token,
                DataCheck(
                    reports=[r.to_dict() for r in reports],
                    text="\n\n".join(r.as_text() for r in reports),
                    train=len(rd.train),
                    val=len(rd.val),
                    split_note=d.split_note,
                    form=d.form,
                    own_split=bool(self.config.get("val")) or "no split given" not in d.split_note.lower(),
                    colors=[tuple(int(v) for v in c.color) for c in d.classes],
                ),
            )
        except _Interrupted:
            return
        except Exception as e:  # noqa: BLE001 - shown on the page, never a crash
            self.failed.emit(self.token, str(e) or type(e).__name__)


class StepTimeJob(QThread):
    """Seconds per training image-pixel on a device. Signals: done(token, dict), failed(token, message).

    Two timed steps (after one warm-up) of `backbone` at `crop`×`crop` with batch 2, random data,
    random weights: how fast the device trains this network, which is what the presets need.
    """

    done = Signal(int, dict)
    failed = Signal(int, str)

    def __init__(
        self,
        backbone: str,
        output_stride: int,
        device: str,
        crop: int = 256,
        parent=None,
        network: dict | None = None,
    ) -> None:
        super().__init__(parent)
        self.token = next(_tokens)
        self.backbone, self.output_stride, self.device, self.crop = backbone, output_stride, device, crop
        self.network = dict(
            network or {}
        )  # a checkpoint's width_mult / aspp_channels / decoder: its own network

    def run(self) -> None:  # noqa: D102
        try:
            import torch

            from segtool.models import build_deeplabv3
            from segtool.models.device import resolve_device

            dev = resolve_device(self.device)
            model = build_deeplabv3(
                backbone=self.backbone, num_classes=2, output_stride=self.output_stride, **self.network
            ).to(dev)
            model.train()
            opt = torch.optim.SGD(model.parameters(), lr=1e-3)
            x = torch.rand(2, 3, self.crop, self.crop, device=dev)
            y = torch.randint(0, 2, (2, self.crop, self.crop), device=dev)
            times = []
            for i in range(3):
                if self.isInterruptionRequested():
                    return
                t0 = time.perf_counter()
                out = model(x)
                loss = torch.nn.functional.cross_entropy(out["out"], y)
                opt.zero_grad()
                loss.backward()
                opt.step()
                if dev.type == "cuda":
                    torch.cuda.synchronize(dev)
                if i:
                    times.append(time.perf_counter() - t0)
            per_px = float(np.mean(times)) / (2 * self.crop * self.crop)
            self.done.emit(
                self.token,
                {"device": str(dev), "backbone": self.backbone, "crop": self.crop, "s_per_px": per_px},
            )
        except Exception as e:  # noqa: BLE001
            self.failed.emit(self.token, str(e) or type(e).__name__)


@dataclass(frozen=True)
class Example:
    """One validation image with its label and the model's prediction (read-only arrays)."""

    name: str
    rgb: np.ndarray
    label: np.ndarray  # class ids, 255 = ignore
    pred: np.ndarray


class ExamplesJob(QThread):
    """Predict up to `count` validation images with `checkpoint`.

    Signals: done(list[Example], palette) — the palette is the loaded checkpoint's, so the page colours
    the pictures without reading the file again (on the GUI thread) — and failed(str).
    """

    done = Signal(list, object)
    failed = Signal(str)

    def __init__(
        self, config: dict[str, Any], checkpoint: str, count: int = 3, max_side: int = 480, parent=None
    ) -> None:
        super().__init__(parent)
        self.config, self.checkpoint, self.count, self.max_side = dict(config), checkpoint, count, max_side

    def run(self) -> None:  # noqa: D102
        try:
            from PIL import Image

            from segtool.core.engine import Engine
            from segtool.gui.workers import app_cpu_threads
            from segtool.training.config import TrainConfig
            from segtool.training.rundata import open_run_data

            rd = open_run_data(TrainConfig.from_dict(self.config))
            samples = (rd.val or rd.train)[: self.count]
            engine = Engine(
                self.checkpoint, device="cpu", threads=app_cpu_threads()
            )  # the one read of the file
            out = []
            for s in samples:
                if self.isInterruptionRequested():
                    return
                rgb, label = rd.val_data.load_image(s), rd.val_data.load_mask(s)
                scale = self.max_side / max(rgb.shape[:2])
                if scale < 1:  # smaller pictures: the page shows thumbnails, and prediction is faster
                    size = (round(rgb.shape[1] * scale), round(rgb.shape[0] * scale))
                    rgb = np.asarray(Image.fromarray(rgb).resize(size, Image.BILINEAR))
                    label = np.asarray(Image.fromarray(label).resize(size, Image.NEAREST))
                pred = engine.predict([rgb])[0].mask
                arrays = [np.array(a, copy=True) for a in (rgb, label, pred)]
                for a in arrays:
                    a.setflags(write=False)
                out.append(Example(s.image.name, *arrays))
            palette = np.array(engine.palette, copy=True)
            palette.setflags(write=False)
            self.done.emit(out, palette)
        except Exception as e:  # noqa: BLE001
            self.failed.emit(str(e) or type(e).__name__)


def stop_thread(job: QThread | None, timeout_ms: int = 30000) -> None:
    """Ask a job to stop and wait for it (no thread outlives its owner)."""
    if job is not None and job.isRunning():
        job.requestInterruption()
        job.wait(timeout_ms)
