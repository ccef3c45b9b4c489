"""The reference toolbox's four renderings of a backward projection, as
uint8 pictures: ``raw`` (signed, 0 -> grey, scaled by max |v|, RGB),
``gray`` (channel mean), ``norm`` (L2 norm over channels) and ``normblur``
(the norm blurred with a Gaussian of sigma 4); the last three min-max scaled."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from jaxvis.optimize.regularizers import blur_radius, gaussian_blur

RENDERINGS = ("raw", "gray", "norm", "normblur")
NORMBLUR_SIGMA = 4.0


def _minmax(v: np.ndarray) -> np.ndarray:
    """Per image [B, H, W] -> uint8 0..255 (a constant image becomes 0)."""
    lo = v.min(axis=(1, 2), keepdims=True)
    span = v.max(axis=(1, 2), keepdims=True) - lo
    return np.round(255.0 * (v - lo) / np.where(span > 0, span, 1.0)).astype(np.uint8)


def render(projection, how: str = "raw", channel_order: str = "BGR") -> np.ndarray:
    """projection: [B, H, W, C] from ``jaxvis.project`` (or one [H, W, C]).
    Returns uint8 [B, H, W, 3] for ``raw`` and [B, H, W] for the others."""
    v = np.asarray(projection, np.float32)
    single = v.ndim == 3
    v = v[None] if single else v
    if how == "raw":
        scale = np.abs(v).max(axis=(1, 2, 3), keepdims=True)
        out = np.round(127.5 + 127.5 * v / np.where(scale > 0, scale, 1.0)).astype(np.uint8)
        out = out[..., ::-1] if channel_order == "BGR" else out
    elif how == "gray":
        out = _minmax(v.mean(axis=-1))
    elif how in ("norm", "normblur"):
        norm = np.sqrt(np.sum(v * v, axis=-1))
        if how == "normblur":
            radius = blur_radius(NORMBLUR_SIGMA)
            norm = np.stack([np.asarray(gaussian_blur(jnp.asarray(n[..., None]), NORMBLUR_SIGMA, radius))[..., 0]
                             for n in norm])
        out = _minmax(norm)
    else:
        raise ValueError(f"unknown rendering {how!r}; expected one of {', '.join(RENDERINGS)}")
    return out[0] if single else out
