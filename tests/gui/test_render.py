"""The viewer's picture composition (numpy only) on hand-made arrays."""

from __future__ import annotations

import numpy as np

from segtool.gui.render import compose

PALETTE = np.array([[0, 0, 0], [250, 50, 83], [20, 200, 20]], np.uint8)


def frame_and_mask():
    rgb = np.full((4, 6, 3), 100, np.uint8)
    mask = np.zeros((4, 6), np.uint8)
    mask[:, 3:] = 1
    mask[3, :] = 2
    return rgb, mask


def test_overlay_blends_and_hidden_classes_show_the_frame():
    rgb, mask = frame_and_mask()
    out = compose(rgb, mask, PALETTE, alpha=1.0)
    assert (out[0, 4] == [250, 50, 83]).all()
    assert (out[3, 0] == [20, 200, 20]).all()
    out = compose(rgb, mask, PALETTE, alpha=1.0, visible=[True, False, True])
    assert (out[0, 4] == 100).all()
    assert (out[3, 0] == [20, 200, 20]).all()


def test_mask_only_paints_hidden_classes_black():
    rgb, mask = frame_and_mask()
    out = compose(rgb, mask, PALETTE, mode="mask", visible=[True, True, False])
    assert (out[0, 4] == [250, 50, 83]).all()
    assert (out[3, 0] == 0).all()


def test_side_by_side_is_frame_then_mask():
    rgb, mask = frame_and_mask()
    out = compose(rgb, mask, PALETTE, mode="side")
    assert out.shape == (4, 12, 3)
    assert out.flags.c_contiguous
    assert (out[:, :6] == rgb).all()
    assert (out[0, 6 + 4] == [250, 50, 83]).all()


def test_outlines_only_on_boundaries():
    rgb, mask = frame_and_mask()
    out = compose(rgb, mask, PALETTE, mode="outlines")
    assert (out[0, 0] == 100).all()  # inside a region: the frame
    assert (out != 100).any()


def test_confidence_fades_unsure_pixels():
    rgb, mask = frame_and_mask()
    conf = np.full(mask.shape, 1.0, np.float32)
    conf[:, 5] = 1 / 3  # a coin flip among 3 classes: no colour
    out = compose(rgb, mask, PALETTE, alpha=1.0, confidence=conf)
    assert (out[0, 4] == [250, 50, 83]).all()
    assert (out[0, 5] == 100).all()


def test_no_mask_shows_the_frame_copy():
    rgb, _ = frame_and_mask()
    out = compose(rgb, None, None)
    assert (out == rgb).all()
    assert out is not rgb
