"""Top-k images per unit (Zeiler & Fergus Fig. 2): for every channel of the
chosen layers, the k images with the highest spatial maximum of that channel
(one entry per image), with the location of that maximum. Streamed: a
running top-k is merged with each batch, so memory does not grow with the
number of images. Ties go to the earlier image, and within an image to the
first location in row-major order (numpy's argmax).

A token blob (a vision transformer's, ``jaxvis.TokenLayout``) gives one set
of units over its patch tokens (the maximum over the patch grid, at a patch
(y, x)) and one per prefix token (``<layer>@token<k>``: the channel's value at
that token). After attention a token's receptive field is the whole image,
so its pictures are the whole image with the channel's patch map over it
(``token_overlay``), never a crop.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from jaxvis.backward.projection import project
from jaxvis.models.geometry import field_window
from jaxvis.models.tokens import patch_map
from jaxvis.render.colormaps import enlarge, heat
from jaxvis.net_cache import per_architecture
from jaxvis.render.projections import render_projection


TOKEN_SET = "@token"  # <layer>@token<k>: the units of prefix token k of a token blob


def unit_sets(net, layers) -> list[tuple[str, str, int | None]]:
    """(name, layer, token) of every set of units ranked: each layer's own
    (a map's, a vector's, a token blob's patch tokens; token None) and, for a
    token blob, one per prefix token k (name ``<layer>@token<k>``, token k)."""
    out = []
    for layer in layers:
        out.append((layer, layer, None))
        tokens = net.layer(layer).tokens
        out += [(f"{layer}{TOKEN_SET}{k}", layer, k) for k in range(tokens.prefix if tokens else 0)]
    return out


@per_architecture
def _maxima_fn(net, layers: tuple[str, ...]):
    last = max(layers, key=net.layer_names.index)
    info = {l: net.layer(l) for l in layers}
    forward = net.forward  # not net: the cache must not keep the network alive

    def fn(params, x):
        blobs = forward(params, x, until=last)
        out = {}
        for l in layers:
            b, tokens = blobs[l], info[l].tokens
            if tokens is not None:
                for k in range(tokens.prefix):
                    out[f"{l}{TOKEN_SET}{k}"] = (b[:, k], jnp.zeros((b.shape[0], b.shape[-1], 2), jnp.int32))
                b = patch_map(b, tokens)
            if b.ndim == 4:
                flat = b.reshape(b.shape[0], -1, b.shape[-1])  # [B, H*W, C]
                arg = jnp.argmax(flat, axis=1)  # first maximum in row-major order
                out[l] = (jnp.max(flat, axis=1), jnp.stack(jnp.divmod(arg, b.shape[2]), axis=-1))
            else:
                out[l] = (b, jnp.zeros((*b.shape, 2), jnp.int32))
        return out

    return jax.jit(fn)


def channel_maxima(net, x, layers) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """x [B, H, W, 3] network input -> {unit set: (values [B, C], locations [B, C, 2] as (y, x))}
    for the unit sets of ``layers`` (``unit_sets``)."""
    out = _maxima_fn(net, tuple(layers))(net.params, jnp.asarray(x, jnp.float32))
    return {l: (np.asarray(v), np.asarray(loc)) for l, (v, loc) in out.items()}


def empty(channels: int, k: int) -> dict[str, np.ndarray]:
    return {"value": np.full((channels, k), -np.inf, np.float32), "image": np.full((channels, k), -1, np.int64),
            "y": np.zeros((channels, k), np.int32), "x": np.zeros((channels, k), np.int32)}


def merge(top: dict[str, np.ndarray], values: np.ndarray, locations: np.ndarray, image_ids: np.ndarray,
          valid: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """top: per channel k entries; values [B, C], locations [B, C, 2], image_ids [B]
    (valid [B]: False rows are ignored) -> the new top k per channel."""
    if valid is not None:
        values, locations, image_ids = values[valid], locations[valid], image_ids[valid]
    k = top["value"].shape[1]
    value = np.concatenate([top["value"], values.T.astype(np.float32)], axis=1)
    image = np.concatenate([top["image"], np.broadcast_to(image_ids[None], values.T.shape)], axis=1)
    y = np.concatenate([top["y"], locations[..., 0].T], axis=1)
    x = np.concatenate([top["x"], locations[..., 1].T], axis=1)
    # Order by value (descending), then image id (ascending); empty slots (id -1) last.
    empty_slot = image < 0
    order = np.lexsort((np.where(empty_slot, np.iinfo(np.int64).max, image), -value), axis=1)[:, :k]
    take = functools.partial(np.take_along_axis, indices=order, axis=1)
    return {"value": take(value), "image": take(image), "y": take(y).astype(np.int32), "x": take(x).astype(np.int32)}


def patch(image: np.ndarray, info, y: int, x: int, fill: int = 128) -> np.ndarray:
    """The receptive field of unit (y, x) cut from ``image`` [H, W, ...]; where the
    field leaves the image the patch is padded with ``fill``, never shifted. An
    fc layer's field is the whole image."""
    if not info.spatial or info.rf_size is None:
        return image
    y0, x0, size = field_window(info, y, x)
    h, w = image.shape[:2]
    out = np.full((size, size, *image.shape[2:]), fill, image.dtype)
    ys, xs = slice(max(y0, 0), min(y0 + size, h)), slice(max(x0, 0), min(x0 + size, w))
    out[ys.start - y0:ys.stop - y0, xs.start - x0:xs.stop - x0] = image[ys, xs]
    return out


def unit_pictures(net, images: np.ndarray, layer: str, channels, ys, xs, mode: str = "deconv",
                  token: int | None = None) -> tuple[list, list]:
    """(pictures, projections) of unit (channels[b], ys[b], xs[b]) of ``layer``
    in ``images[b]`` (uint8), what unit pages show: the patch under the
    unit's receptive field and its projection cut alike (``projected_patches``);
    a token blob's, the whole image with the channel's patch map over it
    (``token_overlay``) and the whole projection (``token``: a prefix token's unit)."""
    info = net.layer(layer)
    projections = projected_patches(net, images, layer, channels, ys, xs, mode=mode, token=token)
    if info.tokens is None:
        return [patch(im, info, int(y), int(x)) for im, y, x in zip(images, ys, xs)], projections
    maps = np.asarray(patch_map(net.blobs(net.preprocess(images), until=layer)[layer], info.tokens))
    return [token_overlay(im, maps[b, :, :, c]) for b, (im, c) in enumerate(zip(images, channels))], projections


def projection_mode(net) -> str:
    """The projection unit pages show by default: deconv (Zeiler & Fergus); a
    transformer's (a network with token blobs), backprop: attention's softmax
    has no deconv rule, and every blob after the first attention sees it."""
    return "backprop" if any(info.tokens is not None for info in net.table) else "deconv"


def token_overlay(image: np.ndarray, values: np.ndarray, weight: float = 0.5) -> np.ndarray:
    """``image`` [H, W, 3] uint8 with a token channel's patch map ``values``
    [h, w] over it: its positive part as a heat map (0 .. the map's maximum),
    each patch's colour over that patch's pixels, blended by ``weight``."""
    h, w = values.shape
    height, width = image.shape[:2]
    v = np.maximum(np.asarray(values, np.float64), 0.0)
    colours = heat(v, 0.0, max(float(v.max()), 1e-12))
    ph, pw = height // h, width // w  # the patches' pixels; a remainder of the image lies under no patch
    cover = enlarge(colours, (h * ph, w * pw))
    out = image.astype(np.float64).copy()
    out[:h * ph, :w * pw] = (1 - weight) * out[:h * ph, :w * pw] + weight * cover
    return np.round(out).astype(np.uint8)


def projected_patches(net, images: np.ndarray, layer: str, channels, ys, xs, mode: str = "deconv",
                      token: int | None = None) -> list:
    """Element b: ``images[b]`` (uint8) projected from unit (channels[b], ys[b], xs[b])
    of ``layer`` (``jaxvis.project``, one batched call), rendered raw and cut to
    that unit's receptive field like ``patch``; ``token``: from that token of
    a token blob (the whole image)."""
    info = net.layer(layer)
    at = np.stack([ys, xs], axis=-1) if info.grid is not None and token is None else None
    v = project(net, net.preprocess(images), layer, np.asarray(channels), at=at, mode=mode,
                token=None if token is None else np.full(len(images), token))
    pictures = render_projection(v, "raw", channel_order=net.spec.channel_order)
    return [patch(p, info, int(y), int(x)) for p, y, x in zip(pictures, ys, xs)]
