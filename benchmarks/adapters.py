"""Do the framework adapters cost anything? One ascent (``jaxvis.visualize``,
Table 1's row 3) on the same small residual network written in Flax NNX,
Keras 3 and Equinox, each through its adapter (``from_nnx``, ``from_keras``,
``from_equinox``: every blob traced out of the framework's own forward) and
through ``from_function`` (the same framework forward, with the two blobs the
objective needs returned by hand), measured side by side in one run.

    python benchmarks/adapters.py [--size 96] [--units 8] [--restarts 4] [--steps 20] [--repeats 3]

The ratio is adapter time / from_function time: 1.0 means the adapter adds
nothing (jaxvis's target: within 10%).
"""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("KERAS_BACKEND", "jax")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import jaxvis  # noqa: E402
from benchmarks.timing import best_time, cpu_model  # noqa: E402

WIDTH, CLASSES = 32, 10


def spec(size: int) -> jaxvis.PreprocessSpec:
    return jaxvis.PreprocessSpec(input_size=(size, size), channel_order="RGB", scale=1 / 255,
                                 color_statistics="imagenet")


# --- Flax NNX ---------------------------------------------------------------------------------

def nnx_nets(size: int):
    from flax import nnx

    class Net(nnx.Module):
        def __init__(self, rngs):
            self.conv1 = nnx.Conv(3, WIDTH, (3, 3), strides=2, rngs=rngs)
            self.bn1 = nnx.BatchNorm(WIDTH, rngs=rngs)
            self.conv2 = nnx.Conv(WIDTH, WIDTH, (3, 3), rngs=rngs)
            self.bn2 = nnx.BatchNorm(WIDTH, rngs=rngs)
            self.head = nnx.Linear(WIDTH, CLASSES, rngs=rngs)

        def trunk(self, x):
            x = nnx.relu(self.bn1(self.conv1(x)))
            return x, self.conv2(x)

        def __call__(self, x):
            x, conv2 = self.trunk(x)
            return self.head(nnx.relu(self.bn2(conv2) + x).mean((1, 2)))

    module = Net(nnx.Rngs(0))
    module.eval()
    graphdef, state = nnx.split(module)

    def by_hand(state, x):
        m = nnx.merge(graphdef, state)
        y, conv2 = m.trunk(x)
        return {"conv2": conv2, "head": m.head(nnx.relu(m.bn2(conv2) + y).mean((1, 2)))}

    return (jaxvis.from_nnx(module, spec=spec(size), class_layer="head"),
            jaxvis.from_function(by_hand, state, spec=spec(size), class_layer="head"))


# --- Keras 3 ----------------------------------------------------------------------------------

def keras_nets(size: int):
    import keras

    inputs = keras.Input((size, size, 3))
    x = keras.layers.Conv2D(WIDTH, 3, strides=2, padding="same", name="conv1")(inputs)
    x = keras.layers.ReLU(name="relu1")(keras.layers.BatchNormalization(name="bn1")(x))
    y = keras.layers.Conv2D(WIDTH, 3, padding="same", name="conv2")(x)
    y = keras.layers.ReLU(name="relu2")(keras.layers.Add(name="add")([keras.layers.BatchNormalization(name="bn2")(y),
                                                                      x]))
    logits = keras.layers.Dense(CLASSES, name="head")(keras.layers.GlobalAveragePooling2D(name="pool")(y))
    model = keras.Model(inputs, logits)
    two = keras.Model(inputs, [model.get_layer("conv2").output, logits])
    params = ([v.value for v in two.trainable_variables], [v.value for v in two.non_trainable_variables])

    def by_hand(params, x):
        (conv2, head), _ = two.stateless_call(*params, x, training=False)
        return {"conv2": conv2, "head": head}

    return (jaxvis.from_keras(model, spec=spec(size), class_layer="head"),
            jaxvis.from_function(by_hand, params, spec=spec(size), class_layer="head"))


# --- Equinox ----------------------------------------------------------------------------------

def equinox_nets(size: int):
    import equinox as eqx

    class Net(eqx.Module):
        conv1: eqx.nn.Conv2d
        conv2: eqx.nn.Conv2d
        head: eqx.nn.Linear

        def __init__(self, key):
            k1, k2, k3 = jax.random.split(key, 3)
            self.conv1 = eqx.nn.Conv2d(3, WIDTH, 3, stride=2, padding=1, key=k1)
            self.conv2 = eqx.nn.Conv2d(WIDTH, WIDTH, 3, padding=1, key=k2)
            self.head = eqx.nn.Linear(WIDTH, CLASSES, key=k3)

        def trunk(self, x):  # x: [3, H, W], one image, as Equinox layers take it
            x = jax.nn.relu(self.conv1(x))
            return x, self.conv2(x)

        def __call__(self, x):
            x, conv2 = self.trunk(x)
            return self.head(jax.nn.relu(conv2 + x).mean((1, 2)))

    model = Net(jax.random.key(0))
    params, static = eqx.partition(model, eqx.is_array)

    def by_hand(params, x):
        m = eqx.combine(params, static)

        def one(image):
            y, conv2 = m.trunk(jnp.moveaxis(image, -1, 0))
            return {"conv2": jnp.moveaxis(conv2, 0, -1), "head": m.head(jax.nn.relu(conv2 + y).mean((1, 2)))}

        return jax.vmap(one)(x)

    return (jaxvis.from_equinox(model, spec=spec(size), class_layer="head"),
            jaxvis.from_function(by_hand, params, spec=spec(size), class_layer="head"))


FRAMEWORKS = {"nnx": nnx_nets, "keras": keras_nets, "equinox": equinox_nets}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--frameworks", default=",".join(FRAMEWORKS))
    ap.add_argument("--size", type=int, default=96)
    ap.add_argument("--units", type=int, default=8)
    ap.add_argument("--restarts", type=int, default=4)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    print(f"device: {jax.devices()[0].device_kind} ({jax.default_backend()}, {cpu_model()}); {args.size}x{args.size} "
          f"input, {args.units} conv2 units + {args.units} class units x {args.restarts} restarts x {args.steps} steps")
    print(f"{'framework':10s} {'adapter s':>10s} {'from_function s':>16s} {'adapter/function':>17s} {'blobs':>6s}")
    for name in args.frameworks.split(","):
        adapted, by_hand = FRAMEWORKS[name](args.size)
        units = [("conv2", c) for c in range(args.units)] + [("head", c) for c in range(args.units)]
        a0, b0 = adapted.blobs(np.zeros((1, args.size, args.size, 3), np.float32)), None
        b0 = by_hand.blobs(np.zeros((1, args.size, args.size, 3), np.float32))
        np.testing.assert_allclose(np.asarray(a0["conv2"]), np.asarray(b0["conv2"]), rtol=1e-5, atol=1e-6)

        def run(net):
            return lambda: jax.block_until_ready(
                jaxvis.visualize(net, units, preset="row3", restarts=args.restarts, steps=args.steps).images)

        ta, tf = best_time(run(adapted), args.repeats), best_time(run(by_hand), args.repeats)
        print(f"{name:10s} {ta:10.2f} {tf:16.2f} {ta / tf:17.3f} {len(adapted.layer_names):6d}")


if __name__ == "__main__":
    main()
