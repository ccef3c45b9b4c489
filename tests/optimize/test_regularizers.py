"""Each regularizer against an independent numpy/scipy computation."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.ndimage

from jaxvis.optimize import regularizers as R

# Compiled once per (shape, radius), as in the ascent: op by op, the blur's
# (2 radius + 1) slices per axis each dispatch and compile on their own.
gaussian_blur = jax.jit(R.gaussian_blur, static_argnums=2)
blur_if_due = jax.jit(R.blur_if_due, static_argnums=4)


@pytest.fixture
def img():
    return np.random.default_rng(0).normal(0, 20, (13, 11, 3)).astype(np.float32)


@pytest.mark.parametrize("sigma", [0.5, 1.0, 2.3])
def test_blur_is_scipy_gaussian_filter_per_channel(img, sigma):
    expected = np.stack([scipy.ndimage.gaussian_filter(img[..., c].astype(np.float64), sigma) for c in range(3)], -1)
    got = np.asarray(gaussian_blur(img, sigma, R.blur_radius(sigma)))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-4)
    # A larger static radius (shared by a batch with wider blurs) changes nothing.
    wider = np.asarray(gaussian_blur(img, sigma, R.blur_radius(sigma) + 3))
    np.testing.assert_allclose(wider, expected, rtol=1e-5, atol=1e-4)


def test_blur_only_when_due(img):
    blurred = scipy.ndimage.gaussian_filter(img, (1.0, 1.0, 0))
    for step, every, width, expect_blur in [(0, 4, 1.0, True), (4, 4, 1.0, True), (5, 4, 1.0, False),
                                            (4, 0, 1.0, False), (4, 4, 0.0, False)]:
        got = np.asarray(blur_if_due(img, step, width, every, 4))
        np.testing.assert_allclose(got, blurred if expect_blur else img, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("pct", [0.0, 20.0, 50.0, 90.0])
def test_small_norm_clip_uses_numpy_percentile(img, pct):
    norms = np.sqrt((img.astype(np.float64) ** 2).sum(-1))
    expected = np.where((norms < np.percentile(norms, pct))[..., None], 0, img) if pct > 0 else img
    np.testing.assert_array_equal(np.asarray(R.clip_small_norm(img, pct)), expected)


@pytest.mark.parametrize("pct", [0.0, 50.0, 90.0])
def test_small_contribution_clip(img, pct):
    g = np.random.default_rng(1).normal(size=img.shape).astype(np.float32)
    contrib = np.abs((img.astype(np.float64) * g).sum(-1))
    expected = np.where((contrib < np.percentile(contrib, pct))[..., None], 0, img) if pct > 0 else img
    np.testing.assert_array_equal(np.asarray(R.clip_small_contribution(img, g, pct)), expected)


def test_decay_and_valid_range(img):
    np.testing.assert_allclose(np.asarray(R.decay(img, 0.3)), 0.7 * img, rtol=1e-6)
    lo, hi = np.full(3, -10.0, np.float32), np.full(3, 12.0, np.float32)
    np.testing.assert_array_equal(np.asarray(R.clip_to_valid(img, lo, hi)), np.clip(img, -10, 12))


def test_batch_blur_follows_each_elements_schedule(img):
    """``blur_batch_if_due``, the blur the ascent step calls: each element its own
    width and schedule, the step counter shared and traced (as in the compiled
    step), over steps 0..6; at steps 1 and 5 no element is due."""
    batch = np.stack([img, img * 2, img - 3, img + 1, img * -1])
    widths = np.array([0.5, 2.0, 1.0, 0.0, 1.0], np.float32)
    everies = np.array([4, 2, 3, 1, 0], np.int32)
    blurred_at = {0: {0, 4}, 1: {0, 2, 4, 6}, 2: {0, 3, 6}, 3: set(), 4: set()}  # width 0 / every 0: never
    blur = jax.jit(R.blur_batch_if_due, static_argnums=4)
    for step in range(7):
        got = np.asarray(blur(batch, jnp.int32(step), widths, everies, R.blur_radius(2.0)))
        for n in range(len(batch)):
            if step in blurred_at[n]:
                expect = scipy.ndimage.gaussian_filter(batch[n], (widths[n], widths[n], 0))
                np.testing.assert_allclose(got[n], expect, rtol=1e-5, atol=1e-4, err_msg=f"step {step}, element {n}")
            else:
                np.testing.assert_array_equal(got[n], batch[n], err_msg=f"step {step}, element {n}")
    with pytest.raises(ValueError, match="shared step counter, a scalar"):
        R.blur_batch_if_due(batch, jnp.zeros(5, jnp.int32), widths, everies, 8)
