"""`train(cfg)`: one training run from a dataset to `RUN/{last,best}.pt`, history.csv, config.json and
report.json. The CLI (`segtool train`) and the GUI wizard both call it; progress goes to a
`TrainingEvents`, and a `threading.Event` cancels.

    result = train(TrainConfig(data="rocks.zip", images="rocks/", output="runs/rocks", backbone="resnet18"),
                   events=MyEvents(), cancel=stop_event)

`last.pt` (written every epoch, and on cancel / Ctrl-C mid-epoch) is a normal segtool checkpoint plus
a "resume" entry (optimizer, scheduler, scaler, epoch, step, RNG states, history; plain types and
tensors), from which `train(cfg, resume=True)` continues exactly where the run stopped.

With `--init CKPT` the start model is scored on the validation frames first (report.json `start`), the
new model keeps the start's colours, preprocessing and `fragments` entry (training.finetune), and a run
whose loss diverges stops (training.divergence). Longer than 400 lines: `_Run` is one run's state
(model, optimiser, data, start score, files); the parts that stand alone live in engine, finetune,
divergence and state.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader

from segtool.base.atomic import remove_temp_files
from segtool.base.errors import UserInputError
from segtool.models import Checkpoint, default_preprocess, load_checkpoint, make_classes
from segtool.models.checkpoint import atomic_torch_save, load_weights, safe_torch_load
from segtool.models.confidence import make_reference
from segtool.models.deeplab import build_from_config
from segtool.models.device import resolve_device, resolve_precision
from segtool.training import distributed, finetune
from segtool.training.config import TrainConfig, parse_class_map
from segtool.training.data import ValidationReport
from segtool.training.data.check import check_schedule
from segtool.training.divergence import diverged, nonfinite_warning
from segtool.training.engine import EpochStats, TrainingDiverged, evaluate, train_one_epoch
from segtool.training.events import BatchProgress, EpochSummary, RunInfo, TrainingEvents
from segtool.training.init import build_model, set_scratch_bn_momentum, start_record
from segtool.training.losses import make_criterion
from segtool.training.metrics import report_dict
from segtool.training.optim import auto_warmup, build_optimizer, build_scheduler
from segtool.training.rundata import check_run_data, open_run_data, require_trainable, run_class_weights
from segtool.training.state import (
    prepare_run_dir,
    resume_config,
    rng_state,
    set_rng_state,
    write_history,
    write_text_atomic,
)
from segtool.training.transforms import (
    EvalSamples,
    TrainSamples,
    collate_list,
    epoch_order,
    steps_per_epoch,
    train_transform,
)


@dataclass
class TrainResult:
    """How a run ended. `stopped` is None when every epoch ran, "cancelled" after a cancel."""

    run_dir: Path
    epochs_done: int
    best_miou: float | None
    best_epoch: int | None
    stopped: str | None
    seconds: float
    history: list[dict[str, Any]] = field(default_factory=list)


def fragments_entry(
    spec: str, form: str, names: list[str], data_fragments: dict | None = None
) -> dict[str, Any] | None:
    """The checkpoint's `fragments` entry: from --fragments INTERIOR[,EDGE[,CENTRE]], else automatic for data made
    from fragment outlines (instance PNGs / COCO give background, rock, rock_edge, with
    --fragment-classes edge+centre also rock_centre and "split": "centre") and for a label set of a
    fragment model (`data_fragments`, `LabelledData.fragments`)."""
    from segtool.models.checkpoint import check_fragments

    if spec:
        parts = [p.strip() for p in spec.split(",")]
        value = {"interior": parts[0], "edge": parts[1] if len(parts) > 1 and parts[1] else None}
        if len(parts) > 2 and parts[2]:  # INTERIOR,EDGE,CENTRE: the learned centre split
            value.update(centre=parts[2], split="centre")
        try:
            return check_fragments(value, names)
        except UserInputError as e:
            raise UserInputError(f"--fragments {spec}: {e}") from e
    if form in ("instances", "coco"):
        if "rock_centre" in names:  # --fragment-classes edge+centre: the learned centre split
            return {"interior": "rock", "edge": "rock_edge", "centre": "rock_centre", "split": "centre"}
        return {"interior": "rock", "edge": "rock_edge"}
    return dict(data_fragments) if data_fragments else None


def train(
    cfg: TrainConfig,
    *,
    resume: bool = False,
    events: TrainingEvents | None = None,
    cancel: threading.Event | None = None,
) -> TrainResult:
    """Run (or with `resume`, continue) training as `cfg` says. See the module docstring.

    Raises:
        UserInputError: bad settings, a dataset with errors (the message names the file and the fix),
            a run folder that already holds a run (use resume), a diverged loss, out of GPU memory.
        KeyboardInterrupt: re-raised after `last.pt` was written.
    """
    run_dir = Path(cfg.output)
    if resume:
        cfg, resume = resume_config(cfg, run_dir)
        if not resume and events is not None:
            events.on_message(
                f"{run_dir} has config.json but no last.pt yet (stopped before the first save): "
                "starting the run from the beginning with its saved settings"
            )
    elif (run_dir / "last.pt").exists():
        raise UserInputError(
            f"{run_dir} already holds a training run (last.pt); continue it with --resume or choose another -o"
        )
    cfg.validate()
    env = distributed.env_info()
    device = resolve_device(cfg.device, local_rank=env.local_rank)
    created_group = env.enabled and not (
        torch.distributed.is_available() and torch.distributed.is_initialized()
    )
    dist = distributed.setup(device)
    try:
        return _Run(
            cfg,
            run_dir,
            device,
            dist,
            resume,
            events if dist.is_main and events else TrainingEvents(),
            cancel,
        ).run()
    finally:
        if created_group:
            distributed.cleanup()


class _Run:
    """The state of one run; `run()` is the epoch loop."""

    def __init__(self, cfg, run_dir, device, dist, resume, events, cancel) -> None:
        self.cfg, self.run_dir, self.device, self.dist = cfg, run_dir, device, dist
        self.resume, self.events, self.cancel = resume, events, cancel or threading.Event()
        self.history: list[dict[str, Any]] = []
        self.best_miou: float | None = None  # the mIoU of the epoch best.pt holds
        self.best_score: float | None = None  # what --select-best compares (higher is better)
        self.best_epoch: int | None = None
        self.seconds_before = 0.0
        # models.confidence: how sure the model with the current weights is on the validation images
        # (measured in each validation pass); stored in best.pt / last.pt only beside those very weights
        self.reference: dict[str, Any] | None = None

    # -- setup -------------------------------------------------------------------------------------

    def _setup(self) -> None:
        ev = self.events
        self.start = load_checkpoint(self.cfg.init) if finetune.is_checkpoint_start(self.cfg) else None
        self.cfg, notes0 = finetune.resolve_auto(
            self.cfg,
            self.start.preprocess.get("resize_short") if self.start else None,
            self.start.fragments if self.start else None,
        )
        cfg = self.cfg
        for n in notes0:
            ev.on_message(n)
        self.rd = open_run_data(cfg)
        for note in self.rd.notes:
            ev.on_message(note)
        self.cfg, note = finetune.auto_repeat(cfg, len(self.rd.train))
        cfg = self.cfg
        if note:
            ev.on_message(note)
        for rep in check_run_data(self.rd):
            for w in rep.warnings:
                ev.on_message(f"dataset warning: {w}")
        require_trainable(self.rd, cfg.batch_size, cfg.repeat, self.dist.world_size)
        for w in check_schedule(
            ValidationReport(),
            train=len(self.rd.train),
            val=len(self.rd.val),
            batch_size=cfg.batch_size,
            repeat=cfg.repeat,
            epochs=cfg.epochs,
            world_size=self.dist.world_size,
            fine_tune=self.start is not None,
        ).warnings:
            ev.on_message(f"dataset warning: {w}")
        self.names = self.rd.class_names
        if cfg.select_best.startswith("iou:") and cfg.select_best[4:] not in self.names:
            raise UserInputError(
                f"--select-best {cfg.select_best}: the data has no class {cfg.select_best[4:]!r}; "
                f"use iou: with one of {', '.join(self.names)}"
            )
        colours = [list(c.color) for c in self.rd.train_data.classes]
        self.ignore_index = self.rd.train_data.ignore_index
        self.fragments = fragments_entry(
            cfg.fragments, self.rd.train_data.form, self.names, self.rd.train_data.fragments
        )
        if self.start is not None:  # a fine-tuned model is the start corrected: keep what it knew
            mapping = parse_class_map(cfg.class_map)
            if not self.rd.train_data.coding.colors_known:  # names only: the start's colours, not a palette's
                colours = finetune.start_colours(self.start.classes, self.names, colours, mapping)
            if self.fragments is None and not cfg.fragments:
                self.fragments, note = finetune.kept_fragments(self.start.fragments, self.names, mapping)
            else:  # outlines made into classes here: say when the start's centres are not among them
                note = finetune.dropped_centres(self.start.fragments, self.fragments)
            if note:
                ev.on_message(note)
            self.preprocess = {**self.start.preprocess, "resize_short": cfg.eval_size or None}
        self.classes = make_classes(self.names, colours)
        self.resume_state: dict[str, Any] | None = None
        if self.resume:
            last = self.run_dir / "last.pt"
            ckpt = load_checkpoint(last)
            self.resume_state = safe_torch_load(last).get("resume")
            if not self.resume_state:
                raise UserInputError(
                    f"{last} has no resume state (it was written by another tool); start a new run"
                )
            if ckpt.class_names != self.names:
                raise UserInputError(
                    f"--resume: {last} was trained on classes {ckpt.class_names}, the data now has {self.names}"
                )
            model = build_from_config(ckpt.config)
            load_weights(model, ckpt.state_dict, what=f"{last}'s weights")
            notes = [
                f"resuming {self.run_dir} at epoch {self.resume_state['epoch'] + 1}, step {self.resume_state['step']}"
            ]
        else:
            model, notes = build_model(cfg, self.names)
        self.model_config = model.config
        # The input normalisation the network's ImageNet weights expect (EfficientNet-Lite: 0.5/0.5); stored
        # in the checkpoint, so prediction normalises as training did.
        if self.start is None:  # a checkpoint start keeps its own preprocessing (set in _setup's start block)
            self.preprocess = default_preprocess(cfg.eval_size or None, backbone=model.config.backbone)
        self.start_record = start_record(cfg)  # after build_model: a missing wheel has already been explained
        # A checkpoint start trains the checkpoint's network: config.json (the run's record, the Runs view)
        # must name it, not the --backbone / --output-stride defaults it ignored.
        net = model.config
        real = {
            "backbone": net.backbone,
            "output_stride": net.output_stride,
            "decoder": net.decoder,
            "width_mult": net.width_mult,
            "aspp_channels": net.aspp_channels,
        }
        if any(getattr(cfg, k) != v for k, v in real.items()):
            self.cfg = cfg = dataclasses.replace(cfg, **real)
        self.frozen = None
        if cfg.freeze_backbone:  # weights and BatchNorm statistics as loaded (engine keeps it in eval mode)
            model.backbone.requires_grad_(False)
            self.frozen = model.backbone
            notes.append("backbone frozen: only the heads learn")
        note = set_scratch_bn_momentum(model, cfg)
        if note:
            notes.append(note)
        for n in notes:
            ev.on_message(n)
        self.weight, note = run_class_weights(self.rd, cfg.class_weights)
        if note:
            ev.on_message(note)
        self.channels_last = cfg.channels_last and self.device.type in ("cuda", "cpu")
        model = model.to(self.device)
        if self.channels_last:
            model = model.to(memory_format=torch.channels_last)
        if self.dist.enabled and self.device.type == "cuda":
            model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
        self.net = model
        self.model = (
            DistributedDataParallel(
                model, device_ids=[self.device.index] if self.device.type == "cuda" else None
            )
            if self.dist.enabled
            else model
        )
        self.steps = steps_per_epoch(len(self.rd.train), cfg.repeat, cfg.batch_size, self.dist.world_size)
        total = self.steps * cfg.epochs
        self.optimizer = build_optimizer(
            self.net,
            name=cfg.optimizer,
            lr=cfg.base_lr,
            weight_decay=cfg.weight_decay,
            head_lr_mult=cfg.head_lr_mult,
        )
        self.scheduler = build_scheduler(
            self.optimizer,
            total_steps=total,
            warmup=auto_warmup(total) if cfg.warmup_iters < 0 else cfg.warmup_iters,
            power=cfg.poly_power,
        )
        self.amp_dtype = resolve_precision("auto" if cfg.amp else "fp32", self.device)
        self.scaler = torch.amp.GradScaler("cuda") if self.amp_dtype == torch.float16 else None
        self.criterion = make_criterion(
            aux_weight=cfg.aux_weight, weight=self.weight, ignore_index=self.ignore_index
        )
        self.transform = train_transform(
            cfg.crop_size,
            eval_size=cfg.eval_size or None,
            scale=(cfg.scale_min, cfg.scale_max),
            hflip=cfg.hflip,
            color_jitter=cfg.color_jitter,
            field_augment=cfg.field_augment,
            mean=self.preprocess["mean"],
            std=self.preprocess["std"],
        )

    def _restore(self) -> tuple[int, int, EpochStats]:
        s = self.resume_state
        if s is None:
            return 0, 0, EpochStats()
        self.optimizer.load_state_dict(s["optimizer"])
        self.scheduler.load_state_dict(s["scheduler"])
        if self.scaler is not None and s.get("scaler"):
            self.scaler.load_state_dict(s["scaler"])
        self.history = list(s["history"])
        self.best_miou, self.best_epoch, self.seconds_before = s["best_miou"], s["best_epoch"], s["seconds"]
        self.best_score = s.get("best_score", s["best_miou"])
        step, stats = s["step"], EpochStats(**s["stats"])
        if step and s.get("world_size", 1) != self.dist.world_size:
            self.events.on_message(
                "the number of processes changed: the interrupted epoch restarts from its first step"
            )
            step, stats = 0, EpochStats()
            self.scheduler.last_epoch = s["epoch"] * self.steps
        set_rng_state(s["rng"])
        return s["epoch"], step, stats

    # -- the loop ----------------------------------------------------------------------------------

    def run(self) -> TrainResult:
        self._setup()
        cfg, ev = self.cfg, self.events  # after _setup: a checkpoint start names its own network
        start_epoch, start_step, stats = self._restore()
        self.start_loss, self.best_report, self.divergence = None, None, None
        self.start_report = self._score_start()
        if not self.rd.val:
            ev.on_message(
                "no validation images: the checkpoints get no confidence reference, so the app's "
                "'model is unsure' notice will use a generic threshold for this model (a run with validation "
                "images stores one; `segtool info` can add one to the file later)"
            )
        if self.dist.is_main:
            prepare_run_dir(self.run_dir, self.net)
            remove_temp_files(self.run_dir)  # half-written checkpoints of a killed run
            cfg.save(self.run_dir / "config.json")
            if self.resume_state is not None:
                # history.csv may be ahead of last.pt (killed between the two): last.pt's history is the truth.
                write_history(self.run_dir / "history.csv", self.history)
        ev.on_train_start(
            RunInfo(
                str(self.run_dir),
                self.names,
                len(self.rd.train),
                len(self.rd.val),
                cfg.epochs,
                start_epoch,
                self.steps,
                str(self.device),
                self.dist.world_size,
            )
        )
        self.t0 = time.perf_counter()
        pos = (start_epoch, stats)  # where a resume would continue: (epoch, totals of its steps so far)
        try:
            for epoch in range(start_epoch, cfg.epochs):
                ev.on_epoch_start(epoch + 1, cfg.epochs)
                self._train_epoch(epoch, start_step, stats)
                if stats.stopped:
                    self._save_last(epoch, stats)
                    return self._finish("cancelled")
                self._end_epoch(epoch, stats)
                start_step, stats = 0, EpochStats()
                pos = (epoch + 1, stats)
                ev.on_epoch_end(self.last_summary)  # after last.pt is written: a stop here loses nothing
                if self.divergence is not None:  # stop with the files of this epoch written
                    self._add_warning(self.divergence)
                    w = self.divergence
                    raise TrainingDiverged(
                        f"{w['message']}. Try: {'; '.join(w['try'])}. {self.run_dir / 'best.pt'} "
                        "is the best epoch so far; report.json records this",
                        recorded=True,
                    )
        except TrainingDiverged as e:  # NaN/inf within an epoch: last.pt holds the last good one
            if not e.recorded:
                self._add_warning(nonfinite_warning(str(e)))
            raise
        except KeyboardInterrupt:
            self._save_last(*pos)
            ev.on_message(f"interrupted: {self.run_dir / 'last.pt'} saved; continue with --resume")
            raise
        except torch.OutOfMemoryError as e:
            raise UserInputError(
                f"out of GPU memory with --batch-size {cfg.batch_size} and --crop-size {cfg.crop_size}; try "
                f"--batch-size {max(1, cfg.batch_size // 2)} or --crop-size {max(32, cfg.crop_size * 3 // 4)}"
            ) from e
        return self._finish(None)

    def _train_epoch(self, epoch: int, start_step: int, stats: EpochStats) -> None:
        cfg = self.cfg
        order = distributed.shard(
            epoch_order(len(self.rd.train), cfg.repeat, cfg.seed, epoch), self.dist, cfg.batch_size
        )
        items = [(epoch, i) for i in order[start_step * cfg.batch_size :]]
        loader = DataLoader(
            TrainSamples(self.rd.train_data, self.rd.train, self.transform, cfg.seed),
            batch_size=cfg.batch_size,
            sampler=items,
            num_workers=cfg.workers,
            drop_last=True,
            pin_memory=self.device.type == "cuda",
            generator=torch.Generator().manual_seed(cfg.seed + epoch),  # keeps the global RNG untouched
        )

        def on_step(st: EpochStats, loss: float, lr: float) -> None:
            ips = st.images * self.dist.world_size / st.seconds if st.seconds else 0.0
            self.events.on_batch_end(
                BatchProgress(epoch + 1, cfg.epochs, st.steps, self.steps, loss, lr, ips)
            )

        def should_stop() -> bool:
            flag = self.cancel.is_set()
            return distributed.broadcast_flag(flag, self.device) if self.dist.enabled else flag

        train_one_epoch(
            self.model,
            self.criterion,
            self.optimizer,
            self.scheduler,
            loader,
            self.device,
            stats=stats,
            amp_dtype=self.amp_dtype,
            scaler=self.scaler,
            channels_last=self.channels_last,
            on_step=on_step,
            should_stop=should_stop,
            where=f"epoch {epoch + 1}",
            frozen=self.frozen,
        )

    def _validate(self) -> tuple[dict[str, Any], float | None]:
        self.reference = None
        if not self.rd.val:
            return {}, None
        if self.dist.enabled:
            # Every rank scores the model rank 0 saves: DDP hands out rank 0's BatchNorm statistics at each
            # training forward, but each rank's own last step then moved its own copy.
            for buf in self.net.buffers():
                torch.distributed.broadcast(buf.data, src=0)
        mine = list(range(len(self.rd.val)))[self.dist.rank :: self.dist.world_size]
        loader = DataLoader(
            EvalSamples(self.rd.val_data, self.rd.val),
            batch_size=self.cfg.batch_size,
            sampler=mine,
            num_workers=self.cfg.workers,
            collate_fn=collate_list,
        )
        total = len(mine)
        r = evaluate(
            self.net,
            loader,
            self.device,
            num_classes=len(self.names),
            preprocess_cfg=self.preprocess,
            ignore_index=self.ignore_index,
            weight=self.weight,
            amp_dtype=self.amp_dtype,
            channels_last=self.channels_last,
            on_progress=lambda done: self.events.on_validation_progress(done, total),
        )
        values = r.confidences
        if self.dist.enabled:  # every rank scored its share: put each value at its image's place and sum
            full = torch.zeros(len(self.rd.val), dtype=torch.float64)
            full[mine] = torch.tensor(values, dtype=torch.float64)
            values = distributed.all_reduce_sum(full.to(distributed.reduce_device(self.device))).tolist()
        self.reference = make_reference(
            values, "validation", self.cfg.val or f"{self.cfg.data} (its validation split)"
        )
        return report_dict(r.matrix, self.names, r.images, labelled_only=self.start is not None), r.loss

    def _score_start(self) -> dict[str, Any] | None:
        """report.json's `start` (None without a checkpoint start or validation); sets self.start_loss."""
        if self.start is None or not self.rd.val:
            return None
        mine = list(range(len(self.rd.val)))[self.dist.rank :: self.dist.world_size]
        loader = DataLoader(
            EvalSamples(self.rd.val_data, self.rd.val),
            batch_size=self.cfg.batch_size,
            sampler=mine,
            num_workers=self.cfg.workers,
            collate_fn=collate_list,
        )
        entry, self.start_loss = finetune.score_start(
            self.cfg,
            self.names,
            loader,
            self.device,
            ignore_index=self.ignore_index,
            weight=self.weight,
            amp_dtype=self.amp_dtype,
        )
        miou = "n/a" if entry["miou"] is None else f"{entry['miou']:.4f}"
        self.events.on_message(
            f"start model {self.cfg.init}: val mIoU {miou} on {entry['images']} validation image(s); "
            "the new model is scored on the same"
        )
        return entry

    def _add_warning(self, warning: dict) -> None:
        """Add a warning to report.json (written for the best epoch, or now when there is none yet)."""
        if not self.dist.is_main:
            return
        rep = dict(
            self.best_report
            or {
                "checkpoint": None,
                "miou": None,
                "images": 0,
                **({"start": self.start_report} if self.start_report else {}),
            }
        )
        rep["warnings"] = [*rep.get("warnings", []), warning]
        self.best_report = rep
        write_text_atomic(self.run_dir / "report.json", json.dumps(rep, indent=2) + "\n")

    def _score(self, report: dict[str, Any], val_loss: float | None, epoch: int) -> float | None:
        """The number --select-best compares (higher is better); None = this epoch cannot be ranked."""
        how = self.cfg.select_best
        if how == "last":
            return float(epoch + 1)
        if how == "loss":
            return None if val_loss is None else -val_loss
        if how.startswith("iou:"):
            return report.get("per_class_iou", {}).get(how[4:])
        return report.get("miou")

    def _end_epoch(self, epoch: int, stats: EpochStats) -> None:
        cfg = self.cfg
        report, val_loss = self._validate()
        miou = report.get("miou")
        score = self._score(report, val_loss, epoch)
        is_best = not report or (score is not None and (self.best_score is None or score > self.best_score))
        if is_best:
            self.best_miou, self.best_score, self.best_epoch = miou, score, epoch + 1
        lr = stats.lr
        row = {
            "epoch": epoch + 1,
            "train_loss": round(stats.mean_loss, 6),
            "val_loss": None if val_loss is None else round(val_loss, 6),
            "miou": miou,
            "pixel_accuracy": report.get("pixel_accuracy"),
            "lr": lr,
            "seconds": round(stats.seconds, 3),
        }
        # A stop during the end of an epoch resumes by redoing it: never list an epoch twice.
        self.history = [r for r in self.history if r["epoch"] != epoch + 1] + [row]
        if self.dist.is_main:
            # last.pt is written last: it is the commit point. A kill before it redoes this epoch from the
            # previous last.pt (rewriting best.pt / report.json / history.csv as it goes); a kill after it
            # finds every other file of this epoch already written.
            if is_best:
                self._write(self.run_dir / "best.pt", report, resume=None, reference=self.reference)
                if report:
                    full = {
                        **report,
                        "epoch": epoch + 1,
                        "checkpoint": "best.pt",
                        "selected_by": cfg.select_best,
                    }
                    if self.start_report is not None:
                        worse = finetune.worse_than_start(report, self.start_report)
                        full.update(
                            start=self.start_report,
                            warnings=[*report.get("warnings", []), *([worse] if worse else [])],
                        )
                    self.best_report = full
                    write_text_atomic(self.run_dir / "report.json", json.dumps(full, indent=2) + "\n")
            write_history(self.run_dir / "history.csv", self.history)
            self._save_last(epoch + 1, EpochStats(), report=report, reference=self.reference)
        self.last_summary = EpochSummary(
            epoch + 1, cfg.epochs, stats.mean_loss, val_loss, lr, stats.seconds, report, is_best
        )
        first = self.history[0] if self.history[0]["epoch"] < epoch + 1 else None
        ref, ref_name = self.start_loss, "the start model's on the same frames"
        if ref is None and first is not None:
            ref, ref_name = first["val_loss"], "the first epoch's"
        self.divergence = diverged(
            epoch + 1, stats.mean_loss, val_loss, first and first["train_loss"], ref, ref_name
        )

    # -- files -------------------------------------------------------------------------------------

    def _elapsed(self) -> float:
        return self.seconds_before + time.perf_counter() - self.t0

    def _save_last(
        self, epoch: int, stats: EpochStats, report: dict | None = None, reference: dict | None = None
    ) -> None:
        """last.pt with the resume state at (epoch, stats.steps): an epoch boundary or a mid-epoch stop
        (`reference`: the confidence reference of exactly these weights, from the epoch's validation)."""
        if not self.dist.is_main:
            return
        state = {
            "epoch": epoch,
            "step": stats.steps,
            "stats": {
                "loss_sum": stats.loss_sum,
                "steps": stats.steps,
                "images": stats.images,
                "seconds": stats.seconds,
                "lr": stats.lr,
            },
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict() if self.scaler is not None else None,
            "rng": rng_state(),
            "best_miou": self.best_miou,
            "best_score": self.best_score,
            "best_epoch": self.best_epoch,
            "history": list(self.history),
            "seconds": self._elapsed(),
            "world_size": self.dist.world_size,
        }
        if report is None and self.history:
            last = self.history[-1]
            report = {"miou": last["miou"], "pixel_accuracy": last["pixel_accuracy"]}
        self._write(
            self.run_dir / "last.pt",
            report or {},
            resume=state,
            epochs=epoch,
            partial_steps=stats.steps,
            reference=reference,
        )

    def _write(
        self,
        path: Path,
        report: dict,
        *,
        resume: dict | None,
        epochs: int | None = None,
        partial_steps: int = 0,
        reference: dict | None = None,
    ) -> None:
        done = epochs if epochs is not None else len(self.history)
        metrics = {
            k: report.get(k)
            for k in ("miou", "pixel_accuracy", "mean_accuracy", "fw_iou", "per_class_iou", "pixel_share")
            if k in report
        }
        train_info = {
            "dataset": str(self.cfg.data),
            "epochs": done,
            "metrics": metrics,
            "config": self.cfg.to_dict(),
            "seconds": round(self._elapsed(), 3),
            "train_images": len(self.rd.train),
            "val_images": len(self.rd.val),
            "best_epoch": self.best_epoch,
            "steps_into_next_epoch": partial_steps,
            "world_size": self.dist.world_size,
            "start": self.start_record,
        }
        ckpt = Checkpoint(
            config=self.model_config,
            classes=self.classes,
            state_dict=self.net.state_dict(),
            preprocess=self.preprocess,
            ignore_index=self.ignore_index,
            train=train_info,
            fragments=self.fragments,
            confidence_reference=reference,
        )
        obj = ckpt.to_dict()
        if resume is not None:
            obj["resume"] = resume
        atomic_torch_save(obj, path)

    def _finish(self, stopped: str | None) -> TrainResult:
        done = len(self.history)
        result = TrainResult(
            self.run_dir, done, self.best_miou, self.best_epoch, stopped, self._elapsed(), list(self.history)
        )
        self.events.on_train_end(result)
        return result
