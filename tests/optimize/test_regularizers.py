"""Each regularizer against an independent numpy/scipy computation."""

import jax
import numpy as np
import pytest
import scipy.ndimage

from jaxvis.optimize import regularizers as R


@pytest.fixture
def img():
    return np.random.default_rng(0).normal(0, 20, (13, 11, 3)).astype(np.float32)


@pytest.mark.parametrize("sigma", [0.5, 1.0, 2.3])
def test_blur_is_scipy_gaussian_filter_per_channel(img, sigma):
    expected = np.stack([scipy.ndimage.gaussian_filter(img[..., c].astype(np.float64), sigma) for c in range(3)], -1)
    got = np.asarray(R.gaussian_blur(img, sigma, R.blur_radius(sigma)))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-4)
    # A larger static radius (shared by a batch with wider blurs) changes nothing.
    wider = np.asarray(R.gaussian_blur(img, sigma, R.blur_radius(sigma) + 3))
    np.testing.assert_allclose(wider, expected, rtol=1e-5, atol=1e-4)


def test_blur_only_when_due(img):
    blurred = scipy.ndimage.gaussian_filter(img, (1.0, 1.0, 0))
    for step, every, width, expect_blur in [(0, 4, 1.0, True), (4, 4, 1.0, True), (5, 4, 1.0, False),
                                            (4, 0, 1.0, False), (4, 4, 0.0, False)]:
        got = np.asarray(R.blur_if_due(img, step, width, every, 4))
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


def test_blur_per_element_under_vmap(img):
    """Each element its own width and schedule; the step counter is shared."""
    batch = np.stack([img, img * 2, img - 3])
    widths, everies = np.array([0.5, 2.0, 1.0], np.float32), np.array([4, 4, 3])
    got = np.asarray(jax.vmap(R.blur_if_due, (0, None, 0, 0, None))(batch, 4, widths, everies, R.blur_radius(2.0)))
    np.testing.assert_allclose(got[0], scipy.ndimage.gaussian_filter(batch[0], (0.5, 0.5, 0)), rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(got[1], scipy.ndimage.gaussian_filter(batch[1], (2.0, 2.0, 0)), rtol=1e-5, atol=1e-4)
    np.testing.assert_array_equal(got[2], batch[2])  # 4 % 3 != 0: not due
