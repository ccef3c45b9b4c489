"""Image parameterizations in the Fourier domain, as small pure functions:
Lucid/Lucent's Fourier image with 1/f scaling and colour decorrelation, and
MaCo's phase-only image under a fixed magnitude spectrum (Fel et al. 2023).

Layouts: images are [..., H, W, C] (NHWC or HWC, float32); spectra are the
half-plane of ``rfft2`` over (H, W), channels first: [..., C, H, W//2+1]; a
real coefficient array stacks the real and imaginary parts: [..., 2, C, H,
W//2+1]. ``h`` and ``w`` are static Python ints; everything else may be traced.

Conventions (see each function):

- ``spectrum_scale`` is Lucid's 1 / max(f, 1/max(h, w)) ** decay_power times
  ONE constant chosen so that ``fourier_to_image`` of N(0, 1) coefficients
  (real and imaginary parts independent) has per-pixel std exactly 1.
- ``fourier_to_image`` is numpy's default ("backward") ``irfft2`` with
  ``s=(h, w)``: odd widths are exact, with no extra column to crop (Lucid
  keeps w//2+2 columns for odd w and crops a pixel).
- ``color_correlation`` is Lucid's ``color_correlation_svd_sqrt /
  max_norm_svd_sqrt`` estimated from pixels; ``decorrelated_to_rgb`` is
  Lucid's ``_linear_decorrelate_color`` (x @ M.T).
- ``phase_to_image`` is the raw ``irfft2`` of MaCo's magnitude * exp(i phase);
  MaCo's standardisation and sigmoid to the value range are the caller's.
"""

from __future__ import annotations

import numbers

import jax
import jax.numpy as jnp
import numpy as np

from jaxvis.errors import ConfigError


