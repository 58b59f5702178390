"""Procedural "rock field" pictures with exact labels: the built-in demo's footage and test data.

Everything here is numpy + OpenCV (no Qt, no torch) and deterministic: the same seed gives the same
pixels on every machine, so a generated frame can serve as ground truth in tests and the demo model
can be reproduced from a documented command.

What is drawn (see `render_world`):
  - textured ground: a soil/sand/gravel colour modulated by multi-octave value noise, fine gravel
    specks and a few dark cracks — all labelled *background* (gravel smaller than a rock is ground);
  - rocks of varied size (log-uniform radius), shape (irregular, elongated, rotated polygons),
    colour (granite, basalt, sandstone, ochre, limestone, schist) and surface texture, lit from one
    direction (lambert shading of a dome-shaped height map with bumpy facets) and casting soft
    shadows on what lies behind them — shadows are *background*, a deliberate hard case;
  - optionally quartz veins across some rocks, a second material (class 2, *quartz*);
  - per picture: exposure, white balance, haze, vignetting, sensor noise; per clip frame: a camera
    pan over a wider world with the motion blur of its speed (the label is the sharp mid-exposure
    position, as a human annotator would draw it).

Public API:
  classes(veins)                       the class list ({name, color}) as checkpoints and classes.json hold it
  render_world(w, h, seed, veins)      (rgb float32 0..1, labels uint8) of one world
  make_image(seed, size, veins)        one labelled picture (rgb uint8 HxWx3, mask uint8 HxW)
  make_clip(seed, size, frames, fps)   iterator of labelled frames of a camera pan
  write_dataset(out, n_train, n_val, …)   images/ + masks/ (train/, val/) + classes.json for `segtool train`
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

BACKGROUND, ROCK, QUARTZ = 0, 1, 2
CLASSES = [{"name": "background", "color": [0, 0, 0]}, {"name": "rock", "color": [250, 50, 83]}]
QUARTZ_CLASS = {"name": "quartz", "color": [80, 200, 255]}

# Linear-ish RGB albedos (0..1). Ground and rock palettes overlap on purpose (sandstone on sand,
# limestone on pale gravel): the model has to use shading, shadows and edges, not colour alone.
GROUND_COLOURS = np.array(
    [[0.72, 0.62, 0.47], [0.47, 0.37, 0.27], [0.55, 0.53, 0.49], [0.66, 0.52, 0.40], [0.40, 0.38, 0.33]],
    dtype=np.float32,
)
ROCK_COLOURS = np.array(
    [
        [0.60, 0.59, 0.57],  # granite
        [0.28, 0.28, 0.30],  # basalt
        [0.68, 0.37, 0.28],  # red sandstone
        [0.75, 0.60, 0.36],  # ochre
        [0.80, 0.78, 0.72],  # limestone
        [0.43, 0.47, 0.37],  # greenish schist
    ],
    dtype=np.float32,
)


def classes(veins: bool = False) -> list[dict]:
    """The class list ({"name", "color"}) in id order; `veins` adds *quartz* (id 2)."""
    return [dict(c) for c in CLASSES] + ([dict(QUARTZ_CLASS)] if veins else [])


def value_noise(rng: np.random.Generator, h: int, w: int, cell: float) -> np.ndarray:
    """Smooth noise in [-1, 1] with features about `cell` pixels wide (bicubic upsampling of a random grid)."""
    gh, gw = max(2, int(math.ceil(h / cell)) + 2), max(2, int(math.ceil(w / cell)) + 2)
    grid = rng.uniform(-1.0, 1.0, (gh, gw)).astype(np.float32)
    big = cv2.resize(grid, (int((gw - 1) * cell), int((gh - 1) * cell)), interpolation=cv2.INTER_CUBIC)
    return np.clip(big[:h, :w], -1.0, 1.0)


def fbm(rng: np.random.Generator, h: int, w: int, cell: float, octaves: int = 4) -> np.ndarray:
    """Fractal (multi-octave) value noise, roughly in [-1, 1]."""
    out, amp, total = np.zeros((h, w), np.float32), 1.0, 0.0
    for _ in range(octaves):
        out += amp * value_noise(rng, h, w, max(cell, 1.5))
        total += amp
        amp *= 0.5
        cell /= 2.0
    return out / total


@dataclass(frozen=True)
class Light:
    """Direction of the sun in the picture plane (unit vector, pointing *towards* the light) and elevation."""

    dx: float
    dy: float
    elevation: float  # 0 = grazing, 1 = overhead

    def vector(self) -> np.ndarray:
        e = self.elevation
        v = np.array([self.dx * math.sqrt(1 - e * e), self.dy * math.sqrt(1 - e * e), e], np.float32)
        return v / np.linalg.norm(v)


def _vary(rng: np.random.Generator, colour: np.ndarray) -> np.ndarray:
    """A natural variant of a colour: brightness ±20 %, hue only slightly (±4 % per channel; more turns
    grey stones purple or green)."""
    return (colour * rng.uniform(0.8, 1.2) * rng.uniform(0.96, 1.04, 3)).astype(np.float32)


def _ground(rng: np.random.Generator, h: int, w: int, scale: float) -> np.ndarray:
    """Textured soil: base colour × low-frequency tint × grain, with gravel specks and a few cracks."""
    base = _vary(rng, GROUND_COLOURS[rng.integers(len(GROUND_COLOURS))])
    tint = fbm(rng, h, w, 120 * scale, 3)
    grain = fbm(rng, h, w, 6 * scale, 3)
    img = base[None, None, :] * (1.0 + 0.18 * tint[..., None] + 0.12 * grain[..., None])
    # Second soil colour in patches (wet/dry, two sediments).
    other = GROUND_COLOURS[rng.integers(len(GROUND_COLOURS))][None, None, :]
    patch = np.clip(fbm(rng, h, w, 200 * scale, 2) * 2.5 - 0.3, 0.0, 1.0)[..., None] * rng.uniform(0.2, 0.6)
    img = img * (1 - patch) + other * (1.0 + 0.12 * grain[..., None]) * patch
    # Gravel: specks of 1-3 px (smaller than the smallest rock), lighter or darker than the soil.
    n = int(h * w * rng.uniform(0.001, 0.004))
    ys, xs = rng.integers(0, h, n), rng.integers(0, w, n)
    rad = rng.integers(1, max(2, int(2.5 * scale)) + 1, n)
    shade = rng.uniform(0.7, 1.3, n)
    for y, x, r, s in zip(ys, xs, rad, shade):
        cv2.circle(img, (int(x), int(y)), int(r), (img[y, x] * s).tolist(), -1, lineType=cv2.LINE_AA)
    # Cracks: thin dark polylines.
    for _ in range(rng.integers(0, 4)):
        pts = np.cumsum(rng.normal(0, 12 * scale, (12, 2)), axis=0) + [rng.uniform(0, w), rng.uniform(0, h)]
        cv2.polylines(img, [pts.astype(np.int32)], False, (base * 0.7).tolist(), 1, cv2.LINE_AA)
    return img


def _rock_shape(rng: np.random.Generator, radius: float) -> np.ndarray:
    """An irregular, elongated, rotated polygon around (0, 0): the rock's outline (N x 2 float)."""
    k = int(rng.integers(7, 15))
    angles = np.sort(rng.uniform(0, 2 * np.pi, k))
    radii = radius * rng.uniform(0.7, 1.15, k)
    aspect = rng.uniform(0.5, 1.0)
    pts = np.stack([np.cos(angles) * radii, np.sin(angles) * radii * aspect], axis=1)
    rot = rng.uniform(0, np.pi)
    c, s = math.cos(rot), math.sin(rot)
    return pts @ np.array([[c, s], [-s, c]], np.float32)


