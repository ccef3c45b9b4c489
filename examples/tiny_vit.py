"""A small vision transformer written as a plain JAX function, and the
plugin function that hands it to jaxvis with its token layout.

    net = jaxvis.load_model("examples.tiny_vit:make_net")
    jaxvis topk --config=configs/topk_demo.py --config.model=examples.tiny_vit:make_net --config.mode=backprop \\
        --workdir=DIR

``tiny_vit(params, x)`` is ordinary JAX (nothing in it knows about jaxvis):
16x16 patches of a 64x64 image (a 4x4 grid), a class token, learned
position embeddings, two pre-norm blocks (one attention head, an MLP with a
GELU) and a 10-way head on the class token. It returns its blobs: ``embed``,
``block0``, ``block1`` (tokens [B, 17, 32]: the class token, then the 16
patches row-major) and ``head`` [B, 10]. ``make_net`` declares the layout,
``jaxvis.TokenLayout(prefix=1, grid=(4, 4))`` (jaxvis would infer this one;
declaring it is what a network with an ambiguous token count must do).

Input: the demo world's conventions (64x64, BGR, pixels 0..255 minus 128,
the ten shape classes), so the demo job configs fit it. The weights are
random from a fixed seed: its units show what random weights respond to.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

import jaxvis

PATCH, WIDTH, GRID, SEED = 16, 32, 4, 0


def _norm(x):
    mean = jnp.mean(x, axis=-1, keepdims=True)
    return (x - mean) / jnp.sqrt(jnp.var(x, axis=-1, keepdims=True) + 1e-6)


def _block(p, x):
    y = _norm(x)
    q, k, v = (y @ p[name] for name in ("q", "k", "v"))
    attention = jax.nn.softmax(q @ jnp.swapaxes(k, 1, 2) / np.sqrt(WIDTH), axis=-1)
    x = x + (attention @ v) @ p["out"]
    return x + jax.nn.gelu(_norm(x) @ p["fc1"]) @ p["fc2"]


def tiny_vit(params, x):
    """x [B, 64, 64, 3] -> {blob: array}."""
    b = x.shape[0]
    patches = x.reshape(b, GRID, PATCH, GRID, PATCH, 3).transpose(0, 1, 3, 2, 4, 5).reshape(b, GRID * GRID, -1)
    cls = jnp.broadcast_to(params["cls"], (b, 1, WIDTH))
    tokens = jnp.concatenate([cls, patches @ params["embed"]], axis=1) + params["pos"]
    out = {"embed": tokens}
    for i, p in enumerate(params["blocks"]):
        tokens = out[f"block{i}"] = _block(p, tokens)
    out["head"] = _norm(tokens)[:, 0] @ params["head"]
    return out


def init_params(seed: int = SEED) -> dict:
    rng = np.random.default_rng(seed)

    def w(*shape, scale=None):
        return jnp.asarray(rng.normal(0.0, scale or 1 / np.sqrt(shape[0]), shape), jnp.float32)

    return {"embed": w(PATCH * PATCH * 3, WIDTH, scale=1 / (64 * PATCH * np.sqrt(3))), "cls": w(1, WIDTH, scale=0.5),
            "pos": w(1 + GRID * GRID, WIDTH, scale=0.5),
            "blocks": [{"q": w(WIDTH, WIDTH), "k": w(WIDTH, WIDTH), "v": w(WIDTH, WIDTH), "out": w(WIDTH, WIDTH),
                        "fc1": w(WIDTH, 4 * WIDTH), "fc2": w(4 * WIDTH, WIDTH)} for _ in range(2)],
            "head": w(WIDTH, 10)}


def make_net() -> jaxvis.Net:
    """The plugin function: ``tiny_vit`` with random weights, the demo world's spec, its token layout."""
    spec = jaxvis.load_model("demo").spec
    return jaxvis.from_function(tiny_vit, init_params(), spec=spec, class_layer="head", name="tiny_vit",
                                description="a tiny random ViT on the demo world's inputs",
                                source="examples.tiny_vit:make_net",
                                tokens=jaxvis.TokenLayout(prefix=1, grid=(GRID, GRID)))