def _size(name: str, value) -> int:
    """A static positive int size, or ConfigError naming it."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ConfigError(f"{name} must be a positive integer; got {value!r}")
    return int(value)


def _check_shape(name: str, shape, expected) -> None:
    if tuple(shape) != tuple(expected):
        raise ConfigError(f"{name} must have shape {tuple(expected)}; got {tuple(shape)}")


def spectrum_scale(h: int, w: int, decay_power: float = 1.0, normalize: bool = True) -> jax.Array:
    """[H, W//2+1] float32 scale of the rfft2 coefficients of an h x w image.

    Base (Lucid's ``rfft2d_freqs`` and ``fft_image``): 1 / max(f, 1/max(h, w))
    ** decay_power with f = sqrt(fy^2 + fx^2), fy = np.fft.fftfreq(h)[:, None],
    fx = np.fft.rfftfreq(w)[None, :] (cycles per pixel), so the DC term gets
    max(h, w) ** decay_power and the scale has no zeros.

    With ``normalize`` (the default) the base is divided by the exact per-pixel
    std of ``fourier_to_image`` for N(0, 1) coefficients, sigma = sqrt(sum_k
    m_k base_k^2) / (h w), with m_k = 4 for the columns 0 < kx < w/2 (each
    stands for itself and its conjugate) and m_k = 1 for column 0 and, for
    even w, column w/2 (irfft2 keeps only their real part). Then N(0, sd^2)
    coefficients give images of per-pixel std exactly sd, whatever the size
    and decay. (Lucid multiplies the base by sqrt(h w) instead, i.e. an
    orthonormal irfft2, and divides the image by 4; its pixel std then grows
    like sqrt(log(size)).)
    """
    h, w = _size("h", h), _size("w", w)
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.rfftfreq(w)[None, :]
    freq = np.sqrt(fy * fy + fx * fx)
    base = 1.0 / np.maximum(freq, 1.0 / max(h, w)) ** float(decay_power)
    if normalize:
        m = np.full(base.shape[1], 4.0)
        m[0] = 1.0
        if w % 2 == 0:
            m[-1] = 1.0
        base = base / (np.sqrt(np.sum(m * base * base)) / (h * w))
    return jnp.asarray(base, jnp.float32)


def fourier_to_image(coeffs: jax.Array, h: int, w: int, scale: jax.Array) -> jax.Array:
    """Spatial image [..., H, W, C] of coefficients [..., 2, C, H, W//2+1]
    (real parts, imaginary parts): irfft2((re + i im) * scale, s=(h, w)) over
    (H, W). The imaginary parts of column 0 (and of column w/2 for even w) do
    not reach the image: their gradient is zero."""
    h, w = _size("h", h), _size("w", w)
    half = (h, w // 2 + 1)
    if jnp.ndim(coeffs) < 4 or jnp.shape(coeffs)[-4] != 2 or tuple(jnp.shape(coeffs)[-2:]) != half:
        raise ConfigError(f"coeffs must have shape [..., 2, C, {h}, {w // 2 + 1}] for a {h}x{w} image; "
                          f"got {tuple(jnp.shape(coeffs))}")
    _check_shape("scale", jnp.shape(scale), half)
    coeffs = jnp.asarray(coeffs, jnp.float32)
    spectrum = jax.lax.complex(coeffs[..., 0, :, :, :], coeffs[..., 1, :, :, :]) * jnp.asarray(scale, jnp.float32)
    image = jnp.fft.irfft2(spectrum, s=(h, w), axes=(-2, -1))
    return jnp.moveaxis(image, -3, -1)


def image_to_fourier(image: jax.Array, scale: jax.Array) -> jax.Array:
    """Coefficients [..., 2, C, H, W//2+1] of an image [..., H, W, C]: rfft2
    over (H, W) divided by ``scale`` [H, W//2+1], real and imaginary parts
    stacked; the inverse of ``fourier_to_image`` (rfft2 of a real image is
    Hermitian, so irfft2 returns it exactly)."""
    if jnp.ndim(image) < 3:
        raise ConfigError(f"image must have shape [..., H, W, C]; got {tuple(jnp.shape(image))}")
    h, w = jnp.shape(image)[-3:-1]
    _check_shape("scale", jnp.shape(scale), (h, w // 2 + 1))
    image = jnp.moveaxis(jnp.asarray(image, jnp.float32), -1, -3)
    spectrum = jnp.fft.rfft2(image, axes=(-2, -1)) / jnp.asarray(scale, jnp.float32)
    return jnp.stack([spectrum.real, spectrum.imag], axis=-4)


def color_correlation(pixels: jax.Array) -> jax.Array:
    """[3, 3] float32 square root of the channel covariance of ``pixels``
    (uint8 0..255, or float 0..1; [N, 3] or images [..., 3]): with cov = U
    diag(s) U^T (SVD, s descending; np.cov's ddof=1), M = U diag(sqrt(s)) /
    sqrt(s[0]), i.e. Lucid's ``color_correlation_svd_sqrt`` divided by its
    largest column norm (``max_norm_svd_sqrt``). So M @ M.T = cov / s[0], the
    first column has norm 1, and the result does not depend on the pixels'
    scale. Each column's sign is fixed so that its largest-magnitude entry is
    positive. Pixels with no variation give NaN."""
    if jnp.ndim(pixels) < 1 or jnp.shape(pixels)[-1] != 3:
        raise ConfigError(f"pixels must have 3 channels in the last axis, shape [..., 3]; "
                          f"got {tuple(jnp.shape(pixels))}")
    flat = jnp.reshape(pixels, (-1, 3))
    if flat.shape[0] < 2:
        raise ConfigError(f"pixels must hold at least 2 pixels to estimate a covariance; got {flat.shape[0]}")
    flat = flat.astype(jnp.float32) / (255.0 if flat.dtype == jnp.uint8 else 1.0)
    centred = flat - jnp.mean(flat, axis=0)
    cov = centred.T @ centred / (flat.shape[0] - 1)
    u, s, _ = jnp.linalg.svd(cov)
    m = u * jnp.sqrt(s / s[0])
    biggest = jnp.take_along_axis(m, jnp.argmax(jnp.abs(m), axis=0)[None], axis=0)
    return m * jnp.where(biggest < 0, -1.0, 1.0)


def decorrelated_to_rgb(x: jax.Array, matrix: jax.Array) -> jax.Array:
    """RGB [..., 3] of decorrelated colours x [..., 3]: x @ matrix.T."""
    _check_shape("matrix", jnp.shape(matrix), (3, 3))
    if jnp.ndim(x) < 1 or jnp.shape(x)[-1] != 3:
        raise ConfigError(f"x must have 3 channels in the last axis, shape [..., 3]; got {tuple(jnp.shape(x))}")
    return jnp.asarray(x, jnp.float32) @ jnp.asarray(matrix, jnp.float32).T


def rgb_to_decorrelated(x: jax.Array, matrix: jax.Array) -> jax.Array:
    """Decorrelated colours [..., 3] of RGB x [..., 3]: x @ inv(matrix).T, the
    inverse of ``decorrelated_to_rgb``. With ``matrix = color_correlation(P)``
    the decorrelated pixels of P have covariance s[0] * I (whitened)."""
    _check_shape("matrix", jnp.shape(matrix), (3, 3))
    if jnp.ndim(x) < 1 or jnp.shape(x)[-1] != 3:
        raise ConfigError(f"x must have 3 channels in the last axis, shape [..., 3]; got {tuple(jnp.shape(x))}")
    inverse = jnp.linalg.inv(jnp.asarray(matrix, jnp.float32))
    return jnp.asarray(x, jnp.float32) @ inverse.T


def magnitude_spectrum(images: jax.Array) -> jax.Array:
    """MaCo's fixed magnitude: mean over N of |rfft2| over (H, W) of images
    [N, H, W, C] (float, 0..1), per channel: [C, H, W//2+1] float32."""
    if jnp.ndim(images) != 4 or jnp.shape(images)[0] < 1:
        raise ConfigError(f"images must have shape [N, H, W, C] with N >= 1; got {tuple(jnp.shape(images))}")
    spectra = jnp.fft.rfft2(jnp.moveaxis(jnp.asarray(images, jnp.float32), -1, -3), axes=(-2, -1))
    return jnp.mean(jnp.abs(spectra), axis=0)


def phase_to_image(phase: jax.Array, magnitude: jax.Array, h: int, w: int) -> jax.Array:
    """MaCo's image [..., H, W, C] of a phase [..., C, H, W//2+1] under a fixed
    magnitude [C, H, W//2+1]: irfft2(magnitude * exp(i phase), s=(h, w))."""
    h, w = _size("h", h), _size("w", w)
    half = (h, w // 2 + 1)
    if jnp.ndim(magnitude) != 3 or tuple(jnp.shape(magnitude)[1:]) != half:
        raise ConfigError(f"magnitude must have shape [C, {h}, {w // 2 + 1}] for a {h}x{w} image; "
                          f"got {tuple(jnp.shape(magnitude))}")
    if jnp.ndim(phase) < 3 or tuple(jnp.shape(phase)[-3:]) != tuple(jnp.shape(magnitude)):
        raise ConfigError(f"phase must have shape [..., {', '.join(map(str, jnp.shape(magnitude)))}] "
                          f"(the magnitude's); got {tuple(jnp.shape(phase))}")
    phase = jnp.asarray(phase, jnp.float32)
    spectrum = jnp.asarray(magnitude, jnp.float32) * jax.lax.complex(jnp.cos(phase), jnp.sin(phase))
    return jnp.moveaxis(jnp.fft.irfft2(spectrum, s=(h, w), axes=(-2, -1)), -3, -1)
