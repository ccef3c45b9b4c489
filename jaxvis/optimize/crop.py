"""Receptive-field crops: the exact shortcut behind fast ascent on big inputs.

A conv unit's value depends only on the input pixels in its receptive field.
When that field lies inside the image (so no layer's padding is involved,
since the field of a padded position always starts left of pixel 0) and its
start is a multiple of the layer's stride in input pixels (so every strided
layer samples the crop on the full image's grid), running the network on the
crop alone gives the unit exactly the same value, and the gradient outside
the crop is exactly zero. CaffeNet's conv5 centre unit needs 163x163 of
227x227 pixels (half the work); conv1 needs 11x11.
"""

from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class CropPlan:
    size: int  # crop side in input pixels (the receptive field)
    target: int  # index of the unit in the crop's own map (same on both axes)


def plan_crop(info, ys, xs, input_hw: tuple[int, int]) -> tuple[CropPlan | None, np.ndarray, np.ndarray]:
    """info: the layer's LayerInfo; ys, xs: per-element unit positions.
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
    return CropPlan(rf, -int(first) // jump), y0, x0
