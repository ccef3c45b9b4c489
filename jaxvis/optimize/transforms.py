"""Transformation robustness (Olah et al. 2017, Lucid's ``standard_transforms``):
random pad, jitter, scale and rotation of ONE image x: [H, W, C] (network input
space), as small pure functions differentiable w.r.t. x; ``jax.vmap`` over
images and keys gives every element of a batch its own draw.

Order (``apply_params``): pad -> jitter -> scale_rotate -> final jitter, i.e.
Lucid's pad(12) -> jitter(8) -> random_scale -> random_rotate -> jitter(4), with
scale and rotation done as ONE bilinear resampling that keeps the image size.
Output size: [H + 2 pad_width - jitter_px - final_jitter_px, same for W, C]
(``output_shape``), static, so a whole batch keeps one shape.

Conventions:
- pixel centres are at integer (row, col); the image centre is ((H-1)/2, (W-1)/2);
- positive angle = counter-clockwise on screen (rows grow downwards), the
  direction of ``np.rot90``; scale > 1 zooms in (content grows about the centre);
- ``fill`` is one network-space value (the caller passes the network-space value
  of mid-grey, Lucid's 0.5, or 0 = the mean image) used for the padding and for
  source points outside the image in ``scale_rotate``; there the bilinear weights
  of outside neighbours take ``fill``, so the border blends into it
  (``scipy.ndimage`` mode ``"grid-constant"``, TF/kornia bilinear padding);
- jitter offsets are uniform integers in 0..jitter_px (Lucid's random crop of
  size H - jitter_px); the scale is drawn uniformly from ``scales``; the angle
  uniformly from [-max_angle_deg, max_angle_deg] (Lucid draws integer degrees
  with extra weight on 0).

Gradient of the resampling. Autodiff's transpose of a bilinear gather is a
scatter-add, which XLA's CPU backend runs element by element (at 32 CaffeNet
images it cost ~0.2 s per step, 15x the gather itself), and which under jit
was measured wrong where a source point falls within ~1e-5 of a pixel edge
(presumably the forward's and the backward's fusions round it differently;
tests/optimize/test_transforms.py keeps such a case). Given a static
``reach`` (``reach_bound``: an upper bound on scale (|cos a| + |sin a|) over
the scales and angles that will be passed), ``scale_rotate``'s gradient
w.r.t. x is instead the exact adjoint written as gathers: source pixel s
receives sum_q w(q, s) g(q) over the output pixels q whose sample point p(q)
lies within one pixel of s in both axes, with w(q, s) = (1 - |p_r(q) - s_r|)
(1 - |p_c(q) - s_c|), the forward's own bilinear weight. Those q lie within
``reach`` of s's inverse image in each axis, so a static ceil(2 reach) x
ceil(2 reach) window of candidates holds them all. That path gives no
gradient w.r.t. scale, angle or fill (they are drawn, not optimized).
"""

from __future__ import annotations

import functools
import math
import operator
from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from jaxvis.errors import ConfigError, InputImageError

LUCID_PAD = 12
LUCID_JITTER = 8
LUCID_SCALES = tuple(1 + (i - 5) / 50.0 for i in range(11))  # 0.9 .. 1.1
LUCID_MAX_ANGLE = 10.0
LUCID_FINAL_JITTER = 4


class TransformParams(NamedTuple):
    """One element's drawn transform (scalars; arrays [N] under vmap)."""

    dy: jax.Array  # int32 in 0..jitter_px: first crop's top row
    dx: jax.Array  # int32 in 0..jitter_px: first crop's left column
    scale: jax.Array  # float32, one of ``scales``
    angle_deg: jax.Array  # float32 in [-max_angle_deg, max_angle_deg], counter-clockwise
    dy2: jax.Array  # int32 in 0..final_jitter_px: final crop's top row
    dx2: jax.Array  # int32 in 0..final_jitter_px: final crop's left column


def _nonneg_int(name: str, value) -> int:
    try:
        v = operator.index(value)
    except TypeError:
        raise ConfigError(f"{name} must be an integer >= 0; got {value!r}") from None
    if v < 0:
        raise ConfigError(f"{name} must be an integer >= 0; got {v}")
    return v


def _finite_float(name: str, value) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        v = math.nan
    if not math.isfinite(v):
        raise ConfigError(f"{name} must be finite; got {value!r}")
    return v


