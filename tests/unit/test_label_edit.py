"""Label editing without Qt: brush, eraser, fills, fragment outlines, undo/redo, dirty tracking."""

from __future__ import annotations

import numpy as np
import pytest

from segtool.core.label_edit import UNKNOWN, LabelEditor, superpixels


def test_new_frame_is_unknown_and_clean():
    ed = LabelEditor(shape=(20, 30))
    assert (ed.mask == UNKNOWN).all()
    assert not ed.dirty
    assert not ed.can_undo()
    with pytest.raises(ValueError):
        ed.mask[0, 0] = 1  # read-only view


def test_brush_stroke_paints_a_capsule_and_undoes_as_one():
    ed = LabelEditor(shape=(40, 60))
    ed.begin_stroke(10, 20, 3, 1)
    ed.stroke_to(30, 20)
    ed.stroke_to(50, 20)
    ed.end_stroke()
    m = ed.mask
    assert m[20, 10:51].tolist() == [1] * 41  # the whole path
    assert m[17, 30] == 1  # radius 3
    assert m[23, 30] == 1
    assert m[16, 30] == UNKNOWN
    assert m[24, 30] == UNKNOWN
    assert m[20, 6] == UNKNOWN  # round cap at the start
    assert m[20, 7] == 1
    assert ed.dirty
    assert ed.undo()
    assert (ed.mask == UNKNOWN).all()
    assert not ed.dirty
    assert ed.redo()
    assert ed.mask[20, 30] == 1
    assert ed.dirty


def test_eraser_paints_unknown_and_saved_state_tracks_undo():
    ed = LabelEditor(np.zeros((10, 10), np.uint8))
    ed.begin_stroke(5, 5, 1, UNKNOWN)
    ed.end_stroke()
    assert ed.mask[5, 5] == UNKNOWN
    assert ed.mask[0, 0] == 0
    ed.mark_saved()
    assert not ed.dirty
    ed.undo()
    assert ed.dirty  # differs from what was saved
    ed.redo()
    assert not ed.dirty


def test_polygon_fill_and_new_edit_clears_redo():
    ed = LabelEditor(shape=(20, 20))
    assert not ed.fill_polygon([(1, 1), (5, 5)], 1)  # fewer than 3 points
    assert ed.fill_polygon([(2, 2), (12, 2), (12, 12), (2, 12)], 1)
    assert ed.mask[7, 7] == 1
    assert ed.mask[15, 15] == UNKNOWN
    ed.undo()
    ed.fill_polygon([(0, 0), (4, 0), (4, 4)], 0)
    assert not ed.can_redo()


def test_region_fill_takes_whole_superpixels():
    segs = np.zeros((10, 10), np.int32)
    segs[:, 5:] = 1
    segs[8:, :] = 2
    ed = LabelEditor(shape=(10, 10))
    ed.fill_regions(segs, [(7, 2)], 1)  # a click in superpixel 1
    assert np.array_equal(ed.mask == 1, segs == 1)
    with pytest.raises(ValueError):
        ed.fill_regions(np.zeros((3, 3), np.int32), [(0, 0)], 1)


def test_superpixels_on_a_real_looking_picture():
    rgb = np.zeros((60, 80, 3), np.uint8)
    rgb[:, 40:] = 200
    for method in ("slic", "felzenszwalb"):
        s = superpixels(rgb, method=method, size=10)
        assert s.shape == (60, 80)
        assert not (set(np.unique(s[:, :38])) & set(np.unique(s[:, 42:])))  # none crosses the edge
    with pytest.raises(ValueError):
        superpixels(rgb, method="grid")


def test_outline_fragment_gives_instances_and_undo_restores_them():
    ed = LabelEditor(shape=(30, 30))
    a = ed.outline_fragment([(2, 2), (10, 2), (10, 10), (2, 10)], 1)
    b = ed.outline_fragment([(8, 8), (20, 8), (20, 20), (8, 20)], 1)
    assert (a, b) == (1, 2)
    inst = ed.instances
    assert inst[5, 5] == 1
    assert inst[9, 9] == 2
    assert inst[15, 15] == 2
    assert inst[25, 25] == 0
    ed.undo()
    assert ed.instances[9, 9] == 1
    assert ed.instances[15, 15] == 0
    assert ed.mask[15, 15] == UNKNOWN


def test_start_from_prediction_keeps_low_confidence_unknown():
    pred = np.array([[0, 1], [1, 0]], np.uint8)
    conf = np.array([[0.9, 0.4], [0.8, 0.55]], np.float32)
    ed = LabelEditor(shape=(2, 2))
    ed.set_from_prediction(pred, conf, threshold=0.6)
    assert ed.mask.tolist() == [[0, UNKNOWN], [1, UNKNOWN]]
    ed.undo()
    assert (ed.mask == UNKNOWN).all()


def test_undo_history_is_bounded():
    ed = LabelEditor(shape=(100, 100), max_undo_bytes=100 * 100 * 2 * 3)
    for i in range(10):
        ed.set_from_prediction(np.full((100, 100), i % 2, np.uint8))
    n = 0
    while ed.undo():
        n += 1
    assert n == 3
