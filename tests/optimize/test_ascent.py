"""The ascent step order against a numpy re-implementation, batching
invariance, per-element theta, NaN handling and unit errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.ndimage

import jaxvis
from jaxvis.errors import UnitError
from jaxvis.optimize import regularizers as R
from jaxvis.optimize.ascent import Theta, Units, ascend

H, W, C = 9, 8, 3
RNG = np.random.default_rng(0)
WEIGHT = RNG.normal(size=(H, W, C)).astype(np.float32)
CURVE = RNG.uniform(-0.05, 0.05, (H, W, C)).astype(np.float32)


def toy_apply(params, x, until=None):
    """a(x) = sum(w x) + 0.5 sum(v x^2): da/dx = w + v x depends on x."""
    return {"toy": (jnp.sum(x * WEIGHT, axis=(1, 2, 3)) + 0.5 * jnp.sum(CURVE * x * x, axis=(1, 2, 3)))[:, None]}


def numpy_step(x, step, th, lower, upper):
    """The step of docs/ascent.md, literally."""
    g = WEIGHT + CURVE * x                                        # 1. gradient at x
    lr = min(th["lr"], th["dp"] / (g ** 2).sum()) if th["progress"] else th["lr"]
    x = x + lr * g                                                # 2.
    x = (1 - th["decay"]) * x                                     # 3. decay
    if th["every"] > 0 and step % th["every"] == 0 and th["width"] > 0:
        x = scipy.ndimage.gaussian_filter(x.astype(np.float64), (th["width"], th["width"], 0))  # 4. blur
    norms = np.sqrt((x ** 2).sum(-1))                             # 5. small norm
    if th["npct"] > 0:
        x = np.where((norms < np.percentile(norms, th["npct"]))[..., None], 0, x)
    contrib = np.abs((x * g).sum(-1))                             # 6. contribution, g from step 1
    if th["cpct"] > 0:
        x = np.where((contrib < np.percentile(contrib, th["cpct"]))[..., None], 0, x)
    return np.clip(x, lower, upper)                               # 7. valid range


def theta_of(ths, steps):
    f = lambda k, d=jnp.float32: jnp.asarray([t[k] for t in ths], d)  # noqa: E731
    return Theta(f("decay"), f("width"), f("every", jnp.int32), f("npct"), f("cpct"),
                 f("progress", jnp.int32), f("lr"), f("dp"), jnp.full((len(ths),), steps, jnp.int32))


THETAS = [
    dict(decay=0.01, width=1.0, every=2, npct=30.0, cpct=40.0, progress=0, lr=2.0, dp=0.0),
    dict(decay=0.0, width=0.5, every=3, npct=0.0, cpct=90.0, progress=1, lr=1e8, dp=2.0),
    dict(decay=0.3, width=0.0, every=0, npct=20.0, cpct=0.0, progress=0, lr=5.0, dp=0.0),
]


def test_step_order_matches_numpy_reference():
    steps = 5
    x0 = RNG.normal(0, 3, (len(THETAS), H, W, C)).astype(np.float32)
    lower, upper = np.float32(-6.0), np.float32(7.0)
    zeros = jnp.zeros((len(THETAS),), jnp.int32)
    out = ascend(toy_apply, None, jnp.asarray(x0), Units(zeros, zeros, zeros), theta_of(THETAS, steps),
                 lower, upper, layer="toy", spatial=False, max_steps=steps, radius=R.blur_radius(1.0))
    for i, th in enumerate(THETAS):
        x, values = x0[i].astype(np.float64), []
        for t in range(steps):
            values.append((WEIGHT * x).sum() + 0.5 * (CURVE * x * x).sum())
            x = numpy_step(x, t, th, lower, upper)
        final = (WEIGHT * x).sum() + 0.5 * (CURVE * x * x).sum()
        np.testing.assert_allclose(out.trace[i], values, rtol=1e-4, atol=1e-3)
        np.testing.assert_allclose(out.final_value[i], final, rtol=1e-4, atol=1e-3)
        all_values = values + [final]
        assert out.best_step[i] == int(np.argmax(all_values))
        np.testing.assert_allclose(out.best_value[i], max(all_values), rtol=1e-4)


def test_nan_is_reported_per_element_and_others_continue():
    def theta_row(lr):
        return dict(THETAS[2], lr=lr)
    x0 = RNG.normal(0, 1, (2, H, W, C)).astype(np.float32)
    zeros = jnp.zeros((2,), jnp.int32)
    out = ascend(toy_apply, None, jnp.asarray(x0), Units(zeros, zeros, zeros),
                 theta_of([theta_row(np.nan), theta_row(1.0)], 4), np.float32(-1e9), np.float32(1e9),
                 layer="toy", spatial=False, max_steps=4, radius=0)
    assert out.failed_step.tolist() == [0, -1]
    assert np.all(np.isfinite(np.asarray(out.best_x[0])))
    assert np.isfinite(out.final_value[1]) and out.final_value[1] > out.trace[1][0]


@pytest.fixture(scope="module")
def demo():
    return jaxvis.load_model("demo", weights="random", seed=3)


def test_batched_equals_one_by_one(demo):
    units = [("conv5", 3), ("conv5", 7, 2, 5), ("conv3", 11), ("fc8", 4)]  # crops and whole images
    kw = dict(preset="row3", restarts=2, seed=5, steps=8)
    together = jaxvis.visualize(demo, units, **kw)
    for i, unit in enumerate(units):
        alone = jaxvis.visualize(demo, [unit], **kw)
        np.testing.assert_allclose(together.x[i], alone.x[0], rtol=1e-4, atol=1e-3)
        np.testing.assert_allclose(together.best_value[i], alone.best_value[0], rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(together.trace[i], alone.trace[0], rtol=1e-4, atol=1e-4)


def test_mixed_theta_batch_equals_separate_runs(demo):
    from jaxvis.optimize import run_layer

    rows = [jaxvis.optimize.preset(r).to_dict() for r in ("row1", "row2", "row3", "row4")]
    for r in rows:
        r["steps"] = 9
    mixed = {k: np.array([r[k] for r in rows]) for k in rows[0]}
    keys = jax.vmap(lambda i: jax.random.fold_in(jax.random.key(0), i))(jnp.arange(4))
    ch, yx = np.array([1, 2, 3, 4]), np.array([4, 4, 4, 4])
    together = run_layer(demo, "conv4", ch, yx, yx, keys, mixed)
    for i, r in enumerate(rows):
        alone = run_layer(demo, "conv4", ch[i:i + 1], yx[:1], yx[:1], keys[i:i + 1], r)
        np.testing.assert_allclose(together.best_x[i], alone.best_x[0], rtol=1e-4, atol=1e-3)
        np.testing.assert_allclose(together.trace[i], alone.trace[0], rtol=1e-4, atol=1e-4)


def test_changing_theta_units_or_seed_does_not_recompile(demo):
    from jaxvis.optimize.ascent import ascent_step

    jaxvis.visualize(demo, [("conv5", 1), ("conv5", 2)], restarts=1, steps=3, seed=0)
    before = ascent_step._cache_size()
    jaxvis.visualize(demo, [("conv5", 9), ("conv5", 4, 1, 1)], restarts=1, steps=3, seed=7, decay=0.2,
                     blur_every=2, norm_pct=10.0)
    assert ascent_step._cache_size() == before


def test_crop_path_is_taken_and_does_not_recompile(demo, monkeypatch):
    """demo conv2's receptive field, from its layers (conv1 5x5/1 pad 2, pool1 3x3/2,
    conv2 5x5/1 pad 2): 15 px, 2 px apart, unit 0 from pixel -6, a multiple of the
    stride, so units 3..27 (field inside the 64-px image) run on crops, cone only."""

    from jaxvis.optimize import visualization as V
    from jaxvis.optimize.ascent import ascent_step
    from jaxvis.optimize.crop import CropPlan
    crops, real_ascend = [], V.ascend

    def spy(*args, **kwargs):
        crops.append(kwargs["crop"])
        return real_ascend(*args, **kwargs)

    monkeypatch.setattr(V, "ascend", spy)
    start = ascent_step._cache_size()
    jaxvis.visualize(demo, [("conv2", 1, 8, 8), ("conv2", 2, 10, 12)], restarts=1, steps=3, seed=0)
    before = ascent_step._cache_size()
    assert before - start <= 1  # at most one program for all the steps (none if already compiled)
    units = [("conv2", 9, 20, 3), ("conv2", 4, 27, 15)]
    res = jaxvis.visualize(demo, units, restarts=1, steps=3, seed=7, decay=0.2, blur_every=2, norm_pct=10.0)
    assert ascent_step._cache_size() == before  # other units, theta and seed: the same program
    assert crops == [CropPlan(size=15, target=0, unpadded=True)] * 2
    # The crop's objective is the unit's value on the whole image.
    blob = np.asarray(demo.blobs(jnp.asarray(res.x[:, 0]), until="conv2")["conv2"])
    np.testing.assert_allclose(res.best_value[:, 0], [blob[i, y, x, c] for i, (_, c, y, x) in enumerate(units)],
                               rtol=1e-4, atol=1e-4)


def test_unit_errors_state_the_valid_range(demo):
    with pytest.raises(UnitError, match=r"channels 0\.\.47, got 48"):
        jaxvis.visualize(demo, [("conv5", 48)], steps=1)
    with pytest.raises(UnitError, match=r"y in 0\.\.15, x in 0\.\.15; got \(16, 0\)"):
        jaxvis.visualize(demo, [("conv5", 0, 16, 0)], steps=1)
    with pytest.raises(UnitError, match="fully connected.*no \\(y, x\\)"):
        jaxvis.visualize(demo, [("fc8", 0, 1, 1)], steps=1)
    with pytest.raises(UnitError, match="has no layer 'conv9'.*conv1, relu1"):
        jaxvis.visualize(demo, [("conv9", 0)], steps=1)
