"""The Fourier parameterizations against independent numpy computations."""

import functools

import jax
import numpy as np
import pytest

from jaxvis.errors import ConfigError
from jaxvis.optimize import fourier as F

# Eager jnp compiles every primitive for every shape; one jit per test is ~5x faster (and shows jit works).
SIZES = [(7, 10), (6, 5)]  # odd/even height, even/odd width (irfft2's last axis)


def numpy_base_scale(h, w, p):
    """Lucid's fft_image scale, transcribed: 1 / max(freq, 1/max(h, w)) ** p."""
    freq = np.sqrt(np.fft.fftfreq(h)[:, None] ** 2 + np.fft.rfftfreq(w)[None, :] ** 2)
    return 1.0 / np.maximum(freq, 1.0 / max(h, w)) ** p


def pixel_variance_by_impulses(scale, h, w):
    """[H, W] variance of irfft2((re + i im) * scale) for iid N(0, 1) re, im:
    the sum over every real coefficient of its impulse response squared."""
    n = scale.size
    impulses = np.zeros((2 * n, n), complex)
    impulses[np.arange(n), np.arange(n)] = 1.0
    impulses[n + np.arange(n), np.arange(n)] = 1j
    responses = np.fft.irfft2(impulses.reshape(2 * n, *scale.shape) * scale, s=(h, w))
    return (responses ** 2).sum(axis=0)


