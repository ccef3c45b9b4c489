"""Caffe's local response normalization across channels."""

from __future__ import annotations

import jax
import jax.numpy as jnp


def lrn_across_channels(x: jax.Array, *, size: int, alpha: float, beta: float, k: float) -> jax.Array:
    """x: [B, H, W, C]; ``x * (k + alpha/size * sum_window x^2) ** -beta``.

    The window of ``size`` channels is centred on each channel and zero-padded
    at the ends (Caffe ACROSS_CHANNELS; ``size`` must be odd, as Caffe requires).
    """
    if size % 2 != 1:
        raise ValueError(f"LRN size must be odd (Caffe's rule), got {size}")
    half = size // 2
    channels = x.shape[-1]
    sq = jnp.pad(jnp.square(x), ((0, 0), (0, 0), (0, 0), (half, half)))
    window = sum(sq[..., i : i + channels] for i in range(size))
    return x * jnp.power(k + (alpha / size) * window, -beta)
