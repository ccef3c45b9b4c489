"""Receptive-field crops: the exact shortcut behind fast ascent on big inputs.

A conv unit's value depends only on the input pixels in its receptive field.
When that field lies inside the image (so no layer's padding is involved,
since the field of a padded position always starts left of pixel 0) and its
start is a multiple of the layer's stride in input pixels (so every strided
layer samples the crop on the full image's grid), running the network on the
crop alone gives the unit exactly the same value, and the gradient outside
the crop is exactly zero. CaffeNet's conv5 centre unit needs 163x163 of
227x227 pixels (half the work); conv1 needs 11x11.

Inside the crop the same holds layer by layer: the unit depends on a cone of
positions that narrows towards it (for CaffeNet conv5: 19x19 of pool1,
15x15 of conv2, 5x5 of conv3, 3x3 of conv4, one conv5 position). When no
layer of the cone reaches into padding, the network run on the crop with
all padding removed computes exactly that cone, down to a 1x1 map holding
the unit, and nothing else (CaffeNet conv5: about half the FLOPs of the
padded crop again). ``CropPlan.unpadded`` says when that holds.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from jaxvis.models import layers as L
from jaxvis.models.geometry import layer_table


@dataclasses.dataclass(frozen=True)
class CropPlan:
    size: int  # crop side in input pixels (the receptive field)
    target: int  # index of the unit in the map computed (same on both axes)
    unpadded: bool = False  # run without padding: the map computed is the unit alone


def cone_windows(layers: tuple, until: str, size: int, target: int) -> tuple | None:
    """Per layer up to ``until``: the square window [lo, hi) of its input
    (in the padded network's coordinates on a size x size input) that a Conv
    or MaxPool layer reads for unit (target, target) of ``until``; None for
    other layers. None overall when the cone reaches into padding, does not
    start from the whole input, or another layer type is in the way."""
    chain = []
    for spec in layers:
        if not isinstance(spec, (L.Conv, L.MaxPool, L.ReLU, L.LRN)):
            return None
        chain.append(spec)
        if spec.name == until:
            break
    # Input side of each layer, on the crop (the channel count does not matter here).
    sizes = [size] + [info.shape[0] for info in layer_table(tuple(chain), (size, size, 3))]
    lo, hi = target, target + 1  # in the output of the current layer
    windows = [None] * len(chain)
    for i in range(len(chain) - 1, -1, -1):
        spec = chain[i]
        if isinstance(spec, (L.Conv, L.MaxPool)):
            lo, hi = lo * spec.stride - spec.pad, (hi - 1) * spec.stride - spec.pad + spec.kernel
            if lo < 0 or hi > sizes[i]:
                return None
            windows[i] = (lo, hi)
    return tuple(windows) if (lo, hi) == (0, size) else None


def plan_crop(info, ys, xs, input_hw: tuple[int, int], layers: tuple | None = None
              ) -> tuple[CropPlan | None, np.ndarray, np.ndarray]:
    """info: the layer's LayerInfo; ys, xs: per-element unit positions;
    layers: the architecture, to plan the cone inside the crop (optional).
    Returns (plan, y0, x0) with per-element crop corners, or (None, ...) when
    some element's field is not inside the image or not stride-aligned."""
    ys, xs = np.asarray(ys), np.asarray(xs)
    none = (None, np.zeros_like(ys), np.zeros_like(xs))
    if not info.spatial or info.rf_size is None:
        return none
    rf, jump, offset = info.rf_size, info.rf_stride, info.rf_offset
    first = offset - (rf - 1) / 2  # field start of unit 0
    if first != int(first) or int(first) % jump:
        return none
    y0 = int(first) + ys * jump
    x0 = int(first) + xs * jump
    h, w = input_hw
    if np.any(y0 < 0) or np.any(x0 < 0) or np.any(y0 + rf > h) or np.any(x0 + rf > w):
        return none
    target = -int(first) // jump
    unpadded = layers is not None and cone_windows(layers, info.name, rf, target) is not None
    return CropPlan(rf, 0 if unpadded else target, unpadded), y0, x0
