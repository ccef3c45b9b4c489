"""``with_relu_backward``: the ReLU backward rules substituted into any JAX
function, against hand-written references, jaxvis's own projections and
switch pooling."""

import functools
import itertools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

import jaxvis
from jaxvis.ops.substitute import with_relu_backward
from jaxvis.errors import ConfigError
from jaxvis.models import layers as L
from jaxvis.models.sequential import SequentialNet
from jaxvis.ops import backward
from jaxvis.ops.pool import padded_windows

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


def test_ties_of_max_go_to_the_first_operand_in_every_mode():
    a = jnp.array([1.0, 2.0, 3.0])
    b = jnp.array([1.0, 5.0, 3.0])
    np.testing.assert_array_equal(jax.vjp(jnp.maximum, a, b)[1](jnp.ones(3))[0], [0.5, 0, 0.5])  # JAX's own rule
    for mode in MODES:
        _, pullback = jax.vjp(with_relu_backward(jnp.maximum, mode), a, b)
        ga, gb = pullback(jnp.ones(3))
        np.testing.assert_array_equal(ga, [1, 0, 1], err_msg=mode)
        np.testing.assert_array_equal(gb, [0, 1, 0], err_msg=mode)


# --- The zoo's sequential networks: the generic path equals the module with switches -------------

def _switch_projections(layers, params, x, blob, mode, seed=0):
    """(forward, projection) of a random cotangent at ``blob`` twice: through
    with_relu_backward of the plain SequentialNet forward, and through
    SequentialNet(relu_backward=mode) (jaxvis.ops.backward.relu and
    max_pool_switches). LRN as the kept custom rule lrn_identity_backward on
    both sides (the plain LRN has no deconv/guided rule: see the LRN test)."""
    def forward(**kw):
        net = SequentialNet(layers, lrn_backward="identity", **kw)
        return lambda v: net.apply({"params": params}, v, until=blob)[blob]

    out, pullback = jax.vjp(jax.jit(with_relu_backward(forward(), mode)), x)
    ref_out, ref_pullback = jax.vjp(jax.jit(forward(relu_backward=mode)), x)
    u = jnp.asarray(np.random.default_rng(seed).normal(size=out.shape), jnp.float32)
    return (out, pullback(u)[0]), (ref_out, ref_pullback(u)[0])


def _assert_same_projection(got, expected):
    """The same forward bit for bit; the same projection up to float
    re-association: ops.max_pool adds the upstreams of overlapping windows
    column-pairs first, max_pool_switches in window-offset order (<= 1e-6 of
    the largest value; a misrouted tie moves a whole upstream value)."""
    np.testing.assert_array_equal(got[0], expected[0])
    np.testing.assert_allclose(got[1], expected[1], rtol=1e-6, atol=1e-6 * float(np.abs(expected[1]).max()))
    assert np.abs(expected[1]).max() > 0


@pytest.fixture(scope="module")
def demo():
    return jaxvis.load_model("demo")


def _demo_images(kind):
    """uint8 [2, 64, 64, 3]: noise, or flat colours (exact ties between
    positive values in almost every pooling window, all-zero windows)."""
    if kind == "noise":
        return np.random.default_rng(5).integers(0, 256, (2, 64, 64, 3), dtype=np.uint8)
    flat = np.zeros((2, 64, 64, 3), np.uint8)
    flat[0] = (200, 50, 90)
    flat[1, :, :29], flat[1, :, 29:] = (30, 220, 140), (250, 250, 10)
    return flat


@pytest.mark.parametrize("kind", ["noise", "flat"])
@pytest.mark.parametrize("mode", MODES)
def test_demo_network_generic_path_equals_the_switches(demo, mode, kind):
    """Three 3x3/2 ceil poolings (the last window of each row half in the
    padding), LRN, the shipped weights; at pool5, after all of them."""
    x = jnp.asarray(demo.preprocess(_demo_images(kind)))
    _assert_same_projection(*_switch_projections(demo.definition.layers, demo.params, x, "pool5", mode))


