"""`segtool fragments` as a resumable job: sources → per-frame records → result files.

Each processed frame appends one JSON line to OUT/frames.jsonl (its fragments, coverage, scale),
after its optional instance PNG / overlay JPG are in place, so a crash loses at most the frame in
flight. `--resume` skips the frames already in frames.jsonl (a torn last line is dropped); the result
files (fragments.csv, distribution.csv, summary.json, curves.png, over_time.png) are rebuilt from
frames.jsonl at the end of every run, and summary.json says `"complete": false` until every frame is in.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from segtool.base.errors import UserInputError

from .analyse import (
    FragmentSettings,
    FragmentSpec,
    FrameFragments,
    analyse_binary,
    analyse_labels,
    analyse_prediction,
)
from .checks import MASK_EXTS, check_mask_sources, check_numbers, check_output, read_mask, read_records
from .report import atomic_write, write_json
from .results import finish
from .scale import load_scale

RECORDS = "frames.jsonl"
SETTINGS = "fragments_settings.json"


@dataclass
class FragmentsOptions:
    """The `fragments` flags (see docs/fragments.md)."""

    checkpoint: str | None = None
    from_masks: str | None = None  # "instances" | "binary"
    interior: str | None = None
    scale: float | None = None
    every: int = 1
    window_s: float = 10.0
    instances: bool = False
    overlay: bool = False
    resume: bool = False
    overwrite: bool = False
    settings: FragmentSettings = field(default_factory=FragmentSettings)
    device: str = "auto"
    threads: int | None = None
    runtime: str = "auto"
    positions: list[str] | None = None  # --position [SOURCE=]LAT,LON (core/geo/lookup.py)
    segment: str | None = None  # --segment time:S | distance:M (default time:window_s)
    rolling_s: float | None = None  # --rolling S for frames.csv (default window_s)

    def selection(self) -> dict[str, Any]:
        """What must match when resuming."""
        return {
            "checkpoint": self.checkpoint and str(Path(self.checkpoint).resolve()),
            "from_masks": self.from_masks,
            "interior": self.interior,
            "scale": self.scale,
            "every": self.every,
            "instances": self.instances,
            "overlay": self.overlay,
            "settings": self.settings.to_dict(),
            "runtime": self.runtime,
            **({"positions": self.positions} if self.positions else {}),
        }


@dataclass
class FragmentsResult:
    summary: dict[str, Any]
    out: Path
    frames_done: int
    exit_code: int


@dataclass
class _Item:
    """One frame to measure."""

    key: str
    source: str
    frame: int
    pts_s: float | None
    name: str  # output file stem
    load: Callable[[], np.ndarray]  # RGB frame, or the mask for --from-masks
    scale_from: Path | None  # image path for a per-image scale sidecar


# --- sources ---------------------------------------------------------------------------------------


def _mask_files(src: Path) -> list[Path]:
    from segtool.core.sources.images import natural_key

    if src.is_file():
        return [src]
    if not src.is_dir():
        raise UserInputError(f"--from-masks: {src} does not exist; give a folder of mask PNGs (or one PNG)")
    files = sorted(
        (p for p in src.iterdir() if p.suffix.lower() in MASK_EXTS and not p.name.startswith(".")),
        key=lambda p: natural_key(p.name),
    )
    if not files:
        raise UserInputError(
            f"--from-masks: {src} holds no mask images (.png/.tif); give the instances/ or masks/ folder"
        )
    return files


def _source_name(src: str, multi: bool) -> str:
    """A source's name in the results: its file or folder name (the set's name for a labels folder
    called instances/ or masks/)."""
    p = Path(str(src).rstrip("/"))
    if p.name in ("instances", "masks", "images") and p.parent.name:
        return f"{p.parent.name}/{p.name}"
    return p.name or str(src)


def iter_items(sources: list[str], opts: FragmentsOptions, open_source) -> Iterator[_Item]:
    multi = len(sources) > 1
    for src in sources:
        sname = _source_name(src, multi)
        prefix = f"{sname.replace('/', '_')}_" if multi else ""
        if opts.from_masks:
            for i, p in enumerate(_mask_files(Path(src))[:: opts.every]):
                yield _Item(
                    f"{sname}|{p.name}",
                    sname,
                    i * opts.every,
                    None,
                    prefix + p.stem,
                    lambda p=p: read_mask(p),
                    p,
                )
            continue
        with open_source(src) as source:
            folder = source.kind == "folder"
            for fr in source.frames(every=opts.every):
                if source.kind in ("image", "folder"):
                    stem = (
                        Path(fr.name).with_suffix("").as_posix().replace("/", "_")
                        if fr.name
                        else f"{fr.index:06d}"
                    )
                    scale_from = Path(src) / fr.name if folder and fr.name else None
                else:
                    stem = f"{Path(src).stem}_{fr.index:06d}"
                    scale_from = None
                yield _Item(
                    f"{sname}|{fr.index}",
                    sname,
                    fr.index,
                    fr.pts_s,
                    prefix + stem,
                    lambda fr=fr: fr.rgb,
                    scale_from,
                )


# --- records ---------------------------------------------------------------------------------------


def _prepare(out: Path, opts: FragmentsOptions, sources: list[str]) -> list[dict]:
    settings_doc = {"sources": [str(s) for s in sources], **opts.selection()}
    out.mkdir(parents=True, exist_ok=True)
    have = (out / SETTINGS).is_file() or (out / RECORDS).is_file()
    if have and opts.overwrite:
        for name in (
            RECORDS,
            SETTINGS,
            "summary.json",
            "fragments.csv",
            "distribution.csv",
            "curves.png",
            "over_time.png",
            "places.csv",
            "frames.csv",
            "fragments.geojson",
        ):
            (out / name).unlink(missing_ok=True)
        have = False
    if have and not opts.resume:
        raise UserInputError(
            f"{out} already holds a fragments run; continue it with --resume or replace it with --overwrite"
        )
    if have:
        try:
            old = json.loads((out / SETTINGS).read_text())
        except (OSError, ValueError) as e:
            raise UserInputError(
                f"--resume: {out / SETTINGS} is unreadable ({e}); start again with --overwrite"
            ) from e
        if not isinstance(old, dict):
            raise UserInputError(
                f"--resume: {out / SETTINGS} is not a settings object (it was edited); start again with --overwrite"
            )
        if old != settings_doc:
            diff = [k for k in settings_doc if old.get(k) != settings_doc[k]]
            raise UserInputError(
                f"--resume: {out} was made with other settings ({', '.join(diff)}); use the same flags, or --overwrite"
            )
        recs = read_records(out / RECORDS)
        # rewrite without a torn tail so appends start on a clean line
        atomic_write(out / RECORDS, "".join(json.dumps(r) + "\n" for r in recs))
        return recs
    write_json(out / SETTINGS, settings_doc)
    return []


def _overlay(rgb: np.ndarray, res: FrameFragments) -> np.ndarray:
    """Outlines on the photo: counted fragments yellow, border-cut ones cyan, fines grey."""
    from skimage.segmentation import find_boundaries

    img = rgb.copy()
    lab = res.labels
    t = res.table
    color = np.zeros((len(t) + 1, 3), np.uint8)
    color[1:][t.use] = (255, 230, 0)
    color[1:][~t.use & t.touches_border] = (0, 220, 255)
    color[1:][t.fines] = (150, 150, 150)
    b = find_boundaries(lab, mode="inner")
    if max(lab.shape) > 1200:  # a 1-px line disappears when a large photo is shown scaled down
        from scipy import ndimage

        b = ndimage.binary_dilation(b) & (lab > 0)
    img[b] = color[lab[b]]
    return img


def run_fragments(
    sources: list[str],
    out: str | os.PathLike,
    opts: FragmentsOptions,
    *,
    progress: Callable[[int], None] | None = None,
    cancel: threading.Event | None = None,
) -> FragmentsResult:
    """Measure every frame of `sources` into `out` (see the module docstring)."""
    from segtool.core.sources import open_source

    check_numbers(scale=opts.scale, window_s=opts.window_s, every=opts.every)
    if (opts.checkpoint is None) == (opts.from_masks is None):
        raise UserInputError(
            "give either -c CHECKPOINT (fragments from a model) or --from-masks instances|binary"
        )
    if opts.from_masks not in (None, "instances", "binary"):
        raise UserInputError(f"--from-masks {opts.from_masks!r}: use instances or binary")
    if opts.from_masks and opts.overlay:
        raise UserInputError("--overlay needs the photos: it works with -c CHECKPOINT, not with --from-masks")
    opts.settings.validate()
    out = Path(out)
    check_output(out)
    if opts.from_masks:
        check_mask_sources(sources)
    if opts.scale is None:
        for src in sources:  # a damaged sidecar of a whole source is exit 2 before OUT is touched
            load_scale(src)
    cancel = cancel or threading.Event()
    engine = spec = None
    if opts.checkpoint:
        from segtool.core.engine import Engine

        engine = Engine(opts.checkpoint, device=opts.device, threads=opts.threads, runtime=opts.runtime)
        spec = FragmentSpec.from_checkpoint(
            engine.checkpoint.fragments, engine.class_names, interior=opts.interior
        )
    geo = _geo_lookup(sources, opts)
    records = _prepare(out, opts, sources)
    done = {r["key"] for r in records}
    if opts.instances:
        (out / "instances").mkdir(exist_ok=True)
    if opts.overlay:
        (out / "overlays").mkdir(exist_ok=True)
    t0 = time.perf_counter()
    stopped: str | None = None
    error: str | None = None
    scale_cache: dict[str, tuple[float | None, str | None]] = {}
    try:
        with open(out / RECORDS, "a", encoding="utf-8") as log:
            for item in iter_items(sources, opts, open_source):
                if cancel.is_set():
                    stopped = "interrupted"
                    break
                if item.key in done:
                    continue
                mm, mm_from = _scale_for(item, sources, opts, scale_cache)
                data = item.load()
                if engine is not None:
                    pred = engine.predict_one(data, confidence=True)
                    res = analyse_prediction(pred.mask, pred.confidence, spec, opts.settings, mm_per_px=mm)
                elif opts.from_masks == "instances":
                    res = analyse_labels(data, opts.settings, mm_per_px=mm)
                else:
                    res = analyse_binary(data, opts.settings, mm_per_px=mm)
                if opts.instances:
                    if len(res.table) > 65535:
                        raise UserInputError(
                            f"{item.name}: {len(res.table)} fragments do not fit a 16-bit PNG"
                        )
                    _save_png(out / "instances" / f"{item.name}.png", res.labels.astype(np.uint16))
                if opts.overlay:
                    _save_jpg(out / "overlays" / f"{item.name}.jpg", _overlay(data, res))
                rec = {
                    "key": item.key,
                    "source": item.source,
                    "frame": item.frame,
                    "pts_s": item.pts_s,
                    "name": item.name,
                    "mm_per_px": mm,
                    "scale_file": mm_from,
                    "coverage": round(res.coverage, 5),
                    "method": spec.method if spec else opts.from_masks,
                    "rows": _rows(res),
                }
                rec.update(_geo_fields(geo, item, sources, opts))
                log.write(json.dumps(rec) + "\n")
                log.flush()
                records.append(rec)
                done.add(item.key)
                if progress:
                    progress(len(records))
    except UserInputError as e:
        error = str(e)
    except Exception as e:  # a source that broke mid-way: keep what was measured
        from segtool.core.errors import SourceInterrupted

        if not isinstance(e, SourceInterrupted):
            raise
        stopped = f"source interrupted: {e}"
    complete = stopped is None and error is None
    if complete and opts.overlay:
        _encode_overlay_videos(out, records)
    summary = finish(
        out,
        records,
        opts,
        complete=complete,
        seconds=time.perf_counter() - t0,
        stopped=error or stopped,
        model=str(opts.checkpoint) if opts.checkpoint else None,
        method=spec.method if spec else f"--from-masks {opts.from_masks}",
    )
    if records:
        _write_geo(out, records, opts, summary, geo, sources)
    code = 0 if complete else (2 if error else (130 if stopped == "interrupted" else 1))
    if error and not records:
        raise UserInputError(error)
    return FragmentsResult(summary, out, len(records), code)


# --- where and when: segtool/core/geo/run.py ---------------------------------------------------------


def _geo_lookup(sources: list[str], opts: FragmentsOptions):
    from segtool.core.geo.run import make_lookup

    return make_lookup(sources, [_source_name(s, len(sources) > 1) for s in sources], opts)


def _geo_fields(geo, item: _Item, sources: list[str], opts: FragmentsOptions) -> dict:
    src = next(s for s in sources if item.key.startswith(_source_name(s, len(sources) > 1) + "|"))
    return geo.record(
        src,
        item.source,
        item.scale_from if item.scale_from is not None else (Path(src) if Path(src).is_file() else None),
        item.pts_s,
        masks=bool(opts.from_masks),
    )


def _write_geo(
    out: Path, records: list[dict], opts: FragmentsOptions, summary: dict, geo, sources: list[str]
) -> None:
    from segtool.core.geo.run import write_outputs

    write_outputs(out, records, opts, summary, geo, {_source_name(s, len(sources) > 1): s for s in sources})


def _scale_for(item: _Item, sources, opts: FragmentsOptions, cache) -> tuple[float | None, str | None]:
    if opts.scale is not None:
        return float(opts.scale), "--scale"
    src = next(s for s in sources if item.key.startswith(_source_name(s, len(sources) > 1) + "|"))
    ck = f"{src}|{item.scale_from}"
    if ck not in cache:
        found = load_scale(src, image=item.scale_from)
        cache[ck] = (found[0].mm_per_px, str(found[1])) if found else (None, None)
    return cache[ck]


def _rows(res: FrameFragments) -> list[dict]:
    rows = res.rows()
    for r, f, u in zip(rows, res.table.fines, res.table.use, strict=True):
        r["fines"] = int(bool(f))
        r["in_distribution"] = int(bool(u))
    return rows


def _save_png(path: Path, arr: np.ndarray) -> None:
    import io

    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    atomic_write(path, buf.getvalue())


def _save_jpg(path: Path, rgb: np.ndarray) -> None:
    import io

    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=90)
    atomic_write(path, buf.getvalue())


def _encode_overlay_videos(out: Path, records: list[dict]) -> None:
    """overlay_<source>.mp4 (H.264) from the overlay JPGs of each video source, once all are in."""
    import av

    by_src: dict[str, list[dict]] = {}
    for r in records:
        if r.get("pts_s") is not None:
            by_src.setdefault(r["source"], []).append(r)
    for src, recs in by_src.items():
        recs = sorted(recs, key=lambda r: r["frame"])
        path = out / f"overlay_{Path(src).stem}.mp4"
        tmp = path.with_name(f".{path.name}.tmp.mp4")
        dts = np.diff([r["pts_s"] for r in recs])
        fps = 1.0 / float(np.median(dts)) if len(dts) and np.median(dts) > 0 else 25.0
        first = np.asarray(Image.open(out / "overlays" / f"{recs[0]['name']}.jpg"))
        h, w = first.shape[0] // 2 * 2, first.shape[1] // 2 * 2
        with av.open(str(tmp), "w") as c:
            from fractions import Fraction

            st = c.add_stream("libx264", rate=Fraction(round(fps * 1000), 1000))
            st.width, st.height, st.pix_fmt = w, h, "yuv420p"
            for r in recs:
                img = np.asarray(Image.open(out / "overlays" / f"{r['name']}.jpg").convert("RGB"))[:h, :w]
                for p in st.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")):
                    c.mux(p)
            for p in st.encode():
                c.mux(p)
        os.replace(tmp, path)
