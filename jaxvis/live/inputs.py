"""Where the live view's images come from, on the server side: an image a
client sends (a webcam or video frame drawn by the page, or a file opened
or dropped on it), a generated demo-world image with its ground truth, or
an image file from the folder given with ``--images``.

Every client image goes through ``decode_image``: refused, with a message
naming the limit, when it is larger than the upload limit, has more pixels
than the decoding limit, or is not an image Pillow can read.
"""

from __future__ import annotations

import dataclasses
import io
import warnings

import numpy as np
from PIL import Image, UnidentifiedImageError

from jaxvis.analysis.sources import FolderImages, GeneratedImages
from jaxvis.data import shapes
from jaxvis.errors import ConfigError, InputImageError

MAX_UPLOAD_BYTES = 8 * 1024 * 1024
MAX_PIXELS = 40_000_000  # a decoded image larger than this is refused before it is decoded
HELD_OUT_SEED = 9999  # the demo world's held-out images (configs/demo_train.py: eval_seed)


@dataclasses.dataclass
class InputImage:
    """An image to show the network, with what the page prints about it."""

    rgb: np.ndarray  # uint8 [H, W, 3], any size (the network's pipeline resizes it)
    name: str  # e.g. "shapes seed 9999 #3", a file name, "webcam"
    label: str | None = None  # the ground truth, when known
    index: int | None = None  # position in the generated world or the folder


def decode_image(data: bytes, limit: int = MAX_UPLOAD_BYTES, what: str = "upload") -> np.ndarray:
    """Encoded image bytes (PNG, JPEG, ...) -> uint8 RGB [H, W, 3], or an
    InputImageError naming the limit or saying it is not an image."""
    if len(data) > limit:
        raise InputImageError(f"the {what} is {len(data):,} bytes; the limit is {limit:,} bytes "
                              f"({limit / 2**20:g} MB, jaxvis live --max_upload_mb)")
    if not data:
        raise InputImageError(f"the {what} is empty; expected an image file (PNG, JPEG, ...)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as im:
                if im.width * im.height > MAX_PIXELS:
                    raise InputImageError(f"the {what} is {im.width}x{im.height} pixels; the limit is "
                                          f"{MAX_PIXELS:,} pixels")
                return np.asarray(im.convert("RGB"))
    except InputImageError:
        raise
    except (Image.DecompressionBombWarning, Image.DecompressionBombError):
        raise InputImageError(f"the {what} has more than {MAX_PIXELS:,} pixels, the limit "
                              "(Pillow's decompression-bomb check)") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:
        raise InputImageError(f"the {what} is not an image Pillow can read ({len(data)} bytes; "
                              f"{e.__class__.__name__}); expected PNG, JPEG, GIF, BMP or WebP") from None


class Generated:
    """The demo world's held-out images, by index, with their class."""

    def __init__(self, seed: int = HELD_OUT_SEED):
        self.images = GeneratedImages(seed, count=2**31 - 1)

    def get(self, index: int) -> InputImage:
        if isinstance(index, bool) or not isinstance(index, int) or index < 0:
            raise ConfigError(f"a generated image index is an integer >= 0, got {index!r}")
        sample = self.images.sample(index)
        return InputImage(sample.image, self.images.name(index), shapes.CLASSES[sample.label], index)


class Folder:
    """The image files under ``--images``, stepped through by index (wrapping around)."""

    def __init__(self, folder: str, net):
        self.images = FolderImages(folder, net)  # ConfigError when missing or empty

    def __len__(self) -> int:
        return len(self.images)

    def get(self, index: int) -> InputImage:
        if isinstance(index, bool) or not isinstance(index, int):
            raise ConfigError(f"a file index is an integer, got {index!r}")
        index %= len(self.images)
        path = self.images.paths[index]
        try:
            with open(path, "rb") as f:
                rgb = decode_image(f.read(), limit=2**62, what=f"file {self.images.name(index)}")
        except OSError as e:
            raise InputImageError(f"file {self.images.name(index)} cannot be read ({e.strerror})") from None
        return InputImage(rgb, self.images.name(index), None, index)
