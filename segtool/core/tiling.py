"""Sliding-window geometry for images too large to run whole.

Tiles overlap; each output pixel is taken from the one tile whose *core* contains it (the tile's interior,
half the overlap away from edges shared with other tiles), so every pixel is predicted with context on all
sides and written exactly once. Memory stays at one tile's logits plus the uint8 mask, whatever the
image size (a 24 MP field photo needs ~24 MB for its mask).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Tile:
    y0: int
    x0: int
    y1: int
    x1: int  # the window fed to the network
    cy0: int
    cx0: int
    cy1: int
    cx1: int  # the core written to the output (absolute coordinates)


def _starts(length: int, tile: int, stride: int) -> list[int]:
    if length <= tile:
        return [0]
    starts = list(range(0, length - tile, stride)) + [length - tile]
    return sorted(set(starts))


def _cores(starts: list[int], tile: int, length: int) -> list[tuple[int, int]]:
    """Split [0, length) among windows at the midpoints of their overlaps."""
    bounds = [0]
    for a, b in zip(starts, starts[1:]):
        end_a = min(a + tile, length)
        bounds.append((b + end_a) // 2)
    bounds.append(length)
    return list(zip(bounds[:-1], bounds[1:]))


def plan_tiles(height: int, width: int, tile: int, overlap: float = 1 / 3) -> list[Tile]:
    """Windows of at most `tile` x `tile` covering the image, neighbours overlapping by `overlap` of a tile."""
    if tile < 32:
        raise ValueError("tile must be at least 32 pixels")
    stride = max(16, int(tile * (1 - overlap)))
    ys, xs = _starts(height, tile, stride), _starts(width, tile, stride)
    ycores, xcores = _cores(ys, tile, height), _cores(xs, tile, width)
    return [
        Tile(y, x, min(y + tile, height), min(x + tile, width), cy0, cx0, cy1, cx1)
        for y, (cy0, cy1) in zip(ys, ycores)
        for x, (cx0, cx1) in zip(xs, xcores)
    ]
