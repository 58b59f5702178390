"""The batch half of `segtool predict`: several SOURCEs → `OUT/<name>/` each and `OUT/batch.json`.

Expansion, state, runners live in `segtool.core.batch`; this module only reads the flags, draws one
overall progress bar and prints what failed. docs/batch.md is the user's guide.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from segtool.commands._interrupt import first_ctrl_c_cancels


def add_batch_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("batch (several sources; docs/batch.md)")
    g.add_argument(
        "--workers",
        type=int,
        default=1,
        help="worker processes on this machine, CPU threads divided between them (default 1)",
    )
    g.add_argument("--devices", help="one worker per device, e.g. cuda:0,cuda:1")
    g.add_argument(
        "--shard",
        metavar="I/N",
        help="run only shard I of N (1-based) of the batch, e.g. $SLURM_ARRAY_TASK_ID/4",
    )
    g.add_argument(
        "--ray",
        nargs="?",
        const="",
        metavar="ADDRESS",
        help="run on a Ray cluster (ADDRESS, or RAY_ADDRESS, or a local Ray); needs pip install segtool[cluster]; "
        "put it after the SOURCEs or write --ray=ADDRESS",
    )
    g.add_argument(
        "--retries", type=int, default=1, help="--ray: retries of a source whose task died (default 1)"
    )


def _batch_flags(args: argparse.Namespace) -> bool:
    return bool(args.devices or args.shard or args.ray is not None or args.workers != 1)


def batch_requested(args: argparse.Namespace):
    """(items, all_items, shard) when the arguments make a batch, None for the single-source export."""
    from segtool.core.batch import expand_sources, parse_shard, select_shard
    from segtool.core.batch.expand import implies_batch

    if len(args.source) == 1 and not implies_batch(args.source[0]) and not _batch_flags(args):
        return None  # one plain SOURCE: the single-source layout and messages, exactly as before
    items, is_batch = expand_sources(args.source)
    if not is_batch and not _batch_flags(args):
        return None
    shard = parse_shard(args.shard) if args.shard else None
    mine = select_shard(items, *shard) if shard else items
    return mine, items, shard


def _settings(args: argparse.Namespace, opts, model_path: Path) -> dict:
    # What decides the masks: resuming with other values would mix two kinds of output in one batch.
    # Device, precision and worker counts may change between runs (resume on another machine).
    return {"checkpoint": str(model_path.resolve()), "tta": args.tta, "tile": args.tile, **opts.selection()}


def run_batch_command(args: argparse.Namespace, opts, items, all_items, shard) -> int:
    from tqdm import tqdm

    from segtool.core.batch import BatchState
    from segtool.core.batch.local import run_batch
    from segtool.core.batch.runner import EngineSpec
    from segtool.core.model_file import open_model

    if args.workers < 1:
        raise _usage(f"--workers {args.workers}: use 1 or more")
    devices = [d.strip() for d in args.devices.split(",") if d.strip()] if args.devices else None
    if args.devices is not None and not devices:
        raise _usage(f"--devices {args.devices!r}: list devices like cuda:0,cuda:1")
    if devices and args.workers != 1:
        raise _usage(
            "--devices starts one worker per device; drop --workers (or drop --devices for CPU workers)"
        )
    if args.ray is not None and (devices or args.workers != 1):
        raise _usage(
            "--ray places one task per source itself; drop --workers/--devices (use --device and --threads per task)"
        )
    if args.ray is not None:
        from segtool.core.batch.ray_runner import import_ray

        import_ray()  # missing Ray is exit 2 before OUT is touched
    if args.retries < 0:
        raise _usage(f"--retries {args.retries}: use 0 or more")
    # a bad model file is exit 2 before anything starts; the model read here is the one the batch uses
    # (this process's worker takes it as it is; worker processes check that the file did not change)
    model = open_model(args.checkpoint)
    opts.overlay_visibility(model.class_names)  # so is an unknown --hide class (not one failure per source)
    state = BatchState.create(
        args.output,
        items,
        command="predict",
        settings=_settings(args, opts, model.path),
        all_items=all_items,
        shard=shard,
        resume=args.resume,
        overwrite=args.overwrite,
    )
    where = f" (shard {shard[0]}/{shard[1]}: {len(items)} of {len(all_items)})" if shard else ""
    if not args.quiet:
        print(
            f"batch: {len(items)} source(s){where} -> {state.out}/<name>/, state in {state.path.name}",
            file=sys.stderr,
        )
    spec = EngineSpec(
        str(model.path),
        args.device,
        args.precision,
        args.tta,
        args.tile,
        args.threads,
        args.runtime,
        stamp=model.stamp,
    )
    bar = tqdm(total=None, unit="frame", disable=args.quiet, dynamic_ncols=True, desc="batch")

    def on_progress(p) -> None:
        if p.total is not None and bar.total != p.total:
            bar.total = p.total
        now = ", ".join(p.running[:2]) + (" …" if len(p.running) > 2 else "")
        bar.set_description(f"{p.sources_done}/{p.sources_total} {now}".strip(), refresh=False)
        bar.set_postfix(fps=f"{p.fps:.1f}", refresh=False)
        bar.update(p.done - bar.n)  # tqdm redraws at most every 0.1 s

    def on_state(s) -> None:
        if s.state != "complete":
            bar.write(f"segtool: {s.name}: {s.state}: {s.message}", file=sys.stderr)

    # first Ctrl-C: stop cleanly, running sources stay resumable; a second one interrupts at once
    with first_ctrl_c_cancels() as cancel:
        try:
            if args.ray is not None:
                from segtool.core.batch.ray_runner import run_batch_ray

                run_batch_ray(
                    state,
                    items,
                    spec,
                    opts,
                    address=args.ray or None,
                    retries=args.retries,
                    checkpoint_label=str(args.checkpoint),
                    progress=on_progress,
                    on_state=on_state,
                    cancel=cancel,
                )
            else:
                run_batch(
                    state,
                    items,
                    spec,
                    opts,
                    workers=args.workers,
                    devices=devices,
                    checkpoint_label=str(args.checkpoint),
                    progress=on_progress,
                    on_state=on_state,
                    cancel=cancel,
                    model=model,
                )
        finally:
            bar.close()
    return report(state, cancelled=cancel.is_set())


def report(state, *, cancelled: bool = False) -> int:
    """Print the end of a batch; exit code 0 all complete, 1 any partial or failed, 130 cancelled."""
    c = state.counts()
    frames = sum(s.frames_written for s in state.sources)
    line = ", ".join(f"{n} {k}" for k, n in c.items() if n)
    print(
        f"{'done' if state.complete else 'batch'}: {line}; {frames} frame(s) -> {state.out} (see {state.path.name})"
    )
    for s in state.problems():
        print(f"  {s.state}: {s.source}: {s.message}", file=sys.stderr)
    if cancelled:
        print("segtool: interrupted; rerun with --resume to continue", file=sys.stderr)
        return 130
    if state.complete:
        return 0
    if not state.problems():  # stopped early with sources still pending (e.g. every worker died)
        print(f"segtool: {c['pending']} source(s) did not run; rerun with --resume", file=sys.stderr)
    else:
        print(
            f"segtool: {len(state.problems())} source(s) not complete; --resume retries them", file=sys.stderr
        )
    return 1


def _usage(message: str):
    from segtool.base.errors import UserInputError

    return UserInputError(message)
