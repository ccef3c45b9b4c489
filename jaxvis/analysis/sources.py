"""Image streams for the dataset analyses: the generated demo world (by
seed and index) or a folder of image files (any size; the model's own
resize/crop pipeline). Both give images by a stable integer index, so an
analysis can keep indices only and fetch an image again when it needs it.
"""

from __future__ import annotations

import os
import warnings

import numpy as np
from PIL import Image, UnidentifiedImageError

from jaxvis.data import shapes
from jaxvis.errors import JaxvisError, InputImageError


class GeneratedImages:
    """``count`` images of the demo world ``seed``, starting at index ``start``."""

    def __init__(self, seed: int, count: int, start: int = 0):
        self.seed, self.count, self.start = seed, count, start

    def __len__(self) -> int:
        return self.count

    def name(self, i: int) -> str:
        return f"shapes seed {self.seed} #{self.start + i}"

    def batch(self, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
        """Images [n, S, S, 3] uint8 of indices lo..hi-1 and which of them are valid (all)."""
        images, _ = shapes.make_batch(self.seed, self.start + lo, hi - lo)
        return images, np.ones(hi - lo, bool)


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm")


class FolderImages:
    """Every file under ``folder`` (sorted, recursive), decoded by Pillow and
    converted to RGB. Unreadable or non-image files are skipped with a
    warning and counted in ``skipped``; images come out as the network's
    input size (``preprocess`` resizes and crops, then this returns uint8)."""

    def __init__(self, folder: str, net):
        if not os.path.isdir(folder):
            raise JaxvisError(f"image folder {folder} does not exist or is not a directory")
        self.paths = sorted(os.path.join(d, n) for d, _, names in os.walk(folder) for n in names)
        if not self.paths:
            raise JaxvisError(f"image folder {folder} is empty: nothing to analyse")
        self.folder, self.net, self.skipped = folder, net, set()

    def __len__(self) -> int:
        return len(self.paths)

    def name(self, i: int) -> str:
        return os.path.relpath(self.paths[i], self.folder)

    def _read(self, i: int) -> np.ndarray | None:
        try:
            with Image.open(self.paths[i]) as im:
                rgb = np.asarray(im.convert("RGB"))
            return self.net.deprocess(self.net.preprocess(rgb))[0]
        except (UnidentifiedImageError, OSError, ValueError, InputImageError) as e:
            if i not in self.skipped:
                self.skipped.add(i)
                warnings.warn(f"skipping {self.paths[i]}: not a readable image ({e.__class__.__name__})",
                              stacklevel=2)
            return None

    def batch(self, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
        h, w = self.net.definition.input_shape[:2]
        images = np.zeros((hi - lo, h, w, 3), np.uint8)
        valid = np.zeros(hi - lo, bool)
        for j, i in enumerate(range(lo, hi)):
            img = self._read(i)
            if img is not None:
                images[j], valid[j] = img, True
        return images, valid
