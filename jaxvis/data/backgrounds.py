"""Procedural clutter backgrounds for the shapes demo world.

A background is a pure function of ``(background_seed, size)``. It is the sum
of two smooth layers, with thin distractor strokes painted over them:

* low-frequency colour noise: a random 4 x 4 grid of colours (a random base
  colour plus a random spread) upsampled bilinearly to the image size;
* an oriented sinusoidal grating with random orientation, phase, frequency
  (2 to 10 cycles per image side), amplitude (5 to 45 levels) and a random
  signed tint per channel;
* 2 to 5 strokes in random colours, 1 to 3 px thick, anti-aliased from their
  distance field: straight segments (15 % to 60 % of the side long) or circular
  arcs (radius 10 % to 40 % of the side, sweep 40 to 180 degrees). Strokes are
  open curves, so none of them looks like a closed object class.

Everything is clipped to 0..255 and rounded to integers.

The rendering is batched for speed and gives the same bits whatever the batch:
each image's uniforms are the SplitMix64 stream of its seed (vectorised
integer hashing); the smooth layers are a rank-6 product whose factors are quantised to multiples of
1/64 so that the float32 matrix product is exact in any summation order; the
rest is element-wise arithmetic.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np

GRID = 4  # side of the low-resolution colour-noise grid
MAX_STROKES = 5
_Q = 64.0  # smooth-layer factors are multiples of 1/_Q (keeps float32 exact)
_STROKE_VALUES = 10  # uniforms per stroke slot
_NUM_UNIFORMS = 60 + MAX_STROKES * _STROKE_VALUES
_LINE_RADIUS = 20.0  # a straight stroke is an arc of radius 20 image sides
_BBOX_SAMPLES = 17  # points along a stroke used to bound it


@functools.lru_cache(maxsize=8)
def _interp_matrix(size: int) -> np.ndarray:
    """[size, GRID] float32 bilinear weights (corner-aligned), multiples of 1/_Q."""
    t = np.arange(size) * (GRID - 1) / max(size - 1, 1)
    i0 = np.minimum(np.floor(t).astype(int), GRID - 2)
    w = np.round((t - i0) * _Q) / _Q
    m = np.zeros((size, GRID), np.float32)
    m[np.arange(size), i0] = 1.0 - w
    m[np.arange(size), i0 + 1] = w
    return m


def _smooth(v: np.ndarray, size: int) -> np.ndarray:
    """Colour noise + grating from uniforms v [N, U]: float32 [N, S, S, 3]."""
    n = len(v)
    coords = np.arange(size, dtype=np.float64)
    interp = _interp_matrix(size)
    base = 255.0 * v[:, 0:3, None, None]
    spread = 15.0 + 60.0 * v[:, 3, None, None, None]
    grid = base + spread * (2.0 * v[:, 4:52].reshape(n, 3, GRID, GRID) - 1.0)
    grid = np.clip(np.round(grid), 0.0, 255.0).astype(np.float32)
    left_noise = np.matmul(interp, grid)  # [N, 3, S, GRID], exact
    amp = (5.0 + 40.0 * v[:, 52, None]) * (2.0 * v[:, 53:56] - 1.0)  # [N, 3]
    k = 2.0 * np.pi * (2.0 + 8.0 * v[:, 56]) / size
    theta, phi = 2.0 * np.pi * v[:, 57], 2.0 * np.pi * v[:, 58]
    ky = (k * np.sin(theta))[:, None] * coords
    kx = (k * np.cos(theta))[:, None] * coords + phi[:, None]
    rows = np.stack([np.cos(ky), np.sin(ky)], axis=-1)  # [N, S, 2]
    left_grating = np.round(amp[:, :, None, None] * rows[:, None] * _Q) / _Q
    cols = np.round(np.stack([np.sin(kx), np.cos(kx)], axis=1) * _Q) / _Q  # [N, 2, S]
    # Channel c of the layer is left[:, c] @ right; one block-diagonal product
    # gives all three channels already interleaved (channel-last).
    left = np.concatenate([left_noise, left_grating.astype(np.float32)], axis=-1)  # [N, 3, S, 6]
    right = np.concatenate([np.broadcast_to(interp.T, (n, GRID, size)), cols.astype(np.float32)], axis=1)
    rank = right.shape[1]
    block = np.zeros((n, 3, rank, size, 3), np.float32)
    for c in range(3):
        block[:, c, :, :, c] = right
    out = np.matmul(left.transpose(0, 2, 1, 3).reshape(n, size, 3 * rank), block.reshape(n, 3 * rank, 3 * size))
    return out.reshape(n, size, size, 3)


def _strokes(v: np.ndarray, size: int) -> tuple[np.ndarray, ...]:
    """Stroke parameters from uniforms v [N, U], in painting (slot-major) order.

    Returns params [11, M] float32 rows (cy, cx, R, half_width + 0.5, cos t0,
    sin t0, cos t1, sin t1, r, g, b), the arc being the points
    (cy + R sin t, cx + R cos t) for t0 <= t <= t1; then t0 and t1 (float64),
    image [M] and slot [M].
    """
    n, s = len(v), float(size)
    count = 2 + np.minimum(np.floor(v[:, 59] * 4), 3).astype(int)
    valid = np.arange(MAX_STROKES)[:, None] < count[None, :]  # [slot, N]
    slot_major = v[:, 60:].reshape(n, MAX_STROKES, _STROKE_VALUES).transpose(1, 0, 2)
    w = slot_major[valid].T  # [10, M]
    slot, image = np.nonzero(valid)
    line = w[0] < 0.6
    # Straight segment: midpoint (w5, w6) * S, length 15..60 % of S.
    radius_l = _LINE_RADIUS * s
    normal = 2.0 * np.pi * w[8]
    sweep_l = (0.15 + 0.45 * w[7]) * s / radius_l
    # Arc: centre in [-0.1, 1.1] * S, radius 10..40 % of S, sweep 40..180 deg.
    radius = np.where(line, radius_l, (0.1 + 0.3 * w[7]) * s)
    cy = np.where(line, w[5] * s - radius_l * np.sin(normal), (-0.1 + 1.2 * w[5]) * s)
    cx = np.where(line, w[6] * s - radius_l * np.cos(normal), (-0.1 + 1.2 * w[6]) * s)
    sweep = np.where(line, sweep_l, np.deg2rad(40.0 + 140.0 * w[9]))
    t0 = np.where(line, normal - 0.5 * sweep_l, 2.0 * np.pi * w[8])
    t1 = t0 + sweep
    half = 0.5 + w[4]  # 1 to 3 px thick
    trig = [np.cos(t0), np.sin(t0), np.cos(t1), np.sin(t1)]
    params = np.stack([cy, cx, radius, half + 0.5, *trig, *np.floor(256.0 * w[1:4])])
    return params.astype(np.float32), t0, t1, image, slot


def _stroke_boxes(params: np.ndarray, t0: np.ndarray, t1: np.ndarray, size: int) -> tuple[np.ndarray, ...]:
    """Pixel boxes (y0, height, x0, width) holding every pixel a stroke touches."""
    cy, cx, radius, half = params[:4].astype(np.float64)
    t = t0[:, None] + (t1 - t0)[:, None] * np.linspace(0.0, 1.0, _BBOX_SAMPLES)
    ys = cy[:, None] + radius[:, None] * np.sin(t)
    xs = cx[:, None] + radius[:, None] * np.cos(t)
    pad = half + 0.25  # alpha > 0 needs distance < half; 0.25 covers the sampling
    y0 = np.clip(np.floor(ys.min(1) - pad), 0, size)
    y1 = np.clip(np.ceil(ys.max(1) + pad) + 1, 0, size)
    x0 = np.clip(np.floor(xs.min(1) - pad), 0, size)
    x1 = np.clip(np.ceil(xs.max(1) + pad) + 1, 0, size)
    return tuple(a.astype(np.intp) for a in (y0, np.maximum(y1 - y0, 0), x0, np.maximum(x1 - x0, 0)))


def _ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Concatenation of arange(s, s + n) over (s, n); every n > 0."""
    ends = np.cumsum(lengths)
    step = np.ones(int(ends[-1]), np.intp)
    step[0] = starts[0]
    step[ends[:-1]] = starts[1:] - starts[:-1] - lengths[:-1] + 1
    return np.cumsum(step)


