"""Thumbnails with fragment outlines for the report: the run's own overlays (overlays/<name>.jpg, written
by `fragments --overlay`), or outlines drawn from instances/<name>.png on the photo found among the
sources; the frames with the most fragments first."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from .data import ReportData

THUMB_PX = 900
IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp")


def _photo(d: ReportData, name: str) -> Path | None:
    for src in d.settings_doc.get("sources") or []:
        p = Path(src)
        if p.is_file() and p.stem == name:
            return p
        if p.is_dir():
            for ext in IMAGE_EXTS:
                for cand in (p / f"{name}{ext}", p / f"{name.split('_', 1)[-1]}{ext}"):
                    if cand.is_file():
                        return cand
    return None


def _outlined(d: ReportData, name: str) -> np.ndarray | None:
    ov = d.out / "overlays" / f"{name}.jpg"
    if ov.is_file():
        with Image.open(ov) as im:
            im.thumbnail((THUMB_PX, THUMB_PX))
            return np.asarray(im.convert("RGB"))
    inst, photo = d.out / "instances" / f"{name}.png", _photo(d, name)
    if not inst.is_file() or photo is None:
        return None
    from skimage.segmentation import find_boundaries

    with Image.open(photo) as im:
        rgb = np.asarray(im.convert("RGB")).copy()
    with Image.open(inst) as im:
        lab = np.asarray(im).astype(np.int64)
    if lab.shape != rgb.shape[:2]:
        return None
    rgb[find_boundaries(lab, mode="inner")] = (255, 230, 0)
    im = Image.fromarray(rgb)
    im.thumbnail((THUMB_PX, THUMB_PX))
    return np.asarray(im)


def pick(d: ReportData, n: int = 4) -> tuple[list[tuple[dict, np.ndarray]], str | None]:
    """Up to n (record, outlined image), the frames with most counted fragments first; a note when none could be drawn."""
    order = sorted(d.records, key=lambda r: -sum(1 for f in r["rows"] if f.get("in_distribution")))
    picked, seen_src = [], {}
    for r in order:
        if len(picked) >= n:
            break
        if seen_src.get(r["source"], 0) >= max(1, n // max(len(d.per_source), 1)) and len(d.per_source) > 1:
            continue  # spread the thumbnails over the sources
        img = _outlined(d, r["name"])
        if img is not None:
            picked.append((r, img))
            seen_src[r["source"]] = seen_src.get(r["source"], 0) + 1
    note = None
    if not picked:
        note = (
            "no thumbnails: the run kept no outlines (rerun `segtool fragments` with --overlay, or --instances "
            "for photos) — the sizes above do not depend on it"
        )
    return picked, note


def thumbs_page(d: ReportData, picked: list[tuple[dict, np.ndarray]]):
    from .pages import _fig

    fig = _fig()
    fig.suptitle("Photos with the measured outlines", fontsize=13, x=0.08, ha="left", y=0.975)
    fig.text(
        0.08,
        0.945,
        "yellow: counted fragments · cyan: cut by the border (left out) · grey: fines",
        fontsize=8,
    )
    for i, (r, img) in enumerate(picked[:4]):
        row, col = divmod(i, 2)
        ax = fig.add_axes([0.05 + col * 0.47, 0.52 - row * 0.45, 0.43, 0.4])
        ax.imshow(img)
        ax.axis("off")
        n = sum(1 for f in r["rows"] if f.get("in_distribution"))
        where = f"{r['lat']:.5f}, {r['lon']:.5f}" if r.get("lat") is not None else "no position"
        when = (
            f"t={r['pts_s']:.1f} s"
            if r.get("pts_s") is not None
            else (r.get("time") or "").replace("T", " ")[:19]
        )
        ax.set_title(
            f"{r['name'][-40:]}\n" + " · ".join(x for x in (f"{n} fragments", where, when) if x), fontsize=7
        )
    return fig
