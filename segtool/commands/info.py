"""`segtool info CKPT`: describe a checkpoint; with `--add-confidence-reference IMAGES -o OUT.pt`, write
it again with the confidence measured on IMAGES (`segtool.core.confidence_reference`)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def add_parser(sub) -> None:
    p = sub.add_parser(
        "info",
        help="describe a checkpoint or exported model (model, classes, preprocessing, training, INT8)",
        description="Print a checkpoint's backbone, output stride, classes with colours, preprocessing and "
        "training summary; for an exported .onnx model also its opset, INT8 record and the runtimes that can run it.",
    )
    p.add_argument(
        "checkpoint",
        help="segtool checkpoint (.pt), exported model (.onnx) or shipped model (rock_fragments, demo_rocks)",
    )
    p.add_argument("--json", action="store_true", help="print the description as JSON")
    p.add_argument(
        "--add-confidence-reference",
        metavar="IMAGES",
        help="measure how sure the model is on IMAGES (a folder of images the model was not trained on, a "
        "dataset's val/ folder, or a video) and write the checkpoint again with it as -o OUT.pt: the app's "
        "'model is unsure' notice compares footage with it. For checkpoints made before segtool stored one",
    )
    p.add_argument("-o", "--output", help="with --add-confidence-reference: the new checkpoint (.pt)")
    p.add_argument(
        "--reference-frames",
        type=int,
        default=200,
        metavar="N",
        help="with --add-confidence-reference: at most N frames, evenly spaced (default 200)",
    )
    p.add_argument("--device", default="auto", help="with --add-confidence-reference: auto, cpu, cuda, …")
    p.set_defaults(run=run)


def _swatch(color: list[int] | None) -> str:
    if color is None or not sys.stdout.isatty():
        return ""
    r, g, b = color
    return f"\x1b[48;2;{r};{g};{b}m    \x1b[0m "


def _fmt_metric(v: Any) -> str:
    return "not present" if v is None else f"{v:.3f}" if isinstance(v, float) else str(v)


def format_text(d: dict[str, Any]) -> str:
    m = d["model"]
    pre = d["preprocess"]
    name = "DeepLabV3+" if m["decoder"] == "v3plus" else "DeepLabV3"
    grid = ",".join(map(str, m["multi_grid"])) if m["multi_grid"] else "none"
    resize = f"shorter side to {pre['resize_short']} px" if pre["resize_short"] else "none (native size)"
    lines = [
        f"checkpoint   {d['path']} ({d['size_mb']} MB)"
        + (f", the shipped model {d['shipped']}" if d.get("shipped") else ""),
        f"model        {name}, backbone {m['backbone']}, output stride {m['output_stride']}, "
        f"ASPP rates {'/'.join(map(str, m['aspp_rates']))}, multi-grid {grid}, aux head {'yes' if m['aux_head'] else 'no'}"
        + (f", width x{m['width_mult']}" if m.get("width_mult", 1.0) != 1.0 else "")
        + (f", ASPP channels {m['aspp_channels']}" if m.get("aspp_channels", 256) != 256 else ""),
        f"parameters   {d['parameters'] / 1e6:.2f} M",
        f"classes      {len(d['classes'])} (ignore index {d['ignore_index']})",
    ]
    width = max(len(c["name"]) for c in d["classes"])
    for i, c in enumerate(d["classes"]):
        col = c["color"]
        rgb = (
            f"({col[0]:3d}, {col[1]:3d}, {col[2]:3d})  #{col[0]:02x}{col[1]:02x}{col[2]:02x}"
            if col
            else "no colour"
        )
        lines.append(f"  {i:3d}  {_swatch(col)}{c['name']:<{width}}  {rgb}")
    lines.append(
        f"preprocess   mean {', '.join(f'{x:.3f}' for x in pre['mean'])}; std {', '.join(f'{x:.3f}' for x in pre['std'])}; "
        f"resize {resize}"
    )
    frag = d.get("fragments")
    if frag:  # a fragment model: which split the Measure panel and `segtool fragments` use
        split = (
            f"centre-seeded watershed, centres {frag.get('centre')!r}, edges {frag['edge']!r}"
            if frag.get("split") == "centre"
            else f"edge-seeded watershed, edges {frag['edge']!r}"
            if frag.get("edge")
            else "distance-transform split"
        )
        lines.append(f"fragments    interior {frag['interior']!r}; {split}")
    t = d.get("train") or {}
    if not t:
        lines.append("training     no training record")
    else:
        for key in ("source", "dataset", "epochs", "seconds"):
            if key in t:
                lines.append(f"training     {key}: {t[key]}")
        start = t.get("start")
        if isinstance(start, dict):  # since issue 20: what the run started from
            lines.append(
                f"training     start: {start.get('init')}"
                + (f" ({start['weights']})" if start.get("weights") else "")
            )
        metrics = t.get("metrics") or {}
        if "miou" in metrics:
            lines.append(f"  mIoU {_fmt_metric(metrics['miou'])}")
        for cname, iou in (metrics.get("per_class_iou") or {}).items():
            lines.append(f"  IoU {cname:<{width}} {_fmt_metric(iou)}")
        for note in t.get("notes") or []:
            lines.append(f"  note: {note}")
    lines.append(_reference_line(d.get("confidence_reference")))
    if "onnx" in d:
        lines += _onnx_lines(d["onnx"])
    return "\n".join(lines)


def _reference_line(ref: dict[str, Any] | None) -> str:
    from segtool.core.confidence import LOW, limit_for

    if not ref:
        return (
            "confidence   no reference stored (made before segtool stored one, or trained without validation "
            f"images): the app's 'unsure' notice uses the generic {LOW:.2f}; add one with "
            "segtool info MODEL --add-confidence-reference IMAGES -o OUT.pt"
        )
    what = "validation images" if ref["source"] == "validation" else "reference images"
    return (
        f"confidence   {ref['mean']:.3f} mean, {ref['p10']:.3f} 10th percentile on {ref['images']} {what}"
        + (f" ({ref['data']})" if ref.get("data") else "")
        + f"; the app says 'unsure' below {limit_for(ref):.2f}"
    )


def _onnx_lines(o: dict[str, Any]) -> list[str]:
    exp = o.get("export") or {}
    lines = [
        f"onnx         opset {o.get('opset')}; exported with torch {exp.get('torch', '?')}, onnx {exp.get('onnx', '?')}; "
        f"input {exp.get('input', '?')}; output {exp.get('output', '?')}"
    ]
    q = o.get("int8")
    if not q:
        lines.append("int8         no (float32 weights)")
    else:
        state = "yes" if q.get("kept") else "REJECTED (this file holds the float model)"
        lines.append(f"int8         {state}: {q.get('verdict', '')}")
        cal = q.get("calibration") or {}
        lines.append(
            f"  calibrated on {cal.get('data')} ({cal.get('what', '')}); allowed drop {q.get('max_drop_points')} mIoU points"
        )
        lines.append(f"  method: {q.get('method', '')}")
    runtimes = o.get("runtimes") or []
    lines.append(
        f"runtimes     {', '.join(runtimes) if runtimes else 'none installed that read ONNX (pip install openvino onnxruntime)'}"
    )
    return lines


def run(args: argparse.Namespace) -> int:
    from segtool.base.errors import UserInputError
    from segtool.core.checkpoint_info import describe

    if args.output and not args.add_confidence_reference:
        raise UserInputError(
            f"-o {args.output}: give --add-confidence-reference IMAGES too (-o is its output)"
        )
    if args.add_confidence_reference:
        if not args.output:
            raise UserInputError(
                "--add-confidence-reference writes a new checkpoint: give its name with -o OUT.pt"
            )
        return _add_reference(args)
    d = describe(args.checkpoint)
    print(json.dumps(d, indent=2) if args.json else format_text(d))
    return 0


def _add_reference(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from segtool.core.confidence import limit_for
    from segtool.core.confidence_reference import check_output, measure_reference, write_with_reference
    from segtool.core.model_file import open_model

    mf = open_model(args.checkpoint)
    check_output(mf, args.output)  # before minutes of measuring
    with tqdm(total=0, unit="frame", desc="confidence", disable=args.json, leave=False) as bar:

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        ref = measure_reference(
            mf,
            args.add_confidence_reference,
            max_frames=args.reference_frames,
            device=args.device,
            progress=progress,
        )
    out, notes = write_with_reference(mf, ref, args.output)
    if args.json:
        print(json.dumps({"output": str(out), "confidence_reference": ref, "notes": notes}, indent=2))
        return 0
    print(
        f"{out}: confidence reference {ref['mean']:.3f} mean, {ref['p10']:.3f} 10th percentile on {ref['images']} "
        f"frame(s) of {args.add_confidence_reference}; the app says 'unsure' below {limit_for(ref):.2f}"
    )
    if ref["images"] < 10:
        print(f"note: only {ref['images']} frame(s): the 10th percentile is about their lowest value")
    for n in notes:
        print(f"note: {n}")
    return 0
