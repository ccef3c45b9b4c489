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
A token blob [B, N, C] (a vision transformer's, ``jaxvis.TokenLayout``) is
shown as a map: each channel's tile is its h x w patch map
(``jaxvis.models.tokens.patch_map``), scaled like a conv layer's, and its
prefix tokens (class token, registers) come as a strip [C, p] of their own
(``prefix_strip``: one scale for all the prefix values, not the patches':
a class token or register often runs far outside the patches' range, and
would flatten every map). A clicked patch (y, x) seeds its token
``layout.index(y, x)``; a selected prefix token k seeds token k.
"""

from __future__ import annotations

import dataclasses
import time

import jax
import jax.numpy as jnp
import numpy as np

from jaxvis.backward.projection import check_projection, pullback_fn, seed
from jaxvis.errors import ConfigError, JaxvisError, UnitError
from jaxvis.models.tokens import patch_map, prefix_tokens
from jaxvis.net import probabilities
from jaxvis.net_cache import per_architecture
from jaxvis.optimize.units import check_channels, check_locations
from jaxvis.render.projections import RENDERINGS, render_projection

TOP = 5


def _scaled(a):
    """[B, ...] -> each element min-max scaled to 0..255 with one scale (a constant one is all 0), float."""
    axes = tuple(range(1, a.ndim))
    lo = jnp.min(a, axis=axes, keepdims=True)
    span = jnp.max(a, axis=axes, keepdims=True) - lo
    return jnp.round(255.0 * (a - lo) / jnp.where(span > 0, span, 1.0))


def layer_maps(blob, layout=None):
    """blob [B, h, w, C], a token blob [B, N, C] of ``layout`` (its patch map)
    or a vector [B, C] -> the maps the tiles show, [B, h, w, C] (fc: 1 x 1)."""
    if layout is not None:
        return patch_map(blob, layout)
    return blob if blob.ndim == 4 else blob[:, None, None, :]


def layer_tiles(blob, layout=None):
    """blob [B, h, w, C], [B, C] or tokens [B, N, C] of ``layout`` -> uint8
    [B, C, h, w] (fc: h = w = 1; tokens: the patch grid), the whole layer (a
    token blob's patch tokens) min-max scaled to 0..255 (a constant layer is all 0)."""
    return jnp.transpose(_scaled(layer_maps(blob, layout)), (0, 3, 1, 2)).astype(jnp.uint8)


def prefix_strip(blob, layout):
    """tokens [B, N, C] -> (uint8 [B, C, p], float [B, C, p]): the prefix tokens
    per channel, scaled to 0..255 with one scale of their own (all channels and
    prefix tokens together), and their values."""
    values = jnp.transpose(prefix_tokens(blob, layout), (0, 2, 1))
    return _scaled(values).astype(jnp.uint8), values


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
    layout = net.layer(layer).tokens  # None unless a token blob
    with_prefix = layout is not None and layout.prefix > 0
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
        maps = layer_maps(blob, layout)
        maxima = jnp.max(maps, axis=(1, 2))  # fc: its values; tokens: over the patch tokens
        probs = probabilities(definition, blobs) if has_classes else jnp.zeros((x.shape[0], 0), x.dtype)
        out, pullback = with_pullback(params, x) if refusal is None else (None, None)
        prefix = prefix_strip(blob, layout) if with_prefix else (None, None)
        return layer_tiles(blob, layout), maxima, probs, out, pullback, *prefix

    def backward_stage(pullback, out, channel, yx, located):
        # a token blob's yx[:, 0] is the token's index (run_frame: layout.index(y, x) or the prefix token)
        return pullback(seed(out, channel, yx, located, tokens=layout))[0]

    return Stages(jax.jit(forward_stage), None if refusal else jax.jit(backward_stage), refusal)


@dataclasses.dataclass(frozen=True)
class Selection:
    """What a client looks at: a blob, a unit (channel) of it, an optional
    clicked location (y, x) in its map (a token blob's patch grid) or, in a
    token blob, a prefix token ``token`` (0 .. prefix - 1: the class token,
    registers), the backward mode and rendering."""

    layer: str
    unit: int = 0
    at: tuple[int, int] | None = None
    mode: str = "deconv"
    rendering: str = "raw"
    token: int | None = None  # a token blob's prefix token; never with ``at``


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
    prefix: np.ndarray | None = None  # uint8 [C, p]: a token blob's prefix tokens, scaled on their own
    prefix_values: np.ndarray | None = None  # float32 [C, p]: their values


def check_selection(net, selection: Selection) -> None:
    """UnitError or ConfigError naming what in ``selection`` the network cannot show."""
    net.layer(selection.layer)  # UnitError listing the blobs
    check_projection(net, selection.mode)
    if selection.rendering not in RENDERINGS:
        raise ConfigError(f"unknown rendering {selection.rendering!r}; expected one of {', '.join(RENDERINGS)}")
    check_channels(net, selection.layer, selection.unit)
    if selection.at is not None:
        check_locations(net, selection.layer, *selection.at)  # an fc layer has no location
    if selection.token is not None:
        check_prefix_token(net, selection.layer, selection.token, selection.at)


def check_prefix_token(net, layer: str, token: int, at) -> None:
    """UnitError unless ``token`` is a prefix token of token blob ``layer`` (and no location is given too)."""
    info = net.layer(layer)
    if info.tokens is None:
        raise UnitError(f"{net.name} layer {layer!r} is not a token blob (shape {list(info.shape)}): it has no "
                        "prefix tokens to select")
    if at is not None:
        raise UnitError(f"select a patch (at) or a prefix token (token) of {layer!r}, not both")
    prefix = info.tokens.prefix
    if not 0 <= token < prefix:
        have = f"prefix tokens 0..{prefix - 1}" if prefix else "no prefix tokens"
        raise UnitError(f"{net.name} layer {layer!r} has {have} (then its {info.tokens.grid[0]}x"
                        f"{info.tokens.grid[1]} patches, selected with at=[y, x]); got token {token}")


def seed_location(net, selection: Selection) -> tuple[tuple[int, int], bool]:
    """((y, x) as the backward stage takes it, located): a map's clicked (y, x);
    a token blob's token index (``layout.index(y, x)`` of a clicked patch, or
    the prefix token) in yx[0], 0 in yx[1]; (0, 0) and False for the whole channel."""
    layout = net.layer(selection.layer).tokens
    if selection.token is not None:
        return (selection.token, 0), True
    if selection.at is None:
        return (0, 0), False
    if layout is not None:
        return (layout.index(*selection.at), 0), True
    return tuple(selection.at), True


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
    tiles, maxima, probs, out, pullback, prefix, prefix_values = forward(net.params, x)
    tiles = np.asarray(tiles)[0]  # waits for the forward
    middle = time.perf_counter()
    projection = image = None
    if backward is not None:
        yx, located = seed_location(net, selection)
        try:
            projection = backward(pullback, out, jnp.asarray([selection.unit], jnp.int32),
                                  jnp.asarray([yx], jnp.int32), jnp.asarray(located))
            projection = np.asarray(projection)[0]
        except JaxvisError as e:  # the backward refused this unit: the pane says why, the frame goes on
            projection, refusal = None, str(e)
    end = time.perf_counter()
    if projection is not None:
        image = render_projection(projection, selection.rendering, net.spec.channel_order)
    return FrameResult(tiles, np.asarray(maxima)[0], top_predictions(np.asarray(probs)[0]), projection, image,
                       1000 * (middle - start), 1000 * (end - middle), refusal, compiled,
                       None if prefix is None else np.asarray(prefix)[0],
                       None if prefix_values is None else np.asarray(prefix_values, np.float32)[0])
