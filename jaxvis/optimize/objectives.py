"""Objectives that compose (docs/feature_vis.md).

An objective is a weighted sum of terms on ONE layer's blob:

- ``neuron(layer, channel, y, x)`` (or ``at=(y, x)``): one activation (the
  paper's; conv units default to the map's centre, as everywhere in jaxvis);
  on a token blob, the patch token (y, x) of the patch grid;
- ``token(layer, channel, index)``: channel ``channel`` of token ``index`` of
  a token blob (a prefix token: the class token is 0 in most ViTs);
- ``channel(layer, channel)``: the mean of a channel's map (fc: the unit;
  tokens: the mean over the patch tokens, prefix tokens left out);
- ``direction(layer, vector, y, x)``: the dot product of the blob's channel
  vector with ``vector`` at (y, x), or its mean over the map (tokens: over
  the patch tokens) when y, x are None; ``index=k``: at token k;
- ``class_logit(index)``: the neuron ``index`` of the network's class layer;
- ``feature(dictionary, k, ...)``: a dictionary feature's pre-activation, a
  neuron / token / channel term on the features' blob of
  ``jaxvis.with_dictionary`` (``jaxvis.dictionary``).

Token blobs ``[B, N, D]`` (``jaxvis.TokenLayout``) read the same terms in
D-space; a patch (y, x) is token ``prefix + y * w + x``.

Terms add, subtract, negate and scale: ``channel("conv5", 3) - 0.5 *
neuron("conv5", 7)``. In the compiled ascent every element carries its own
objective: a lone neuron or channel term as an index (``kind`` 0 or 1, no
memory), anything else as a dense weight map of the layer's shape (kind 2),
so a batch mixes them in one program.

The diversity term (Lucid's ``diversity``; Olah et al. 2017) is added to the
ascended sum, not to an element's value: for element i with weight d_i it is
-d_i times the mean, over the other elements j of its group (a unit's
restarts), of the cosine similarity of their Gram matrices G = A^T A / (h w)
of the blob A [h w, C] (fc layers: of the blob's vector itself). All pairs
come from one matrix product of the normalised Grams, not a loop over pairs.

Optionally (``redirect_steps`` > 0) an element's first steps take their
gradient through Lucid's redirected ReLU (jaxvis.ops.backward), so a unit
behind a ReLU that never fires still gets a gradient at the start.
"""

from __future__ import annotations

import dataclasses
import numbers
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxvis.errors import ConfigError, UnitError
from jaxvis.models.tokens import patch_map

NEURON, CHANNEL, WEIGHTS = range(3)
KINDS = ("neuron", "channel")  # what a (layer, channel[, y, x]) unit can mean


class PerElement(NamedTuple):
    """Every element's objective in the compiled step, arrays [N] (weights [N, *blob])."""

    kind: jax.Array  # int32: NEURON, CHANNEL or WEIGHTS
    weights: jax.Array | None  # float32 [N, h, w, C] or [N, C]; None when no element has kind WEIGHTS
    diversity: jax.Array  # float32 weight of the diversity term (0: none)
    group: jax.Array  # int32: elements of a group are compared by the diversity term
    redirect_steps: jax.Array  # int32: steps t < this use the redirected ReLU's gradient (0: never)


def neurons(n: int) -> PerElement:
    """n neuron objectives with no diversity: the paper's ascent."""
    zeros = jnp.zeros((n,), jnp.int32)
    return PerElement(zeros, None, jnp.zeros((n,), jnp.float32), jnp.arange(n, dtype=jnp.int32), zeros)


