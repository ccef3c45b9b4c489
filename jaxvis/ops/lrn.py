"""Caffe's local response normalization across channels."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax


def lrn_across_channels(x: jax.Array, *, size: int, alpha: float, beta: float, k: float) -> jax.Array:
    """x: [B, H, W, C]; ``x * (k + alpha/size * sum_window x^2) ** -beta``.

    The window of ``size`` channels is centred on each channel and zero-padded
    at the ends (Caffe ACROSS_CHANNELS; ``size`` must be odd, as Caffe requires).
    """
    if size % 2 != 1:
        raise ValueError(f"LRN size must be odd (Caffe's rule), got {size}")
    half = size // 2
    channels = x.shape[-1]
    # Window sums as a product with a 0/1 band matrix: exact sums of the same
    # terms, and a gradient that is one matmul (slices and pads are slow on CPU).
    idx = np.arange(channels)
    band = jnp.asarray((np.abs(idx[:, None] - idx[None, :]) <= half).astype(np.float32))
    window = jnp.dot(jnp.square(x), band, precision=lax.Precision.HIGHEST)
    return x * jnp.power(k + (alpha / size) * window, -beta)