# CaffeNet's pool1 geometry (55 -> 27, 3x3/2, ceil) then torchvision's 2x2/2 floor (27 -> 13, the last row dropped)
_POOLS = (L.ReLU("relu0"), L.MaxPool("pool1", 3, 2), L.Conv("conv2", 8, 3, pad=1), L.ReLU("relu2"),
          L.MaxPool("pool2", 2, 2, ceil=False), L.Conv("conv3", 4, 3, pad=1))


@pytest.fixture(scope="module")
def pools_net():
    x = jnp.zeros((2, 55, 55, 3))
    return SequentialNet(_POOLS).init(jax.random.PRNGKey(2), x)["params"]


@pytest.mark.parametrize("kind", ["noise", "ties"])
@pytest.mark.parametrize("mode", MODES)
def test_caffenet_size_pooling_generic_path_equals_the_switches(pools_net, mode, kind):
    rng = np.random.default_rng(7)
    if kind == "noise":
        x = rng.normal(size=(2, 55, 55, 3))
    else:  # five levels, a ReLU before pool1: ties between positive values, all-zero windows
        x = rng.integers(-2, 3, (2, 55, 55, 3)).astype(float)
        x[1, 20:] = 1.0  # and a flat region
    x = jnp.asarray(x, jnp.float32)
    for blob in ("pool2", "conv3"):
        got, expected = _switch_projections(_POOLS, pools_net, x, blob, mode)
        _assert_same_projection(got, expected)
    if kind == "ties":  # guard: windows whose first maximum differs in row-major and column-major order
        assert _order_sensitive_windows(jax.nn.relu(x), 3, 2, ceil=True) > 100


def _order_sensitive_windows(v, kernel, stride, ceil) -> int:
    """How many pooling windows of v have their first maximum at another
    position in row-major order than in column-major order."""
    xp, (oh, ow) = padded_windows(jnp.asarray(v), kernel, stride, 0, ceil)
    xp = np.asarray(xp)
    views = np.stack([xp[:, di: di + stride * (oh - 1) + 1: stride, dj: dj + stride * (ow - 1) + 1: stride]
                      for di in range(kernel) for dj in range(kernel)])  # row-major window offsets
    column_major = np.array([di * kernel + dj for dj in range(kernel) for di in range(kernel)])
    return int((np.argmax(views, 0) != column_major[np.argmax(views[column_major], 0)]).sum())


# --- jit, nested jit, custom-VJP ReLUs, errors ---------------------------------------------------

def _nested(x):
    """Three ReLUs of three spellings: a nested jit of jax.nn.relu, jaxvis's own
    custom-VJP ReLU (its deconv rule, to be replaced), max with a broadcast zero."""
    h = jax.jit(lambda v: jax.nn.relu(v * 2.0 - 0.3))(x)
    h = backward.relu(h[::-1] - 0.2, "deconv")
    return jnp.maximum(1.5 * h - 0.4, jnp.zeros_like(h)) * jnp.arange(1.0, 9.0)


def _nested_reference(x, mode):
    relu = _reference_relu(mode)
    return relu(1.5 * relu(relu(x * 2.0 - 0.3)[::-1] - 0.2) - 0.4) * jnp.arange(1.0, 9.0)


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
    # without a ReLU in the loop body, control flow keeps its ordinary gradient: the
    # decided rule of a linear body; a nonlinear body's is backprop's only
    linear = functools.partial(lax.fori_loop, 0, 3, lambda i, c: c * 0.5 - jnp.ones(3))
    looped = functools.partial(lax.fori_loop, 0, 3, lambda i, c: jnp.sin(c))
    for fn, mode in ((linear, "guided"), (looped, "backprop")):
        np.testing.assert_array_equal(jax.grad(lambda v: with_relu_backward(fn, mode)(v).sum())(jnp.ones(3)),
                                      jax.grad(lambda v: fn(v).sum())(jnp.ones(3)))
    with pytest.raises(ConfigError, match="'sin' lies on the path"):
        with_relu_backward(looped, "guided")(jnp.ones(3))


# --- deconv and guided: no plain gradient passed off as theirs -----------------------------------