@pytest.mark.parametrize("h,w", [*SIZES, (8, 8), (9, 9)])
@pytest.mark.parametrize("p", [1.0, 0.5])
def test_spectrum_scale_is_lucid_base_with_unit_pixel_std(h, w, p):
    raw = np.asarray(F.spectrum_scale(h, w, p, normalize=False))
    assert raw.dtype == np.float32 and raw.shape == (h, w // 2 + 1)
    np.testing.assert_allclose(raw, numpy_base_scale(h, w, p), rtol=1e-6)
    scale = np.asarray(F.spectrum_scale(h, w, p), np.float64)
    ratio = scale / numpy_base_scale(h, w, p)
    np.testing.assert_allclose(ratio, ratio.flat[0], rtol=1e-6)  # one constant factor
    np.testing.assert_allclose(pixel_variance_by_impulses(scale, h, w), 1.0, rtol=1e-5)


def random_coeffs(rng, lead, c, h, w):
    return rng.normal(size=(*lead, 2, c, h, w // 2 + 1)).astype(np.float32)


@pytest.mark.parametrize("h,w", SIZES)
def test_fourier_to_image_is_numpy_irfft2(h, w):
    rng = np.random.default_rng(h * 100 + w)
    scale = np.asarray(F.spectrum_scale(h, w))
    coeffs = random_coeffs(rng, (), 3, h, w)
    expected = np.fft.irfft2((coeffs[0] + 1j * coeffs[1]) * scale, s=(h, w)).transpose(1, 2, 0)
    got = np.asarray(jax.jit(F.fourier_to_image, static_argnums=(1, 2))(coeffs, h, w, scale))
    assert got.shape == (h, w, 3) and got.dtype == np.float32
    np.testing.assert_allclose(got, expected, atol=1e-5)
    # A batch through vmap: each element its own numpy irfft2.
    batch = random_coeffs(rng, (4,), 3, h, w)
    got = np.asarray(jax.jit(jax.vmap(functools.partial(F.fourier_to_image, h=h, w=w, scale=scale)))(batch))
    for b in range(4):
        expected = np.fft.irfft2((batch[b, 0] + 1j * batch[b, 1]) * scale, s=(h, w)).transpose(1, 2, 0)
        np.testing.assert_allclose(got[b], expected, atol=1e-5)


def test_fourier_image_std_is_one():
    coeffs = random_coeffs(np.random.default_rng(1), (64,), 3, 16, 16)
    image = np.asarray(jax.jit(F.fourier_to_image, static_argnums=(1, 2))(coeffs, 16, 16, F.spectrum_scale(16, 16)))
    assert abs(image.std() - 1.0) < 0.05


@pytest.mark.parametrize("h,w", SIZES)
def test_image_to_fourier_round_trip(h, w):
    image = np.random.default_rng(w).uniform(-1, 1, (2, h, w, 3)).astype(np.float32)
    scale = F.spectrum_scale(h, w, 1.5)
    coeffs, back = jax.jit(lambda x: (c := F.image_to_fourier(x, scale), F.fourier_to_image(c, h, w, scale)))(image)
    assert coeffs.shape == (2, 2, 3, h, w // 2 + 1)
    np.testing.assert_allclose(np.asarray(back), image, atol=2e-6)


@pytest.fixture
def pixels():
    """Correlated uint8 pixels, like a photograph's (condition number ~4.5; Lucid's matrix has ~7.6): [40, 30, 3]."""
    rng = np.random.default_rng(2)
    mix = np.array([[1.0, 0.3, 0.1], [0.9, 0.0, -0.3], [0.85, -0.3, 0.2]])
    values = 128 + 40 * rng.normal(size=(1200, 3)) @ mix.T
    return np.clip(values, 0, 255).astype(np.uint8).reshape(40, 30, 3)


def test_color_correlation_is_numpy_svd_sqrt(pixels):
    cov = np.cov(pixels.reshape(-1, 3).astype(np.float64).T / 255.0)
    u, s, _ = np.linalg.svd(cov)
    expected = u * np.sqrt(s)
    expected /= np.linalg.norm(expected, axis=0).max()
    got = np.asarray(jax.jit(F.color_correlation)(pixels), np.float64)
    assert got.shape == (3, 3)
    np.testing.assert_allclose(got @ got.T, expected @ expected.T, atol=1e-5)  # sign-free
    signs = np.sign(np.sum(got * expected, axis=0))
    np.testing.assert_allclose(got, expected * signs, atol=1e-4)
    # Each column's largest entry is positive; the same from float pixels in 0..1.
    assert (got[np.abs(got).argmax(axis=0), range(3)] > 0).all()
    np.testing.assert_allclose(np.asarray(jax.jit(F.color_correlation)(pixels / 255.0)), got, atol=1e-5)


def test_decorrelation_round_trip_and_whitens(pixels):
    matrix = jax.jit(F.color_correlation)(pixels)
    x = np.random.default_rng(3).normal(size=(5, 4, 3)).astype(np.float32)
    rgb = np.asarray(F.decorrelated_to_rgb(x, matrix))
    np.testing.assert_allclose(rgb, x @ np.asarray(matrix).T, atol=1e-6)
    np.testing.assert_allclose(np.asarray(F.rgb_to_decorrelated(rgb, matrix)), x, atol=1e-5)
    decorrelated = np.asarray(F.rgb_to_decorrelated(pixels.reshape(-1, 3) / 255.0, matrix), np.float64)
    cov = np.cov(decorrelated.T)
    off = cov - np.diag(np.diag(cov))
    assert np.abs(off).max() < 1e-4 * np.diag(cov).max()
    np.testing.assert_allclose(np.diag(cov), np.diag(cov)[0], rtol=1e-3)  # whitened, up to scale


def test_magnitude_spectrum_is_numpy_mean_abs_rfft2():
    images = np.random.default_rng(4).uniform(0, 1, (3, 7, 10, 3)).astype(np.float32)
    expected = np.zeros((3, 7, 6))
    for image in images:
        for c in range(3):
            expected[c] += np.abs(np.fft.rfft2(image[..., c].astype(np.float64))) / len(images)
    got = np.asarray(jax.jit(F.magnitude_spectrum)(images))
    assert got.shape == (3, 7, 6)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("h,w", SIZES)
def test_phase_to_image_of_own_phase_and_magnitude_is_the_image(h, w):
    image = np.random.default_rng(5).uniform(0, 1, (h, w, 3))
    spectrum = np.fft.rfft2(image.transpose(2, 0, 1))
    own = jax.jit(lambda x, phase: F.phase_to_image(phase, F.magnitude_spectrum(x[None]), h, w))
    got = np.asarray(own(image, np.angle(spectrum)))
    np.testing.assert_allclose(got, image, atol=2e-6)
    # A batch of phases under one magnitude: each element numpy's irfft2.
    phases = np.random.default_rng(6).uniform(-np.pi, np.pi, (2, 3, h, w // 2 + 1))
    got = np.asarray(jax.jit(F.phase_to_image, static_argnums=(2, 3))(phases, np.abs(spectrum), h, w))
    expected = np.fft.irfft2(np.abs(spectrum) * np.exp(1j * phases), s=(h, w)).transpose(0, 2, 3, 1)
    np.testing.assert_allclose(got, expected, atol=1e-5)


@pytest.mark.parametrize("call,name", [
    (lambda: F.spectrum_scale(0, 4), "h"),
    (lambda: F.spectrum_scale(4, 2.5), "w"),
    (lambda: F.fourier_to_image(np.zeros((2, 3, 4, 3)), 4, 6, np.ones((4, 4))), "coeffs"),
    (lambda: F.fourier_to_image(np.zeros((3, 3, 4, 3)), 4, 4, np.ones((4, 3))), "coeffs"),
    (lambda: F.fourier_to_image(np.zeros((2, 3, 4, 3)), 4, 4, np.ones((4, 4))), "scale"),
    (lambda: F.fourier_to_image(np.zeros((2, 3, 4, 3)), -4, 4, np.ones((4, 3))), "h"),
    (lambda: F.image_to_fourier(np.zeros((4, 4, 3)), np.ones((4, 4))), "scale"),
    (lambda: F.image_to_fourier(np.zeros((4, 4)), np.ones((4, 3))), "image"),
    (lambda: F.color_correlation(np.zeros((10, 4))), "pixels"),
    (lambda: F.color_correlation(np.zeros((1, 3))), "pixels"),
    (lambda: F.decorrelated_to_rgb(np.zeros((2, 3)), np.eye(4)), "matrix"),
    (lambda: F.rgb_to_decorrelated(np.zeros((2, 4)), np.eye(3)), "x"),
    (lambda: F.magnitude_spectrum(np.zeros((4, 4, 3))), "images"),
    (lambda: F.phase_to_image(np.zeros((3, 4, 3)), np.zeros((3, 4, 4)), 4, 4), "magnitude"),
    (lambda: F.phase_to_image(np.zeros((2, 4, 3)), np.zeros((3, 4, 3)), 4, 4), "phase"),
    (lambda: F.phase_to_image(np.zeros((3, 4, 3)), np.zeros((3, 4, 3)), 4, 0), "w"),
])
def test_bad_arguments_raise_config_error_naming_them(call, name):
    with pytest.raises(ConfigError, match=rf"^{name} must"):
        call()