def _image_hw(x) -> tuple[int, int]:
    if jnp.ndim(x) != 3:
        raise InputImageError(f"x must be one image [H, W, C]; got shape {jnp.shape(x)}")
    return x.shape[0], x.shape[1]


def pad(x: jax.Array, width: int, value) -> jax.Array:
    """x [H, W, C] padded by ``width`` (static) px of the constant ``value`` on
    each side -> [H + 2 width, W + 2 width, C]. ``value`` is a network-space
    value (may be traced): mid-grey's, as Lucid's 0.5, or 0."""
    width = _nonneg_int("pad width", width)
    _image_hw(x)
    cfg = [(width, width, 0), (width, width, 0), (0, 0, 0)]
    return lax.pad(x, jnp.asarray(value, x.dtype), cfg)


def jitter(x: jax.Array, dy, dx, out_h: int, out_w: int) -> jax.Array:
    """The crop x[dy:dy+out_h, dx:dx+out_w] of x [H, W, C] -> [out_h, out_w, C]:
    a translation by cropping (Lucid's ``jitter``). Sizes static, offsets may be
    traced ints in 0..H-out_h, 0..W-out_w (outside, lax.dynamic_slice clamps)."""
    h, w = _image_hw(x)
    for name, size, full in (("jitter out_h", out_h, h), ("jitter out_w", out_w, w)):
        if _nonneg_int(name, size) < 1 or size > full:
            raise ConfigError(f"{name} must be in 1..{full} (the image's size); got {size}")
    zero = jnp.zeros((), jnp.int32)
    start = (jnp.asarray(dy, jnp.int32), jnp.asarray(dx, jnp.int32), zero)
    return lax.dynamic_slice(x, start, (out_h, out_w, x.shape[2]))


def reach_bound(scales: Sequence[float], max_angle_deg: float) -> float:
    """The static ``reach`` of ``scale_rotate`` for any scale in ``scales`` and
    angle in [-max_angle_deg, max_angle_deg]: max scale x max (|cos a| + |sin a|)."""
    a = math.radians(min(abs(float(max_angle_deg)), 45.0))
    return max(float(s) for s in scales) * (math.cos(a) + math.sin(a))


def _sample_points(h: int, w: int, scale, angle_deg, rows, cols):
    """Source points (p_r, p_c) of the output pixels (rows, cols) (broadcast
    together): p = R(-angle) (q - centre) / scale + centre."""
    theta = jnp.deg2rad(jnp.asarray(angle_deg, jnp.float32))
    cos, sin = jnp.cos(theta) / scale, jnp.sin(theta) / scale
    cy, cx = (h - 1) / 2.0, (w - 1) / 2.0
    r, c = rows - cy, cols - cx
    return cos * r + sin * c + cy, -sin * r + cos * c + cx


def scale_rotate(x: jax.Array, scale, angle_deg, fill=0.0, *, reach: float | None = None) -> jax.Array:
    """x [H, W, C] scaled by ``scale`` and rotated by ``angle_deg`` (counter-
    clockwise on screen) about its centre ((H-1)/2, (W-1)/2) -> [H, W, C], by
    bilinear resampling: output pixel q takes the source point
    p = R(-angle) (q - centre) / scale + centre; neighbours of p outside the
    image count as ``fill``. scale, angle_deg and fill may be traced.
    ``reach`` (static, optional): a bound from ``reach_bound`` that holds for
    scale and angle_deg; with it the gradient w.r.t. x is computed by gathers
    (module doc) and none flows to scale, angle_deg or fill."""
    _image_hw(x)
    if reach is None:
        return _scale_rotate(x, scale, angle_deg, fill)
    return _scale_rotate_gathered(x, scale, angle_deg, fill, _finite_float("reach", reach))


def _scale_rotate(x, scale, angle_deg, fill):
    h, w = x.shape[0], x.shape[1]
    rows = jnp.arange(h, dtype=jnp.float32)[:, None]
    cols = jnp.arange(w, dtype=jnp.float32)[None, :]
    return _bilinear(x, *_sample_points(h, w, scale, angle_deg, rows, cols), fill)


@functools.partial(jax.custom_vjp, nondiff_argnums=(4,))
def _scale_rotate_gathered(x, scale, angle_deg, fill, reach):
    return _scale_rotate(x, scale, angle_deg, fill)


