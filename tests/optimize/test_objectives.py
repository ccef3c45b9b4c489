"""Composable objectives and the diversity term against numpy loops."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxvis
from jaxvis.errors import ConfigError, UnitError
from jaxvis.optimize import objectives as O

RNG = np.random.default_rng(4)


def numpy_diversity(blob, d, group):
    """-sum_i d_i mean_{j != i in i's group} cos(G_i, G_j), pair by pair."""
    n = blob.shape[0]
    feats = []
    for i in range(n):
        if blob.ndim == 4:
            a = blob[i].reshape(-1, blob.shape[-1]).astype(np.float64)
            feats.append((a.T @ a / a.shape[0]).reshape(-1))
        else:
            feats.append(blob[i].astype(np.float64))
    total = 0.0
    for i in range(n):
        others = [j for j in range(n) if j != i and group[j] == group[i]]
        if not others:
            continue
        cos = [feats[i] @ feats[j] / (np.linalg.norm(feats[i]) * np.linalg.norm(feats[j])) for j in others]
        total -= d[i] * np.mean(cos)
    return total


@pytest.mark.parametrize("shape", [(6, 3, 4, 5), (6, 7)])
def test_diversity_term_equals_a_loop_over_pairs(shape):
    blob = RNG.normal(size=shape).astype(np.float32)
    d = np.array([1.0, 0.5, 0.0, 2.0, 1.0, 3.0], np.float32)
    group = np.array([0, 0, 0, 1, 1, 2], np.int32)  # element 5 is alone: adds nothing
    got = jax.jit(O.diversity_term)(jnp.asarray(blob), jnp.asarray(d), jnp.asarray(group))
    np.testing.assert_allclose(float(got), numpy_diversity(blob, d, group), rtol=1e-5)


def test_diversity_term_is_zero_without_weights_and_pushes_restarts_apart():
    blob = RNG.normal(size=(4, 2, 2, 3)).astype(np.float32)
    zero = O.diversity_term(jnp.asarray(blob), jnp.zeros(4), jnp.zeros(4, jnp.int32))
    assert float(zero) == 0.0
    same = np.repeat(blob[:1], 2, axis=0)
    # two identical restarts: cosine 1, so the term is -d; gradient ascent moves them apart
    np.testing.assert_allclose(float(O.diversity_term(jnp.asarray(same), jnp.ones(2), jnp.zeros(2, jnp.int32))),
                               -2.0, rtol=1e-6)


def test_values_of_each_kind_equal_numpy():
    blob = RNG.normal(size=(3, 4, 5, 6)).astype(np.float32)
    ch, y, x = np.array([1, 2, 5]), np.array([0, 3, 2]), np.array([4, 1, 0])
    w = RNG.normal(size=(3, 4, 5, 6)).astype(np.float32)
    kind = np.array([O.NEURON, O.CHANNEL, O.WEIGHTS])
    got = np.asarray(O.values(jnp.asarray(blob), ch, y, x, jnp.asarray(kind), jnp.asarray(w), spatial=True))
    want = [blob[0, 0, 4, 1], blob[1, :, :, 2].mean(), (blob[2] * w[2]).sum()]
    np.testing.assert_allclose(got, want, rtol=1e-5)


@pytest.fixture(scope="module")
def demo():
    return jaxvis.load_model("demo", weights="random", seed=3)


def test_weighted_sums_compile_to_the_sum_of_their_terms(demo):
    """An objective's dense map, applied to real blobs, equals numpy's sum of its terms."""
    x = jnp.asarray(RNG.normal(0, 30, (2, 64, 64, 3)).astype(np.float32))
    blob = np.asarray(demo.blobs(x, until="conv4")["conv4"], np.float64)
    vec = RNG.normal(size=blob.shape[-1])
    obj = O.channel("conv4", 3) - 0.5 * O.neuron("conv4", 7, 2, 9) + 2 * O.direction("conv4", vec) \
        + O.direction("conv4", vec, 1, 1) * -1
    layer, kind, *_, w = O.compile_one(demo, obj)
    assert (layer, kind) == ("conv4", O.WEIGHTS)
    want = (blob[:, :, :, 3].mean((1, 2)) - 0.5 * blob[:, 2, 9, 7] + 2 * (blob @ vec).mean((1, 2))
            - blob[:, 1, 1] @ vec)
    np.testing.assert_allclose((blob * w).sum((1, 2, 3)), want, rtol=1e-4)


def test_lone_terms_compile_to_indices(demo):
    assert O.compile_one(demo, O.neuron("conv5", 4)) == ("conv5", O.NEURON, 4, 8, 8, None)
    assert O.compile_one(demo, O.channel("conv5", 4))[:3] == ("conv5", O.CHANNEL, 4)
    assert O.compile_one(demo, O.class_logit(7)) == (demo.class_layer, O.NEURON, 7, 0, 0, None)


def test_objective_errors_name_what_is_wrong(demo):
    with pytest.raises(UnitError, match="share one layer"):
        O.compile_one(demo, O.neuron("conv5", 1) + O.neuron("conv4", 1))
    with pytest.raises(ConfigError, match="48 entries"):
        O.compile_one(demo, O.direction("conv5", np.ones(3)) + O.neuron("conv5", 1))
    with pytest.raises(UnitError, match="channels 0..47"):
        O.compile_one(demo, O.channel("conv5", 99))
    with pytest.raises(ConfigError, match="both y and x"):
        O.neuron("conv5", 1, y=2)


def test_visualize_runs_a_composed_objective_and_reports_its_value(demo):
    obj = O.channel("conv5", 3) - 0.5 * O.neuron("conv5", 7)
    res = jaxvis.visualize(demo, [obj, ("conv5", 2)], preset="row3", restarts=1, steps=3)
    blob = np.asarray(demo.blobs(jnp.asarray(res.x[:, 0]), until="conv5")["conv5"])
    np.testing.assert_allclose(res.best_value[:, 0], [blob[0, :, :, 3].mean() - 0.5 * blob[0, 8, 8, 7],
                                                      blob[1, 8, 8, 2]], rtol=1e-4, atol=1e-4)
    assert res.units[0] is obj


def numpy_redirected(x, g):
    """Lucid's redirected ReLU gradient per row, with g the gradient of an objective to maximise."""
    out = np.empty_like(g)
    for i in range(len(x)):
        passed = np.where(x[i] > 0, g[i], 0.0)
        out[i] = passed if np.any(passed != 0) else np.where((x[i] < 0) & (g[i] < 0), 0.0, g[i])
    return out


def test_redirected_relu_gradient_equals_lucids_rule():
    from jaxvis.ops.backward import relu
    x = np.array([[-1.0, 2.0, -0.5], [-3.0, -4.0, -1.0], [1.0, -2.0, 0.5]], np.float32)
    g = np.array([[0.3, 0.7, -1.0], [-0.2, 0.4, 0.9], [0.0, -0.6, 0.0]], np.float32)
    _, vjp = jax.vjp(lambda x: relu(x, "redirected"), jnp.asarray(x))
    np.testing.assert_array_equal(np.asarray(vjp(jnp.asarray(g))[0]), numpy_redirected(x, g))


def test_redirect_steps_wake_a_unit_that_never_fires():
    """A unit relu(w.z - 50) that is off everywhere near the start image: the
    plain gradient is zero and nothing moves; redirected for 3 steps, it fires."""
    from jaxvis.optimize.ascent import Theta, Units, ascend
    w = RNG.normal(size=(5, 4, 3)).astype(np.float32)

    def apply(params, x, until=None):
        return {"u": jax.nn.relu(jnp.sum(x * w, axis=(1, 2, 3)) - 50.0)[:, None]}

    n, steps = 2, 6
    z = jnp.zeros((n,), jnp.float32)
    theta = Theta(z, z, z.astype(jnp.int32), z, z, z.astype(jnp.int32), jnp.full((n,), 1.0), z,
                  jnp.full((n,), steps, jnp.int32))
    objective = O.neurons(n)._replace(redirect_steps=jnp.asarray([0, 3], jnp.int32))
    out = ascend(apply, None, jnp.zeros((n, 5, 4, 3)), Units(*[jnp.zeros(n, jnp.int32)] * 3), theta, -1e9, 1e9,
                 layer="u", spatial=False, max_steps=steps, radius=0, objective=objective)
    assert float(out.final_value[0]) == 0.0  # plain: stuck
    assert float(out.final_value[1]) > 0.0  # redirected: fires, then plain gradients take over
