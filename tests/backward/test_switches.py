"""Switchable backward passes: switch unpooling by hand and against PyTorch's
max-pool gradient, the three ReLU rules, LRN pass-through."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from jaxvis.ops import backward, lrn_across_channels, max_pool


def _unpool(x, g, kernel=3, stride=2):
    x = jnp.asarray(x, jnp.float32)[None, :, :, None]
    y, pullback = jax.vjp(lambda v: backward.max_pool_switches(v, kernel, stride, 0, True), x)
    return np.asarray(y[0, :, :, 0]), np.asarray(pullback(jnp.asarray(g, jnp.float32)[None, :, :, None])[0][0, :, :, 0])


def test_switch_unpooling_by_hand_with_ties():
    x = [[7, 0, 7, 0, 1],
         [0, 0, 0, 0, 0],
         [0, 0, 2, 0, 6],
         [0, 0, 0, 0, 0],
         [3, 3, 0, 6, 0]]
    y, grad = _unpool(x, [[1, 10], [100, 1000]])
    np.testing.assert_array_equal(y, [[7, 7], [3, 6]])
    expected = np.zeros((5, 5))
    expected[0, 0] = 1  # 7 at (0,0) and (0,2) tie: the first in row-major order wins
    expected[0, 2] = 10
    expected[4, 0] = 100  # 3 at (4,0) and (4,1)
    expected[2, 4] = 1000  # 6 at (2,4) and (4,3)
    np.testing.assert_array_equal(grad, expected)


def test_overlapping_windows_add_up():
    x = np.arange(25, dtype=np.float32).reshape(5, 5) % 7
    x[2, 2] = 50  # the maximum of all four overlapping windows
    _, grad = _unpool(x, [[1, 10], [100, 1000]])
    expected = np.zeros((5, 5))
    expected[2, 2] = 1111
    np.testing.assert_array_equal(grad, expected)


def test_ceil_mode_window_past_the_border():
    # 6x6, 3x3/2, Caffe's ceil rule: 3x3 outputs, the last windows hang over the edge.
    x = np.zeros((6, 6), np.float32)
    x[5, 5], x[5, 4], x[0, 5] = 4, 4, 2
    y, grad = _unpool(x, np.arange(1, 10).reshape(3, 3))
    np.testing.assert_array_equal(y, [[0, 0, 2], [0, 0, 0], [0, 4, 4]])
    expected = np.zeros((6, 6))
    # all-zero windows: their first position (row-major) gets the value
    for (r, c), v in {(0, 0): 1, (0, 2): 2, (2, 0): 4, (2, 2): 5, (2, 4): 6, (4, 0): 7}.items():
        expected[r, c] = v
    expected[0, 5] = 3  # window (0,2): cols 4..5 and the padding
    expected[5, 4] = 8 + 9  # windows (2,1) and (2,2); in (2,2) 4 at (5,4) precedes 4 at (5,5)
    np.testing.assert_array_equal(grad, expected)


@pytest.mark.parametrize("size,kernel,stride", [(13, 3, 2), (14, 3, 2), (9, 2, 2)])
def test_switches_match_pytorch_max_pool_gradient(size, kernel, stride):
    rng = np.random.default_rng(size)
    x = rng.integers(0, 3, (2, size, size, 4)).astype(np.float32)  # many ties
    out = backward.max_pool_switches(jnp.asarray(x), kernel, stride, 0, True)
    g = rng.standard_normal(out.shape).astype(np.float32)
    _, pullback = jax.vjp(lambda v: backward.max_pool_switches(v, kernel, stride, 0, True), jnp.asarray(x))
    ours = np.asarray(pullback(jnp.asarray(g))[0])
    tx = torch.tensor(x.transpose(0, 3, 1, 2), requires_grad=True)
    ty = torch.nn.functional.max_pool2d(tx, kernel, stride, ceil_mode=True)
    ty.backward(torch.tensor(g.transpose(0, 3, 1, 2)))
    np.testing.assert_allclose(np.asarray(out), ty.detach().numpy().transpose(0, 2, 3, 1))
    np.testing.assert_allclose(ours, tx.grad.numpy().transpose(0, 2, 3, 1), atol=1e-6)
    # the forward numbers are those of the plain max pool
    np.testing.assert_array_equal(np.asarray(out), np.asarray(max_pool(jnp.asarray(x), kernel=kernel, stride=stride)))


@pytest.mark.parametrize("mode,expected", [("backprop", [0, 0, -4, 5]), ("deconv", [3, 0, 0, 5]),
                                           ("guided", [0, 0, 0, 5])])
def test_relu_backward_rules(mode, expected):
    x = jnp.array([-1.0, -2.0, 2.0, 1.0])
    g = jnp.array([3.0, -1.0, -4.0, 5.0])
    y, pullback = jax.vjp(lambda v: backward.relu(v, mode), x)
    np.testing.assert_array_equal(y, [0, 0, 2, 1])
    np.testing.assert_array_equal(pullback(g)[0], expected)


def test_lrn_identity_backward_passes_upstream():
    x = jax.random.normal(jax.random.key(0), (1, 3, 3, 7)) * 50
    args = dict(size=5, alpha=1e-4, beta=0.75, k=1.0)
    y, pullback = jax.vjp(lambda v: backward.lrn_identity_backward(v, 5, 1e-4, 0.75, 1.0), x)
    np.testing.assert_array_equal(y, lrn_across_channels(x, **args))
    g = jax.random.normal(jax.random.key(1), x.shape)
    np.testing.assert_array_equal(pullback(g)[0], g)
