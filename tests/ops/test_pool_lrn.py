"""Pooling and LRN against hand-computed cases and brute-force numpy."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxvis.ops import lrn_across_channels, max_pool, pool_output_size


@pytest.mark.parametrize(
    "size,k,s,p,ceil,expected",
    [
        (55, 3, 2, 0, True, 27),   # CaffeNet pool1
        (109, 3, 3, 0, True, 37),  # VGG-S pool1: ceil(106/3)+1; floor would give 36
        (33, 2, 2, 0, True, 17),   # VGG-S pool2
        (110, 3, 2, 0, True, 55),  # ZFNet pool1; floor gives 54
        (110, 3, 2, 0, False, 54),
        (6, 2, 2, 1, True, 4),     # ceil((6+2-2)/2)+1 = 4; the 4th window starts at 6 < 6+1: kept
        (5, 2, 2, 1, True, 3),     # ceil(5/2)+1 = 4, but window 4 starts at 6 >= 5+1: dropped
    ],
)
def test_pool_output_size(size, k, s, p, ceil, expected):
    assert pool_output_size(size, k, s, p, ceil) == expected


def caffe_max_pool_numpy(x, k, s, p, out):
    """Caffe's loop: window [h*s - p, h*s - p + k) clipped to the image."""
    b, h, w, c = x.shape
    y = np.empty((b, out, out, c), x.dtype)
    for i in range(out):
        for j in range(out):
            h0, w0 = max(i * s - p, 0), max(j * s - p, 0)
            h1, w1 = min(i * s - p + k, h), min(j * s - p + k, w)
            y[:, i, j] = x[:, h0:h1, w0:w1].max(axis=(1, 2))
    return y


@pytest.mark.parametrize(
    "size,k,s,p", [(13, 3, 2, 0), (109, 3, 3, 0), (33, 2, 2, 0), (6, 2, 2, 1), (5, 2, 2, 1), (9, 3, 2, 1)])
def test_max_pool_matches_caffe_loop(size, k, s, p):
    # all negative: padding must not win
    x = np.random.default_rng(size).normal(size=(2, size, size, 4)).astype(np.float32) - 5
    out = pool_output_size(size, k, s, p, True)
    np.testing.assert_array_equal(np.asarray(max_pool(x, kernel=k, stride=s, pad=p, ceil=True)),
                                  caffe_max_pool_numpy(x, k, s, p, out))


def test_lrn_matches_caffe_formula():
    rng = np.random.default_rng(0)
    x = rng.normal(0, 30, (2, 3, 3, 7)).astype(np.float32)
    size, alpha, beta, k = 5, 1e-4, 0.75, 2.0
    expected = np.empty_like(x)
    for c in range(7):
        lo, hi = max(0, c - 2), min(7, c + 3)
        scale = k + alpha / size * (x[..., lo:hi] ** 2).sum(-1)
        expected[..., c] = x[..., c] * scale ** -beta
    got = np.asarray(lrn_across_channels(x, size=size, alpha=alpha, beta=beta, k=k))
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    assert np.abs(got - x).max() > 1  # the normalisation really acted


@pytest.mark.parametrize("stride,pad,size", [(1, 1, 9), (2, 1, 10), (2, 1, 9), (1, 0, 7)])
def test_depthwise_conv_equals_grouped_lax_conv(stride, pad, size):
    from jaxvis.ops.conv import depthwise_conv
    rng = np.random.default_rng(stride * 10 + size)
    x = jnp.asarray(rng.normal(size=(2, size, size, 5)), jnp.float32)
    k = jnp.asarray(rng.normal(size=(3, 3, 1, 5)), jnp.float32)

    def grouped(x):
        return jax.lax.conv_general_dilated(x, k, (stride, stride), [(pad, pad)] * 2, feature_group_count=5,
                                            dimension_numbers=("NHWC", "HWIO", "NHWC"))

    np.testing.assert_allclose(depthwise_conv(x, k, stride, pad), grouped(x), rtol=1e-5, atol=1e-5)
    u = jnp.asarray(rng.normal(size=grouped(x).shape), jnp.float32)
    np.testing.assert_allclose(jax.vjp(lambda x: depthwise_conv(x, k, stride, pad), x)[1](u)[0],
                               jax.vjp(grouped, x)[1](u)[0], rtol=1e-5, atol=1e-5)
