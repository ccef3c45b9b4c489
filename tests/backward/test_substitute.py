"""``with_relu_backward``: the ReLU backward rules substituted into any JAX
function, against hand-written references, jaxvis's own projections and
switch pooling."""

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

import jaxvis
from jaxvis.backward.substitute import with_relu_backward
from jaxvis.errors import ConfigError
from jaxvis.ops import backward

MODES = ("backprop", "deconv", "guided")


# --- A network in plain jax/flax, and its reference with an explicit custom-VJP ReLU -------------

def _reference_relu(mode):
    """ReLU whose VJP is mode's rule of docs/projections.md, written out here."""

    @jax.custom_vjp
    def relu(x):
        return jnp.maximum(x, 0.0)

    def fwd(x):
        return jnp.maximum(x, 0.0), x

    def bwd(x, u):
        rule = {"backprop": lambda: u * (x > 0),
                "deconv": lambda: jnp.maximum(u, 0.0),
                "guided": lambda: jnp.maximum(u, 0.0) * (x > 0)}[mode]
        return (rule(),)

    relu.defvjp(fwd, bwd)
    return relu


class _Plain(nn.Module):
    """conv -> relu -> 3x3/2 max pool (overlapping) -> conv -> relu -> + residual -> dense."""
    relu: callable = jax.nn.relu

    @nn.compact
    def __call__(self, x):  # x: [B, 13, 13, 3] -> [B, 5]
        h = self.relu(nn.Conv(6, (3, 3), padding="SAME")(x))
        h = nn.max_pool(h, (3, 3), strides=(2, 2))  # [B, 6, 6, 6]
        h = h + self.relu(nn.Conv(6, (3, 3), padding="SAME")(h))
        return nn.Dense(5)(h.reshape(h.shape[0], -1))


@pytest.fixture(scope="module")
def plain():
    x = jax.random.normal(jax.random.PRNGKey(0), (2, 13, 13, 3))
    params = _Plain().init(jax.random.PRNGKey(1), x)
    return params, x


def _unit_vjp(fn, params, x, unit=3):
    """(forward [B, 5], VJP of sum_b fn(params, x)[b, unit] w.r.t. (params, x))."""
    out, pullback = jax.vjp(fn, params, x)
    return out, pullback(jnp.zeros_like(out).at[:, unit].set(1.0))


@pytest.mark.parametrize("mode", MODES)
def test_plain_network_matches_explicit_custom_vjp_relu(plain, mode):
    params, x = plain
    out, (gp, gx) = _unit_vjp(with_relu_backward(_Plain().apply, mode), params, x)
    ref_out, (rp, rx) = _unit_vjp(_Plain(relu=_reference_relu(mode)).apply, params, x)
    np.testing.assert_array_equal(out, _Plain().apply(params, x))  # the forward is unchanged
    np.testing.assert_allclose(gx, rx, rtol=1e-6, atol=1e-7 * float(np.abs(rx).max()))
    for g, r in zip(jax.tree.leaves(gp), jax.tree.leaves(rp)):
        np.testing.assert_allclose(g, r, rtol=1e-6, atol=1e-7 * float(np.abs(r).max()))
    if mode == "backprop":  # the identity transformation: jax's own gradient
        np.testing.assert_array_equal(gx, _unit_vjp(_Plain().apply, params, x)[1][1])


def test_the_three_modes_differ(plain):
    """Guards the test above against a network where the rules coincide."""
    params, x = plain
    gx = {m: _unit_vjp(with_relu_backward(_Plain().apply, m), params, x)[1][1] for m in MODES}
    for a, b in (("backprop", "deconv"), ("backprop", "guided"), ("deconv", "guided")):
        assert np.abs(gx[a] - gx[b]).max() > 1e-3 * np.abs(gx[a]).max(), (a, b)


# --- Max pooling's ordinary gradient against jaxvis's switches -----------------------------------

def _pool_vjp(pool, x, g):
    y, pullback = jax.vjp(pool, jnp.asarray(x, jnp.float32)[None, :, :, None])
    return np.asarray(y[0, :, :, 0]), np.asarray(pullback(jnp.asarray(g, jnp.float32)[None, :, :, None])[0][0, :, :, 0])


def _reduce_window_pool(v):
    return lax.reduce_window(v, -jnp.inf, lax.max, (1, 3, 3, 1), (1, 2, 2, 1), "VALID")


def test_reduce_window_max_gradient_goes_to_the_first_maximum():
    x = [[7, 0, 7, 0, 1],
         [0, 0, 0, 0, 0],
         [0, 0, 6, 0, 6],
         [0, 0, 0, 0, 0],
         [3, 3, 5, 6, 0]]
    _, grad = _pool_vjp(_reduce_window_pool, x, [[1, 10], [100, 1000]])
    expected = np.zeros((5, 5))
    expected[0, 0] = 1  # window (0,0): 7 at (0,0) and (0,2) tie, the first in row-major order wins
    expected[0, 2] = 10  # window (0,1): its only 7
    # windows (1,0) and (1,1) overlap at (2,2); in (1,1) the 6 at (2,2) precedes (2,4) and (4,3): both add there
    expected[2, 2] = 100 + 1000
    np.testing.assert_array_equal(grad, expected)


