"""``jaxvis.project``: a unit's activation projected back to input space by
a modified backward pass of the same network (SPEC.md §2).

``mode``: ``deconv`` (Zeiler & Fergus), ``guided`` (guided backprop) or
``backprop`` (the plain gradient); max pooling always routes through its
switches, convolution and fc layers use their ordinary transposed backward,
LRN its true gradient unless ``lrn="identity"``.

The seed: with ``at=(y, x)``, 1 at that location of the channel; without,
the whole channel (conv map or fc unit) seeded with its own activation, as
the live toolbox shows it (``seed_with="ones"`` seeds every position with 1).

Everything is batched: element b of the batch is (x[b], channel[b], at[b]),
so many units of one image, or one unit of many images, are one call.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from jaxvis.errors import JaxvisError
from jaxvis.models.sequential import SequentialNet
from jaxvis.ops.backward import LRN_MODES, RELU_MODES
from jaxvis.optimize.units import check_channels, check_locations

SEEDS = ("activation", "ones")


def projection_fn(net, layer: str, mode: str = "deconv", lrn: str = "true", seed_with: str = "activation",
                  located: bool = False):
    """A pure function (params, x [B,H,W,C], channel [B], yx [B, 2]) -> [B,H,W,C]
    for ``jax.jit``/``vmap``. ``located``: seed 1 at yx; else the seed of
    ``seed_with`` over the whole channel (yx is ignored)."""
    module = SequentialNet(net.definition.layers, group_impl=net.group_impl, relu_backward=mode, lrn_backward=lrn)
    spatial = net.layer(layer).spatial

    def project_batch(params, x, channel, yx):
        def forward(x):
            return module.apply({"params": params}, x, until=layer)[layer]

        out, pullback = jax.vjp(forward, x)
        pick = jax.nn.one_hot(channel, out.shape[-1], dtype=out.dtype)  # [B, C]
        if spatial:
            pick = pick[:, None, None, :]
        if located:
            rows = jax.nn.one_hot(yx[:, 0], out.shape[1], dtype=out.dtype)
            cols = jax.nn.one_hot(yx[:, 1], out.shape[2], dtype=out.dtype)
            seed = pick * rows[:, :, None, None] * cols[:, None, :, None]
        else:
            seed = pick * (out if seed_with == "activation" else 1.0)
        return pullback(seed)[0]

    return project_batch


@functools.lru_cache(maxsize=64)
def _compiled(net, layer, mode, lrn, seed_with, located):
    return jax.jit(projection_fn(net, layer, mode, lrn, seed_with, located))


def _check(net, layer, channel, at, mode, lrn, seed_with, batch):
    for name, value, allowed in (("mode", mode, RELU_MODES), ("lrn", lrn, LRN_MODES), ("seed_with", seed_with, SEEDS)):
        if value not in allowed:
            raise JaxvisError(f"unknown {name} {value!r}; expected one of {', '.join(allowed)}")
    channel = np.broadcast_to(np.asarray(channel), (batch,)).astype(np.int64)
    check_channels(net, layer, channel)
    if at is None:
        return channel, np.zeros((batch, 2), np.int64)
    given = np.asarray(at, np.int64).reshape(-1, 2)
    check_locations(net, layer, *(given[0] if len(given) == 1 else given.T))
    return channel, np.broadcast_to(given, (batch, 2))


def project(net, x, layer: str, channel, at=None, mode: str = "deconv", lrn: str = "true",
            seed_with: str = "activation") -> np.ndarray:
    """x: [B, H, W, C] network input (``net.preprocess``); channel: int or [B];
    at: None, (y, x) or [B, 2]. Returns [B, H, W, C] in input space (the
    network's channel order; ``jaxvis.backward.render`` turns it into pictures)."""
    x = jnp.asarray(x, jnp.float32)
    expected = net.definition.input_shape
    if x.ndim != 4 or tuple(x.shape[1:]) != expected:
        raise JaxvisError(f"{net.name} expects input [B, {', '.join(map(str, expected))}] "
                          f"(use net.preprocess on uint8 RGB images), got shape {tuple(x.shape)}")
    channel, yx = _check(net, layer, channel, at, mode, lrn, seed_with, x.shape[0])
    fn = _compiled(net, layer, mode, lrn, seed_with, at is not None)
    return np.asarray(fn(net.params, x, jnp.asarray(channel, jnp.int32), jnp.asarray(yx, jnp.int32)))