_K = jnp.asarray(np.random.default_rng(3).normal(size=(3, 3, 3, 4)), jnp.float32)  # closed over: constants
_W = jnp.asarray(np.random.default_rng(4).normal(size=(4 * 5 * 5, 6)), jnp.float32)


def _conv(x):
    return lax.conv_general_dilated(x, _K, (1, 1), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC"))


def _head(h):
    """2x2 max pooling, then a dense layer: [B, 10, 10, 4] -> [B, 6]."""
    h = lax.reduce_window(h, -jnp.inf, lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")
    return h.reshape(h.shape[0], -1) @ _W


def _tanh_net(x):
    """conv -> tanh (inside a nested jit) -> max pool -> dense."""
    return _head(jax.jit(jnp.tanh)(_conv(x)))


@pytest.fixture(scope="module")
def x_small():
    return jnp.asarray(np.random.default_rng(8).normal(size=(2, 12, 12, 3)), jnp.float32)


def _grad(fn, x, unit=2):
    return jax.grad(lambda v: fn(v)[:, unit].sum())(x)


@pytest.mark.parametrize("mode", ["deconv", "guided"])
def test_a_nonlinearity_without_a_rule_is_refused_by_name(x_small, mode):
    what = "blob 'layer3/1/conv2' of resnet"
    with pytest.raises(ConfigError) as err:
        with_relu_backward(_tanh_net, mode, what=what)(x_small)
    message = str(err.value)
    for part in ("'tanh'", f"mode={mode!r}", what, f"no {mode} rule", "mode='backprop'"):
        assert part in message, (part, message)
    with pytest.raises(ConfigError, match="'tanh' lies on the path from the arguments to the output"):
        with_relu_backward(_tanh_net, mode)(x_small)  # no what: "the output"


def test_backprop_mode_takes_the_plain_gradient_of_anything(x_small):
    got = _grad(with_relu_backward(_tanh_net, "backprop", what="blob 'fc' of tanh_net"), x_small)
    np.testing.assert_array_equal(got, _grad(_tanh_net, x_small))
    assert np.abs(got).max() > 0


def test_a_product_of_two_values_on_the_path_is_refused():
    x = jnp.array([0.5, -1.0, 2.0])
    for fn, reason in ((lambda v: jax.nn.relu(v) * jax.nn.relu(v - 0.2), "a product of two operands"),
                       (lambda v: jnp.where(v > 0, v, 0.0), "a selection by a predicate"),  # a ReLU spelled otherwise
                       (lambda v: v * (v > 0), "a product of two operands"),
                       (lambda v: 1.0 / jax.nn.relu(v + 3.0), "a division by a value"),
                       (lambda v: jnp.maximum(v, 0.5), "max with a value that is neither 0 nor on the path")):
        with pytest.raises(ConfigError, match=reason):
            with_relu_backward(fn, "deconv")(x)
        jax.vjp(with_relu_backward(fn, "backprop"), x)  # backprop: no error


def test_batchnorm_inference_affine_with_constant_statistics_is_decided(x_small):
    """(x - mean) * scale + shift with closed-over statistics, as flax's
    BatchNorm(use_running_average=True) computes it, or written with a
    division by the standard deviation: linear in x."""
    mean, var = jnp.array([0.3, -0.2, 0.1, 0.5]), jnp.array([2.0, 0.5, 1.5, 0.8])
    gamma, beta = jnp.array([1.2, 0.7, -0.9, 1.1]), jnp.array([0.1, 0.0, -0.3, 0.2])

    def flax_bn(h):
        variables = {"params": {"scale": gamma, "bias": beta}, "batch_stats": {"mean": mean, "var": var}}
        return nn.BatchNorm(use_running_average=True).apply(variables, h)

    def divided_bn(h):
        return (h - mean) / jnp.sqrt(var + 1e-5) * gamma + beta

    def net(x, bn, relu=jax.nn.relu):
        return _head(relu(bn(_conv(x))))

    for mode, bn in itertools.product(("deconv", "guided"), (flax_bn, divided_bn)):
        got = _grad(with_relu_backward(functools.partial(net, bn=bn), mode), x_small)
        expected = _grad(functools.partial(net, bn=bn, relu=_reference_relu(mode)), x_small)
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6 * float(np.abs(expected).max()))
        assert np.abs(expected).max() > 0


def test_nonlinearities_of_constants_are_off_the_path(x_small):
    """exp of a weight closed over, or of an argument under stop_gradient: not
    on the path from the arguments, not refused; the weight as a
    differentiated argument is on it."""
    log_scale = jnp.array([0.2, -0.1, 0.4, 0.0])

    def net(x, w):
        return _head(jax.nn.relu(_conv(x) * jnp.exp(w)))

    for fn, args in ((lambda x: net(x, log_scale), (x_small,)),
                     (lambda x, w: net(x, lax.stop_gradient(w)), (x_small, log_scale))):
        out, pullback = jax.vjp(with_relu_backward(fn, "deconv"), *args)
        assert np.abs(pullback(jnp.ones_like(out))[0]).max() > 0
    with pytest.raises(ConfigError, match="'exp' lies on the path"):
        with_relu_backward(net, "deconv")(x_small, log_scale)


def test_what_is_computed_but_does_not_reach_the_output_is_not_checked(x_small):
    def net(x):
        unused = jnp.tanh(_conv(x))  # computed, not returned
        del unused
        return _head(jax.nn.relu(_conv(x)))

    jax.vjp(with_relu_backward(net, "guided"), x_small)


def test_softmax_at_the_end(x_small):
    """jax.nn.softmax is plain exp/sum/div unless jax_softmax_custom_jvp is on
    (off by default in this JAX): refused by name ('exp'); with the flag, a
    custom_jvp call, kept with its own rule."""
    def net(x):
        return jax.nn.softmax(0.05 * _head(jax.nn.relu(_conv(x))), axis=-1)

    if not jax.config.jax_softmax_custom_jvp:
        with pytest.raises(ConfigError, match="'exp' lies on the path"):
            with_relu_backward(net, "deconv", what="blob 'prob' of net")(x_small)
    previous = jax.config.jax_softmax_custom_jvp
    jax.config.update("jax_softmax_custom_jvp", True)
    try:
        got = _grad(with_relu_backward(net, "deconv"), x_small)
        ref = _grad(lambda v: jax.nn.softmax(0.05 * _head(_reference_relu("deconv")(_conv(v))), axis=-1), x_small)
    finally:
        jax.config.update("jax_softmax_custom_jvp", previous)
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6 * float(np.abs(ref).max()))
    assert np.abs(ref).max() > 0


