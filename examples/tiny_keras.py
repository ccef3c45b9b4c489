"""A small Keras 3 network, written the way you would write your own, and
the plugin function that hands it to jaxvis.

    net = jaxvis.load_model("examples.tiny_keras:make_net")
    jaxvis visualize --config=configs/demo.py --config.model=examples.tiny_keras:make_net --workdir=DIR

``tiny_keras()`` is plain Keras (nothing in it knows about jaxvis), a
Functional model: a 3x3 conv stem with a fused ReLU, BatchNormalization and
a 2x2 max pool, one residual block (conv-BN-ReLU-conv plus the identity
shortcut, a ReLU after the sum), a global average pool and a 10-way
``Dense`` head named ``head``. Its blobs (``jaxvis inspect
--model=examples.tiny_keras:make_net``): ``stem/relu``, ``stem``,
``stem_bn``, ``pool``, ``conv1``, ``bn1``, ``relu1/relu``, ``relu1``,
``conv2``, ``add``, ``block/relu``, ``block``, ``gap`` and ``head``
(``jaxvis/models/frameworks/keras.py`` names them). Every layer is named:
Keras numbers unnamed layers by how many it made before in the process, so
names given here keep the blobs the same in every process.

Keras must run on the JAX backend: this module sets ``KERAS_BACKEND=jax``
unless it is set, so import it before anything imports keras.

Input: the demo world's conventions (those of ``jaxvis.load_model("demo")``):
64x64, BGR, pixels 0..255 minus 128, ten classes named as
``jaxvis.shapes.CLASSES``, so images of ``jaxvis.shapes`` and the demo job
configs fit it as they are. The weights are random from a fixed seed
(He-normal kernels, zero biases, BatchNormalization's moving mean 0 and
variance 1), so ``make_net()`` returns the same network in every process;
it has not been trained. ``ascent_lr_scale=100`` for the reason
``examples/tiny_resnet.py`` gives.
"""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import layers  # noqa: E402

import jaxvis  # noqa: E402

NUM_CLASSES = 10
INPUT_SIZE = 64
SEED = 0
SPEC = jaxvis.get_model_def("demo").spec  # the demo world's conventions: 64x64, BGR, 0..255 minus 128


def tiny_keras(width: int = 16, num_classes: int = NUM_CLASSES) -> keras.Model:
    """[B, 64, 64, 3] -> logits [B, num_classes]."""
    image = keras.Input((INPUT_SIZE, INPUT_SIZE, 3), name="image")
    x = layers.Conv2D(width, 3, padding="same", activation="relu", name="stem")(image)
    x = layers.BatchNormalization(name="stem_bn")(x)
    x = layers.MaxPooling2D(2, name="pool")(x)
    y = layers.Conv2D(width, 3, padding="same", use_bias=False, name="conv1")(x)
    y = layers.BatchNormalization(name="bn1")(y)
    y = layers.ReLU(name="relu1")(y)
    y = layers.Conv2D(width, 3, padding="same", name="conv2")(y)
    x = layers.Activation("relu", name="block")(layers.Add(name="add")([x, y]))
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    return keras.Model(image, layers.Dense(num_classes, name="head")(x), name="tiny_keras")


def randomize(model: keras.Model, seed: int = SEED) -> keras.Model:
    """Sets every weight from ``seed`` with numpy: He-normal kernels (fan-in:
    every axis but the last), zero biases and BatchNormalization offsets,
    scale 1, moving mean 0 and variance 1."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        for variable in layer.weights:
            shape, name = tuple(variable.shape), variable.name
            if name == "kernel":
                value = rng.normal(0.0, np.sqrt(2.0 / np.prod(shape[:-1])), shape)
            else:
                value = np.full(shape, 1.0 if name in ("gamma", "moving_variance") else 0.0)
            variable.assign(value.astype(np.float32))
    return model


def make_net() -> jaxvis.Net:
    """The plugin function: no arguments, returns a ``jaxvis.Net``."""
    return jaxvis.from_keras(randomize(tiny_keras()), spec=SPEC, class_layer="head", name="tiny_keras",
                             description="a random residual Keras network on the demo world's 64x64 inputs",
                             ascent_lr_scale=100.0, source="examples.tiny_keras:make_net")
