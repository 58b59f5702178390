"""The optional SAM click-to-mask path (issue 21) on a tiny generated encoder/decoder pair with the inputs and
outputs of a segment-anything ONNX export (names, ranks, the padding point, low-res logits): clicks are mapped
into the encoder's picture and the mask back to the frame, for a frame that is not square. No download."""

from __future__ import annotations

import numpy as np
import pytest

from segtool.base.errors import UserInputError
from segtool.core.sam_onnx import SamOnnx
from tests.sam_tiny import SIDE, export_tiny_sam


@pytest.fixture(scope="module")
def sam_pair(tmp_path_factory):
    return export_tiny_sam(tmp_path_factory.mktemp("sam"))


def test_click_gives_the_object_under_it_on_a_wide_frame(sam_pair):
    h, w = 96, 160  # wide: the encoder sees 38x64 padded to 64x64
    rgb = np.full((h, w, 3), 40, np.uint8)
    rgb[20:70, 100:150] = 220  # a bright block on the right
    sam = SamOnnx(*sam_pair)
    assert sam.side == SIDE
    emb = sam.encode(rgb)
    assert emb.original_size == (h, w)
    assert emb.resized_size == (38, 64)
    got = sam.mask_at(emb, [(125, 45, 1)])
    block = np.zeros((h, w), bool)
    block[20:70, 100:150] = True
    assert got.shape == (h, w)
    assert (got & block).sum() / (got | block).sum() > 0.8
    dark = sam.mask_at(emb, [(30, 45, 1), (125, 45, 0)])  # a click on the dark part; "not this" on the block
    assert dark[10, 10]
    assert not dark[45, 125]


def test_bad_files_are_named(sam_pair, tmp_path):
    enc, dec = sam_pair
    with pytest.raises(UserInputError, match="no such file"):
        SamOnnx(tmp_path / "none.onnx", dec)
    (tmp_path / "junk.onnx").write_bytes(b"not a model")
    with pytest.raises(UserInputError, match="junk.onnx"):
        SamOnnx(enc, tmp_path / "junk.onnx")
    with pytest.raises(UserInputError, match="lacks the inputs"):
        SamOnnx(dec, enc)  # swapped
