"""Objectives that compose (docs/feature_vis.md).

An objective is a weighted sum of terms on ONE layer's blob:

- ``neuron(layer, channel, y, x)``: one activation (the paper's; conv units
  default to the map's centre, as everywhere in jaxvis);
- ``channel(layer, channel)``: the mean of a channel's map (fc: the unit);
- ``direction(layer, vector, y, x)``: the dot product of the blob's channel
  vector with ``vector`` at (y, x), or its mean over the map when y, x are None;
- ``class_logit(index)``: the neuron ``index`` of the network's class layer.

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


def values(blob, channel, y, x, kind, weights, *, spatial: bool) -> jax.Array:
    """Each element's objective value [N] on ``blob`` [N, h, w, C] or [N, C]."""
    rows = jnp.arange(blob.shape[0])
    if spatial:
        neuron = blob[rows, y, x, channel]
        mean = jnp.mean(blob[rows, :, :, channel], axis=(1, 2))
    else:
        neuron = mean = blob[rows, channel]
    out = jnp.where(kind == CHANNEL, mean, neuron)
    if weights is not None:
        out = jnp.where(kind == WEIGHTS, jnp.sum((blob * weights).reshape(blob.shape[0], -1), axis=1), out)
    return out


def gram_similarity(blob) -> jax.Array:
    """[N, N] cosine similarities of the elements' Gram matrices (fc: vectors)."""
    n = blob.shape[0]
    if blob.ndim == 4:
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
            where = "" if t.y is None else f"@{t.y},{t.x}"
            what = {"neuron": f"neuron({t.layer}:{t.channel}{where})", "channel": f"channel({t.layer}:{t.channel})",
                    "direction": f"direction({t.layer}{where})", "class": f"class_logit({t.channel})"}[t.kind]
            parts.append(what if t.weight == 1.0 else f"{t.weight:g}*{what}")
        return " + ".join(parts)


def _index(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ConfigError(f"{name} must be an integer, got {value!r}")
    return int(value)


def neuron(layer: str, channel: int, y: int | None = None, x: int | None = None) -> Objective:
    """One activation of ``layer``; conv units default to the map's centre."""
    if (y is None) != (x is None):
        raise ConfigError(f"neuron({layer!r}, {channel}): give both y and x, or neither")
    return Objective((_Term(1.0, "neuron", layer, _index("channel", channel),
                            None if y is None else _index("y", y), None if x is None else _index("x", x)),))


def channel(layer: str, channel: int) -> Objective:
    """The mean of ``channel``'s map in ``layer`` (an fc unit: its activation)."""
    return Objective((_Term(1.0, "channel", layer, _index("channel", channel)),))


def direction(layer: str, vector, y: int | None = None, x: int | None = None) -> Objective:
    """The blob's channel vector dotted with ``vector`` at (y, x), or averaged over the map."""
    vec = np.asarray(vector, np.float64)
    if vec.ndim != 1 or not np.all(np.isfinite(vec)):
        raise ConfigError(f"direction({layer!r}): vector must be a finite 1-D array, got shape {vec.shape}")
    if (y is None) != (x is None):
        raise ConfigError(f"direction({layer!r}): give both y and x, or neither")
    return Objective((_Term(1.0, "direction", layer, None, None if y is None else _index("y", y),
                            None if x is None else _index("x", x), tuple(vec.tolist())),))


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
    term as indices, anything else as a dense weight map [h, w, C] or [C]."""
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
    shape = tuple(info.shape) if info.spatial else (info.channels,)
    w = np.zeros(shape, np.float32)
    for t in terms:
        if t.kind == "direction":
            vec = np.asarray(t.vector, np.float32)
            if vec.shape != (info.channels,):
                raise ConfigError(f"direction on {layer!r}: vector must have {info.channels} entries "
                                  f"(its channels), got {vec.shape[0]}")
            if not info.spatial or t.y is None:
                w += t.weight * (vec if not info.spatial else vec / (shape[0] * shape[1]))
            else:
                check_locations(net, layer, t.y, t.x)
                w[t.y, t.x] += t.weight * vec
        elif t.kind == "channel":
            check_channels(net, layer, t.channel)
            if info.spatial:
                w[..., t.channel] += t.weight / (shape[0] * shape[1])
            else:
                w[t.channel] += t.weight
        else:
            unit = (layer, t.channel) if t.y is None else (layer, t.channel, t.y, t.x)
            _, c, y, x = parse_unit(net, unit)
            if info.spatial:
                w[y, x, c] += t.weight
            else:
                w[c] += t.weight
    return layer, WEIGHTS, 0, 0, 0, w
