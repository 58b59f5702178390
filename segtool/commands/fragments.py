"""`segtool fragments SOURCE… (-c CKPT | --from-masks instances|binary) -o OUT`: rock sizes."""

from __future__ import annotations

import argparse
import sys


def add_parser(sub) -> None:
    p = sub.add_parser(
        "fragments",
        help="rock fragments: sizes, passing curves, D50/D80 (from a model or from masks)",
        description="Split the rock in SOURCE (image, folder, video) into fragments — with a model (-c) or from "
        "labelled masks (--from-masks) — measure each and write fragments.csv, distribution.csv, summary.json, "
        "curves.png (and over_time.png for video) into OUT. See docs/fragments.md.",
        epilog="Exit codes: 0 complete; 1 partial (a source broke mid-way; summary.json says complete: false); "
        "2 bad usage or input; 130 interrupted (Ctrl-C; --resume continues).",
    )
    p.add_argument(
        "source", nargs="+", help="image, folder or video file (with --from-masks: a folder of mask PNGs)"
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument(
        "-c",
        "--checkpoint",
        help="segtool checkpoint (.pt) or exported model (.onnx); its 'fragments' entry says how to split; "
        "'rock_fragments' = the shipped model",
    )
    src.add_argument(
        "--from-masks",
        choices=("instances", "binary"),
        help="measure labels instead of a model: instance PNGs (0 = none, k = fragment k) as they are, "
        "or binary rock masks split by distance transform",
    )
    p.add_argument("-o", "--output", required=True, help="output folder")
    p.add_argument(
        "--scale",
        type=float,
        metavar="MM_PER_PX",
        help="millimetres per pixel (default: the SOURCE.scale.json sidecar when there is one, else sizes in px)",
    )
    p.add_argument("--every", type=int, default=1, help="measure every N-th frame / image (default 1)")
    p.add_argument(
        "--window",
        type=float,
        default=10.0,
        metavar="S",
        help="video: aggregate over windows of S seconds (default 10)",
    )
    p.add_argument(
        "--min-size",
        type=int,
        default=None,
        metavar="PX",
        help="pieces under PX pixels count as fines (default 20; 0 keeps all)",
    )
    p.add_argument(
        "--include-border",
        action="store_true",
        help="count fragments cut by the image border in the distribution (default: left out, their sizes are lower bounds)",
    )
    p.add_argument(
        "--min-distance",
        type=int,
        default=None,
        metavar="PX",
        help="distance-transform splitting (no edge class): minimum seed distance (default 7)",
    )
    p.add_argument(
        "--interior",
        metavar="CLASS",
        help="model class that is rock, for a checkpoint without a 'fragments' entry",
    )
    p.add_argument(
        "--fit-basis",
        default="area",
        choices=("area", "count", "volume"),
        help="curve the Rosin–Rammler / Swebrec fits use (volume = area^1.5); default area",
    )
    p.add_argument(
        "--sieve", metavar="SIZES", help="comma-separated sizes for distribution.csv (default: 30 log-spaced)"
    )
    p.add_argument(
        "--instances", action="store_true", help="also write OUT/instances/<name>.png (16-bit fragment ids)"
    )
    p.add_argument(
        "--overlay",
        action="store_true",
        help="also write outline overlays (overlays/*.jpg; overlay_<video>.mp4 for video)",
    )
    p.add_argument("--device", default="auto", help="auto (cuda > mps > cpu), cpu, cuda, cuda:N, mps")
    p.add_argument("--threads", type=int, help="CPU threads for the model (default: all cores but one)")
    p.add_argument(
        "--runtime",
        default="auto",
        choices=("auto", "torch", "openvino", "onnxruntime"),
        help="what runs the network (docs/runtimes.md): auto (PyTorch on GPUs; on the CPU OpenVINO, else "
        "ONNX Runtime, else PyTorch), torch, openvino, onnxruntime",
    )
    _add_geo_args(p)
    p.add_argument("--resume", action="store_true", help="continue an interrupted run in OUT")
    p.add_argument("--overwrite", action="store_true", help="replace an earlier run in OUT")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=run)


