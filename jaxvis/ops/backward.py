"""Layers whose backward pass is switchable, for backward projections
(Zeiler & Fergus's deconvnet, guided backprop, plain backprop; SPEC.md §2).

The forward numbers are exactly those of ``relu``, ``max_pool`` and
``lrn_across_channels``; only the vector-Jacobian products differ:

- ReLU, ``mode``: ``backprop`` passes upstream * [x > 0]; ``deconv`` passes
  relu(upstream), whatever x was; ``guided`` passes relu(upstream) * [x > 0].
- Max pooling with switches: the forward records which position of each
  window held the maximum (the first one in row-major order on ties, as
  Caffe and PyTorch do) and the backward puts each upstream value there;
  where windows overlap, the values add up.
- LRN: its true gradient, or ``identity`` (the upstream passes through).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax import lax

from jaxvis.ops.lrn import lrn_across_channels
from jaxvis.ops.pool import pool_output_size

RELU_MODES = ("backprop", "deconv", "guided")
LRN_MODES = ("true", "identity")


@functools.partial(jax.custom_vjp, nondiff_argnums=(1,))
def relu(x: jax.Array, mode: str) -> jax.Array:
    """max(x, 0) with the backward of ``mode`` (one of RELU_MODES)."""
    return jnp.maximum(x, 0.0)


def _relu_fwd(x, mode):
    return jnp.maximum(x, 0.0), x > 0


def _relu_bwd(mode, positive, g):
    if mode == "backprop":
        return (jnp.where(positive, g, 0.0),)
    if mode == "deconv":
        return (jnp.maximum(g, 0.0),)
    if mode == "guided":
        return (jnp.where(positive, jnp.maximum(g, 0.0), 0.0),)
    raise ValueError(f"unknown ReLU backward mode {mode!r}; expected one of {', '.join(RELU_MODES)}")


relu.defvjp(_relu_fwd, _relu_bwd)


def _pool_geometry(shape, kernel: int, stride: int, pad: int, ceil: bool):
    """Output sizes and the (low, high) padding per spatial axis; a negative
    high pad means trailing input rows that no window covers."""
    outs, pads = [], []
    for size in shape[1:3]:
        out = pool_output_size(size, kernel, stride, pad, ceil)
        outs.append(out)
        pads.append((pad, (out - 1) * stride + kernel - size - pad))
    return outs, pads


@functools.partial(jax.custom_vjp, nondiff_argnums=(1, 2, 3, 4))
def max_pool_switches(x: jax.Array, kernel: int, stride: int, pad: int = 0, ceil: bool = True) -> jax.Array:
    """x: [B, H, W, C] -> [B, H', W', C], the numbers of ``ops.max_pool``;
    the backward routes each value to its window's switch (see module doc)."""
    return _switch_forward(x, kernel, stride, pad, ceil)[0]


def _switch_forward(x, kernel, stride, pad, ceil):
    (oh, ow), pads = _pool_geometry(x.shape, kernel, stride, pad, ceil)
    x = x[:, : x.shape[1] + min(0, pads[0][1]), : x.shape[2] + min(0, pads[1][1]), :]
    xp = jnp.pad(x, ((0, 0), *((lo, max(0, hi)) for lo, hi in pads), (0, 0)), constant_values=-jnp.inf)
    best, switch = None, None
    for d in range(kernel * kernel):
        di, dj = divmod(d, kernel)
        view = xp[:, di: di + stride * (oh - 1) + 1: stride, dj: dj + stride * (ow - 1) + 1: stride, :]
        if best is None:
            best, switch = view, jnp.zeros(view.shape, jnp.int32)
        else:  # strictly greater: the first maximum in row-major order keeps the switch
            better = view > best
            best, switch = jnp.where(better, view, best), jnp.where(better, d, switch)
    return best, switch


def _switch_fwd(x, kernel, stride, pad, ceil):
    y, switch = _switch_forward(x, kernel, stride, pad, ceil)
    return y, (switch, x.shape)


def _switch_bwd(kernel, stride, pad, ceil, residual, g):
    switch, shape = residual
    (oh, ow), pads = _pool_geometry(shape, kernel, stride, pad, ceil)
    padded = (shape[1] + pads[0][0] + max(0, pads[0][1]), shape[2] + pads[1][0] + max(0, pads[1][1]))
    zero = jnp.zeros((), g.dtype)
    total = None
    for d in range(kernel * kernel):
        di, dj = divmod(d, kernel)
        # Scatter window offset (di, dj) back onto the padded input grid.
        config = ((0, 0, 0),
                  (di, padded[0] - di - stride * (oh - 1) - 1, stride - 1),
                  (dj, padded[1] - dj - stride * (ow - 1) - 1, stride - 1),
                  (0, 0, 0))
        part = lax.pad(jnp.where(switch == d, g, zero), zero, config)
        total = part if total is None else total + part
    lo_h, lo_w = pads[0][0], pads[1][0]
    grad = total[:, lo_h: lo_h + shape[1] + min(0, pads[0][1]), lo_w: lo_w + shape[2] + min(0, pads[1][1]), :]
    # Input rows/columns that no window covers get zero gradient.
    grad = jnp.pad(grad, ((0, 0), (0, shape[1] - grad.shape[1]), (0, shape[2] - grad.shape[2]), (0, 0)))
    return (grad,)


max_pool_switches.defvjp(_switch_fwd, _switch_bwd)


@functools.partial(jax.custom_vjp, nondiff_argnums=(1, 2, 3, 4))
def lrn_identity_backward(x: jax.Array, size: int, alpha: float, beta: float, k: float) -> jax.Array:
    """Caffe LRN forward whose backward passes the upstream through unchanged."""
    return lrn_across_channels(x, size=size, alpha=alpha, beta=beta, k=k)


lrn_identity_backward.defvjp(
    lambda x, size, alpha, beta, k: (lrn_across_channels(x, size=size, alpha=alpha, beta=beta, k=k), None),
    lambda size, alpha, beta, k, _, g: (g,),
)
