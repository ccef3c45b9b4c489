"""A small residual network, written the way you would write your own, and
the plugin function that hands it to jaxvis.

    net = jaxvis.load_model("examples.tiny_resnet:make_net")
    jaxvis visualize --config=configs/demo.py --config.model=examples.tiny_resnet:make_net --workdir=DIR

``TinyResNet`` is plain Flax (nothing in it knows about jaxvis): a 3x3 conv
stem with BatchNorm, ReLU and a 2x2 max pool, one residual block
(conv-BN-ReLU-conv-BN plus the identity shortcut, ReLU after the sum), a
global average pool and a 10-way ``Dense`` head named ``head``. Its blobs
(``jaxvis inspect --model=examples.tiny_resnet:make_net``): ``stem``,
``stem_bn``, ``relu``, ``pool``, ``block/conv1``, ``block/bn1``,
``block/relu``, ``block/conv2``, ``block/bn2``, ``block/relu_1``, ``block``,
``gap`` and ``head``.

Input: the demo world's conventions (those of ``jaxvis.load_model("demo")``):
64x64, BGR, pixels 0..255 minus 128, ten classes named as
``jaxvis.shapes.CLASSES``. So images of ``jaxvis.shapes`` and the demo job
configs fit it as they are.

The weights are random from a fixed seed (batch statistics: mean 0,
variance 1), so ``make_net()`` returns the same network in every process
in well under a second; it has not been trained (its units show what random
filters respond to). Train it with any Flax training loop and load your
variables instead.

``ascent_lr_scale=100``: the presets' learning rates are in CaffeNet's
units, and this network's pixel gradients are much smaller (its class units
sit behind a global average pool). With 1, a ``head`` unit's value fell
under the preset's blur during the ascent instead of rising; with 100 it
rises, as for the demo networks, which take the same factor.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

import jaxvis

NUM_CLASSES = 10
INPUT_SIZE = 64
SEED = 0


class ResidualBlock(nn.Module):
    """conv-BN-ReLU-conv-BN plus the identity shortcut, ReLU after the sum."""

    features: int

    @nn.compact
    def __call__(self, x):
        y = nn.Conv(self.features, (3, 3), padding=1, use_bias=False, name="conv1")(x)
        y = nn.relu(nn.BatchNorm(use_running_average=True, name="bn1")(y))
        y = nn.Conv(self.features, (3, 3), padding=1, use_bias=False, name="conv2")(y)
        y = nn.BatchNorm(use_running_average=True, name="bn2")(y)
        return nn.relu(y + x)


class GlobalAvgPool(nn.Module):
    """The mean over H and W: [B, H, W, C] -> [B, C]."""

    @nn.compact
    def __call__(self, x):
        return jnp.mean(x, axis=(1, 2))


class MaxPool(nn.Module):
    """2x2 max pooling, stride 2."""

    @nn.compact
    def __call__(self, x):
        return nn.max_pool(x, (2, 2), strides=(2, 2))


class TinyResNet(nn.Module):
    """[B, 64, 64, 3] -> logits [B, num_classes]; BatchNorm in inference mode."""

    width: int = 16
    num_classes: int = NUM_CLASSES

    @nn.compact
    def __call__(self, x):
        x = nn.Conv(self.width, (3, 3), padding=1, use_bias=False, name="stem")(x)
        x = nn.relu(nn.BatchNorm(use_running_average=True, name="stem_bn")(x))
        x = MaxPool(name="pool")(x)
        x = ResidualBlock(self.width, name="block")(x)
        x = GlobalAvgPool(name="gap")(x)
        return nn.Dense(self.num_classes, name="head")(x)


SPEC = jaxvis.get_model_def("demo").spec  # the demo world's conventions: 64x64, BGR, 0..255 minus 128


def make_variables(seed: int = SEED) -> dict:
    """Random ``{"params", "batch_stats"}`` of ``TinyResNet()`` from ``seed``:
    He-normal kernels, zero biases, BatchNorm scale 1 and offset 0, running
    mean 0 and variance 1. Drawn with numpy on the shapes that
    ``jax.eval_shape`` of ``init`` gives (nothing compiles, so this takes
    milliseconds where ``TinyResNet().init`` takes seconds on a CPU)."""
    x = jnp.zeros((1, INPUT_SIZE, INPUT_SIZE, 3), jnp.float32)
    shapes = jax.eval_shape(TinyResNet().init, jax.random.key(0), x)
    rng = np.random.default_rng(seed)

    def draw(path, leaf):
        name = path[-1].key
        if name == "kernel":  # HWIO or [in, out]: fan-in is every axis but the last
            fan_in = int(np.prod(leaf.shape[:-1]))
            return rng.normal(0.0, np.sqrt(2.0 / fan_in), leaf.shape).astype(np.float32)
        value = 1.0 if name in ("scale", "var") else 0.0
        return np.full(leaf.shape, value, np.float32)

    return jax.tree_util.tree_map_with_path(draw, shapes)


def make_net() -> jaxvis.Net:
    """The plugin function: no arguments, returns a ``jaxvis.Net``."""
    return jaxvis.from_flax(TinyResNet(), make_variables(), spec=SPEC, class_layer="head", name="tiny_resnet",
                            description="a random residual network on the demo world's 64x64 inputs",
                            ascent_lr_scale=100.0, source="examples.tiny_resnet:make_net")
