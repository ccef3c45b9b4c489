"""The 1000 ImageNet-1k (ILSVRC-2012) class names in class-index order, as
torchvision names them (``jaxvis/assets/imagenet_classes.txt``, one name per
line; docs/porting.md says where the list comes from)."""

from __future__ import annotations

import functools
import os

CLASSES_FILE = os.path.join(os.path.dirname(os.path.dirname(__file__)), "assets", "imagenet_classes.txt")


@functools.cache
def imagenet_class_names() -> tuple[str, ...]:
    with open(CLASSES_FILE, encoding="utf-8") as f:
        return tuple(line.rstrip("\n") for line in f if line.strip())
