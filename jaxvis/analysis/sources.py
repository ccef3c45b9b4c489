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
from jaxvis.errors import ConfigError, InputImageError


def read_image(path: str, net) -> np.ndarray:
    """An image file as the network sees it: RGB, resized and cropped by the
    model's pipeline, back to uint8 [h, w, 3]. Pillow's errors pass through."""
    with Image.open(path) as im:
        rgb = np.asarray(im.convert("RGB"))
    return net.deprocess(net.preprocess(rgb))[0]


class _Source:
    def batch(self, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
        """Images [n, h, w, 3] uint8 of indices lo..hi-1 and which of them are valid."""
        return self.labelled_batch(lo, hi)[:2]


class GeneratedImages(_Source):
    """``count`` images of the demo world ``seed``, starting at index ``start``."""

    def __init__(self, seed: int, count: int, start: int = 0):
        self.seed, self.count, self.start = seed, count, start

    def __len__(self) -> int:
        return self.count

    def name(self, i: int) -> str:
        return f"shapes seed {self.seed} #{self.start + i}"

    def labelled_batch(self, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Like ``batch``, plus the class labels [n] (every generated image is valid)."""
        images, labels = shapes.make_batch(self.seed, self.start + lo, hi - lo)
        return images, np.ones(hi - lo, bool), labels

    def sample(self, i: int) -> shapes.Sample:
        """Image i with its ground truth (mask, box, parts)."""
        return shapes.make_sample(self.seed, self.start + i)


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm")


def is_image_name(name: str) -> bool:
    """Whether a file name ends in one of ``IMAGE_SUFFIXES``, in any case."""
    return os.path.splitext(name)[1].lower() in IMAGE_SUFFIXES


class FolderImages(_Source):
    """Every image file under ``folder`` (sorted, recursive; a name ending in
    one of ``IMAGE_SUFFIXES``, any case: other files are not images and are
    passed over silently), decoded by Pillow and converted to RGB. Image files
    that do not decode are skipped with a warning and counted in ``skipped``;
    images come out as the network's input size (``preprocess`` resizes and
    crops, then this returns uint8)."""

    def __init__(self, folder: str, net):
        if not os.path.isdir(folder):
            raise ConfigError(f"image folder {folder} does not exist or is not a directory")
        self.paths = sorted(os.path.join(d, n) for d, _, names in os.walk(folder) for n in names if is_image_name(n))
        if not self.paths:
            raise ConfigError(f"image folder {folder} is empty: no file under it ends in an image suffix "
                              f"({', '.join(IMAGE_SUFFIXES)}, any case), nothing to analyse")
        self.folder, self.net, self.skipped = folder, net, set()

    def __len__(self) -> int:
        return len(self.paths)

    def name(self, i: int) -> str:
        return os.path.relpath(self.paths[i], self.folder)

    def _read(self, i: int) -> np.ndarray | None:
        try:
            return read_image(self.paths[i], self.net)
        except (UnidentifiedImageError, OSError, ValueError, InputImageError) as e:
            if i not in self.skipped:
                self.skipped.add(i)
                warnings.warn(f"skipping {self.paths[i]}: an image file that does not decode ({e.__class__.__name__})",
                              stacklevel=2)
            return None

    def labelled_batch(self, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray, None]:
        """Like ``batch``; files carry no labels (None)."""
        h, w = self.net.definition.input_shape[:2]
        images = np.zeros((hi - lo, h, w, 3), np.uint8)
        valid = np.zeros(hi - lo, bool)
        for j, i in enumerate(range(lo, hi)):
            img = self._read(i)
            if img is not None:
                images[j], valid[j] = img, True
        return images, valid, None


def from_config(config, net):
    """A job's image stream: ``config.source`` "shapes" (``config.images``
    generated images of seed ``config.shapes_seed``) or a folder of images."""
    if config.source == "shapes":
        return GeneratedImages(config.shapes_seed, config.images)
    return FolderImages(config.source, net)