def _gathered_fwd(x, scale, angle_deg, fill, reach):
    return _scale_rotate(x, scale, angle_deg, fill), (scale, angle_deg, fill)


def _gathered_bwd(reach, residuals, g):
    """The adjoint of the resampling w.r.t. x, as ceil(2 reach)^2 gathers of g."""
    scale, angle_deg, fill = residuals
    h, w = g.shape[0], g.shape[1]
    s_r = jnp.arange(h, dtype=jnp.float32)[:, None]
    s_c = jnp.arange(w, dtype=jnp.float32)[None, :]
    # The inverse image of each source pixel s, q* = scale R(angle) (s - centre) + centre, is the
    # forward map with the inverse scale and angle.
    q_r, q_c = _sample_points(h, w, 1.0 / scale, -jnp.asarray(angle_deg, jnp.float32), s_r, s_c)
    # Every q with a non-zero weight has |q - q*| < reach per axis: the integers of that open interval.
    first_r = jnp.floor(q_r - reach).astype(jnp.int32) + 1
    first_c = jnp.floor(q_c - reach).astype(jnp.int32) + 1
    k = math.ceil(2 * reach)
    gx = jnp.zeros(g.shape, g.dtype)
    for i in range(k):
        for j in range(k):
            r, c = first_r + i, first_c + j
            p_r, p_c = _sample_points(h, w, scale, angle_deg, r.astype(jnp.float32), c.astype(jnp.float32))
            weight = jnp.maximum(0.0, 1.0 - jnp.abs(p_r - s_r)) * jnp.maximum(0.0, 1.0 - jnp.abs(p_c - s_c))
            weight = jnp.where((r >= 0) & (r < h) & (c >= 0) & (c < w), weight, 0.0)
            gx = gx + weight[..., None] * g[jnp.clip(r, 0, h - 1), jnp.clip(c, 0, w - 1)]
    zero = jax.tree.map(jnp.zeros_like, (scale, angle_deg, fill))
    return (gx, *zero)


_scale_rotate_gathered.defvjp(_gathered_fwd, _gathered_bwd)


def _bilinear(x: jax.Array, src_r: jax.Array, src_c: jax.Array, fill) -> jax.Array:
    """x [H, W, C] sampled at the points (src_r, src_c) [h, w] -> [h, w, C]:
    bilinear over the four neighbours, those outside the image counting as
    ``fill`` (scipy.ndimage's order=1, mode="grid-constant")."""
    h, w = x.shape[0], x.shape[1]
    r0, c0 = jnp.floor(src_r), jnp.floor(src_c)
    fr, fc = (src_r - r0)[..., None], (src_c - c0)[..., None]
    r0, c0 = r0.astype(jnp.int32), c0.astype(jnp.int32)
    fill = jnp.asarray(fill, x.dtype)
    out = jnp.zeros(src_r.shape + x.shape[2:], x.dtype)
    for dr, wr in ((0, 1.0 - fr), (1, fr)):
        for dc, wc in ((0, 1.0 - fc), (1, fc)):
            ri, ci = r0 + dr, c0 + dc
            inside = ((ri >= 0) & (ri < h) & (ci >= 0) & (ci < w))[..., None]
            value = x[jnp.clip(ri, 0, h - 1), jnp.clip(ci, 0, w - 1)]
            out = out + wr * wc * jnp.where(inside, value, fill)
    return out


def _check_config(h: int, w: int, pad_width, jitter_px, final_jitter_px) -> tuple[int, int, int]:
    p = _nonneg_int("pad_width", pad_width)
    j = _nonneg_int("jitter_px", jitter_px)
    f = _nonneg_int("final_jitter_px", final_jitter_px)
    side = min(h, w) + 2 * p
    if j >= side:
        raise ConfigError(f"jitter_px must be below the padded image's size {side}; got {j}")
    if f >= side - j:
        raise ConfigError(f"final_jitter_px must be below the jittered image's size {side - j}; got {f}")
    return p, j, f


