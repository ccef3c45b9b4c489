"""Max pooling with Caffe's or PyTorch's output-size rule, and adaptive average pooling."""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxvis.errors import ModelDefinitionError


def pool_output_size(size: int, kernel: int, stride: int, pad: int, ceil: bool) -> int:
    """Output length of a pooling window sweep over ``size`` input positions.

    Caffe (``ceil=True``): ``ceil((size + 2 pad - kernel) / stride) + 1``, minus
    one when the last window would start inside the padding. PyTorch's default
    (``ceil=False``) uses floor. Both drop a window that starts in the padding.
    """
    span = size + 2 * pad - kernel
    if span < 0:
        raise ModelDefinitionError(f"pooling window {kernel} (pad {pad}) is larger than its input {size}")
    out = (math.ceil(span / stride) if ceil else span // stride) + 1
    if pad > 0 and (out - 1) * stride >= size + pad:
        out -= 1
    return out


def padded_windows(x: jax.Array, kernel: int, stride: int, pad: int, ceil: bool):
    """-> (xp, (oh, ow)): x padded with -inf (padded positions never win) so
    that output (i, j) reads xp[:, i*stride + di, j*stride + dj] for di, dj in
    0..kernel-1, and the output size. Trailing rows/columns that no window
    covers are dropped."""
    outs, pads = [], []
    for size in x.shape[1:3]:
        out = pool_output_size(size, kernel, stride, pad, ceil)
        outs.append(out)
        pads.append((pad, (out - 1) * stride + kernel - size - pad))
    x = x[:, : x.shape[1] + min(0, pads[0][1]), : x.shape[2] + min(0, pads[1][1]), :]
    xp = jnp.pad(x, ((0, 0), *((lo, max(0, hi)) for lo, hi in pads), (0, 0)), constant_values=-jnp.inf)
    return xp, tuple(outs)


def max_pool(x: jax.Array, *, kernel: int, stride: int, pad: int = 0, ceil: bool = True) -> jax.Array:
    """x: [B, H, W, C] -> [B, H', W', C]; padded positions never win (-inf).

    Computed separably: the maximum over ``kernel`` column-strided views,
    then over ``kernel`` row-strided views of that. The same numbers as
    ``lax.reduce_window``, but its gradient is elementwise selects on
    strided slices, several times faster on CPU than select-and-scatter (and
    about twice as fast as taking all kernel*kernel views at once).

    Columns first: each ``jnp.maximum`` has the earlier view as its first
    operand, so a rule that sends a tie to the first operand (the ReLU
    backward interpreter, ``jaxvis.backward.with_relu_backward``) picks the
    first column holding the maximum within each row, then the first such
    row: the first maximum in row-major order, the position that
    ``jaxvis.ops.backward.max_pool_switches`` records.
    """
    xp, outs = padded_windows(x, kernel, stride, pad, ceil)
    for axis, out in ((2, outs[1]), (1, outs[0])):
        views = [lax.slice_in_dim(xp, d, d + stride * (out - 1) + 1, stride, axis) for d in range(kernel)]
        xp = functools.reduce(jnp.maximum, views)
    return xp


def _adaptive_matrix(size: int, out: int) -> np.ndarray:
    """[out, size] averaging matrix with PyTorch's AdaptiveAvgPool bin edges."""
    m = np.zeros((out, size), np.float32)
    for i in range(out):
        start = (i * size) // out
        end = -((-(i + 1) * size) // out)
        m[i, start:end] = 1.0 / (end - start)
    return m


def adaptive_avg_pool(x: jax.Array, output: int) -> jax.Array:
    """x: [B, H, W, C] -> [B, output, output, C] (identity when H = W = output)."""
    h, w = x.shape[1:3]
    if (h, w) == (output, output):
        return x
    mh = jnp.asarray(_adaptive_matrix(h, output))
    mw = jnp.asarray(_adaptive_matrix(w, output))
    return jnp.einsum("oh,pw,bhwc->bopc", mh, mw, x, precision=lax.Precision.HIGHEST)