def _paint_strokes(bg: np.ndarray, params: np.ndarray, t0: np.ndarray, t1: np.ndarray, image: np.ndarray,
                   slot: np.ndarray) -> None:
    """Composite anti-aliased strokes over bg [N, S, S, 3] (float32) in place.

    Only the pixels in each stroke's box are evaluated, as (row, column)
    pairs: row terms and column terms are computed once and gathered. Strokes
    come in slot-major order, so one pass per slot keeps the painting order
    within an image and meets each pixel at most once.
    """
    size = bg.shape[1]
    y0, height, x0, width = _stroke_boxes(params, t0, t1, size)
    kept = np.nonzero((height > 0) & (width > 0))[0]
    if len(kept) == 0:
        return
    params, image, slot = params[:, kept], image[kept], slot[kept]
    y0, height, x0, width = y0[kept], height[kept], x0[kept], width[kept]
    cy, cx, radius, half, c0, s0, c1, s1 = params[:8]
    row_stroke = np.repeat(np.arange(len(kept)), height)
    row_y = _ranges(y0, height)
    dy = row_y.astype(np.float32) - cy[row_stroke]
    col_x = _ranges(x0, width)
    dx = col_x.astype(np.float32) - np.repeat(cx, width)
    # Point p of row r, column c: ordered by stroke, then row, then column.
    row_width = width[row_stroke]
    ri = np.repeat(np.arange(len(row_y)), row_width)
    ci = _ranges((np.cumsum(width) - width)[row_stroke], row_width)
    rho = np.sqrt((dy * dy)[ri] + (dx * dx)[ci])
    rho -= radius[row_stroke][ri]
    across = half[row_stroke][ri] - np.abs(rho)
    # Signed distances to the two end rays: flat, anti-aliased end caps.
    start = (c0[row_stroke] * dy)[ri] - (np.repeat(s0, width) * dx)[ci]
    end = (np.repeat(s1, width) * dx)[ci] - (c1[row_stroke] * dy)[ri]
    np.minimum(start, end, out=start)
    start += 0.5
    alpha = np.minimum(across, start)
    np.clip(alpha, 0.0, 1.0, out=alpha)
    flat = bg.reshape(-1, 3)
    colours = params[8:11].T
    ends = np.cumsum(height * width)
    bounds = np.r_[0, ends[np.r_[np.nonzero(np.diff(slot))[0], len(slot) - 1]]]
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        sel = lo + np.flatnonzero(alpha[lo:hi] > 0.0)
        r = ri[sel]
        stroke = row_stroke[r]
        idx = (image[stroke] * size + row_y[r]) * size + col_x[ci[sel]]
        old = flat[idx]
        flat[idx] = old + alpha[sel, None] * (colours[stroke] - old)


def _uniforms(seeds: Sequence[int]) -> np.ndarray:
    """[N, _NUM_UNIFORMS] floats in [0, 1): output i of SplitMix64 seeded with seed."""
    z = np.array([int(seed) % 2**64 for seed in seeds], np.uint64).reshape(-1, 1)
    z = z + np.arange(1, _NUM_UNIFORMS + 1, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z ^= z >> np.uint64(31)
    return (z >> np.uint64(11)).astype(np.float64) * 2.0**-53


def backgrounds(seeds: Sequence[int], size: int) -> np.ndarray:
    """Backgrounds for many seeds: uint8 [N, S, S, 3] RGB."""
    v = _uniforms(seeds)
    bg = _smooth(v, size)
    _paint_strokes(bg, *_strokes(v, size))
    np.clip(bg, 0.0, 255.0, out=bg)
    return np.rint(bg, out=bg).astype(np.uint8)


def render_background(background_seed: int, size: int = 64) -> np.ndarray:
    """The clutter background alone: [size, size, 3] uint8 RGB."""
    return backgrounds([background_seed], size)[0]
