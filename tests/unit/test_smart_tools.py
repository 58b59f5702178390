"""GrabCut and intelligent scissors (issue 21's smart tools), on generated pictures with a known object."""

from __future__ import annotations

import numpy as np

from segtool.core.smart_tools import LiveWire, grabcut_box


def _disc_picture(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    h, w = 120, 160
    yy, xx = np.mgrid[:h, :w]
    disc = (yy - 60) ** 2 + (xx - 80) ** 2 <= 30**2
    rgb = np.empty((h, w, 3), np.uint8)
    rgb[...] = (40, 90, 40)  # green background
    rgb[disc] = (200, 120, 60)  # an orange rock
    noise = rng.integers(-20, 21, rgb.shape)
    return np.clip(rgb.astype(int) + noise, 0, 255).astype(np.uint8), disc


def _iou(a, b):
    return (a & b).sum() / (a | b).sum()


def test_grabcut_box_finds_the_object_in_the_box():
    rgb, disc = _disc_picture()
    got = grabcut_box(rgb, (45, 25, 116, 96))
    assert _iou(got, disc) > 0.9
    assert not got[:, :44].any()  # nothing outside the box
    assert not got[:, 117:].any()
    assert not grabcut_box(rgb, (10, 10, 11, 50)).any()  # a box under 3 px finds nothing


def test_grabcut_strokes_refine():
    rgb, disc = _disc_picture(1)
    patch = np.zeros(disc.shape, bool)
    patch[30:50, 95:114] = True
    patch &= ~disc
    rgb[patch] = (60, 60, 200)  # a blue thing inside the box, touching the rock: no background looks like it
    box = (45, 25, 116, 96)
    before = grabcut_box(rgb, box)
    assert before[patch].mean() > 0.5  # taken for part of the object
    stroke = np.zeros(disc.shape, bool)
    stroke[38:42, 104:110] = True  # one short "not this" stroke on it
    after = grabcut_box(rgb, box, background=stroke)
    assert after[patch].mean() < 0.1
    assert _iou(after, disc) > 0.9


def test_live_wire_follows_the_edge():
    rgb, disc = _disc_picture(2)
    yy, xx = np.mgrid[: disc.shape[0], : disc.shape[1]]
    r = np.sqrt((yy - 60) ** 2 + (xx - 80) ** 2)
    ring = np.abs(r - 30) <= 2.5  # within 2.5 px of the rock's outline
    wire = LiveWire(rgb)
    wire.start(110, 60)  # on the disc's right edge
    path = wire.path_to(80, 30)  # to its top edge: a quarter of the circle
    assert tuple(path[0]) == (110, 60)
    assert tuple(path[-1]) == (80, 30)
    on_edge = ring[path[:, 1], path[:, 0]].mean()
    assert on_edge > 0.9  # snapped to the rock's outline, not the straight line across the rock
    straight = np.linspace(0, 1, 20)
    sx, sy = (110 + (80 - 110) * straight).astype(int), (60 + (30 - 60) * straight).astype(int)
    assert ring[sy, sx].mean() < 0.5  # (the straight line would not be)
