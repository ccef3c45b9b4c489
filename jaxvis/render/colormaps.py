"""Colour maps for analysis figures: a heat map for scalar maps and a fixed
palette for label maps (so a class has the same colour in every figure)."""

from __future__ import annotations

import numpy as np
from PIL import Image

# blue -> cyan -> yellow -> red, evenly spaced stops
_HEAT = np.array([[0, 0, 160], [0, 190, 255], [255, 230, 0], [200, 0, 0]], np.float32)
PALETTE = np.array([[31, 119, 180], [255, 127, 14], [44, 160, 44], [214, 39, 40], [148, 103, 189],
                    [140, 86, 75], [227, 119, 194], [127, 127, 127], [188, 189, 34], [23, 190, 207]], np.uint8)


def heat(values, lo: float | None = None, hi: float | None = None) -> np.ndarray:
    """[H, W] floats -> [H, W, 3] uint8, ``lo``..``hi`` (default: the map's range) to blue..red."""
    v = np.asarray(values, np.float64)
    lo = v.min() if lo is None else lo
    hi = v.max() if hi is None else hi
    t = np.clip((v - lo) / (hi - lo if hi > lo else 1.0), 0, 1) * (len(_HEAT) - 1)
    i = np.minimum(t.astype(int), len(_HEAT) - 2)
    f = (t - i)[..., None]
    return np.round(_HEAT[i] * (1 - f) + _HEAT[i + 1] * f).astype(np.uint8)


def labels(values) -> np.ndarray:
    """[H, W] class indices -> [H, W, 3] uint8 with PALETTE (cycled beyond 10 classes)."""
    return PALETTE[np.asarray(values) % len(PALETTE)]


def enlarge(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resize of an [h, w, 3] uint8 image to size (H, W)."""
    return np.asarray(Image.fromarray(image).resize((size[1], size[0]), Image.Resampling.NEAREST))
