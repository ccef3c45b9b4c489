"""A small residual network written in Equinox, the way you would write your
own, and the plugin function that hands it to jaxvis.

    net = jaxvis.load_model("examples.tiny_equinox:make_net")
    jaxvis visualize --config=configs/demo.py --config.model=examples.tiny_equinox:make_net --workdir=DIR

``TinyResNet`` is plain Equinox (nothing in it knows about jaxvis), the
same architecture as ``examples/tiny_resnet.py``: a 3x3 conv stem with
BatchNorm, ReLU and a 2x2 max pool, one residual block
(conv-BN-ReLU-conv-BN plus the identity shortcut, ReLU after the sum), a
global average pool and a 10-way ``Linear`` head. As Equinox layers are, it
is written for one example [3, H, W] and threads the BatchNorm state:
``model(x, state) -> (logits, state)``. Its blobs (named by attribute path,
``jaxvis/models/frameworks/equinox.py``; jaxvis vmaps it over the batch and
gives the maps channels last) are those of the Flax version: ``stem``,
``stem_bn``, ``relu``, ``pool``, ``block/conv1``, ``block/bn1``,
``block/relu``, ``block/conv2``, ``block/bn2``, ``block/relu_1``,
``block``, ``gap`` and ``head``.

Input: the demo world's conventions (64x64, BGR, pixels 0..255 minus 128,
ten classes named as ``jaxvis.shapes.CLASSES``). The weights are random
from a fixed seed (batch statistics: mean 0, variance 1), drawn with numpy
on the shapes ``eqx.filter_eval_shape`` gives, so ``make_net()`` takes well
under a second; the model is built in training mode, as Equinox builds it,
and jaxvis runs it under ``eqx.nn.inference_mode``. ``ascent_lr_scale=100``
as for ``examples/tiny_resnet.py``.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

import jaxvis

NUM_CLASSES = 10
SEED = 0


class ResidualBlock(eqx.Module):
    """conv-BN-ReLU-conv-BN plus the identity shortcut, ReLU after the sum."""

    conv1: eqx.nn.Conv2d
    bn1: eqx.nn.BatchNorm
    conv2: eqx.nn.Conv2d
    bn2: eqx.nn.BatchNorm

    def __init__(self, features: int, *, key):
        key1, key2 = jax.random.split(key)
        self.conv1 = eqx.nn.Conv2d(features, features, 3, padding=1, use_bias=False, key=key1)
        self.bn1 = eqx.nn.BatchNorm(features, axis_name="batch", mode="batch")
        self.conv2 = eqx.nn.Conv2d(features, features, 3, padding=1, use_bias=False, key=key2)
        self.bn2 = eqx.nn.BatchNorm(features, axis_name="batch", mode="batch")

    def __call__(self, x, state):
        y, state = self.bn1(self.conv1(x), state)
        y, state = self.bn2(self.conv2(jax.nn.relu(y)), state)
        return jax.nn.relu(y + x), state


class GlobalAvgPool(eqx.Module):
    """The mean over H and W: [C, H, W] -> [C]."""

    def __call__(self, x):
        return jnp.mean(x, axis=(1, 2))


class TinyResNet(eqx.Module):
    """[3, 64, 64] -> logits [num_classes], with the BatchNorm state."""

    stem: eqx.nn.Conv2d
    stem_bn: eqx.nn.BatchNorm
    pool: eqx.nn.MaxPool2d
    block: ResidualBlock
    gap: GlobalAvgPool
    head: eqx.nn.Linear

    def __init__(self, width: int = 16, num_classes: int = NUM_CLASSES, *, key):
        key1, key2, key3 = jax.random.split(key, 3)
        self.stem = eqx.nn.Conv2d(3, width, 3, padding=1, use_bias=False, key=key1)
        self.stem_bn = eqx.nn.BatchNorm(width, axis_name="batch", mode="batch")
        self.pool = eqx.nn.MaxPool2d(2, 2)
        self.block = ResidualBlock(width, key=key2)
        self.gap = GlobalAvgPool()
        self.head = eqx.nn.Linear(width, num_classes, key=key3)

    def __call__(self, x, state):
        x, state = self.stem_bn(self.stem(x), state)
        x, state = self.block(self.pool(jax.nn.relu(x)), state)
        return self.head(self.gap(x)), state


SPEC = jaxvis.get_model_def("demo").spec  # the demo world's conventions: 64x64, BGR, 0..255 minus 128


def make_model(seed: int = SEED):
    """(``TinyResNet``, its ``eqx.nn.State``) with random weights from ``seed``:
    He-normal weights, zero biases, BatchNorm weight 1 and bias 0, running
    mean 0 and variance 1."""
    shapes = eqx.filter_eval_shape(eqx.nn.make_with_state(TinyResNet), key=jax.random.key(0))
    rng = np.random.default_rng(seed)

    def draw(path, leaf):
        if not isinstance(leaf, jax.ShapeDtypeStruct):
            return leaf
        name = getattr(path[-1], "name", None)
        if name == "weight" and len(leaf.shape) > 1:  # [out, in, kh, kw] or [out, in]: fan-in is all but the first
            return jnp.asarray(rng.normal(0.0, np.sqrt(2.0 / np.prod(leaf.shape[1:])), leaf.shape), leaf.dtype)
        # a BatchNorm's weight, the state's running variance (the second of each (mean, var) pair): 1; else 0
        one = name == "weight" or (getattr(path[-1], "idx", None) == 1 and name is None)
        return jnp.full(leaf.shape, 1 if one else 0, leaf.dtype)

    return jax.tree_util.tree_map_with_path(draw, shapes)


def make_net() -> jaxvis.Net:
    """The plugin function: no arguments, returns a ``jaxvis.Net``."""
    model, state = make_model()
    return jaxvis.from_equinox(model, state, spec=SPEC, class_layer="head", name="tiny_equinox",
                               description="a random residual network in Equinox on the demo world's 64x64 inputs",
                               ascent_lr_scale=100.0, source="examples.tiny_equinox:make_net")
