"""The regularizers r_theta of Yosinski et al. 2015, section 3, as small pure
functions on ONE image x: [H, W, C] (network input space) with scalar theta
values, so that ``jax.vmap`` gives every element of a batch its own theta;
``blur_batch_if_due`` is that mapping for the blur, as the ascent step calls it.

Order within one ascent step (docs/ascent.md, the reference toolbox's):
decay -> blur -> small-norm clip -> small-contribution clip -> valid range.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

TRUNCATE = 4.0  # scipy.ndimage.gaussian_filter's default kernel extent, in sigmas


def blur_radius(width: float) -> int:
    """Half-size of scipy's Gaussian kernel for sigma ``width`` (int(4 sigma + 0.5))."""
    return int(TRUNCATE * float(width) + 0.5)


def decay(x: jax.Array, theta_decay) -> jax.Array:
    """L2 decay: x <- (1 - theta_decay) x."""
    return (1.0 - theta_decay) * x


def _gaussian_weights(sigma, radius: int) -> jax.Array:
    """[2*radius + 1] weights of scipy's kernel for ``sigma`` (zero outside its
    own radius int(4 sigma + 0.5), which may be smaller than ``radius``)."""
    k = jnp.arange(-radius, radius + 1, dtype=jnp.float32)
    own = jnp.floor(TRUNCATE * sigma + 0.5)
    safe = jnp.maximum(sigma, 1e-6)
    w = jnp.where(jnp.abs(k) <= own, jnp.exp(-0.5 * (k / safe) ** 2), 0.0)
    return w / jnp.sum(w)


def _blur_axis(x: jax.Array, w: jax.Array, radius: int, axis: int) -> jax.Array:
    pad = [(0, 0)] * x.ndim
    pad[axis] = (radius, radius)
    xp = jnp.pad(x, pad, mode="symmetric")  # scipy's mode="reflect": (d c b a | a b c d)
    n = x.shape[axis]
    out = jnp.zeros_like(x)
    for i in range(2 * radius + 1):
        out = out + w[i] * lax.slice_in_dim(xp, i, i + n, axis=axis)
    return out


def gaussian_blur(x: jax.Array, sigma, radius: int) -> jax.Array:
    """Per-channel Gaussian blur of x [H, W, C], equal to
    ``scipy.ndimage.gaussian_filter(x[..., c], sigma)`` for each channel.
    ``radius`` (static) must be >= blur_radius(sigma); sigma may be traced."""
    if radius == 0:
        return x
    w = _gaussian_weights(sigma, radius)
    return _blur_axis(_blur_axis(x, w, radius, 0), w, radius, 1)


def blur_due(step, width, every):
    """Whether a blur is due at ``step``: every > 0, width > 0 and step % every == 0."""
    return (every > 0) & (width > 0) & (step % jnp.maximum(every, 1) == 0)


def blur_if_due(x: jax.Array, step, width, every, radius: int) -> jax.Array:
    """Blur when ``blur_due``; ``step`` is the shared (unbatched) step counter,
    ``every`` and ``width`` this element's."""
    return jnp.where(blur_due(step, width, every), gaussian_blur(x, width, radius), x)


def blur_batch_if_due(x: jax.Array, step, width: jax.Array, every: jax.Array, radius: int) -> jax.Array:
    """The ascent's blur of a batch x [N, H, W, C]: ``blur_if_due`` mapped over the
    elements, each with its own ``width`` [N] and ``every`` [N]; ``step`` is the
    step counter shared by the whole batch (a scalar, never mapped over). When no
    element is due the blur is skipped (a real branch: outside vmap it costs nothing)."""
    if jnp.ndim(step) != 0:
        raise ValueError(f"step is the batch's shared step counter, a scalar; got shape {jnp.shape(step)}")
    blur = jax.vmap(blur_if_due, (0, None, 0, 0, None))
    return lax.cond(jnp.any(blur_due(step, width, every)), lambda x: blur(x, step, width, every, radius),
                    lambda x: x, x)


def _percentile_clip(x: jax.Array, score: jax.Array, pct) -> jax.Array:
    """Zeroes pixels whose score [H, W] is below the ``pct`` percentile of all
    scores (numpy's linear interpolation); pct = 0 never clips."""
    threshold = jnp.percentile(score.reshape(-1), pct)
    keep = (score >= threshold) | (pct <= 0)
    return jnp.where(keep[..., None], x, 0.0)


def clip_small_norm(x: jax.Array, pct) -> jax.Array:
    """Zero every pixel whose L2 norm over channels is below the pct percentile."""
    return _percentile_clip(x, jnp.sqrt(jnp.sum(x * x, axis=-1)), pct)


def clip_small_contribution(x: jax.Array, g: jax.Array, pct) -> jax.Array:
    """Zero every pixel whose contribution |sum_c x * g| is below the pct percentile."""
    return _percentile_clip(x, jnp.abs(jnp.sum(x * g, axis=-1)), pct)


def clip_to_valid(x: jax.Array, lower: jax.Array, upper: jax.Array) -> jax.Array:
    """Keep x inside the network-space image of pixel values 0..255."""
    return jnp.clip(x, lower, upper)
