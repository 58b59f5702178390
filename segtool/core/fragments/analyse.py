"""One frame → fragments + distribution: the call the CLI and the app share (no Qt, no torch).

    spec = FragmentSpec.from_checkpoint(ckpt.fragments, ckpt.class_names)
    result = analyse_prediction(pred.mask, pred.confidence, spec, FragmentSettings(), mm_per_px=0.39)
    result.labels            # HxW int32 fragment ids (0 = none)
    result.table.rows(0.39)  # one dict per fragment (fragments.csv columns)
    result.distribution      # D-values, passing curves, fits (in mm when a scale is given)

Thread-safe (pure functions of their inputs): the app runs it in a worker thread on the frame it shows.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from segtool.base.errors import UserInputError

from .distribution import Distribution, distribution
from .measure import FragmentTable, measure
from .split import MIN_DISTANCE, relabel_sequential, split_by_distance, split_classes

# Splitting and measuring run on at most this many pixels (the class map is subsampled, sizes converted
# to full-frame pixels, the fragment ids brought back to full size): a model's class map carries no
# more detail than the network's input (~0.47 MP for a 1080p frame at resize_short 512), and the cost
# grows with the pixel count.
WORK_PIXELS = 600_000
# Pieces under this many pixels count as fines, not fragments: ~5 px across, below which an outline
# from a model (or a hand) is mostly noise. 0 keeps everything.
MIN_SIZE_PX = 20


@dataclass(frozen=True)
class FragmentSettings:
    """How fragments are cut and counted (the CLI flags; defaults documented in docs/fragments.md).

    Attributes:
        min_size_px: pieces smaller than this many pixels are fines (0 = none).
        include_border: count fragments cut by the image border in the distribution (their sizes are
            lower bounds, so by default they are left out).
        min_distance: distance-transform splitting: minimum distance between seeds (pixels).
        fit_basis: curve the Rosin–Rammler / Swebrec fits are made to: "area" (default), "count", "volume".
        sieve: sizes (in the output unit) to report % passing at; None = 30 log-spaced sizes.
        work_pixels: split and measure a model's class map on at most this many pixels (0 = full
            size); sizes are given in full-frame pixels either way.
    """

    min_size_px: int = MIN_SIZE_PX
    include_border: bool = False
    min_distance: int = MIN_DISTANCE
    fit_basis: str = "area"
    sieve: tuple[float, ...] | None = None
    work_pixels: int = WORK_PIXELS

    def validate(self) -> FragmentSettings:
        if self.min_size_px < 0:
            raise UserInputError(f"--min-size {self.min_size_px}: use 0 (keep all) or a number of pixels")
        if self.min_distance < 1:
            raise UserInputError(f"--min-distance {self.min_distance}: use 1 or more pixels")
        if self.fit_basis not in ("area", "count", "volume"):
            raise UserInputError(f"--fit-basis {self.fit_basis!r}: use area, count or volume")
        if self.sieve is not None and (
            not self.sieve or not all(0 < s < float("inf") for s in self.sieve)
        ):  # nan fails too
            raise UserInputError("--sieve needs positive sizes, e.g. 10,20,50,100")
        return self

    def to_dict(self) -> dict:
        return {
            "min_size_px": self.min_size_px,
            "include_border": self.include_border,
            "min_distance": self.min_distance,
            "fit_basis": self.fit_basis,
            "sieve": list(self.sieve) if self.sieve else None,
            "work_pixels": self.work_pixels,
        }


@dataclass(frozen=True)
class FragmentSpec:
    """Which class ids are a fragment's inside, its edge and its centre (edge None: split by distance
    transform; centre given: split by centres, the learned centre split)."""

    interior_id: int
    edge_id: int | None = None
    interior: str = "rock"
    edge: str | None = None
    centre_id: int | None = None
    centre: str | None = None

    @classmethod
    def from_checkpoint(
        cls, fragments: dict | None, class_names: list[str], *, interior: str | None = None
    ) -> FragmentSpec:
        """From a checkpoint's `fragments` entry. A checkpoint without one can still be used when the
        interior class is named (`interior`, the CLI's --interior) or a class is called "rock"/"rocks".
        `"split": "centre"` with a `centre` class: split by centres; without a "split" key (every
        checkpoint before the centre split) by the edge class as always."""
        if fragments is None:
            guess = interior or next(
                (n for n in class_names if n.lower() in ("rock", "rocks", "stone", "stones")), None
            )
            if guess is None:
                raise UserInputError(
                    f"the checkpoint does not say which class is a rock fragment (classes: {', '.join(class_names)}); "
                    "name it with --interior CLASS, or train with --fragments INTERIOR[,EDGE]"
                )
            fragments = {"interior": guess, "edge": None}
        name_i, name_e = fragments["interior"], fragments.get("edge")
        name_c = fragments.get("centre") if fragments.get("split") == "centre" else None
        if interior is not None and interior != name_i:
            name_i, name_e, name_c = interior, None, None
        if name_i not in class_names:
            raise UserInputError(
                f"interior class {name_i!r} is not one of the model's classes ({', '.join(class_names)})"
            )
        edge_id = class_names.index(name_e) if name_e in class_names else None
        centre_id = class_names.index(name_c) if name_c in class_names else None
        return cls(
            class_names.index(name_i),
            edge_id,
            name_i,
            name_e if edge_id is not None else None,
            centre_id,
            name_c if centre_id is not None else None,
        )

    @property
    def method(self) -> str:
        if self.centre_id is not None:
            return "centre-seeded watershed"
        return "edge-seeded watershed" if self.edge_id is not None else "distance-transform watershed"

    def rock(self, class_ids: np.ndarray) -> np.ndarray:
        """HxW bool: the pixels of any fragment class (interior, edge, centre)."""
        ids = np.asarray(class_ids)
        rock = ids == self.interior_id
        for k in (self.edge_id, self.centre_id):
            if k is not None:
                rock |= ids == k
        return rock

    def split(self, class_ids: np.ndarray, min_distance: int = MIN_DISTANCE) -> np.ndarray:
        """HxW int32 fragment ids of a class-id map, by this spec's method."""
        return split_classes(class_ids, self.interior_id, self.edge_id, min_distance, self.centre_id)


@dataclass
class FrameFragments:
    """The fragments of one frame.

    Attributes:
        labels: HxW int32, fragment k has id k (ids match `table.fragment`), 0 = none.
        table: measurements (pixels), with `fines` / `use` flags.
        distribution: of the fragments in `use`, in mm when a scale is given, else px.
        coverage: share of the frame that is rock (any fragment, fines included).
        mm_per_px: the scale used, or None.
    """

    labels: np.ndarray
    table: FragmentTable
    distribution: Distribution
    coverage: float
    mm_per_px: float | None = None
    notes: list[str] = field(default_factory=list)

    def rows(self) -> list[dict]:
        return self.table.rows(self.mm_per_px)


def distribution_of(
    tables: list[FragmentTable], settings: FragmentSettings, mm_per_px: float | None
) -> Distribution:
    """One distribution over the fragments in `use` of several tables (a source, a time window, all).
    Tables may carry different scales only through `scaled_tables`; here one scale applies."""
    s = float(mm_per_px) if mm_per_px else 1.0
    used = [t for t in tables if len(t)]
    sizes = np.concatenate([t.diameter_px[t.use] for t in used]) * s if used else np.zeros(0)
    areas = np.concatenate([t.area_px[t.use] for t in used]).astype(float) * s * s if used else np.zeros(0)
    fines_mask = [t.fines & (settings.include_border | ~t.touches_border) for t in used]
    fines_area = sum(float(t.area_px[m].sum()) for t, m in zip(used, fines_mask, strict=True)) * s * s
    fines = sum(int(m.sum()) for m in fines_mask)
    return distribution(
        sizes,
        areas,
        fines_area=fines_area,
        fines=fines,
        sieve=np.asarray(settings.sieve) if settings.sieve else None,
        unit="mm" if mm_per_px else "px",
        fit_basis=settings.fit_basis,
    )


def analyse_labels(
    labels: np.ndarray,
    settings: FragmentSettings = FragmentSettings(),
    *,
    mm_per_px: float | None = None,
    confidence: np.ndarray | None = None,
    rock: np.ndarray | None = None,
) -> FrameFragments:
    """Measure a fragment label image as it is (instance masks: `--from-masks instances`)."""
    labels = relabel_sequential(np.asarray(labels))
    table = measure(
        labels, confidence, min_size_px=settings.min_size_px, include_border=settings.include_border
    )
    cover = float((labels > 0).mean()) if rock is None else float(np.asarray(rock, bool).mean())
    return FrameFragments(labels, table, distribution_of([table], settings, mm_per_px), cover, mm_per_px)


def analyse_prediction(
    class_ids: np.ndarray,
    confidence: np.ndarray | None,
    spec: FragmentSpec,
    settings: FragmentSettings = FragmentSettings(),
    *,
    mm_per_px: float | None = None,
) -> FrameFragments:
    """Split a model's class-id map into fragments and measure them."""
    ids = np.asarray(class_ids)
    h, w = ids.shape
    step = 1
    if settings.work_pixels and h * w > settings.work_pixels:
        step = int(np.ceil(np.sqrt(h * w / settings.work_pixels)))
    rock = spec.rock(ids)
    if step == 1:
        labels = spec.split(ids, settings.min_distance)
        return analyse_labels(labels, settings, mm_per_px=mm_per_px, confidence=confidence, rock=rock)
    # Split and measure on the subsampled map (min_distance scaled with it); sizes are converted to
    # full-frame pixels and the ids brought back to full size for display and --instances.
    import cv2

    small = relabel_sequential(spec.split(ids[::step, ::step], max(1, round(settings.min_distance / step))))
    hs, ws = small.shape
    sy, sx = h / hs, w / ws
    conf = None if confidence is None else np.asarray(confidence)[::step, ::step]
    t = measure(small, conf, min_size_px=0, include_border=settings.include_border)
    fa = sx * sy
    area = np.round(t.area_px * fa).astype(np.int64)
    t.area_px = area
    t.diameter_px = 2.0 * np.sqrt(area / np.pi)
    lin = float(np.sqrt(fa))
    t.feret_min_px = t.feret_min_px * lin
    t.feret_max_px = t.feret_max_px * lin
    t.cx = (t.cx + 0.5) * sx - 0.5
    t.cy = (t.cy + 0.5) * sy - 0.5
    t.fines = area < int(settings.min_size_px)
    t.use = ~t.fines & (settings.include_border | ~t.touches_border)
    dtype = np.uint16 if small.max() < 65536 else np.float32  # cv2 resizes neither int32 nor int64
    labels = cv2.resize(small.astype(dtype), (w, h), interpolation=cv2.INTER_NEAREST).astype(np.int32)
    labels[~rock] = 0
    return FrameFragments(
        labels,
        t,
        distribution_of([t], settings, mm_per_px),
        float(rock.mean()),
        mm_per_px,
        notes=[f"split and measured on a {ws}x{hs} map (1/{step} of the frame)"],
    )


def analyse_binary(
    mask: np.ndarray, settings: FragmentSettings = FragmentSettings(), *, mm_per_px: float | None = None
) -> FrameFragments:
    """A rock/background mask (`--from-masks binary`): split like a model without an edge class."""
    rock = np.asarray(mask) > 0
    labels = split_by_distance(rock, settings.min_distance)
    return analyse_labels(labels, settings, mm_per_px=mm_per_px, rock=rock)
