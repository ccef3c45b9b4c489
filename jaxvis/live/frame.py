"""The live view's per-frame work: one image in; the selected layer's tiles,
the top-5 predictions and the selected unit's backward view out.

Two compiled programs per (architecture, layer, backward mode), built once
and reused for every frame (never compiled per frame):

- ``forward``: (params, x) -> the layer's tiles, each channel's maximum, the
  class probabilities, and the projection's pullback (the forward to the
  layer with the mode's ReLU rule, ``jaxvis.backward.projection.pullback_fn``;
  XLA shares it with the plain forward);
- ``backward``: (pullback, blob, channel, yx, located) -> the projection of
  the unit, seeded by ``jaxvis.backward.projection.seed``: the whole channel
  weighted by its own activation (the toolbox's default) or 1 at a clicked
  location.

The split costs nothing (the pullback's residuals stay on the device) and
lets the status line report forward and backward milliseconds apart. The
results equal ``net.blobs``, ``net.probabilities`` and ``jaxvis.project``
for the same image: they are the same functions.

Tiles are the toolbox's: the whole layer min-max scaled to 0..255 with one
scale, so channels compare with each other; an fc layer is C tiles of 1x1.
"""

from __future__ import annotations

import dataclasses
import time

import jax
import jax.numpy as jnp
import numpy as np

from jaxvis.backward.projection import check_projection, pullback_fn, seed
from jaxvis.errors import ConfigError
from jaxvis.net import probabilities
from jaxvis.net_cache import per_architecture
from jaxvis.optimize.units import check_channels, check_locations
from jaxvis.render.projections import RENDERINGS, render_projection

TOP = 5


def layer_tiles(blob):
    """blob [B, h, w, C] or [B, C] -> uint8 [B, C, h, w] (fc: h = w = 1), the
    whole layer min-max scaled to 0..255 (a constant layer is all 0)."""
    maps = blob if blob.ndim == 4 else blob[:, None, None, :]
    lo = jnp.min(maps, axis=(1, 2, 3), keepdims=True)
    span = jnp.max(maps, axis=(1, 2, 3), keepdims=True) - lo
    scaled = jnp.round(255.0 * (maps - lo) / jnp.where(span > 0, span, 1.0))
    return jnp.transpose(scaled, (0, 3, 1, 2)).astype(jnp.uint8)


@dataclasses.dataclass
class Stages:
    """The compiled per-frame programs of one (architecture, layer, mode)."""

    forward: object
    backward: object | None  # None when the mode has no rule on the way to the layer
    refusal: str | None  # why there is no backward
    ran: bool = False  # False until the first frame (which pays for the compilation)


@per_architecture
def compiled_stages(net, layer: str, mode: str) -> Stages:
    """The two stages for ``layer`` and ``mode``, jitted (see the module
    docstring). When the mode has no rule for a nonlinearity on the way to
    the layer (a softmax in deconv mode), backward is None, the forward
    stage skips the pullback, and ``refusal`` says why."""
    forward = net.forward
    definition = net.definition
    with_pullback = pullback_fn(net, layer, mode)
    has_classes = definition.prob_layer is not None or definition.class_layer is not None
    x_shape = jax.ShapeDtypeStruct((1, *definition.input_shape), jnp.float32)
    try:
        jax.eval_shape(with_pullback, net.params, x_shape)  # traces only: the substitution's checks
        refusal = None
    except ConfigError as e:
        refusal = str(e)

    def forward_stage(params, x):
        blobs = forward(params, x)
        blob = blobs[layer]
        maxima = jnp.max(blob, axis=(1, 2)) if blob.ndim == 4 else blob
        probs = probabilities(definition, blobs) if has_classes else jnp.zeros((x.shape[0], 0), x.dtype)
        out, pullback = with_pullback(params, x) if refusal is None else (None, None)
        return layer_tiles(blob), maxima, probs, out, pullback

    def backward_stage(pullback, out, channel, yx, located):
        return pullback(seed(out, channel, yx, located))[0]

    return Stages(jax.jit(forward_stage), None if refusal else jax.jit(backward_stage), refusal)


@dataclasses.dataclass(frozen=True)
class Selection:
    """What a client looks at: a blob, a unit (channel) of it, an optional
    clicked location (y, x) in its map, the backward mode and rendering."""

    layer: str
    unit: int = 0
    at: tuple[int, int] | None = None
    mode: str = "deconv"
    rendering: str = "raw"


@dataclasses.dataclass
class FrameResult:
    tiles: np.ndarray  # uint8 [C, h, w]
    maxima: np.ndarray  # float32 [C]: each channel's largest activation
    predictions: list[tuple[int, float]]  # (class index, probability), best first, at most TOP
    projection: np.ndarray | None  # float32 [H, W, C] in input space
    backward_image: np.ndarray | None  # uint8 [H, W, 3] or [H, W]: the selected rendering
    forward_ms: float
    backward_ms: float
    backward_error: str | None = None  # why there is no backward view for this layer and mode
    compiled: bool = False  # this frame compiled the stages (its milliseconds include that)


def check_selection(net, selection: Selection) -> None:
    """UnitError or ConfigError naming what in ``selection`` the network cannot show."""
    net.layer(selection.layer)  # UnitError listing the blobs
    check_projection(net, selection.mode)
    if selection.rendering not in RENDERINGS:
        raise ConfigError(f"unknown rendering {selection.rendering!r}; expected one of {', '.join(RENDERINGS)}")
    check_channels(net, selection.layer, selection.unit)
    if selection.at is not None:
        check_locations(net, selection.layer, *selection.at)  # an fc layer has no location


def top_predictions(probs: np.ndarray, top: int = TOP) -> list[tuple[int, float]]:
    """probs [K] -> the ``top`` (index, p), highest first; ties keep the lower index."""
    order = np.argsort(-probs, kind="stable")[:top]
    return [(int(i), float(probs[i])) for i in order]


def run_frame(net, x, selection: Selection) -> FrameResult:
    """x: one network input [1, H, W, C] (``net.preprocess``). The selection
    must have passed ``check_selection``."""
    stages = compiled_stages(net, selection.layer, selection.mode)
    forward, backward, refusal = stages.forward, stages.backward, stages.refusal
    compiled, stages.ran = not stages.ran, True
    start = time.perf_counter()
    tiles, maxima, probs, out, pullback = forward(net.params, x)
    tiles = np.asarray(tiles)[0]  # waits for the forward
    middle = time.perf_counter()
    projection = image = None
    if backward is not None:
        at = selection.at or (0, 0)
        projection = backward(pullback, out, jnp.asarray([selection.unit], jnp.int32),
                              jnp.asarray([at], jnp.int32), jnp.asarray(selection.at is not None))
        projection = np.asarray(projection)[0]
    end = time.perf_counter()
    if projection is not None:
        image = render_projection(projection, selection.rendering, net.spec.channel_order)
    return FrameResult(tiles, np.asarray(maxima)[0], top_predictions(np.asarray(probs)[0]), projection, image,
                       1000 * (middle - start), 1000 * (end - middle), refusal, compiled)
