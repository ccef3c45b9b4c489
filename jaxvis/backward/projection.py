"""``jaxvis.project``: a unit's activation projected back to input space by
a modified backward pass of the same network (the rules: docs/projections.md).

``mode``: ``deconv`` (Zeiler & Fergus), ``guided`` (guided backprop) or
``backprop`` (the plain gradient), for any network: the ReLU rule is
substituted into the network's own traced program
(``jaxvis.ops.substitute``); max pooling routes through its switches,
convolution and fc layers use their ordinary transposed backward, LRN its
true gradient unless ``lrn="identity"``, and a nonlinearity with no rule in
deconv/guided mode is a ConfigError naming it.

The seed: with ``at=(y, x)``, 1 at that location of the channel; without,
the whole channel (conv map or fc unit) seeded with its own activation, as
the live toolbox shows it (``seed_with="ones"`` seeds every position with 1).
A token blob's (y, x) is its patch token (y, x); ``token=k`` seeds token k
(a prefix token); its whole channel is the channel over the patch tokens.

Everything is batched: element b of the batch is (x[b], channel[b], at[b]),
so many units of one image, or one unit of many images, are one call.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxvis.ops.substitute import with_relu_backward
from jaxvis.errors import ConfigError, UnitError
from jaxvis.net_cache import per_architecture
from jaxvis.ops.backward import LRN_MODES, RELU_MODES
from jaxvis.optimize.units import check_channels, check_locations

SEEDS = ("activation", "ones")


def check_projection(net, mode: str, lrn: str = "true", seed_with: str = "activation") -> None:
    """ConfigError naming the first projection setting outside its allowed values."""
    for name, value, allowed in (("mode", mode, RELU_MODES), ("lrn", lrn, LRN_MODES), ("seed_with", seed_with, SEEDS)):
        if value not in allowed:
            raise ConfigError(f"unknown projection {name} {value!r}; expected one of {', '.join(allowed)}")
    if lrn != "true" and net.definition.layers is None:
        raise ConfigError(f"lrn={lrn!r} applies to the LRN layers of a zoo network; {net.name} has none")


def pullback_fn(net, layer: str, mode: str = "deconv", lrn: str = "true"):
    """A pure function (params, x [B,H,W,C]) -> (the layer's blob, pullback):
    the forward to ``layer`` with ``mode``'s ReLU rule, and the function taking
    a seed of the blob's shape to its projection (a pytree: it can leave and
    enter ``jax.jit``, which is how the live view times forward and backward)."""
    check_projection(net, mode, lrn)
    forward = net.definition.forward(net.group_impl, lrn_backward=lrn)  # LRN as a declared rule, same numbers
    what = f"blob {layer!r} of {net.name}"
    net.layer(layer)

    def forward_with_pullback(params, x):
        def blob(x):
            return forward(params, x, until=layer)[layer]

        return jax.vjp(with_relu_backward(blob, mode, what=what), x)

    return forward_with_pullback


def seed(out, channel, yx, located, seed_with: str = "activation", tokens=None):
    """The seed of a projection from blob ``out`` ([B,h,w,C] or [B,C]): 1 at
    (channel[b], yx[b]) where ``located`` (a bool, traced or not), else
    channel[b]'s whole map weighted by ``seed_with`` (its own activation, or ones).
    A token blob [B, N, C] of layout ``tokens``: yx[b, 0] is the token's index;
    the whole channel is its patch tokens'."""
    pick = jax.nn.one_hot(channel, out.shape[-1], dtype=out.dtype)  # [B, C]
    if out.ndim == 2:
        return pick * (out if seed_with == "activation" else jnp.ones_like(out))
    if out.ndim == 3:
        at = pick[:, None, :] * jax.nn.one_hot(yx[:, 0], out.shape[1], dtype=out.dtype)[:, :, None]
        patches = (jnp.arange(out.shape[1]) >= tokens.prefix).astype(out.dtype)[None, :, None]
        whole = pick[:, None, :] * patches * (out if seed_with == "activation" else jnp.ones_like(out))
        return jnp.where(located, at, whole)
    pick = pick[:, None, None, :]
    rows = jax.nn.one_hot(yx[:, 0], out.shape[1], dtype=out.dtype)
    cols = jax.nn.one_hot(yx[:, 1], out.shape[2], dtype=out.dtype)
    at = pick * rows[:, :, None, None] * cols[:, None, :, None]
    whole = pick * (out if seed_with == "activation" else jnp.ones_like(out))
    return jnp.where(located, at, whole)


