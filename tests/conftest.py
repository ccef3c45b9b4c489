"""Shared helpers: random RGB images and a relative-error measure."""

import numpy as np
import pytest


def rel_err(a, b) -> float:
    """max |a - b| / max |b|: one number per blob, scale-free."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-30))


@pytest.fixture
def rgb_images():
    def make(n, h, w, seed=0):
        return np.random.default_rng(seed).integers(0, 256, (n, h, w, 3), dtype=np.uint8)

    return make
