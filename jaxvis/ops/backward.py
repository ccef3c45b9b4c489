"""Layers whose backward pass is switchable, for backward projections
(Zeiler & Fergus's deconvnet, guided backprop, plain backprop; docs/projections.md).

The forward numbers are exactly those of ``relu``, ``max_pool`` and
``lrn_across_channels``; only the vector-Jacobian products differ:

- ReLU, ``mode``: ``backprop`` passes upstream * [x > 0]; ``deconv`` passes
  relu(upstream), whatever x was; ``guided`` passes relu(upstream) * [x > 0].
  For the ascent only (not a projection), ``redirected`` is Lucid's
  redirected ReLU: per element of the batch (axis 0), the backprop gradient
  when any of it passes, else the upstream except where x < 0 and the
  upstream would push x lower still (upstream < 0: upstreams here are
  gradients of an objective to maximise), so a unit that never fires still
  gets a gradient.
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

from jaxvis.errors import ConfigError
from jaxvis.ops.lrn import lrn_across_channels
from jaxvis.ops.pool import padded_windows

RELU_MODES = ("backprop", "deconv", "guided")
ASCENT_RELU_MODES = ("redirected",)
LRN_MODES = ("true", "identity")


@functools.partial(jax.custom_vjp, nondiff_argnums=(1,))
def relu(x: jax.Array, mode: str) -> jax.Array:
    """max(x, 0) with the backward of ``mode`` (one of RELU_MODES)."""
    return jnp.maximum(x, 0.0)


def _relu_fwd(x, mode):
    # Only the redirected rule needs x itself; the others keep the (smaller) mask.
    return jnp.maximum(x, 0.0), x if mode == "redirected" else x > 0


def _relu_bwd(mode, residual, g):
    positive = residual > 0 if mode == "redirected" else residual
    if mode == "redirected":
        x = residual
        passed = jnp.where(positive, g, 0.0)
        rows = passed.reshape(passed.shape[0], -1) if passed.ndim else passed.reshape(1, -1)
        any_passed = jnp.any(rows != 0, axis=1).reshape((-1,) + (1,) * max(passed.ndim - 1, 0))
        redirected = jnp.where((x < 0) & (g < 0), 0.0, g)
        return (jnp.where(any_passed, passed, redirected).reshape(g.shape),)
    if mode == "backprop":
        return (jnp.where(positive, g, 0.0),)
    if mode == "deconv":
        return (jnp.maximum(g, 0.0),)
    if mode == "guided":
        return (jnp.where(positive, jnp.maximum(g, 0.0), 0.0),)
    raise ConfigError(f"unknown ReLU backward mode {mode!r}; expected one of "
                      f"{', '.join(RELU_MODES + ASCENT_RELU_MODES)}")


relu.defvjp(_relu_fwd, _relu_bwd)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def cap(x: jax.Array, c, mode: str) -> jax.Array:
    """min(x, c) for a positive constant c (ReLU6's cap: relu6 = cap(relu(x), 6)) with
    the backward of ``mode``: the upstream passes where x < c (strictly, as torch's
    hardtanh and jax.nn.relu6 have it) in backprop, guided and redirected modes, and
    everywhere in deconv mode, whose rule does not look at the forward signal."""
    return jnp.minimum(x, c)


def _cap_fwd(x, c, mode):
    return jnp.minimum(x, c), (x < c, c)


def _cap_bwd(mode, residual, g):
    below, c = residual
    if mode not in RELU_MODES + ASCENT_RELU_MODES:
        raise ConfigError(f"unknown ReLU backward mode {mode!r}; expected one of "
                          f"{', '.join(RELU_MODES + ASCENT_RELU_MODES)}")
    return (g if mode == "deconv" else jnp.where(below, g, 0.0)), jnp.zeros_like(c)


cap.defvjp(_cap_fwd, _cap_bwd)


@functools.partial(jax.custom_vjp, nondiff_argnums=(1, 2, 3, 4))
def max_pool_switches(x: jax.Array, kernel: int, stride: int, pad: int = 0, ceil: bool = True) -> jax.Array:
    """x: [B, H, W, C] -> [B, H', W', C], the numbers of ``ops.max_pool``;
    the backward routes each value to its window's switch (see module doc)."""
    return _switch_forward(x, kernel, stride, pad, ceil)[0]


def _switch_forward(x, kernel, stride, pad, ceil):
    xp, (oh, ow) = padded_windows(x, kernel, stride, pad, ceil)
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
    return y, (switch, x)


def _switch_bwd(kernel, stride, pad, ceil, residual, g):
    """The VJP of the switch selection, as the transpose of ``padded_windows``
    + strided views: each value goes to its switch's position."""
    switch, x = residual

    def select(x):
        xp, (oh, ow) = padded_windows(x, kernel, stride, pad, ceil)
        views = [xp[:, di: di + stride * (oh - 1) + 1: stride, dj: dj + stride * (ow - 1) + 1: stride, :]
                 for di, dj in (divmod(d, kernel) for d in range(kernel * kernel))]
        return sum(jnp.where(switch == d, v, 0.0) for d, v in enumerate(views))

    return jax.vjp(select, x)[1](g)


max_pool_switches.defvjp(_switch_fwd, _switch_bwd)


@functools.partial(jax.custom_vjp, nondiff_argnums=(1, 2, 3, 4))
def lrn_identity_backward(x: jax.Array, size: int, alpha: float, beta: float, k: float) -> jax.Array:
    """Caffe LRN forward whose backward passes the upstream through unchanged."""
    return lrn_across_channels(x, size=size, alpha=alpha, beta=beta, k=k)


lrn_identity_backward.defvjp(
    lambda x, size, alpha, beta, k: (lrn_across_channels(x, size=size, alpha=alpha, beta=beta, k=k), None),
    lambda size, alpha, beta, k, _, g: (g,),
)


@functools.partial(jax.custom_vjp, nondiff_argnums=(1, 2, 3, 4))
def lrn_true_backward(x: jax.Array, size: int, alpha: float, beta: float, k: float) -> jax.Array:
    """Caffe LRN with its own (true) gradient, declared as a custom rule so that
    a projection's interpreter (``jaxvis.ops.substitute``) takes it as a
    decided rule rather than an unknown nonlinearity."""
    return lrn_across_channels(x, size=size, alpha=alpha, beta=beta, k=k)


def _lrn_true_fwd(x, size, alpha, beta, k):
    out, pullback = jax.vjp(functools.partial(lrn_across_channels, size=size, alpha=alpha, beta=beta, k=k), x)
    return out, pullback


lrn_true_backward.defvjp(_lrn_true_fwd, lambda size, alpha, beta, k, pullback, g: pullback(g))
