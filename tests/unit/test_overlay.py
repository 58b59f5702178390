"""overlay.py against small hand-made arrays; the palette it paints with comes from the checkpoint."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from segtool.core.engine import Engine
from segtool.core.errors import UserInputError
from segtool.core.overlay import blend, colorize, coverage, draw_outlines, hidden_pixels, outlines
from segtool.gui.render import compose
from segtool.models import load_checkpoint
from segtool.models.classes import class_palette

PALETTE = np.array([[0, 0, 0], [250, 50, 83], [10, 200, 10]], np.uint8)
#  ids:  0 1 2
#        2 255 1
MASK = np.array([[0, 1, 2], [2, 255, 1]], np.uint8)


def test_palette_comes_from_the_checkpoint(small_checkpoint):
    ck = load_checkpoint(small_checkpoint[0])
    assert ck.palette == [[0, 0, 0], [250, 50, 83]]
    assert np.array_equal(Engine(ck, device="cpu", threads=1).palette, np.array(ck.palette, np.uint8))


@pytest.mark.parametrize("color", [None, [1, 2], [0, 0, 256], [-1, 0, 0], "red", [0.5, 0, 0], [True, 0, 0]])
def test_palette_rejects_missing_or_bad_colour_naming_the_class(color):
    classes = [{"name": "background", "color": [0, 0, 0]}, {"name": "rock", "color": color}]
    with pytest.raises(UserInputError) as err:
        class_palette(classes)
    msg = str(err.value)
    assert "'rock'" in msg
    assert "import-weights --colors" in msg


def test_checkpoint_stored_without_colours_is_refused_when_its_palette_is_needed(small_checkpoint, tmp_path):
    ck = load_checkpoint(small_checkpoint[0])
    plain = dataclasses.replace(
        ck, classes=[{"name": "background", "color": None}, {"name": "sky", "color": None}]
    )
    with pytest.raises(UserInputError, match="'background' has no colour.*import-weights --colors"):
        Engine(plain, device="cpu", threads=1)
    with pytest.raises(UserInputError, match="'sky'"):
        class_palette([{"name": "sky"}])


def test_palette_rejects_empty_class_list():
    with pytest.raises(UserInputError):
        class_palette([])


def test_hidden_pixels_is_the_one_lookup_for_blend_and_the_viewer():
    assert hidden_pixels(MASK, 3, None).tolist() == [[0, 0, 0], [0, 1, 0]]  # 255 is no class
    assert hidden_pixels(MASK, 3, [True, False]).tolist() == [
        [0, 1, 0],
        [0, 1, 1],
    ]  # class 2 beyond the flags: shown
    assert hidden_pixels(np.zeros((2, 2), np.uint8), 3, None) is None
    rgb = np.full((2, 3, 3), 7, np.uint8)
    for out in (
        blend(rgb, MASK, PALETTE, 1.0, [True, False]),
        compose(rgb, MASK, PALETTE, alpha=1.0, visible=[True, False]),
    ):
        assert out[0, 1].tolist() == [7, 7, 7]
        assert out[0, 0].tolist() == [0, 0, 0]
    masked = compose(rgb, MASK, PALETTE, mode="mask", visible=[True, False])
    assert masked[0, 1].tolist() == [0, 0, 0]
    assert masked[0, 2].tolist() == [10, 200, 10]


def test_colorize_maps_ids_and_paints_unknown_ids_black():
    out = colorize(MASK, PALETTE)
    assert out.shape == (2, 3, 3)
    assert out.dtype == np.uint8
    assert out[0].tolist() == [[0, 0, 0], [250, 50, 83], [10, 200, 10]]
    assert out[1].tolist() == [[10, 200, 10], [0, 0, 0], [250, 50, 83]]


def test_colorize_accepts_wider_integer_masks():
    assert (colorize(MASK.astype(np.int64), PALETTE) == colorize(MASK, PALETTE)).all()
    with pytest.raises(ValueError):
        colorize(MASK.astype(np.float32), PALETTE)


def test_blend_mixes_colours_by_alpha():
    rgb = np.full((2, 3, 3), 100, np.uint8)
    out = blend(rgb, MASK, PALETTE, alpha=0.5)
    assert out[0, 1].tolist() == [175, 75, 92]  # (100 + (250, 50, 83)) / 2, rounded
    assert out[0, 0].tolist() == [50, 50, 50]  # class 0 is black, blended too
    assert out[1, 1].tolist() == [100, 100, 100]  # id 255 has no class: frame unchanged
    assert (rgb == 100).all()  # input untouched


def test_blend_alpha_extremes():
    rgb = np.random.default_rng(0).integers(0, 256, (2, 3, 3), dtype=np.uint8)
    assert (blend(rgb, MASK, PALETTE, alpha=0.0) == rgb).all()
    full = blend(rgb, MASK, PALETTE, alpha=1.0)
    known = MASK < len(PALETTE)
    assert (full[known] == colorize(MASK, PALETTE)[known]).all()
    assert (full[~known] == rgb[~known]).all()


def test_blend_hidden_classes_show_the_frame():
    rgb = np.full((2, 3, 3), 100, np.uint8)
    out = blend(rgb, MASK, PALETTE, alpha=0.5, visible=[True, False, True])
    assert (out[MASK == 1] == 100).all()
    assert out[0, 2].tolist() == [55, 150, 55]
    # A shorter flag list hides only the classes it names.
    out = blend(rgb, MASK, PALETTE, alpha=0.5, visible=[False])
    assert (out[MASK == 0] == 100).all()
    assert out[0, 1].tolist() == [175, 75, 92]


def test_blend_matches_float_reference_on_random_data():
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, (37, 53, 3), dtype=np.uint8)
    mask = rng.integers(0, 3, (37, 53), dtype=np.uint8)
    ref = rgb * 0.3 + PALETTE[mask] * 0.7
    out = blend(rgb, mask, PALETTE, alpha=0.7)
    assert np.abs(out.astype(float) - ref).max() <= 1.0


def test_blend_rejects_size_mismatch():
    with pytest.raises(ValueError):
        blend(np.zeros((3, 3, 3), np.uint8), MASK, PALETTE)


def test_outlines_mark_one_pixel_on_each_boundary():
    mask = np.zeros((4, 5), np.uint8)
    mask[:, 3:] = 1
    edge = outlines(mask)
    assert edge.dtype == bool
    assert edge[:, 2].all()  # left pixel of each row's 0|1 step
    assert edge.sum() == 4
    thick = outlines(mask, thickness=3)
    assert thick[:, 1:4].all()
    assert not thick[:, 0].any()


def test_outlines_of_a_uniform_mask_are_empty():
    assert not outlines(np.full((5, 5), 2, np.uint8)).any()


def test_draw_outlines_uses_class_colours_and_respects_visibility():
    mask = np.zeros((3, 4), np.uint8)
    mask[:, 2:] = 2
    rgb = np.full((3, 4, 3), 7, np.uint8)
    out = draw_outlines(rgb, mask, PALETTE)
    assert (out[:, 1] == 0).all()  # class 0 boundary pixel painted black
    assert (out[:, [0, 2, 3]] == 7).all()
    hidden = draw_outlines(rgb, mask, PALETTE, visible=[False, True, True])
    assert (hidden == 7).all()


def test_coverage_fractions():
    cov = coverage(MASK, 3)
    assert cov.shape == (3,)
    np.testing.assert_allclose(cov, [1 / 6, 2 / 6, 2 / 6])  # the 255 pixel is in no class
    full = coverage(np.array([[0, 0], [1, 2]], np.uint8), 3)
    assert full.sum() == pytest.approx(1.0)
