"""A folder of real photographs to run jaxvis on without bringing your own:
scikit-image's sample photographs (the ones its wheel ships, no download),
each written whole and as its four overlapping corner crops (two thirds of
each side), so that top-9 lists have more than a handful of images to rank.

    python -m examples.sample_photos workdirs/photos     # needs: pip install scikit-image

Grayscale photographs are written as RGB (three equal channels). Your own
folder of photographs works the same way wherever a job takes a folder.
"""

from __future__ import annotations

import os
import sys

import numpy as np
from PIL import Image

# scikit-image's photographs of real scenes (not drawings, masks or synthetic patterns).
PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field", "immunohistochemistry", "retina",
          "camera", "coins", "clock", "moon", "page", "text", "brick", "grass", "gravel")


def _rgb(image: np.ndarray) -> np.ndarray:
    return np.repeat(image[..., None], 3, axis=-1) if image.ndim == 2 else image[..., :3]


def crops(image: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """[(suffix, image)]: the whole image and its four corner crops of 2/3 of each side."""
    h, w = image.shape[:2]
    ch, cw = 2 * h // 3, 2 * w // 3
    corners = {"tl": (0, 0), "tr": (0, w - cw), "bl": (h - ch, 0), "br": (h - ch, w - cw)}
    return [("whole", image)] + [(name, image[y:y + ch, x:x + cw]) for name, (y, x) in corners.items()]


def write_sample_photos(folder: str) -> list[str]:
    """Writes the photographs and their crops as PNGs into ``folder``; returns the paths."""
    from skimage import data

    os.makedirs(folder, exist_ok=True)
    paths = []
    for name in PHOTOS:
        image = _rgb(np.asarray(getattr(data, name)()))
        for suffix, crop in crops(image):
            path = os.path.join(folder, f"{name}_{suffix}.png")
            if not os.path.exists(path):
                Image.fromarray(np.ascontiguousarray(crop)).save(path)
            paths.append(path)
    return paths


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m examples.sample_photos FOLDER")
    print(f"{len(write_sample_photos(sys.argv[1]))} photographs in {sys.argv[1]}")