def _lrn(x):
    return jaxvis.ops.lrn_across_channels(x, size=3, alpha=1e-2, beta=0.75, k=1.0)


@jax.custom_vjp
def _lrn_true(x):
    """Caffe's LRN with its own (autodiff) gradient declared as a custom rule."""
    return _lrn(x)


_lrn_true.defvjp(lambda x: jax.vjp(_lrn, x), lambda pullback, g: pullback(g))


@pytest.mark.parametrize("mode", ["deconv", "guided"])
def test_lrn_is_refused_in_plain_ops_and_kept_as_a_custom_rule(x_small, mode):
    def net(x, lrn):
        return _head(lrn(jax.nn.relu(_conv(x) * 10.0)))

    with pytest.raises(ConfigError, match="'square' lies on the path"):  # its first nonlinear op
        with_relu_backward(functools.partial(net, lrn=_lrn), mode)(x_small)
    got = _grad(with_relu_backward(functools.partial(net, lrn=_lrn_true), mode), x_small)
    expected = _grad(lambda v: _head(_lrn(_reference_relu(mode)(_conv(v) * 10.0))), x_small)  # the true gradient
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6 * float(np.abs(expected).max()))
    plain_lrn_identity = _grad(lambda v: _head(_reference_relu(mode)(_conv(v) * 10.0)), x_small)
    assert np.abs(expected - plain_lrn_identity).max() > 1e-3 * np.abs(expected).max()  # LRN really acted


# --- ReLU6: a ReLU, then the cap min(., 6) (docs/projections.md) ------------------------------------

