"""Field-footage augmentation (`segtool train --field-augment`, training/transforms.field_steps)."""

from __future__ import annotations

import argparse

import torch
from torchvision import tv_tensors

from segtool.commands import train as train_cmd
from segtool.training.transforms import IGNORE_INDEX, RandomWhiteBalance, train_transform


def _pair(h: int = 160, w: int = 160, label: int = 1):
    g = torch.Generator().manual_seed(3)
    img = tv_tensors.Image(torch.randint(40, 220, (3, h, w), dtype=torch.uint8, generator=g))
    mask = tv_tensors.Mask(torch.full((h, w), label, dtype=torch.uint8))
    return img, mask


def test_field_augment_keeps_labels_unblended_and_rotated_corners_unknown():
    t = train_transform(128, eval_size=None, scale=(1.0, 1.0), hflip=False, field_augment=True)
    img, mask = _pair()
    seen_unknown = 0
    for seed in range(12):
        torch.manual_seed(seed)
        _, y = t(img, mask)
        values = set(torch.unique(y).tolist())
        assert values <= {1, IGNORE_INDEX}  # never blended, never made background
        seen_unknown += int(IGNORE_INDEX in values)
    assert seen_unknown >= 6  # rotations up to 20 degrees leave corners that the loss ignores


def test_field_augment_changes_the_image_and_plain_training_does_not():
    img, mask = _pair()
    plain = train_transform(160, eval_size=None, scale=(1.0, 1.0), hflip=False)
    field = train_transform(160, eval_size=None, scale=(1.0, 1.0), hflip=False, field_augment=True)
    torch.manual_seed(0)
    a, _ = plain(img, mask)
    torch.manual_seed(0)
    b, _ = plain(img, mask)
    assert torch.equal(a, b)
    diffs = []
    for seed in range(4):
        torch.manual_seed(seed)
        c, _ = field(img, mask)
        diffs.append(float((c - a).abs().mean()))
    assert min(diffs) > 0.01


def test_white_balance_gives_each_channel_its_own_gain_within_the_spread():
    grey = tv_tensors.Image(torch.full((3, 8, 8), 100, dtype=torch.uint8))
    wb = RandomWhiteBalance(0.15)
    torch.manual_seed(1)
    out = wb(grey)
    means = out.float().mean(dim=(1, 2))
    assert len(set(means.tolist())) == 3  # a colour cast, not a brightness change
    assert bool(((means >= 85) & (means <= 115)).all())
    mask = tv_tensors.Mask(torch.ones(8, 8, dtype=torch.uint8))
    _, m = wb(grey, mask)
    assert torch.equal(m, mask)


def test_cli_flag_reaches_the_training_config():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers()
    train_cmd.add_parser(sub)
    on = train_cmd._config(ap.parse_args(["train", "data", "--field-augment"]))
    off = train_cmd._config(ap.parse_args(["train", "data"]))
    assert on.field_augment is True
    assert off.field_augment is False
