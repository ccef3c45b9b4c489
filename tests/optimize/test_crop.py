"""Receptive-field crops give exactly the whole-image ascent."""

import jax
import numpy as np
import pytest

import jaxvis
from jaxvis.optimize import run_layer
from jaxvis.optimize.crop import plan_crop


def test_plans_follow_the_architecture():
    d = jaxvis.get_model_def("caffenet")
    table = {i.name: i for i in d.table()}
    plan, y0, x0 = plan_crop(table["conv5"], [6], [6], (227, 227))
    assert (plan.size, plan.target, int(y0[0])) == (163, 4, 32)  # field 32..194, centre unit (6, 6)
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