def values(blob, channel, y, x, kind, weights, *, spatial: bool, tokens=None) -> jax.Array:
    """Each element's objective value [N] on ``blob`` [N, h, w, C] or [N, C], or
    a token blob [N, T, C] of layout ``tokens`` (neuron and channel kinds read
    its patch map; weights the whole blob)."""
    rows = jnp.arange(blob.shape[0])
    if spatial or tokens is not None:
        grid = patch_map(blob, tokens) if tokens is not None else blob
        neuron = grid[rows, y, x, channel]
        mean = jnp.mean(grid[rows, :, :, channel], axis=(1, 2))
    else:
        neuron = mean = blob[rows, channel]
    out = jnp.where(kind == CHANNEL, mean, neuron)
    if weights is not None:
        out = jnp.where(kind == WEIGHTS, jnp.sum((blob * weights).reshape(blob.shape[0], -1), axis=1), out)
    return out


def gram_similarity(blob) -> jax.Array:
    """[N, N] cosine similarities of the elements' Gram matrices over their
    places (a map's pixels, a token blob's tokens; fc: the vectors)."""
    n = blob.shape[0]
    if blob.ndim >= 3:
        a = blob.reshape(n, -1, blob.shape[-1])
        feats = jnp.einsum("nkc,nkd->ncd", a, a).reshape(n, -1) / a.shape[1]
    else:
        feats = blob.reshape(n, -1)
    feats = feats / jnp.maximum(jnp.linalg.norm(feats, axis=1, keepdims=True), 1e-10)
    return feats @ feats.T


def diversity_term(blob, diversity, group) -> jax.Array:
    """-sum_i d_i * mean_{j != i, group_j = group_i} sim_ij (0 when no d_i is set;
    an element alone in its group adds nothing)."""
    def term(blob):
        n = blob.shape[0]
        same = (group[:, None] == group[None, :]) & ~jnp.eye(n, dtype=bool)
        sim = gram_similarity(blob)
        count = jnp.sum(same, axis=1)
        mean = jnp.sum(jnp.where(same, sim, 0.0), axis=1) / jnp.maximum(count, 1)
        return -jnp.sum(diversity * mean)

    return lax.cond(jnp.any(diversity != 0), term, lambda blob: jnp.zeros((), blob.dtype), blob)


# ---------------------------------------------------------------- composing


@dataclasses.dataclass(frozen=True)
class _Term:
    weight: float
    kind: str  # "neuron" | "channel" | "direction" | "class"
    layer: str | None
    channel: int | None = None
    y: int | None = None
    x: int | None = None
    vector: tuple[float, ...] | None = None
    index: int | None = None  # a token's index (token terms; direction at a token)


@dataclasses.dataclass(frozen=True)
class Objective:
    """A weighted sum of terms on one layer (module doc); build with
    ``neuron``, ``channel``, ``direction``, ``class_logit`` and + - * ."""

    terms: tuple[_Term, ...]

    def __add__(self, other):
        if not isinstance(other, Objective):
            return NotImplemented
        return Objective(self.terms + other.terms)

    def __neg__(self):
        return self * -1.0

    def __sub__(self, other):
        if not isinstance(other, Objective):
            return NotImplemented
        return self + (-other)

    def __mul__(self, k):
        if isinstance(k, bool) or not isinstance(k, numbers.Real) or not np.isfinite(k):
            return NotImplemented
        return Objective(tuple(dataclasses.replace(t, weight=t.weight * float(k)) for t in self.terms))

    __rmul__ = __mul__

    def __str__(self):
        parts = []
        for t in self.terms:
            where = (f"@token{t.index}" if t.index is not None else "") if t.y is None else f"@{t.y},{t.x}"
            what = {"neuron": f"neuron({t.layer}:{t.channel}{where})", "channel": f"channel({t.layer}:{t.channel})",
                    "direction": f"direction({t.layer}{where})", "class": f"class_logit({t.channel})",
                    "token": f"token({t.layer}:{t.channel}{where})"}[t.kind]
            parts.append(what if t.weight == 1.0 else f"{t.weight:g}*{what}")
        return " + ".join(parts)


