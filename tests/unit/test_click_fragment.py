"""Click a fragment (issue 21) without Qt: the split a click looks up, the snap to a near fragment, and the
editor's one-step fragment."""

from __future__ import annotations

import numpy as np

from segtool.core.click_fragment import fragment_at, split_prediction
from segtool.core.label_edit import UNKNOWN, LabelEditor


def _two_rocks() -> np.ndarray:
    """Class ids: background 0, two touching rocks (interior 1) with an edge band (2) between and around."""
    ids = np.zeros((40, 60), np.uint8)
    ids[5:35, 5:55] = 2  # the edge band around and between
    ids[8:32, 8:28] = 1
    ids[8:32, 32:52] = 1
    return ids


def test_split_gives_each_rock_its_edge_band():
    frags = split_prediction(_two_rocks(), 1, 2)
    assert frags.max() == 2
    a, b = frags[20, 15], frags[20, 45]
    assert a != b
    assert a > 0
    assert b > 0
    assert frags[6, 10] == a  # the edge band goes to the nearest rock
    assert frags[6, 50] == b
    assert frags[0, 0] == 0


def test_click_takes_the_fragment_under_it_or_a_near_one():
    frags = split_prediction(_two_rocks(), 1, 2)
    got = fragment_at(frags, 15.2, 20.4)
    assert got is not None
    assert np.array_equal(got, frags == frags[20, 15])
    near = fragment_at(frags, 10, 2)  # 3 px above the band, on background
    assert near is not None
    assert near[20, 15]
    assert fragment_at(frags, 10, 2, snap_px=0) is None
    assert fragment_at(np.zeros((10, 10), np.int32), 5, 5) is None
    assert fragment_at(frags, -50, 1000) is None  # clipped to the corner, on background, nothing near


def test_editor_adds_one_fragment_in_one_undo_step():
    ed = LabelEditor(shape=(40, 60))
    frags = split_prediction(_two_rocks(), 1, 2)
    r1 = fragment_at(frags, 15, 20)
    assert ed.add_fragment(r1, 1) == 1
    assert ed.add_fragment(fragment_at(frags, 45, 20), 1) == 2
    assert ed.instances[20, 15] == 1
    assert ed.instances[20, 45] == 2
    assert ed.mask[20, 45] == 1
    assert ed.add_fragment(np.zeros((40, 60), bool), 1) == 0
    ed.undo()
    assert ed.instances[20, 45] == 0
    assert ed.mask[20, 45] == UNKNOWN
    assert ed.instances[20, 15] == 1
    assert np.array_equal(ed.mask == 1, r1)
