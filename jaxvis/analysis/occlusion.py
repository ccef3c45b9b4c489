"""Occlusion sensitivity (Zeiler & Fergus Fig. 7): a square of the model's
mean colour (zero in network space: a grey square for per-channel means)
slides over the image; for every position, in one batched forward pass:
(b) the total activation of the feature map of ``layer`` that is strongest
on the unoccluded image, (d) the probability of the correct class and (e)
the most probable class.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from jaxvis.errors import ConfigError, UnitError
from jaxvis.net import probabilities
from jaxvis.net_cache import per_architecture


@dataclasses.dataclass
class OcclusionMaps:
    corners: np.ndarray  # [P, 2] (y0, x0) of the square at each position, row-major over the grid
    grid: tuple[int, int]  # positions per column and per row
    size: int
    feature_map: int  # the channel of ``layer`` strongest on the unoccluded image
    feature_total: np.ndarray  # [gy, gx] (b)
    prob: np.ndarray  # [gy, gx] (d) probability of ``label``
    top_label: np.ndarray  # [gy, gx] (e)
    base_total: float
    base_prob: float

    def centre(self, flat_index: int) -> tuple[float, float]:
        y0, x0 = self.corners[flat_index]
        return y0 + (self.size - 1) / 2, x0 + (self.size - 1) / 2

    def most_sensitive(self) -> tuple[float, float]:
        """The centre of the square where the correct class's probability is lowest (first if tied)."""
        return self.centre(int(np.argmin(self.prob)))


def positions(h: int, w: int, size: int, stride: int) -> tuple[np.ndarray, tuple[int, int]]:
    """Top-left corners covering the image (the last row and column flush with its edge)."""
    if not 1 <= size <= min(h, w) or stride < 1:
        raise ConfigError(f"occluder size must be 1..{min(h, w)} and stride >= 1, got {size} and {stride}")

    def axis(n):
        starts = list(range(0, n - size + 1, stride))
        return starts + ([n - size] if starts[-1] != n - size else [])

    ys, xs = axis(h), axis(w)
    corners = np.array([(y, x) for y in ys for x in xs], np.int32)
    return corners, (len(ys), len(xs))


@per_architecture
def _forward(net, layer: str, size: int):
    forward, definition = net.forward, net.definition  # not net: the cache must not keep the network alive

    def occlude(x, corner, fill):
        return jax.lax.dynamic_update_slice(x, fill, (corner[0], corner[1], 0))

    def fn(params, x, corners, channel, label, fill):
        batch = jax.vmap(occlude, (None, 0, None))(x, corners, fill)
        blobs = forward(params, batch)
        fmap = blobs[layer][..., channel]
        total = fmap.reshape(fmap.shape[0], -1).sum(axis=1)
        prob = probabilities(definition, blobs)
        return total, prob[:, label], jnp.argmax(prob, axis=1)

    return jax.jit(fn)


FILLS = ("mean", "noise")


def occluder(net, size: int, fill: str, seed: int = 0) -> np.ndarray:
    """[size, size, 3] in network space: ``mean``, the model's mean colour (zero:
    Zeiler & Fergus's grey square), or ``noise``, uniform random pixels."""
    if fill == "mean":
        return np.zeros((size, size, 3), np.float32)
    if fill == "noise":
        pixels = np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)
        spec = net.spec
        rgb = pixels.astype(np.float32)[..., ::-1] if spec.channel_order == "BGR" else pixels.astype(np.float32)
        mean = spec.mean_array()
        mean = mean if mean.ndim == 1 else mean.mean(axis=(0, 1))
        return ((rgb * spec.scale - mean) / np.asarray(spec.std, np.float32)).astype(np.float32)
    raise ConfigError(f"unknown occluder fill {fill!r}; expected one of {', '.join(FILLS)}")


def occlusion_maps(net, x: np.ndarray, label: int, size: int, stride: int, layer: str,
                   batch: int = 256, fill: str = "mean") -> OcclusionMaps:
    """x: one image [H, W, 3] in network space (``net.preprocess(img)[0]``);
    the probabilities are the network's declared ones (``Net.probabilities``)."""
    net.require("class_layer" if net.prob_layer is None else "prob_layer", "occlusion")
    info = net.layer(layer)
    if not info.spatial:
        raise UnitError(f"occlusion's feature map needs a conv layer; {layer!r} is fully connected")
    h, w = net.definition.input_shape[:2]
    corners, grid = positions(h, w, size, stride)
    x = jnp.asarray(x, jnp.float32)
    base = {k: np.asarray(v[0]) for k, v in net.blobs(x[None]).items()}
    channel = int(np.argmax(base[layer].reshape(-1, info.channels).max(axis=0)))
    fn = _forward(net, layer, size)
    patch = jnp.asarray(occluder(net, size, fill))
    outs = [fn(net.params, x, jnp.asarray(corners[i:i + batch]), channel, label, patch)
            for i in range(0, len(corners), batch)]
    total, prob, top = (np.concatenate([np.asarray(o[k]) for o in outs]).reshape(grid) for k in range(3))
    return OcclusionMaps(corners, grid, size, channel, total, prob, top,
                         float(base[layer][..., channel].sum()),
                         float(np.asarray(net.probabilities({k: v[None] for k, v in base.items()}))[0, label]))
