"""The reference toolbox's four renderings of a backward projection, as
uint8 pictures: ``raw`` (signed, 0 -> grey, scaled by max |v|, RGB),
``gray`` (channel mean), ``norm`` (L2 norm over channels) and ``normblur``
(the norm blurred with a Gaussian of sigma 4); the last three min-max scaled."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from jaxvis.errors import ConfigError, InputImageError
from jaxvis.optimize.regularizers import blur_radius, gaussian_blur

RENDERINGS = ("raw", "gray", "norm", "normblur")
CHANNEL_ORDERS = ("BGR", "RGB")
NORMBLUR_SIGMA = 4.0


@functools.partial(jax.jit, static_argnames="radius")
def _blur(norms, sigma, radius):
    """The normblur blur of a batch of norms [B, H, W], compiled once per size."""
    return jax.vmap(lambda n: gaussian_blur(n[..., None], sigma, radius)[..., 0])(norms)


def _minmax(v: np.ndarray) -> np.ndarray:
    """Per image [B, H, W] -> uint8 0..255 (a constant image becomes 0)."""
    lo = v.min(axis=(1, 2), keepdims=True)
    span = v.max(axis=(1, 2), keepdims=True) - lo
    return np.round(255.0 * (v - lo) / np.where(span > 0, span, 1.0)).astype(np.uint8)


def render_projection(projection, how: str = "raw", channel_order: str = "BGR") -> np.ndarray:
    """projection: [B, H, W, C] from ``jaxvis.project`` (or one [H, W, C]);
    how: one of ``RENDERINGS``; channel_order: the network's (``net.spec.channel_order``).
    Returns uint8 [B, H, W, 3] for ``raw`` and [B, H, W] for the others."""
    if how not in RENDERINGS:
        raise ConfigError(f"unknown rendering {how!r}; expected one of {', '.join(RENDERINGS)}")
    if channel_order not in CHANNEL_ORDERS:
        raise ConfigError(f"unknown channel_order {channel_order!r}; expected one of {', '.join(CHANNEL_ORDERS)}")
    try:
        v = np.asarray(projection, np.float32)
    except (TypeError, ValueError) as e:
        raise InputImageError(f"render_projection expects a numeric projection [B, H, W, C] or [H, W, C] "
                              f"({e})") from None
    if v.ndim not in (3, 4) or 0 in v.shape[-3:]:
        raise InputImageError(f"render_projection expects a projection [B, H, W, C] or [H, W, C] "
                              f"(from jaxvis.project), got shape {v.shape}")
    if how == "raw" and v.shape[-1] != 3:
        raise InputImageError(f"the raw rendering is RGB: it expects a projection with 3 channels, got shape "
                              f"{v.shape} (gray, norm and normblur take any channel count)")
    single = v.ndim == 3
    v = v[None] if single else v
    if how == "raw":
        scale = np.abs(v).max(axis=(1, 2, 3), keepdims=True)
        out = np.round(127.5 + 127.5 * v / np.where(scale > 0, scale, 1.0)).astype(np.uint8)
        out = out[..., ::-1] if channel_order == "BGR" else out
    elif how == "gray":
        out = _minmax(v.mean(axis=-1))
    else:  # norm, normblur
        norm = np.sqrt(np.sum(v * v, axis=-1))
        if how == "normblur":
            norm = np.asarray(_blur(jnp.asarray(norm), NORMBLUR_SIGMA, blur_radius(NORMBLUR_SIGMA)))
        out = _minmax(norm)
    return out[0] if single else out
