"""The image families of the ascent: how an element's optimized variables
become the network's input (docs/feature_vis.md).

- ``pixel``: the paper's. The variables are the network-space image itself,
  updated by Yosinski et al.'s regularized step (ascent.py), exactly as before.
- ``fourier``: Lucid/Lucent's. Real and imaginary rfft2 coefficients
  [2, 3, H, W//2+1] scaled by the 1/f spectrum (fourier.spectrum_scale), to a
  decorrelated-colour image, to RGB by the dataset's colour matrix
  (fourier.decorrelated_to_rgb), squashed to 0..1 by a sigmoid.
- ``maco``: MaCo's (Fel et al. 2023). Only the phase [3, H, W//2+1] is
  optimized; the magnitude is the dataset's mean amplitude spectrum. The
  image irfft2(magnitude * exp(i phase)) is standardised (zero mean, unit std
  over all its pixels), then squashed to 0..1 by a sigmoid.

Both new families are optimized with Adam on their variables and see a
random transform every step (transforms.py), drawn per element from its own
key: pad, jitter, scale, rotate, jitter. The sizes follow Lucid's at 224 px
(pad 12, final jitter 4), scaled to the input's size, with the first jitter
chosen so that the transform returns an image of the input's own size (the
networks of the zoo take one input size).

The colour matrix and magnitude spectrum come from a dataset
(``color_statistics``), in this order: images the caller gives; what the
network's ``PreprocessSpec.color_statistics`` declares ("imagenet": Lucid's
published ImageNet colour matrix with the 1/f magnitude of
``spectrum_scale``; "demo_world": estimated from generated demo-world
images; "folder:PATH": estimated from a folder of images; a 3x3 matrix with
the 1/f magnitude); the job's own image source (its ``fallback``); else no
decorrelation (the identity) and the 1/f magnitude, with a warning naming
how to declare them. Nothing is guessed from the network's shape.
"""

from __future__ import annotations

import logging
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxvis.errors import ConfigError
from jaxvis.optimize import fourier as F
from jaxvis.optimize import transforms as T

log = logging.getLogger("jaxvis")

FAMILIES = ("pixel", "fourier", "maco")
PIXEL, FOURIER, MACO = range(3)
GREY = 0.5  # the transforms' fill, in 0..1 pixels (Lucid's pad value)
DEMO_WORLD_SEED = 1  # demo-world images the demo networks' statistics come from
STATISTICS_IMAGES = 256

# Lucid's color_correlation_svd_sqrt (ImageNet, RGB): a spec's color_statistics="imagenet".
IMAGENET_COLOR_SVD_SQRT = np.array([[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]], np.float32)


class ColorStatistics(NamedTuple):
    """What the new families take from a dataset."""

    matrix: jax.Array  # [3, 3] decorrelated -> RGB (fourier.color_correlation)
    magnitude: jax.Array  # [3, H, W//2+1] MaCo's fixed amplitude spectrum
    source: str  # where they came from, for meta.json and the log


class RobustSizes(NamedTuple):
    """Static settings of the per-step transform for one input size."""

    pad: int
    jitter: int
    final_jitter: int
    scales: tuple[float, ...] = T.LUCID_SCALES
    max_angle: float = T.LUCID_MAX_ANGLE


def robust_sizes(h: int, w: int) -> RobustSizes:
    """Lucid's pad 12 and final jitter 4 at 224 px scaled to min(h, w), and the
    first jitter 2 pad - final jitter, so the output is h x w again; Lucid's
    scales (0.9 .. 1.1) and angles (-10 .. 10 degrees)."""
    side = min(h, w)
    pad = max(1, round(12 * side / 224))
    final = round(4 * side / 224)
    return RobustSizes(pad, 2 * pad - final, final)


def identity_params(sizes: RobustSizes) -> T.TransformParams:
    """The transform that returns its input exactly (pad p, crop back at p)."""
    dy2 = min(sizes.final_jitter, sizes.pad)
    dy = sizes.pad - dy2
    i = jnp.int32
    return T.TransformParams(i(dy), i(dy), jnp.float32(1.0), jnp.float32(0.0), i(dy2), i(dy2))


def transform(key, image01: jax.Array, on, sizes: RobustSizes) -> jax.Array:
    """One element's image [H, W, 3] (0..1) through a random transform drawn
    from ``key`` when ``on``, else returned as it is (same program either way)."""
    drawn = T.draw_params(key, jitter_px=sizes.jitter, final_jitter_px=sizes.final_jitter, scales=sizes.scales,
                          max_angle_deg=sizes.max_angle)
    params = jax.tree.map(lambda a, b: jnp.where(on, a, b), drawn, identity_params(sizes))
    return T.apply_params(image01, params, pad_width=sizes.pad, jitter_px=sizes.jitter,
                          final_jitter_px=sizes.final_jitter, fill=GREY,
                          reach=T.reach_bound(sizes.scales, sizes.max_angle))