def _index(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ConfigError(f"{name} must be an integer, got {value!r}")
    return int(value)


def _at(what: str, y, x, at):
    """(y, x) from ``y, x`` or ``at=(y, x)``."""
    if at is None:
        return y, x
    if y is not None or x is not None:
        raise ConfigError(f"{what}: give at=(y, x) or y and x, not both")
    if not isinstance(at, (tuple, list)) or len(at) != 2:
        raise ConfigError(f"{what}: at must be a pair (y, x), got {at!r}")
    return at[0], at[1]


def neuron(layer: str, channel: int, y: int | None = None, x: int | None = None, *, at=None) -> Objective:
    """One activation of ``layer`` at (y, x) (or ``at=(y, x)``): of a map, or of
    a token blob's patch grid; conv units and patch tokens default to the centre."""
    y, x = _at(f"neuron({layer!r}, {channel})", y, x, at)
    if (y is None) != (x is None):
        raise ConfigError(f"neuron({layer!r}, {channel}): give both y and x, or neither")
    return Objective((_Term(1.0, "neuron", layer, _index("channel", channel),
                            None if y is None else _index("y", y), None if x is None else _index("x", x)),))


def channel(layer: str, channel: int) -> Objective:
    """The mean of ``channel``'s map in ``layer`` (an fc unit: its activation)."""
    return Objective((_Term(1.0, "channel", layer, _index("channel", channel)),))


def token(layer: str, channel: int, index: int = 0) -> Objective:
    """Channel ``channel`` of token ``index`` of a token blob (a prefix token,
    e.g. the class token 0, or any token by its place in the sequence)."""
    return Objective((_Term(1.0, "token", layer, _index("channel", channel), index=_index("index", index)),))


def direction(layer: str, vector, y: int | None = None, x: int | None = None, *, at=None,
              index: int | None = None) -> Objective:
    """The blob's channel vector dotted with ``vector`` at (y, x) (or ``at=``),
    at token ``index`` of a token blob, or averaged over the map (tokens: the
    patch tokens)."""
    vec = np.asarray(vector, np.float64)
    if vec.ndim != 1 or not np.all(np.isfinite(vec)):
        raise ConfigError(f"direction({layer!r}): vector must be a finite 1-D array, got shape {vec.shape}")
    y, x = _at(f"direction({layer!r})", y, x, at)
    if (y is None) != (x is None):
        raise ConfigError(f"direction({layer!r}): give both y and x, or neither")
    if index is not None and y is not None:
        raise ConfigError(f"direction({layer!r}): give a token index or a place (y, x), not both")
    return Objective((_Term(1.0, "direction", layer, None, None if y is None else _index("y", y),
                            None if x is None else _index("x", x), tuple(vec.tolist()),
                            None if index is None else _index("index", index)),))


def feature(dictionary, k: int, y: int | None = None, x: int | None = None, *, at=None,
            index: int | None = None, mean: bool = False) -> Objective:
    """Feature ``k`` of a trained dictionary (``jaxvis.load_dictionary``): its
    pre-activation ``W_enc[k] (a - b_pre) + b_enc[k]`` on the layer's
    activation ``a`` at the place (y, x) (``at=``; a map's or the patch
    grid's, default the centre, as a neuron's), at token ``index``, or with
    ``mean`` its mean over the places (tokens: the patch tokens). A term on
    the features' blob ``dictionary.blob`` of ``jaxvis.with_dictionary(net,
    dictionary)``, composing with the other terms there."""
    k = _index("feature", k)
    if not 0 <= k < dictionary.latents:
        raise UnitError(f"feature {k}: the dictionary on {dictionary.layer!r} has features 0..{dictionary.latents - 1}")
    if mean:
        if y is not None or x is not None or at is not None or index is not None:
            raise ConfigError(f"feature {k}: mean=True averages over the places; give no place or token index")
        return channel(dictionary.blob, k)
    if index is not None:
        return token(dictionary.blob, k, index)
    return neuron(dictionary.blob, k, y, x, at=at)


def class_logit(index: int) -> Objective:
    """The class layer's unit ``index`` (the logit, before any softmax)."""
    return Objective((_Term(1.0, "class", None, _index("class", index)),))


def layer_of(net, objective: Objective) -> str:
    """The one layer all of ``objective``'s terms read; UnitError otherwise."""
    layers = {net.require("class_layer", "a class_logit objective") if t.kind == "class" else t.layer
              for t in objective.terms}
    if len(layers) != 1:
        raise UnitError(f"objective {objective} reads layers {sorted(layers)}; an objective's terms share one layer")
    layer = layers.pop()
    net.layer(layer)  # raises UnitError listing the layers
    return layer


def compile_one(net, objective: Objective) -> tuple[str, int, int, int, int, np.ndarray | None]:
    """-> (layer, kind, channel, y, x, weights or None): a lone neuron / channel
    term as indices, anything else as a dense weight map of the blob's shape
    ([h, w, C], tokens [N, C], or [C])."""
    from jaxvis.optimize.units import check_channels, check_locations, parse_unit

    layer = layer_of(net, objective)
    info = net.layer(layer)
    terms = objective.terms
    if len(terms) == 1 and terms[0].weight == 1.0 and terms[0].kind in ("neuron", "class", "channel"):
        t = terms[0]
        if t.kind == "channel":
            check_channels(net, layer, t.channel)
            return layer, CHANNEL, t.channel, 0, 0, None
        unit = (layer, t.channel) if t.y is None else (layer, t.channel, t.y, t.x)
        _, c, y, x = parse_unit(net, unit)
        return layer, NEURON, c, y, x, None
    w = np.zeros(tuple(info.shape), np.float32)  # [h, w, C], [N, C] (tokens) or [C]
    grid = _grid_view(w, info)  # the units at places: a map, or a token blob's patch tokens as one
    for t in terms:
        if t.kind in ("token", "direction") and t.index is not None:
            _check_token(net, layer, info, t.index)
        if t.kind == "direction":
            vec = np.asarray(t.vector, np.float32)
            if vec.shape != (info.channels,):
                raise ConfigError(f"direction on {layer!r}: vector must have {info.channels} entries "
                                  f"(its channels), got {vec.shape[0]}")
            if t.index is not None:
                w[t.index] += t.weight * vec
            elif grid is None:
                w += t.weight * vec
            elif t.y is None:
                grid += t.weight * vec / (grid.shape[0] * grid.shape[1])
            else:
                check_locations(net, layer, t.y, t.x)
                grid[t.y, t.x] += t.weight * vec
        elif t.kind == "token":
            check_channels(net, layer, t.channel)
            w[t.index, t.channel] += t.weight
        elif t.kind == "channel":
            check_channels(net, layer, t.channel)
            if grid is None:
                w[t.channel] += t.weight
            else:
                grid[..., t.channel] += t.weight / (grid.shape[0] * grid.shape[1])
        else:
            unit = (layer, t.channel) if t.y is None else (layer, t.channel, t.y, t.x)
            _, c, y, x = parse_unit(net, unit)
            if grid is None:
                w[c] += t.weight
            else:
                grid[y, x, c] += t.weight
    return layer, WEIGHTS, 0, 0, 0, w


def _grid_view(w: np.ndarray, info) -> np.ndarray | None:
    """The [h, w, C] view of a layer's weight array at its places (a map's;
    a token blob's patch tokens), None for a vector layer."""
    if info.tokens is not None:
        h, wd = info.tokens.grid
        return w[info.tokens.prefix:].reshape(h, wd, info.channels)
    return w if info.spatial else None


def _check_token(net, layer: str, info, index: int) -> None:
    if info.tokens is None:
        raise UnitError(f"{net.name} layer {layer!r} is not a token blob (shape {info.shape}): it has no token "
                        f"index; use neuron(...) or channel(...)")
    if not 0 <= index < info.shape[0]:
        raise UnitError(f"{net.name} layer {layer!r} has tokens 0..{info.shape[0] - 1} ({info.tokens.prefix} prefix, "
                        f"then the {info.tokens.grid[0]}x{info.tokens.grid[1]} patches), got index {index}")
