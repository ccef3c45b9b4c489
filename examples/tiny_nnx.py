"""A small residual network written in Flax NNX, the way you would write your
own, and the plugin function that hands it to jaxvis.

    net = jaxvis.load_model("examples.tiny_nnx:make_net")
    jaxvis visualize --config=configs/demo.py --config.model=examples.tiny_nnx:make_net --workdir=DIR

``TinyResNet`` is plain NNX (nothing in it knows about jaxvis), the same
architecture as ``examples/tiny_resnet.py``: a 3x3 conv stem with
BatchNorm, ReLU and a 2x2 max pool, one residual block
(conv-BN-ReLU-conv-BN plus the identity shortcut, ReLU after the sum), a
global average pool and a 10-way ``Linear`` head. Its blobs (named by
attribute path, ``jaxvis/models/frameworks/nnx.py``) are those of the Flax
linen version: ``stem``, ``stem_bn``, ``relu``, ``pool``, ``block/conv1``,
``block/bn1``, ``block/relu``, ``block/conv2``, ``block/bn2``,
``block/relu_1``, ``block``, ``gap`` and ``head``.

Input: the demo world's conventions (64x64, BGR, pixels 0..255 minus 128,
ten classes named as ``jaxvis.shapes.CLASSES``). The weights are random
from a fixed seed (batch statistics: mean 0, variance 1), drawn with numpy
on the shapes ``nnx.eval_shape`` gives, so ``make_net()`` takes well under
a second; the module is built in training mode, as NNX builds it, and
jaxvis runs it in eval mode. ``ascent_lr_scale=100`` as for
``examples/tiny_resnet.py`` (its pixel gradients are small: the class units
sit behind a global average pool).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

import jaxvis

NUM_CLASSES = 10
SEED = 0


class ResidualBlock(nnx.Module):
    """conv-BN-ReLU-conv-BN plus the identity shortcut, ReLU after the sum."""

    def __init__(self, features: int, *, rngs: nnx.Rngs):
        self.conv1 = nnx.Conv(features, features, (3, 3), padding=1, use_bias=False, rngs=rngs)
        self.bn1 = nnx.BatchNorm(features, rngs=rngs)
        self.conv2 = nnx.Conv(features, features, (3, 3), padding=1, use_bias=False, rngs=rngs)
        self.bn2 = nnx.BatchNorm(features, rngs=rngs)

    def __call__(self, x):
        y = nnx.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return nnx.relu(y + x)


class MaxPool(nnx.Module):
    """2x2 max pooling, stride 2."""

    def __call__(self, x):
        return nnx.max_pool(x, (2, 2), strides=(2, 2))


class GlobalAvgPool(nnx.Module):
    """The mean over H and W: [B, H, W, C] -> [B, C]."""

    def __call__(self, x):
        return jnp.mean(x, axis=(1, 2))


class TinyResNet(nnx.Module):
    """[B, 64, 64, 3] -> logits [B, num_classes]."""

    def __init__(self, width: int = 16, num_classes: int = NUM_CLASSES, *, rngs: nnx.Rngs):
        self.stem = nnx.Conv(3, width, (3, 3), padding=1, use_bias=False, rngs=rngs)
        self.stem_bn = nnx.BatchNorm(width, rngs=rngs)
        self.pool = MaxPool()
        self.block = ResidualBlock(width, rngs=rngs)
        self.gap = GlobalAvgPool()
        self.head = nnx.Linear(width, num_classes, rngs=rngs)

    def __call__(self, x):
        x = nnx.relu(self.stem_bn(self.stem(x)))
        x = self.block(self.pool(x))
        return self.head(self.gap(x))


SPEC = jaxvis.get_model_def("demo").spec  # the demo world's conventions: 64x64, BGR, 0..255 minus 128


def make_module(seed: int = SEED) -> TinyResNet:
    """``TinyResNet`` with random weights from ``seed``: He-normal kernels, zero
    biases, BatchNorm scale 1 and offset 0, running mean 0 and variance 1."""
    graphdef, state = nnx.split(nnx.eval_shape(lambda: TinyResNet(rngs=nnx.Rngs(0))))
    rng = np.random.default_rng(seed)

    def draw(path, leaf):
        name = path[-2].key  # the variable: [..., DictKey(name), GetAttrKey("value")]
        if name == "kernel":  # HWIO or [in, out]: fan-in is every axis but the last
            return jnp.asarray(rng.normal(0.0, np.sqrt(2.0 / np.prod(leaf.shape[:-1])), leaf.shape), leaf.dtype)
        return jnp.full(leaf.shape, 1.0 if name in ("scale", "var") else 0.0, leaf.dtype)

    return nnx.merge(graphdef, jax.tree_util.tree_map_with_path(draw, state))


def make_net() -> jaxvis.Net:
    """The plugin function: no arguments, returns a ``jaxvis.Net``."""
    return jaxvis.from_nnx(make_module(), spec=SPEC, class_layer="head", name="tiny_nnx",
                           description="a random residual network in Flax NNX on the demo world's 64x64 inputs",
                           ascent_lr_scale=100.0, source="examples.tiny_nnx:make_net")