@pytest.mark.parametrize("size", [11])
def test_reduce_window_max_gradient_equals_switch_unpooling_with_ties(size):
    rng = np.random.default_rng(size)
    x = rng.integers(0, 3, (size, size))  # three values: ties in almost every window
    g = rng.normal(size=((size - 3) // 2 + 1,) * 2)
    y, grad = _pool_vjp(_reduce_window_pool, x, g)
    y_switch, grad_switch = _pool_vjp(lambda v: backward.max_pool_switches(v, 3, 2, 0, True), x, g)
    np.testing.assert_array_equal(y, y_switch)
    np.testing.assert_allclose(grad, grad_switch, rtol=1e-6, atol=1e-6)


def test_ties_of_max_go_to_the_first_operand_in_deconv_and_guided():
    a = jnp.array([1.0, 2.0, 3.0])
    b = jnp.array([1.0, 5.0, 3.0])
    for mode, expected_a in (("deconv", [1, 0, 1]), ("guided", [1, 0, 1]), ("backprop", [0.5, 0, 0.5])):
        _, pullback = jax.vjp(with_relu_backward(jnp.maximum, mode), a, b)
        ga, gb = pullback(jnp.ones(3))
        np.testing.assert_array_equal(ga, expected_a, err_msg=mode)
        np.testing.assert_array_equal(gb, 1 - np.asarray(expected_a), err_msg=mode)


# --- The shipped demo network: the projections jaxvis computes with its switchable ops -----------

@pytest.fixture(scope="module")
def demo():
    return jaxvis.load_model("demo")


@pytest.mark.parametrize("mode", ["deconv", "guided"])
def test_demo_network_equals_jaxvis_projection(demo, rgb_images, mode):
    # Noise images: no exact ties between positive values in a pooling window
    # (see the module doc of jaxvis/backward/substitute.py for flat images).
    x = jnp.asarray(demo.preprocess(rgb_images(2, 64, 64, seed=5)))
    channel, yx = jnp.array([3, 40]), jnp.array([[4, 5], [12, 2]])
    expected = jax.jit(jaxvis.projection_fn(demo, "conv5", mode, located=True))(demo.params, x, channel, yx)

    conv5 = with_relu_backward(lambda v: demo.apply(demo.params, v, until="conv5")["conv5"], mode)
    out, pullback = jax.vjp(jax.jit(conv5), x)
    seed = jnp.zeros_like(out).at[jnp.arange(2), yx[:, 0], yx[:, 1], channel].set(1.0)
    got = pullback(seed)[0]
    np.testing.assert_allclose(out, demo.blobs(x, until="conv5")["conv5"], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5 * float(np.abs(expected).max()))


# --- jit, nested jit, custom-VJP ReLUs, errors ---------------------------------------------------

def _nested(x):
    """Three ReLUs of three spellings: a nested jit of jax.nn.relu, jaxvis's own
    custom-VJP ReLU (its deconv rule, to be replaced), max with a broadcast zero."""
    h = jax.jit(lambda v: jax.nn.relu(v * 2.0 - 0.3))(x)
    h = backward.relu(h[::-1] - 0.2, "deconv")
    return jnp.maximum(jnp.sin(h) - 0.1, jnp.zeros_like(h)) * jnp.arange(1.0, 9.0)


def _nested_reference(x, mode):
    relu = _reference_relu(mode)
    return relu(jnp.sin(relu(relu(x * 2.0 - 0.3)[::-1] - 0.2)) - 0.1) * jnp.arange(1.0, 9.0)


@pytest.mark.parametrize("mode", MODES)
def test_jit_of_the_substituted_function_and_nested_jit(mode):
    x = jnp.array([0.9, -0.4, 0.5, 0.7, -1.0, 0.3, 0.65, 0.05])
    u = jnp.array([1.0, -2.0, 3.0, -0.5, 2.0, -1.5, 0.7, -3.0])
    fn = jax.jit(with_relu_backward(_nested, mode))
    out, pullback = jax.vjp(fn, x)
    ref_out, ref_pullback = jax.vjp(lambda v: _nested_reference(v, mode), x)
    np.testing.assert_allclose(out, ref_out, rtol=1e-6)
    np.testing.assert_allclose(pullback(u)[0], ref_pullback(u)[0], rtol=1e-6, atol=1e-7)
    assert np.abs(ref_pullback(u)[0]).max() > 0


def test_unknown_mode_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown ReLU backward mode 'deconvnet'; expected one of backprop"):
        with_relu_backward(jax.nn.relu, "deconvnet")


def test_relu_inside_scan_is_refused_by_name():
    def scanned(x):
        return lax.scan(lambda c, _: (jax.nn.relu(c) - 0.5, None), x, None, length=3)[0]

    with pytest.raises(ConfigError, match="a ReLU inside 'scan'"):
        with_relu_backward(scanned, "deconv")(jnp.ones(3))
    # without a ReLU in the loop body, control flow keeps its ordinary gradient
    looped = functools.partial(lax.fori_loop, 0, 3, lambda i, c: jnp.sin(c))
    np.testing.assert_array_equal(jax.grad(lambda v: with_relu_backward(looped, "guided")(v).sum())(jnp.ones(3)),
                                  jax.grad(lambda v: looped(v).sum())(jnp.ones(3)))
