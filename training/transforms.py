"""Training augmentation (torchvision `transforms.v2` on `tv_tensors.Image` + `tv_tensors.Mask`), the
datasets the loaders read (validation images stay at full size: `models.preprocess` resizes them on the
device, the same code `segtool predict` runs).

Augmentation randomness is seeded per (run seed, epoch, sample index), not drawn from a shared stream:
a sample gets the same crop whatever the number of loader workers or processes, and a resumed run
sees exactly the crops the uninterrupted run would have seen.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset
from torchvision import tv_tensors
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as TF
from torchvision.transforms.v2._utils import query_size

from segtool.models.checkpoint import IMAGENET_MEAN, IMAGENET_STD

IGNORE_INDEX = 255
ORDER_STREAM = 1 << 40  # seed-sequence slot of the epoch order, apart from any sample index


class RandomShortSideScale(v2.Transform):
    """Resize so the shorter side is `base × s`, s uniform in [min_scale, max_scale].

    `base` None scales relative to the image's own shorter side. Masks are resized with nearest
    neighbour by torchvision's mask kernel, so labels are never blended.
    """

    def __init__(self, min_scale: float, max_scale: float, base: int | None) -> None:
        super().__init__()
        self.min_scale, self.max_scale, self.base = float(min_scale), float(max_scale), base

    def make_params(self, flat_inputs: list[Any]) -> dict[str, Any]:
        h, w = query_size(flat_inputs)
        s = self.min_scale + float(torch.rand(())) * (self.max_scale - self.min_scale)
        short = max(8, round((self.base or min(h, w)) * s))
        r = short / min(h, w)
        return {"size": [max(1, round(h * r)), max(1, round(w * r))]}

    def transform(self, inpt: Any, params: dict[str, Any]) -> Any:
        return self._call_kernel(TF.resize, inpt, size=params["size"], antialias=True)


class RandomWhiteBalance(v2.Transform):
    """Multiply each colour channel of the image by its own gain in [1 - spread, 1 + spread]: the colour
    cast of another camera, light or time of day. Masks pass through unchanged."""

    _transformed_types = (tv_tensors.Image,)

    def __init__(self, spread: float) -> None:
        super().__init__()
        self.spread = float(spread)

    def make_params(self, flat_inputs: list[Any]) -> dict[str, Any]:
        return {"gains": 1.0 + self.spread * (2.0 * torch.rand(3) - 1.0)}

    def transform(self, inpt: Any, params: dict[str, Any]) -> Any:
        gains = params["gains"].view(3, 1, 1)
        out = (inpt.to(torch.float32) * gains).clamp_(0, 255).round_().to(inpt.dtype)
        return tv_tensors.wrap(out, like=inpt)


def field_steps() -> list[Any]:
    """Augmentation that matches field footage (`--field-augment`), applied to the uint8 crop.

    What a photo or video frame from another camera, day or site differs by: a tilted camera
    (rotation up to ±20°, the corners become unknown for the loss, never background), exposure
    (brightness ×0.6–1.5, contrast ×0.7–1.3), white balance (each channel ×0.85–1.15), focus and
    motion (Gaussian blur σ 0.1–2 px on 30 % of crops) and compression (JPEG quality 30–90 on half of
    them: phone and action-camera footage is heavily compressed)."""
    return [
        v2.RandomRotation(20, fill={tv_tensors.Image: 0, tv_tensors.Mask: IGNORE_INDEX}),
        v2.ColorJitter(brightness=(0.6, 1.5), contrast=(0.7, 1.3), saturation=(0.8, 1.2)),
        RandomWhiteBalance(0.15),
        v2.RandomApply([v2.GaussianBlur(kernel_size=7, sigma=(0.1, 2.0))], p=0.3),
        v2.RandomApply([v2.JPEG(quality=(30, 90))], p=0.5),
    ]


def train_transform(
    crop_size: int,
    *,
    eval_size: int | None,
    scale: tuple[float, float] = (0.5, 2.0),
    hflip: bool = True,
    color_jitter: bool = False,
    field_augment: bool = False,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
) -> v2.Compose:
    """Random scale → crop (padding: image 0, labels IGNORE_INDEX) → flip → [colour jitter] →
    [field augmentation, `field_steps`] → normalise.

    Input: (tv_tensors.Image uint8 3xHxW, tv_tensors.Mask uint8 HxW); output: (float 3xCxC, int64 CxC).
    Padding labels with the ignore index, never 0, keeps padded borders out of the loss instead of
    teaching the network that black borders are background.
    """
    steps: list[Any] = [
        RandomShortSideScale(scale[0], scale[1], eval_size or None),
        v2.RandomCrop(
            crop_size, pad_if_needed=True, fill={tv_tensors.Image: 0, tv_tensors.Mask: IGNORE_INDEX}
        ),
    ]
    if hflip:
        steps.append(v2.RandomHorizontalFlip())
    if color_jitter:
        steps.append(v2.ColorJitter(brightness=0.3, contrast=0.3, saturation=0.3, hue=0.05))
    if field_augment:
        steps += field_steps()
    steps += [
        v2.ToDtype({tv_tensors.Image: torch.float32, tv_tensors.Mask: torch.int64}, scale=True),
        v2.Normalize(mean=list(mean), std=list(std)),
    ]
    return v2.Compose(steps)


def sample_seed(seed: int, epoch: int, index: int) -> int:
    """A well-mixed 63-bit seed for one sample of one epoch."""
    return int(np.random.SeedSequence([seed, epoch, index]).generate_state(2, np.uint64)[0] >> np.uint64(1))


class TrainSamples(Dataset):
    """Augmented training pairs. Index items are (epoch, sample index) so each is seeded on its own.

    Args:
        data: a `LabelledData`.
        samples: the training samples.
        transform: from `train_transform`.
        seed: the run seed.
    """

    def __init__(self, data: Any, samples: list, transform: v2.Compose, seed: int) -> None:
        self.data, self.samples, self.transform, self.seed = data, samples, transform, seed

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, key: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        epoch, index = key
        s = self.samples[index]
        image = tv_tensors.Image(torch.from_numpy(self.data.load_image(s)).permute(2, 0, 1))
        mask = tv_tensors.Mask(torch.from_numpy(self.data.load_mask(s)))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(sample_seed(self.seed, epoch, index))
            x, y = self.transform(image, mask)
        return x.as_subclass(torch.Tensor), y.as_subclass(torch.Tensor)


class EvalSamples(Dataset):
    """Validation pairs at full resolution: (uint8 3xHxW image, uint8 HxW labels). Resizing happens in
    `models.preprocess` on the device, exactly as `segtool predict` does, so validation scores what users get."""

    def __init__(self, data: Any, samples: list) -> None:
        self.data, self.samples = data, samples

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        s = self.samples[index]
        image = torch.from_numpy(self.data.load_image(s)).permute(2, 0, 1).contiguous()
        return image, torch.from_numpy(self.data.load_mask(s))


def collate_list(batch: list) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Keep images of different sizes apart (evaluation groups equal sizes itself)."""
    return [b[0] for b in batch], [b[1] for b in batch]


def epoch_order(n: int, repeat: int, seed: int, epoch: int) -> list[int]:
    """The sample order of one epoch: `repeat` shuffled passes, seeded by (seed, epoch) only, so that a
    resumed run (or any process of a distributed one) computes the same order without saved state."""
    g = torch.Generator().manual_seed(sample_seed(seed, epoch, ORDER_STREAM))
    return torch.cat([torch.randperm(n, generator=g) for _ in range(repeat)]).tolist()


def steps_per_epoch(n: int, repeat: int, batch_size: int, world_size: int = 1) -> int:
    """Full batches per process per epoch (the last partial batch is dropped, as in torchvision's
    references: a batch of one would make BatchNorm statistics meaningless)."""
    return (n * repeat) // (batch_size * world_size) if n * repeat >= batch_size * world_size else 0
