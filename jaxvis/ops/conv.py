"""Convolution and fully connected layers.

Grouped convolutions run as one ordinary convolution per group plus a concat
("split") by default: on CPU, XLA's ``feature_group_count`` measured about 4x
slower (``benchmarks/grouped_conv.py``). Both forms compute the same sums;
``group_impl="xla"`` selects the fused form, e.g. to compare on an accelerator.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

from jaxvis.errors import ConfigError

# Exactness first: on GPU/TPU the default f32 precision may use TF32/bf16
# passes, which would break blob-for-blob agreement with Caffe and PyTorch.
PRECISION = lax.Precision.HIGHEST
GROUP_IMPLS = ("split", "xla")  # grouped convolutions: one conv per group, or XLA's fused form


def check_group_impl(group_impl: str) -> None:
    if group_impl not in GROUP_IMPLS:
        raise ConfigError(f"group_impl must be one of {', '.join(GROUP_IMPLS)}, got {group_impl!r}")


def conv2d(
    x: jax.Array,
    kernel: jax.Array,
    bias: jax.Array,
    *,
    stride: int,
    pad: int,
    groups: int = 1,
    group_impl: str = "split",
) -> jax.Array:
    """x: [B, H, W, Cin]; kernel: [kh, kw, Cin/groups, Cout]; returns [B, H', W', Cout]."""

    def conv(inp, ker, group_count=1):
        return lax.conv_general_dilated(
            inp,
            ker,
            window_strides=(stride, stride),
            padding=((pad, pad), (pad, pad)),
            dimension_numbers=("NHWC", "HWIO", "NHWC"),
            feature_group_count=group_count,
            precision=PRECISION,
        )

    check_group_impl(group_impl)
    if groups == 1:
        y = conv(x, kernel)
    elif group_impl == "xla":
        y = conv(x, kernel, groups)
    else:  # "split"
        xs = jnp.split(x, groups, axis=-1)
        ks = jnp.split(kernel, groups, axis=-1)
        y = jnp.concatenate([conv(xi, ki) for xi, ki in zip(xs, ks)], axis=-1)
    return y + bias


def dense(x: jax.Array, kernel: jax.Array, bias: jax.Array) -> jax.Array:
    """x: [B, ...] flattened row-major to [B, in]; kernel: [in, out]; returns [B, out]."""
    x = x.reshape(x.shape[0], -1)
    return jnp.dot(x, kernel, precision=PRECISION) + bias


def depthwise_conv(x: jax.Array, kernel: jax.Array, stride: int = 1, pad: int = 0) -> jax.Array:
    """A depthwise convolution (one group per channel, ``feature_group_count`` = C)
    as a sum of kh * kw shifted, strided views times the kernel's taps. x: [B, H, W, C],
    kernel: [kh, kw, 1, C] (flax's grouped HWIO) -> [B, H', W', C].

    The same numbers as ``lax.conv_general_dilated`` with C groups up to summation
    order (tested), and 7-12x faster forward and backward on XLA's CPU backend,
    whose grouped convolutions are slow (3x3 kernels, 14-112 px, 96-576 channels,
    measured 2026-12-07). Elementwise products with the weights and slices: the
    projections' decided operations."""
    kh, kw = kernel.shape[:2]
    if pad:
        x = jnp.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    h, w = x.shape[1] - kh + 1, x.shape[2] - kw + 1
    oh, ow = (h - 1) // stride + 1, (w - 1) // stride + 1
    out = None
    for i in range(kh):
        for j in range(kw):
            view = x[:, i:i + stride * (oh - 1) + 1:stride, j:j + stride * (ow - 1) + 1:stride, :] * kernel[i, j, 0]
            out = view if out is None else out + view
    return out
