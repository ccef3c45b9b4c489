"""Files that appear whole or not at all: written to a temporary name in the
same directory, then renamed (atomic on POSIX), so a killed job never leaves
a half-written file behind under the final name."""

from __future__ import annotations

import json
import os

import numpy as np
from PIL import Image


def _replace(tmp: str, path: str) -> str:
    os.replace(tmp, path)
    return path


def write_text(path: str, text: str) -> str:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(text)
    return _replace(tmp, path)


def write_json(path: str, obj) -> str:
    return write_text(path, json.dumps(obj, indent=1, sort_keys=True))


def write_png(path: str, image, scale: int = 1) -> str:
    """uint8 [H, W, 3] -> PNG, enlarged ``scale`` times (nearest neighbour)."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    pil = Image.fromarray(np.asarray(image))
    if scale > 1:
        pil = pil.resize((pil.width * scale, pil.height * scale), Image.Resampling.NEAREST)
    tmp = f"{path}.tmp{os.getpid()}"
    pil.save(tmp, format="PNG")
    return _replace(tmp, path)