def output_shape(shape: Sequence[int], *, pad_width: int = LUCID_PAD, jitter_px: int = LUCID_JITTER,
                 final_jitter_px: int = LUCID_FINAL_JITTER) -> tuple[int, int, int]:
    """The static shape [H + 2 pad - jitter - final_jitter, W + ..., C] that
    ``apply_params`` and ``random_transform`` return for an image of ``shape``."""
    h, w, ch = shape
    p, j, f = _check_config(h, w, pad_width, jitter_px, final_jitter_px)
    return h + 2 * p - j - f, w + 2 * p - j - f, ch


def _uniform_int(u: jax.Array, top: int) -> jax.Array:
    """An int32 uniform in 0..top from u uniform in [0, 1)."""
    return jnp.minimum(jnp.floor(u * (top + 1)), top).astype(jnp.int32)


def draw_params(key, *, jitter_px: int = LUCID_JITTER, scales: Sequence[float] = LUCID_SCALES,
                max_angle_deg: float = LUCID_MAX_ANGLE,
                final_jitter_px: int = LUCID_FINAL_JITTER) -> TransformParams:
    """One element's TransformParams from ``key``: dy, dx uniform in
    0..jitter_px, scale uniform over ``scales``, angle uniform in
    [-max_angle_deg, max_angle_deg], dy2, dx2 uniform in 0..final_jitter_px."""
    j = _nonneg_int("jitter_px", jitter_px)
    f = _nonneg_int("final_jitter_px", final_jitter_px)
    scales = tuple(_finite_float("scales", s) for s in scales)
    if not scales:
        raise ConfigError("scales must list at least one scale; got none")
    if min(scales) <= 0:
        raise ConfigError(f"scales must all be > 0; got {scales}")
    if _finite_float("max_angle_deg", max_angle_deg) < 0:
        raise ConfigError(f"max_angle_deg must be >= 0; got {max_angle_deg!r}")
    u = jax.random.uniform(key, (6,), jnp.float32)  # one draw: a single small program
    dy, dx = _uniform_int(u[0], j), _uniform_int(u[1], j)
    scale = jnp.asarray(scales, jnp.float32)[_uniform_int(u[2], len(scales) - 1)]
    angle = (2.0 * u[3] - 1.0) * max_angle_deg
    dy2, dx2 = _uniform_int(u[4], f), _uniform_int(u[5], f)
    return TransformParams(dy, dx, scale, angle, dy2, dx2)


def apply_params(x: jax.Array, params: TransformParams, *, pad_width: int = LUCID_PAD,
                 jitter_px: int = LUCID_JITTER, final_jitter_px: int = LUCID_FINAL_JITTER,
                 fill=0.0, reach: float | None = None) -> jax.Array:
    """x [H, W, C] -> pad(pad_width, fill) -> jitter(dy, dx) to size
    H + 2 pad - jitter_px -> scale_rotate(scale, angle_deg, fill, reach) ->
    jitter(dy2, dx2) to ``output_shape``."""
    h, w = _image_hw(x)
    p, j, f = _check_config(h, w, pad_width, jitter_px, final_jitter_px)
    y = pad(x, p, fill)
    y = jitter(y, params.dy, params.dx, h + 2 * p - j, w + 2 * p - j)
    y = scale_rotate(y, params.scale, params.angle_deg, fill, reach=reach)
    return jitter(y, params.dy2, params.dx2, h + 2 * p - j - f, w + 2 * p - j - f)


def random_transform(key, x: jax.Array, *, pad_width: int = LUCID_PAD, jitter_px: int = LUCID_JITTER,
                     scales: Sequence[float] = LUCID_SCALES, max_angle_deg: float = LUCID_MAX_ANGLE,
                     final_jitter_px: int = LUCID_FINAL_JITTER, fill=0.0) -> jax.Array:
    """apply_params(x, draw_params(key)): one random Lucid-style transform of
    x [H, W, C] -> ``output_shape``; vmap over (keys, images) for a batch.
    Its gradient w.r.t. x is the gathered adjoint (module doc), with the
    reach of ``scales`` and ``max_angle_deg``."""
    _check_config(*_image_hw(x), pad_width, jitter_px, final_jitter_px)
    params = draw_params(key, jitter_px=jitter_px, scales=scales, max_angle_deg=max_angle_deg,
                         final_jitter_px=final_jitter_px)
    return apply_params(x, params, pad_width=pad_width, jitter_px=jitter_px,
                        final_jitter_px=final_jitter_px, fill=fill, reach=reach_bound(scales, max_angle_deg))
