"""A layer's activations as SAE samples [n, d], streamed from images: every
spatial position of a map, every patch token of a token blob (the prefix
tokens left out), or the vector of an fc layer, of each image. A batch of
samples is a pure function of the step (images ``step * images_per_step``
onwards of the source), so a resumed run sees what an uninterrupted one
would, and nothing but one step's images is ever in memory."""

from __future__ import annotations

import jax.numpy as jnp

from jaxvis.errors import UnitError


def per_image(info) -> int:
    """Samples one image gives at a layer (``LayerInfo``)."""
    if info.tokens is not None:
        return info.tokens.grid[0] * info.tokens.grid[1]
    return info.shape[0] * info.shape[1] if info.spatial else 1


def check_layer(net, layer: str):
    """The layer's info, or a UnitError: samples come from maps, token blobs and vectors."""
    info = net.layer(layer)
    if len(info.shape) not in (1, 2, 3):
        raise UnitError(f"{net.name} layer {layer!r} has shape {info.shape}; a dictionary is learned on maps "
                        "[h, w, C], tokens [N, C] or vectors [C]")
    return info


def from_blob(blob: jnp.ndarray, info) -> jnp.ndarray:
    """A batch's blob [B, ...] -> samples [B * per_image, C] (image-major, then row-major places)."""
    if info.tokens is not None:
        blob = blob[:, info.tokens.prefix:]
    return blob.reshape(-1, blob.shape[-1])
