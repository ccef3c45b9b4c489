"""Receptive-field crops give exactly the whole-image ascent."""

import jax
import numpy as np
import pytest

import jaxvis
from jaxvis.optimize import run_layer
from jaxvis.optimize.crop import cone_windows, plan_crop


def test_plans_follow_the_architecture():
    d = jaxvis.get_model_def("caffenet")
    table = {i.name: i for i in d.table()}
    plan, y0, x0 = plan_crop(table["conv5"], [6], [6], (227, 227))
    assert (plan.size, plan.target, int(y0[0])) == (163, 4, 32)  # field 32..194, centre unit (6, 6)
    assert not plan.unpadded  # not asked for: the layers were not given
    assert plan_crop(table["conv5"], [0], [6], (227, 227))[0] is None  # field leaves the image
    plan, y0, _ = plan_crop(table["conv1"], [10], [3], (227, 227))
    assert (plan.size, plan.target, int(y0[0])) == (11, 0, 40)
    assert plan_crop(table["fc6"], [0], [0], (227, 227))[0] is None


@pytest.fixture(scope="module")
def caffenet():
    return jaxvis.load_model("caffenet", weights="random", seed=1)


@pytest.mark.parametrize("layer,ys,xs", [("conv5", [6, 6, 5], [6, 7, 6]), ("conv2", [10, 3], [12, 20])])
def test_crop_equals_whole_image(caffenet, layer, ys, xs):
    n = len(ys)
    settings = dict(jaxvis.optimize.preset("row3").to_dict(), steps=4, blur_every=2)
    keys = jax.vmap(lambda i: jax.random.fold_in(jax.random.key(0), i))(np.arange(n))
    channels = np.arange(n) * 7
    assert plan_crop(caffenet.layer(layer), ys, xs, (227, 227))[0] is not None
    fast = run_layer(caffenet, layer, channels, ys, xs, keys, settings)
    full = run_layer(caffenet, layer, channels, ys, xs, keys, settings, use_crops=False)
    np.testing.assert_allclose(fast.trace, full.trace, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(fast.best_x, full.best_x, rtol=1e-4, atol=1e-3)


def test_cone_windows_follow_the_architecture():
    d = jaxvis.get_model_def("caffenet")
    table = {i.name: i for i in d.table()}
    plan, _, _ = plan_crop(table["conv5"], [6], [6], (227, 227), d.layers)
    assert plan.unpadded and plan.target == 0
    windows = cone_windows(d.layers, "conv5", 163, 4)
    read = {spec.name: w for spec, w in zip(d.layers, windows) if w is not None}
    # Hand-derived from CaffeNet's kernels, strides and pads (crop.py's docstring).
    assert read == {"conv1": (0, 163), "pool1": (0, 39), "conv2": (0, 19), "pool2": (2, 17),
                    "conv3": (1, 8), "conv4": (2, 7), "conv5": (3, 6)}


def test_cone_gives_the_unit_and_its_gradient_exactly(caffenet):
    """The cone forward on the crop vs the plain forward on the whole image."""
    x = jax.random.normal(jax.random.key(3), (1, 227, 227, 3)) * 60.0
    plan, y0, x0 = plan_crop(caffenet.layer("conv5"), [7], [5], (227, 227), caffenet.definition.layers)

    def full(x):
        return caffenet.apply(caffenet.params, x, until="conv5")["conv5"][0, 7, 5, 40]

    def cone(x):
        crop = x[:, y0[0]:y0[0] + plan.size, x0[0]:x0[0] + plan.size]
        out = caffenet.apply(caffenet.params, crop, until="conv5", unpadded=True)["conv5"]
        assert out.shape == (1, 1, 1, 256)
        return out[0, 0, 0, 40]

    np.testing.assert_allclose(jax.jit(cone)(x), jax.jit(full)(x), rtol=1e-5)
    g_cone, g_full = jax.jit(jax.grad(cone))(x), jax.jit(jax.grad(full))(x)
    assert np.abs(g_full).max() > 0
    np.testing.assert_allclose(g_cone, g_full, rtol=1e-4, atol=1e-6 * float(np.abs(g_full).max()))