def projection_fn(net, layer: str, mode: str = "deconv", lrn: str = "true", seed_with: str = "activation",
                  located: bool = False):
    """A pure function (params, x [B,H,W,C], channel [B], yx [B, 2]) -> [B,H,W,C]
    for ``jax.jit``/``vmap``. ``located``: seed 1 at yx (a token blob: at the
    token yx[:, 0]); else the seed of ``seed_with`` over the whole channel (yx is ignored)."""
    check_projection(net, mode, lrn, seed_with)
    forward_with_pullback = pullback_fn(net, layer, mode, lrn)
    tokens = net.layer(layer).tokens

    def project_batch(params, x, channel, yx):
        out, pullback = forward_with_pullback(params, x)
        return pullback(seed(out, channel, yx, located, seed_with, tokens))[0]

    return project_batch


@per_architecture  # the jitted function closes over the architecture, not the network
def _compiled(net, layer, mode, lrn, seed_with, located):
    return jax.jit(projection_fn(net, layer, mode, lrn, seed_with, located))


def _integers(value, what: str, shape) -> np.ndarray:
    """value broadcast to ``shape`` as int64; UnitError unless it holds integers of that shape."""
    arr = np.asarray(value)
    if arr.dtype.kind not in "iu":
        raise UnitError(f"{what} must be integers, got {value!r}")
    try:
        return np.broadcast_to(arr, shape).astype(np.int64)
    except ValueError:
        raise UnitError(f"{what} must have shape {shape} (or broadcast to it), got shape {arr.shape}") from None


def _units(net, layer, channel, at, batch, token=None):
    """(channel [B], yx [B, 2]) checked against the layer; yx is zeros without
    ``at``; a token blob's located units as token indices (yx[:, 0])."""
    channel = _integers(channel, "channel", (batch,))
    check_channels(net, layer, channel)
    info = net.layer(layer)
    if token is not None:
        if info.tokens is None:
            raise UnitError(f"{net.name} layer {layer!r} is not a token blob (shape {info.shape}): token= does "
                            "not apply; use at=(y, x)")
        if at is not None:
            raise UnitError("give at=(y, x) (a patch token) or token=k, not both")
        index = _integers(token, "token", (batch,))
        if np.any((index < 0) | (index >= info.shape[0])):
            raise UnitError(f"{net.name} layer {layer!r} has tokens 0..{info.shape[0] - 1}, got "
                            f"{int(index[(index < 0) | (index >= info.shape[0])][0])}")
        return channel, np.stack([index, np.zeros_like(index)], axis=-1)
    if at is None:
        return channel, np.zeros((batch, 2), np.int64)
    shape = np.shape(at)
    if len(shape) not in (1, 2) or shape[-1] != 2:
        raise UnitError(f"at must be (y, x) or [B, 2] locations, got shape {shape}")
    given = _integers(at, "at", (batch, 2))
    one = given[0] if len(shape) == 1 else given.T  # one (y, x) is named as such in errors
    check_locations(net, layer, *one)
    if info.tokens is not None:
        index = info.tokens.index(given[:, 0], given[:, 1])
        return channel, np.stack([index, np.zeros_like(index)], axis=-1)
    return channel, given


def project(net, x, layer: str, channel, at=None, mode: str = "deconv", lrn: str = "true",
            seed_with: str = "activation", token=None) -> np.ndarray:
    """x: [B, H, W, C] network input (``net.preprocess``); channel: int or [B];
    at: None, (y, x) or [B, 2] (a token blob: its patch tokens); token: a token
    blob's token index, int or [B] (a prefix token, say the class token 0).
    Returns [B, H, W, C] in input space (the network's channel order;
    ``jaxvis.render_projection`` turns it into pictures)."""
    x = net.check_input(x)  # InputImageError, as net.blobs gives for the same input
    located = at is not None or token is not None
    fn = _compiled(net, layer, mode, lrn, seed_with, located)  # checks mode, lrn, seed_with
    channel, yx = _units(net, layer, channel, at, x.shape[0], token)
    return np.asarray(fn(net.params, x, jnp.asarray(channel, jnp.int32), jnp.asarray(yx, jnp.int32)))