def _reference_relu6(mode):
    """ReLU6 whose VJP is written out here: backprop u [0<x<6], guided relu(u) [0<x<6], deconv relu(u)."""

    @jax.custom_vjp
    def relu6(x):
        return jnp.clip(x, 0.0, 6.0)

    def fwd(x):
        return relu6(x), x

    def bwd(x, u):
        inside = (x > 0) & (x < 6)
        rule = {"backprop": lambda: u * inside,
                "deconv": lambda: jnp.maximum(u, 0.0),
                "guided": lambda: jnp.maximum(u, 0.0) * inside}[mode]
        return (rule(),)

    relu6.defvjp(fwd, bwd)
    return relu6


RELU6_SPELLINGS = {"jax.nn.relu6": jax.nn.relu6,
                   "minimum(maximum(x, 0), 6)": lambda x: jnp.minimum(jnp.maximum(x, 0), 6.0),
                   "minimum(6, relu(x))": lambda x: jnp.minimum(6.0, jax.nn.relu(x)),
                   "clip(x, 0, 6)": lambda x: jnp.clip(x, 0, 6),  # bounds: arguments of clip's inner jit
                   "minimum(relu(x), full_like(x, 6))": lambda x: jnp.minimum(jax.nn.relu(x), jnp.full_like(x, 6)),
                   "jit(minimum(., 6)) of relu(x)": lambda x: jax.jit(lambda y: jnp.minimum(y, 6.0))(jax.nn.relu(x))}


def _relu6_net(relu6, w):
    def f(x):  # a linear map, ReLU6, another linear map: the upstream of ReLU6 has both signs
        return relu6(x @ w) @ w.T
    return f


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("spelling", RELU6_SPELLINGS)
def test_relu6_follows_the_stated_rule(mode, spelling):
    rng = np.random.default_rng(5)
    w = jnp.asarray(rng.normal(size=(7, 7)), jnp.float32)
    x = jnp.asarray(rng.normal(0, 4, size=(9, 7)), jnp.float32)
    u = jnp.asarray(rng.normal(size=(9, 7)), jnp.float32)
    ours = jax.vjp(with_relu_backward(_relu6_net(RELU6_SPELLINGS[spelling], w), mode), x)[1](u)[0]
    want = jax.vjp(_relu6_net(_reference_relu6(mode), w), x)[1](u)[0]
    inside = ((x @ w > 0) & (x @ w < 6)).mean()
    assert 0.2 < inside < 0.8  # both sides of both edges are exercised
    np.testing.assert_allclose(ours, want, rtol=1e-5, atol=1e-6)


def test_relu6_backprop_equals_torch_at_the_edges():
    import torch
    x = np.array([-1.0, 0.0, 0.5, 3.0, 6.0, 6.5, 12.0], np.float32)
    u = np.array([1.0, -2.0, 3.0, -4.0, 5.0, 6.0, -7.0], np.float32)
    tx = torch.tensor(x, requires_grad=True)
    torch.nn.functional.relu6(tx).backward(torch.tensor(u))
    for relu6 in RELU6_SPELLINGS.values():
        ours = jax.vjp(with_relu_backward(relu6, "backprop"), jnp.asarray(x))[1](jnp.asarray(u))[0]
        np.testing.assert_array_equal(np.asarray(ours), tx.grad.numpy())


def _zero_through_int(x):
    """A positive constant made 0 by a conversion to int on the way: min(relu(x), 0), no cap."""
    return jnp.minimum(jax.nn.relu(x), jnp.full_like(x, 0.5).astype(jnp.int32).astype(jnp.float32))


@pytest.mark.parametrize("capped", [lambda x: jnp.minimum(jax.nn.relu(x), -1.0), lambda x: jnp.minimum(x, x * 0.5),
                                    _zero_through_int, lambda x: jnp.clip(x, 0.0, -6.0)],
                         ids=["negative-cap", "two-operands", "positive-made-zero-by-int", "negative-clip"])
def test_other_mins_have_no_deconv_rule(capped):
    with pytest.raises(ConfigError, match="'min'"):
        jax.vjp(with_relu_backward(capped, "deconv"), jnp.ones((3,)))
