"""Correspondence (Zeiler & Fergus Table 1): occlude the same object part in
several images and measure how consistently the features change. For image
i, ε_i = x_i − x̃_i is the change of layer l's feature vector; the score is
the Hamming distance between sign(ε_i) and sign(ε_j), divided by the number
of features, over all pairs i ≠ j (docs/analyses.md). Lower than for
occluders at random positions means the layer treats the part alike across
images.
"""

from __future__ import annotations

import itertools

import numpy as np


def occlude_box(image: np.ndarray, box, fill) -> np.ndarray:
    """A copy of ``image`` [H, W, 3] uint8 with box (y0, x0, y1, x1) (clipped) set to ``fill`` (RGB)."""
    out = image.copy()
    h, w = image.shape[:2]
    y0, x0, y1, x1 = (int(round(v)) for v in box)
    out[max(y0, 0):min(y1, h), max(x0, 0):min(x1, w)] = np.asarray(fill, np.uint8)
    return out


def centred_box(cy: float, cx: float, size: int) -> tuple[float, float, float, float]:
    half = size / 2
    return cy - half + 0.5, cx - half + 0.5, cy + half + 0.5, cx + half + 0.5


def random_box(rng: np.random.Generator, size: tuple[float, float], image_hw: tuple[int, int],
               mask: np.ndarray | None = None) -> tuple[float, float, float, float]:
    """A box of ``size`` (h, w) centred on a random pixel of ``mask``, or anywhere
    inside the image when there is no mask."""
    bh, bw = size
    if mask is None or not mask.any():
        y0, x0 = rng.uniform(0, image_hw[0] - bh), rng.uniform(0, image_hw[1] - bw)
        return y0, x0, y0 + bh, x0 + bw
    ys, xs = np.nonzero(mask)
    k = rng.integers(len(ys))
    return ys[k] - bh / 2 + 0.5, xs[k] - bw / 2 + 0.5, ys[k] + bh / 2 + 0.5, xs[k] + bw / 2 + 0.5


def mean_colour(spec) -> np.ndarray:
    """The model's mean pixel as RGB uint8 (Zeiler & Fergus's grey occluder)."""
    mean = spec.mean_array()
    mean = mean if mean.ndim == 1 else mean.mean(axis=(0, 1))
    rgb = mean[::-1] if spec.channel_order == "BGR" else mean
    return np.clip(np.round(rgb / spec.scale), 0, 255).astype(np.uint8)


def sign_hamming(eps: np.ndarray) -> np.ndarray:
    """eps [N, D] -> the normalised Hamming distances of sign(eps) over all pairs i < j ([N(N-1)/2])."""
    s = np.sign(eps)
    return np.array([np.mean(s[i] != s[j]) for i, j in itertools.combinations(range(len(s)), 2)])


def feature_changes(net, originals: np.ndarray, occluded: np.ndarray, layers) -> dict[str, np.ndarray]:
    """{layer: ε [N, D]} for uint8 image batches of the same length."""
    a = net.blobs(net.preprocess(originals))
    b = net.blobs(net.preprocess(occluded))
    return {l: (np.asarray(a[l]) - np.asarray(b[l])).reshape(len(originals), -1) for l in layers}