def _add_geo_args(p) -> None:
    """Where and when (docs/fragments.md, "Place and time"): positions come from the footage itself."""
    p.add_argument(
        "--position",
        action="append",
        metavar="[SOURCE=]LAT,LON",
        help="position (decimal degrees) for a source whose footage has none: LAT,LON for every source, "
        "SOURCE=LAT,LON for one (repeat); never replaces a position read from EXIF/GPMF/SRT",
    )
    p.add_argument(
        "--segment",
        metavar="time:S|distance:M",
        help="video places: segments of S seconds or of M metres along the GPS track (default time:WINDOW)",
    )
    p.add_argument(
        "--rolling",
        type=float,
        metavar="S",
        help="frames.csv: rolling-mean window in seconds (default WINDOW)",
    )


def _print_geo(summary: dict) -> None:
    geo = summary.get("geo") or {}
    for s in geo.get("sources", []):
        print(f"  where: {s['note']}")
    for n in geo.get("notes", []):
        print(f"  note: {n}")


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from segtool.base.errors import UserInputError
    from segtool.commands._interrupt import first_ctrl_c_cancels
    from segtool.core.fragments.analyse import MIN_SIZE_PX, FragmentSettings
    from segtool.core.fragments.job import FragmentsOptions, run_fragments
    from segtool.core.fragments.split import MIN_DISTANCE

    sieve = None
    if args.sieve:
        try:
            sieve = tuple(float(x) for x in args.sieve.split(",") if x.strip())
        except ValueError as e:
            raise UserInputError(
                f"--sieve {args.sieve!r}: give sizes separated by commas, e.g. 10,20,50,100"
            ) from e
    if args.scale is not None and not args.scale > 0:
        raise UserInputError(
            f"--scale {args.scale}: give millimetres per pixel, a positive number (e.g. 0.39)"
        )
    settings = FragmentSettings(
        min_size_px=MIN_SIZE_PX if args.min_size is None else args.min_size,
        include_border=args.include_border,
        min_distance=MIN_DISTANCE if args.min_distance is None else args.min_distance,
        fit_basis=args.fit_basis,
        sieve=sieve,
    )
    checkpoint = args.checkpoint
    from segtool.core.model_file import resolve_model_path, shipped_name

    if checkpoint is not None and shipped_name(
        checkpoint
    ):  # rock_fragments → the installed file (a file of that name wins)
        checkpoint = str(resolve_model_path(checkpoint))
    opts = FragmentsOptions(
        checkpoint=checkpoint,
        from_masks=args.from_masks,
        interior=args.interior,
        scale=args.scale,
        every=args.every,
        window_s=args.window,
        instances=args.instances,
        overlay=args.overlay,
        resume=args.resume,
        overwrite=args.overwrite,
        settings=settings,
        device=args.device,
        threads=args.threads,
        runtime=args.runtime,
        positions=args.position,
        segment=args.segment,
        rolling_s=args.rolling,
    )
    bar = tqdm(unit="frame", disable=args.quiet, desc="fragments", dynamic_ncols=True)
    # first Ctrl-C: stop after this frame and write the results so far; a second one interrupts at once
    with first_ctrl_c_cancels() as cancel:
        try:
            result = run_fragments(
                args.source, args.output, opts, progress=lambda n: bar.update(n - bar.n), cancel=cancel
            )
        finally:
            bar.close()
    s = result.summary
    o = s["overall"]
    d = o["by_area"]
    unit = s["unit"]
    line = (
        (
            f"{o['fragments']} fragments in {s['frames']} frame(s); by area D50 {d['D50']} {unit}, D80 {d['D80']} {unit} "
            f"-> {result.out}"
        )
        if o["fragments"]
        else f"no fragments in {s['frames']} frame(s) -> {result.out}"
    )
    if result.exit_code == 0:
        print(f"done: {line}")
        _print_geo(s)
    elif result.exit_code == 130:
        print(f"segtool: interrupted: {line}; rerun with --resume to continue", file=sys.stderr)
    else:
        print(
            f"segtool: {'error' if result.exit_code == 2 else 'partial'}: {s['stopped']}\n  wrote {line}; "
            "summary.json says complete: false",
            file=sys.stderr,
        )
    return result.exit_code
