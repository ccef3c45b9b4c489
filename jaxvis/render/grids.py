"""Image grids: a unit's restarts as a 3x3 grid, a layer's units as a montage
(Yosinski et al. Figure S1), saved as PNG with Pillow."""

from __future__ import annotations

import io
import math
import os

import numpy as np
from PIL import Image

from jaxvis import files
from jaxvis.models.geometry import field_window


def grid(images, cols: int | None = None, pad: int = 2, pad_value: int = 255) -> np.ndarray:
    """images: [N, H, W, 3] uint8 -> one [rows*(H+pad)-pad, cols*(W+pad)-pad, 3]
    uint8 image, row-major, ``cols`` defaulting to ceil(sqrt(N)); empty cells stay ``pad_value``."""
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
        raise ValueError(f"grid expects uint8 images [N, H, W, 3], got {images.dtype} {images.shape}")
    n, h, w, _ = images.shape
    cols = cols or max(1, math.ceil(math.sqrt(n)))
    rows = max(1, math.ceil(n / cols))
    out = np.full((rows * (h + pad) - pad, cols * (w + pad) - pad, 3), pad_value, np.uint8)
    for i, img in enumerate(images):
        r, c = divmod(i, cols)
        out[r * (h + pad) : r * (h + pad) + h, c * (w + pad) : c * (w + pad) + w] = img
    return out


def unit_grid(restarts) -> np.ndarray:
    """A unit's restart images [R, H, W, 3] as a square grid (3x3 for the paper's 9)."""
    return grid(restarts)


def montage(units, cols: int | None = None) -> np.ndarray:
    """One image per unit [U, H, W, 3] -> a layer montage (Figure S1), thin separators."""
    return grid(units, cols=cols, pad=1)


def save_png(image, path: str | os.PathLike, min_size: int = 0, scale: int = 1) -> str:
    """Writes ``image`` [H, W, 3] uint8, enlarged by an integer factor (nearest
    neighbour, pixels stay sharp): ``scale``, or more until the short side is
    >= min_size. Written to a temporary name and renamed, so the file appears
    whole or not at all (a killed job never leaves half a PNG)."""
    image = np.asarray(image)
    factor = max(scale, math.ceil(min_size / min(image.shape[:2])) if min_size else 1)
    pil = Image.fromarray(image)
    if factor > 1:
        pil = pil.resize((image.shape[1] * factor, image.shape[0] * factor), Image.Resampling.NEAREST)
    buf = io.BytesIO()
    pil.save(buf, format="PNG")
    return files.write_bytes(os.fspath(path), buf.getvalue())


def field_crop(image, info, y: int | None, x: int | None) -> np.ndarray:
    """The part of ``image`` [H, W, 3] in the receptive field of unit (y, x)
    of the layer ``info`` (a LayerInfo), clipped to the image: the feature at
    its true size (Yosinski et al. Figure 5). The whole image for fc units."""
    image = np.asarray(image)
    if y is None or info.rf_size is None:
        return image
    y0, x0, size = field_window(info, y, x)
    h, w = image.shape[:2]
    return image[max(y0, 0):min(y0 + size, h), max(x0, 0):min(x0 + size, w)]


def stack_rows(rows, pad: int = 6, pad_value: int = 255) -> np.ndarray:
    """Images of different sizes [Hi, Wi, 3] one under another, left-aligned."""
    width = max(r.shape[1] for r in rows)
    out = np.full((sum(r.shape[0] for r in rows) + pad * (len(rows) - 1), width, 3), pad_value, np.uint8)
    top = 0
    for r in rows:
        out[top:top + r.shape[0], :r.shape[1]] = r
        top += r.shape[0] + pad
    return out