def variables_shape(h: int, w: int) -> tuple[int, int, int, int]:
    """The shape of one element's variables in the new families: [2, 3, H, W//2+1]
    (fourier: real and imaginary parts; maco: the phase, then zeros)."""
    return (2, 3, h, w // 2 + 1)


def init_variables(key, family, shape, sd) -> jax.Array:
    """Start variables: fourier N(0, sd^2) coefficients (an image of pixel std
    sd before the sigmoid: near grey); maco a phase uniform in [-pi, pi)."""
    k1, k2 = jax.random.split(key)
    normal = sd * jax.random.normal(k1, shape)
    phase = jax.random.uniform(k2, shape[1:], minval=-jnp.pi, maxval=jnp.pi)
    maco = jnp.stack([phase, jnp.zeros_like(phase)])
    return jnp.where(family == MACO, maco, normal)


def images01(family: jax.Array, variables: jax.Array, matrix: jax.Array, magnitude: jax.Array, scale: jax.Array,
             h: int, w: int) -> jax.Array:
    """RGB images [M, h, w, 3] in 0..1 of the new families' elements: families
    [M] (FOURIER or MACO), variables [M, 2, 3, h, w//2+1]; ``matrix`` and
    ``magnitude`` a ColorStatistics', ``scale`` fourier.spectrum_scale(h, w).
    Each family's image is computed only when some element has that family
    (a real branch, outside vmap: a fourier-only batch never computes MaCo's
    image, nor the reverse)."""
    def fourier(variables):
        image = jax.vmap(lambda c: F.fourier_to_image(c, h, w, scale))(variables)
        return jax.nn.sigmoid(F.decorrelated_to_rgb(image, matrix))

    def maco(variables):
        image = F.phase_to_image(variables[:, 0], magnitude, h, w)
        centred = image - jnp.mean(image, axis=(1, 2, 3), keepdims=True)
        return jax.nn.sigmoid(centred / (jnp.sqrt(jnp.mean(centred * centred, axis=(1, 2, 3), keepdims=True)) + 1e-5))

    def none(variables):
        return jnp.zeros((variables.shape[0], h, w, 3), variables.dtype)

    is_maco = (family == MACO)[:, None, None, None]
    a = jax.lax.cond(jnp.any(~is_maco), fourier, none, variables)
    b = jax.lax.cond(jnp.any(is_maco), maco, none, variables)
    return jnp.where(is_maco, b, a)


def is_demo_world(net) -> bool:
    """Whether ``net`` classifies the generated demo world (its class names are shapes.CLASSES)."""
    from jaxvis.data import shapes
    return tuple(net.spec.class_names or ()) == tuple(shapes.CLASSES)


def statistics_from_images(images: np.ndarray, source: str) -> ColorStatistics:
    """Colour matrix and mean amplitude spectrum of uint8 RGB images [N, H, W, 3]."""
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
        raise ConfigError(f"statistics images must be uint8 RGB [N, H, W, 3]; got {images.dtype} {images.shape}")
    matrix = F.color_correlation(jnp.asarray(images))
    magnitude = F.magnitude_spectrum(jnp.asarray(images, jnp.float32) / 255.0)
    return ColorStatistics(matrix, magnitude, source)


def _normalized(matrix) -> jax.Array:
    """A decorrelated -> RGB matrix scaled so its largest column has norm 1 (Lucid's normalisation)."""
    matrix = np.asarray(matrix, np.float32)
    return jnp.asarray(matrix / np.max(np.linalg.norm(matrix, axis=0)))


def _folder_images(net, folder: str) -> np.ndarray:
    """The first ``STATISTICS_IMAGES`` images of ``folder`` (sorted) at the network's input size."""
    from jaxvis.analysis.sources import FolderImages

    source = FolderImages(folder, net)
    images, valid = source.batch(0, min(len(source), STATISTICS_IMAGES))
    if not valid.any():
        raise ConfigError(f"{net.name}: colour statistics from {folder}: none of its image files decodes")
    return images[valid]


def color_statistics(net, images: np.ndarray | None = None, source: str | None = None, *,
                     job_folder: str | None = None) -> ColorStatistics:
    """The statistics the new families use for ``net`` (module doc): from
    ``images`` (uint8 RGB at the input size) when given, else what the
    network's spec declares, else estimated from ``job_folder`` (the job's own
    image folder) when given, else identity colours and a warning."""
    h, w = net.definition.input_shape[:2]
    if images is not None:
        return statistics_from_images(images, source or "the user's images")
    declared = net.spec.color_statistics
    one_over_f = F.spectrum_scale(h, w, normalize=False)
    magnitude = jnp.broadcast_to(one_over_f, (3, *one_over_f.shape))
    if declared == "demo_world":
        from jaxvis.data import shapes
        images, _ = shapes.make_batch(DEMO_WORLD_SEED, 0, STATISTICS_IMAGES, h)
        return statistics_from_images(images, f"the demo world ({STATISTICS_IMAGES} images, seed {DEMO_WORLD_SEED})")
    if declared == "imagenet":
        return ColorStatistics(_normalized(IMAGENET_COLOR_SVD_SQRT), magnitude,
                               "ImageNet (Lucid's colour matrix; 1/f magnitude)")
    if declared is not None and not isinstance(declared, str):
        return ColorStatistics(_normalized(declared), magnitude, "the spec's colour matrix (1/f magnitude)")
    folder = declared[len("folder:"):] if declared else job_folder  # "folder:PATH" (PreprocessSpec checked it)
    if folder:
        images = _folder_images(net, folder)
        return statistics_from_images(images, f"the first {len(images)} images of {folder}")
    log.warning("%s: no colour statistics declared, so the Fourier and MaCo images use identity colours and a 1/f "
                "magnitude; declare them with PreprocessSpec(color_statistics='imagenet' | 'folder:PATH' | a 3x3 "
                "matrix)", net.name)
    return ColorStatistics(jnp.eye(3, dtype=jnp.float32), magnitude, "none (identity colours; 1/f magnitude)")
