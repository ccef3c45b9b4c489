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
    s = k + (alpha / size) * window
    if beta == 0.75:  # every Caffe model: s^-0.75 from square roots, exact to float rounding
        root = jnp.sqrt(s)
        return x / (root * jnp.sqrt(root))
    # XLA's fused pow (exp/log approximations) is ~1e-4 off inside large jitted
    # graphs, enough to spoil gradients that cancel (measured on CaffeNet).
    return x * jnp.power(s, -beta)