def _draw_rock(
    rng: np.random.Generator,
    img: np.ndarray,
    labels: np.ndarray,
    cx: float,
    cy: float,
    radius: float,
    light: Light,
    veins: bool,
) -> None:
    """Paint one rock (shadow first, then the lit body) into `img` and its id into `labels`, in place."""
    h, w = labels.shape
    pts = _rock_shape(rng, radius)
    pad = int(radius * 0.8) + 4
    x0, y0 = int(cx - radius * 1.2) - pad, int(cy - radius * 1.2) - pad
    x1, y1 = int(cx + radius * 1.2) + pad, int(cy + radius * 1.2) + pad
    bx0, by0, bx1, by1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if bx0 >= bx1 or by0 >= by1:
        return
    ph, pw = y1 - y0, x1 - x0
    local = (pts + [cx - x0, cy - y0]).astype(np.int32)
    mask = np.zeros((ph, pw), np.uint8)
    cv2.fillPoly(mask, [local], 1)
    # Rounded corners: a slightly blurred, re-thresholded outline looks like a weathered stone.
    mask = (cv2.GaussianBlur(mask.astype(np.float32), (0, 0), max(0.8, radius * 0.12)) > 0.5).astype(np.uint8)
    if mask.sum() == 0:
        return
    sl = (slice(by0, by1), slice(bx0, bx1))
    lsl = (slice(by0 - y0, by1 - y0), slice(bx0 - x0, bx1 - x0))

    # Cast shadow: the outline shifted away from the light, blurred; darkens whatever lies behind.
    length = radius * rng.uniform(0.35, 0.7) * (1.3 - light.elevation)
    m = np.float32([[1, 0, -light.dx * length], [0, 1, -light.dy * length]])
    shadow = cv2.warpAffine(mask.astype(np.float32), m, (pw, ph))
    shadow = cv2.GaussianBlur(shadow, (0, 0), max(1.0, radius * 0.15))
    img[sl] *= 1.0 - 0.6 * shadow[lsl][..., None]

    # Height: a dome from the distance to the edge, with bumpy facets; normals from its gradient.
    dist = cv2.distanceTransform(mask, cv2.DIST_L2, 5)
    height = (dist / max(float(dist.max()), 1.0)) ** 0.6 * radius * 0.6
    height += fbm(rng, ph, pw, max(3.0, radius * 0.5), 2) * radius * 0.12 * (dist > 0)
    gx = cv2.Sobel(height, cv2.CV_32F, 1, 0, ksize=3) / 8.0
    gy = cv2.Sobel(height, cv2.CV_32F, 0, 1, ksize=3) / 8.0
    normal = np.dstack([-gx, -gy, np.ones_like(gx)])
    normal /= np.linalg.norm(normal, axis=2, keepdims=True)
    lambert = np.clip(normal @ light.vector(), 0.0, 1.0)
    shading = 0.35 + 0.85 * lambert

    albedo = _vary(rng, ROCK_COLOURS[rng.integers(len(ROCK_COLOURS))])
    tex = 1.0 + 0.14 * fbm(rng, ph, pw, max(2.0, radius * 0.3), 3)
    colour = albedo[None, None, :] * tex[..., None] * shading[..., None]
    speck = rng.random((ph, pw)) < rng.uniform(0.0, 0.08)  # granite-like crystals
    colour[speck] *= rng.uniform(0.5, 1.5)
    body = mask.copy()
    if veins and rng.random() < 0.45:
        vein = np.zeros_like(mask)
        for _ in range(int(rng.integers(1, 3))):
            a = rng.uniform(0, np.pi)
            off = rng.uniform(-0.4, 0.4) * radius
            c0 = np.array([pw / 2, ph / 2]) + off * np.array([-math.sin(a), math.cos(a)])
            d = np.array([math.cos(a), math.sin(a)]) * radius * 1.3
            cv2.line(
                vein,
                tuple((c0 - d).astype(int)),
                tuple((c0 + d).astype(int)),
                1,
                max(2, int(radius * rng.uniform(0.08, 0.18))),
            )
        vein &= cv2.erode(mask, np.ones((3, 3), np.uint8))
        white = np.array([0.92, 0.90, 0.86], np.float32) * rng.uniform(0.9, 1.05)
        colour[vein > 0] = white * shading[vein > 0][:, None] * tex[vein > 0][:, None]
        body = np.where(vein > 0, 2, body).astype(np.uint8)

    # Soft (anti-aliased) edge in the picture; the label stays the hard outline.
    alpha = cv2.GaussianBlur(mask.astype(np.float32), (0, 0), 0.7)[lsl][..., None]
    img[sl] = img[sl] * (1 - alpha) + colour[lsl] * alpha
    lab = body[lsl]
    target = labels[sl]
    target[lab == 1] = ROCK
    target[lab == 2] = QUARTZ


