"""Image grids: a unit's restarts as a 3x3 grid, a layer's units as a montage
(Yosinski et al. Figure S1), saved as PNG with Pillow."""

from __future__ import annotations

import io
import math
import os

import numpy as np
from PIL import Image

from jaxvis import files
from jaxvis.errors import ConfigError, InputImageError
from jaxvis.models.geometry import field_window


def _is_int(v) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def _image_stack(images, what: str) -> np.ndarray:
    """images as uint8 [N, H, W, 3], or an InputImageError naming ``what`` took them."""
    arr = np.asarray(images)
    if arr.ndim != 4 or arr.shape[-1] != 3 or arr.dtype != np.uint8:
        raise InputImageError(f"{what} expects uint8 images [N, H, W, 3], got {arr.dtype} {arr.shape}"
                              + (" (a single image? stack several)" if arr.ndim == 3 else ""))
    return arr


def grid(images, cols: int | None = None, pad: int = 2, pad_value: int = 255) -> np.ndarray:
    """images: [N, H, W, 3] uint8 -> one [rows*(H+pad)-pad, cols*(W+pad)-pad, 3]
    uint8 image, row-major, ``cols`` defaulting to ceil(sqrt(N)); empty cells stay ``pad_value``."""
    images = _image_stack(images, "grid")
    if cols is not None and (not _is_int(cols) or cols < 1):
        raise ConfigError(f"grid: cols must be an integer >= 1 (or None), got {cols!r}")
    if not _is_int(pad) or pad < 0:
        raise ConfigError(f"grid: pad must be an integer >= 0, got {pad!r}")
    if not _is_int(pad_value) or not 0 <= pad_value <= 255:
        raise ConfigError(f"grid: pad_value must be an integer in 0..255, got {pad_value!r}")
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
    return grid(_image_stack(restarts, "unit_grid"))


def montage(units, cols: int | None = None) -> np.ndarray:
    """One image per unit [U, H, W, 3] -> a layer montage (Figure S1), thin separators."""
    return grid(_image_stack(units, "montage"), cols=cols, pad=1)


def save_png(image, path: str | os.PathLike, min_size: int = 0, scale: int = 1) -> str:
    """Writes ``image`` [H, W, 3] uint8, enlarged by an integer factor (nearest
    neighbour, pixels stay sharp): ``scale``, or more until the short side is
    >= min_size. Written to a temporary name and renamed, so the file appears
    whole or not at all (a killed job never leaves half a PNG)."""
    image = np.asarray(image)
    if image.dtype != np.uint8 or not (image.ndim == 2 or (image.ndim == 3 and image.shape[-1] in (3, 4))) \
            or 0 in image.shape:
        raise InputImageError(f"save_png expects one uint8 image [H, W, 3], [H, W, 4] or [H, W], got "
                              f"{image.dtype} {image.shape}" + (" (a batch? save its images one by one)"
                                                                  if image.ndim == 4 else ""))
    if not _is_int(scale) or scale < 1:
        raise ConfigError(f"save_png: scale must be an integer >= 1, got {scale!r}")
    if not _is_int(min_size) or min_size < 0:
        raise ConfigError(f"save_png: min_size must be an integer >= 0, got {min_size!r}")
    if os.path.isdir(path):
        raise ConfigError(f"save_png: {os.fspath(path)!r} is a directory; expected a file name such as unit.png")
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