def render_world(
    width: int,
    height: int,
    seed: int,
    *,
    veins: bool = False,
    scale: float = 1.0,
    density: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Draw one rock field.

    Args:
        width, height: size in pixels.
        seed: the same seed gives the same picture.
        veins: draw quartz veins (class 2) across some rocks.
        scale: pixel size of features relative to a 270-pixel-high frame (1.0); rock sizes scale with it.
        density: fraction of the ground covered by rocks (about; overlaps reduce it); None = random 0.25-0.6.

    Returns:
        (rgb float32 HxWx3 in 0..1 before camera effects, labels uint8 HxW with class ids).
    """
    rng = np.random.default_rng(seed)
    img = _ground(rng, height, width, scale)
    labels = np.zeros((height, width), np.uint8)
    a = rng.uniform(0, 2 * np.pi)
    light = Light(math.cos(a), math.sin(a), float(rng.uniform(0.35, 0.8)))
    density = float(rng.uniform(0.25, 0.6)) if density is None else density
    r_min, r_max = 5.0 * scale, 70.0 * scale * float(rng.uniform(0.5, 1.0))
    # Log-uniform radii: many small stones, a few boulders. Mean area of a log-uniform radius:
    mean_area = np.pi * 0.75 * (r_max**2 - r_min**2) / (2 * math.log(r_max / r_min))
    n = int(density * width * height / mean_area)
    radii = np.exp(rng.uniform(math.log(r_min), math.log(r_max), n))
    xs, ys = rng.uniform(-r_max, width + r_max, n), rng.uniform(-r_max, height + r_max, n)
    for i in np.argsort(ys):  # far (top) first: nearer rocks overlap farther ones
        _draw_rock(rng, img, labels, float(xs[i]), float(ys[i]), float(radii[i]), light, veins)
    return img, labels


def _camera(rng: np.random.Generator, img: np.ndarray, blur: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    """Camera effects on a float picture: motion blur along (dx, dy) px, exposure, white balance, haze,
    vignetting, noise, then 8-bit sRGB-ish output."""
    h, w = img.shape[:2]
    length = math.hypot(*blur)
    if length >= 1.0:
        k = int(math.ceil(length)) | 1
        kernel = np.zeros((k, k), np.float32)
        c = k // 2
        d = (blur[0] / 2, blur[1] / 2)  # a line of the travelled distance, centred
        cv2.line(
            kernel,
            (int(round(c - d[0])), int(round(c - d[1]))),
            (int(round(c + d[0])), int(round(c + d[1]))),
            1.0,
            1,
            cv2.LINE_AA,
        )
        img = cv2.filter2D(img, -1, kernel / kernel.sum(), borderType=cv2.BORDER_REFLECT)
    img = img * rng.uniform(0.8, 1.2) * rng.uniform(0.96, 1.04, 3).astype(np.float32)
    haze = rng.uniform(0.0, 0.15)
    img = img * (1 - haze) + haze * np.float32(0.75)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    r2 = ((xx - w / 2) / (w / 2)) ** 2 + ((yy - h / 2) / (h / 2)) ** 2
    img = img * (1.0 - rng.uniform(0.05, 0.25) * r2 / 2)[..., None]
    img = img + rng.normal(0, rng.uniform(0.005, 0.02), img.shape).astype(np.float32)
    return (np.clip(img, 0, 1) ** (1 / 1.15) * 255 + 0.5).astype(np.uint8)


def make_image(
    seed: int, size: tuple[int, int] = (480, 270), *, veins: bool = False, max_blur: float = 8.0
) -> tuple[np.ndarray, np.ndarray]:
    """One labelled picture: (rgb uint8 HxWx3, mask uint8 HxW of class ids), `size` = (width, height).

    Looks like a random frame of `make_clip` (including a random motion blur of up to `max_blur` px),
    so a model trained on these pictures sees what the demo clip shows.
    """
    w, h = size
    rng = np.random.default_rng([seed, 1])
    scale = h / 270 * float(rng.uniform(0.7, 1.4))  # closer and farther views
    img, labels = render_world(w, h, seed, veins=veins, scale=scale)
    angle, length = rng.uniform(0, 2 * np.pi), rng.uniform(0, max_blur) if rng.random() < 0.7 else 0.0
    return _camera(rng, img, (length * math.cos(angle), length * math.sin(angle))), labels


@dataclass(frozen=True)
class ClipFrame:
    """One frame of a generated clip with its label."""

    index: int
    rgb: np.ndarray  # HxWx3 uint8
    mask: np.ndarray  # HxW uint8 class ids


def make_clip(
    seed: int = 0,
    size: tuple[int, int] = (480, 270),
    frames: int = 250,
    fps: float = 25.0,
    *,
    veins: bool = False,
    speed: float = 90.0,
) -> Iterator[ClipFrame]:
    """A camera panning over a rock field: `frames` labelled frames of `size` (width, height).

    The camera moves right at about `speed` px/s with a slow vertical sway and speeds up and slows down,
    so the motion blur (the distance travelled during a half-frame exposure) varies along the clip.
    Deterministic in `seed`; frames are produced one at a time (memory: one world picture).
    """
    w, h = size
    rng = np.random.default_rng([seed, 2])
    t = np.arange(frames) / fps
    # Speed varies between 0.4x and 1.6x; position is its integral. Vertical sway of ±12% of the height.
    vx = speed * (1.0 + 0.6 * np.sin(2 * np.pi * t / 6.0 + rng.uniform(0, 6)))
    x = np.concatenate([[0.0], np.cumsum(vx[:-1] / fps)])
    y = 0.12 * h * np.sin(2 * np.pi * t / 7.0 + rng.uniform(0, 6))
    vy = np.gradient(y) * fps if frames > 1 else np.zeros(1)
    margin = int(0.15 * h) + 2
    world_w, world_h = int(math.ceil(x[-1])) + w + 2 * margin, h + 2 * margin
    world, labels = render_world(world_w, world_h, seed, veins=veins, scale=h / 270)
    for i in range(frames):
        ox, oy = x[i] + margin, y[i] + margin
        m = np.float32([[1, 0, -ox], [0, 1, -oy]])
        crop = cv2.warpAffine(world, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        lab = cv2.warpAffine(labels, m, (w, h), flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_REFLECT)
        exposure = 0.5 / fps  # half-frame shutter
        frame_rng = np.random.default_rng([seed, 4, i])
        rgb = _camera(frame_rng, crop, (vx[i] * exposure * 2, vy[i] * exposure * 2))
        yield ClipFrame(i, rgb, lab)


def write_dataset(
    out: str | Path,
    n_train: int,
    n_val: int,
    *,
    size: tuple[int, int] = (480, 270),
    seed: int = 0,
    veins: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Write a training set `segtool train` reads: OUT/{train,val}/{images/*.jpg,masks/*.png} + classes.json.

    Images are JPEG (quality 92, like camera footage); masks are 8-bit PNGs of class ids. Train
    picture i uses seed (seed, i) and val picture i uses (seed, 1_000_000 + i), so the two never share
    a picture and a bigger set extends a smaller one.
    """
    out = Path(out)
    total = n_train + n_val
    done = 0
    for split, n, offset in (("train", n_train, 0), ("val", n_val, 1_000_000)):
        (out / split / "images").mkdir(parents=True, exist_ok=True)
        (out / split / "masks").mkdir(parents=True, exist_ok=True)
        for i in range(n):
            rgb, mask = make_image(_seed(seed, offset + i), size, veins=veins)
            cv2.imwrite(
                str(out / split / "images" / f"{i:05d}.jpg"), rgb[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 92]
            )
            cv2.imwrite(str(out / split / "masks" / f"{i:05d}.png"), mask)
            done += 1
            if progress is not None:
                progress(done, total)
    (out / "classes.json").write_text(json.dumps(classes(veins)) + "\n")
    return out


def _seed(seed: int, index: int) -> int:
    """A distinct 63-bit seed per (seed, index) (SeedSequence mixing: neighbouring seeds are unrelated)."""
    return int(np.random.SeedSequence([seed, index]).generate_state(1, np.uint64)[0] >> np.uint64(1))
