"""Static facts of an architecture computed from its layer tuple alone:
output shapes, receptive fields and parameter counts (no weights, no JAX).

Receptive field of a conv-like blob: ``size`` input pixels on a side, ``stride``
input pixels between neighbouring units, and ``offset``: the input coordinate
of the centre of unit (0, 0) (negative when it lies in the padding). Unit
(y, x) therefore sees input rows ``offset + y*stride ± (size-1)/2``; top-9
patch crops use exactly this. Fully connected blobs see the whole image.
"""

from __future__ import annotations

import dataclasses
import math

from jaxvis.errors import ModelDefinitionError
from jaxvis.models import layers as L
from jaxvis.models.tokens import TokenLayout
from jaxvis.ops.pool import pool_output_size


@dataclasses.dataclass(frozen=True)
class LayerInfo:
    name: str
    kind: str  # "conv" | "relu" | "pool" | "lrn" | "avgpool" | "fc" | "softmax"
    shape: tuple[int, ...]  # per example: (H, W, C) for spatial blobs, (C,) for vectors, (N, C) for tokens
    rf_size: int | None  # receptive field side in input pixels; None = whole image
    rf_stride: int | None
    rf_offset: float | None
    params: int
    tokens: TokenLayout | None = None  # token blobs [B, N, C]: which tokens are prefix and patch grid

    @property
    def channels(self) -> int:
        return self.shape[-1]

    @property
    def spatial(self) -> bool:
        """A convolutional map (H, W, C), with receptive fields."""
        return len(self.shape) == 3

    @property
    def grid(self) -> tuple[int, int] | None:
        """The (h, w) grid of units at a place: a map's, a token blob's patch grid; None for vectors."""
        if self.tokens is not None:
            return self.tokens.grid
        return tuple(self.shape[:2]) if self.spatial else None


def field_window(info: LayerInfo, y: int, x: int) -> tuple[int, int, int]:
    """(y0, x0, size): the receptive field of unit (y, x) of a conv-like blob in
    input pixels (it may reach outside the image)."""
    first = info.rf_offset - (info.rf_size - 1) / 2
    return int(math.floor(first + y * info.rf_stride)), int(math.floor(first + x * info.rf_stride)), info.rf_size


_KIND = {
    L.Conv: "conv",
    L.ReLU: "relu",
    L.MaxPool: "pool",
    L.LRN: "lrn",
    L.AdaptiveAvgPool: "avgpool",
    L.Dense: "fc",
    L.Softmax: "softmax",
}


def layer_table(layers: tuple, input_shape: tuple[int, int, int]) -> list[LayerInfo]:
    """input_shape: (H, W, C) of the network input. One LayerInfo per blob, in
    order. A layer tuple that cannot be built raises ModelDefinitionError naming the layer."""
    h, w, c = input_shape
    shape: tuple[int, ...] = (h, w, c)
    rf, jump, offset = 1, 1, 0.0  # receptive field of one input pixel
    table = []
    for spec in layers:
        params = 0
        if type(spec) not in _KIND:
            raise ModelDefinitionError(f"layer {getattr(spec, 'name', spec)!r}: unknown layer type "
                                       f"{type(spec).__name__}; expected one of {', '.join(t.__name__ for t in _KIND)}")
        if isinstance(spec, L.LRN) and spec.size % 2 != 1:
            raise ModelDefinitionError(f"{spec.name}: LRN size must be odd (Caffe's rule), got {spec.size}")
        if isinstance(spec, (L.Conv, L.MaxPool)):
            if len(shape) != 3:
                raise ModelDefinitionError(f"{spec.name}: needs a spatial input, got shape {shape}")
            k, s, p = spec.kernel, spec.stride, spec.pad
            if isinstance(spec, L.Conv):
                if shape[2] % spec.groups or spec.features % spec.groups:
                    raise ModelDefinitionError(f"{spec.name}: {spec.groups} groups must divide its {shape[2]} input "
                                               f"channels and its {spec.features} outputs")
                if min(shape[:2]) + 2 * p < k:
                    raise ModelDefinitionError(f"{spec.name}: kernel {k} (pad {p}) is larger than its input "
                                               f"{shape[0]}x{shape[1]}")
                hh, ww = ((n + 2 * p - k) // s + 1 for n in shape[:2])
                params = k * k * (shape[2] // spec.groups) * spec.features + spec.features
                shape = (hh, ww, spec.features)
            else:
                try:
                    hh, ww = (pool_output_size(n, k, s, p, spec.ceil) for n in shape[:2])
                except ModelDefinitionError as e:
                    raise ModelDefinitionError(f"{spec.name}: {e}") from None
                shape = (hh, ww, shape[2])
            rf, offset, jump = rf + (k - 1) * jump, offset + ((k - 1) / 2 - p) * jump, jump * s
        elif isinstance(spec, L.AdaptiveAvgPool):
            if len(shape) != 3:
                raise ModelDefinitionError(f"{spec.name}: needs a spatial input, got shape {shape}")
            n = shape[0]
            if (shape[0], shape[1]) != (spec.output, spec.output):
                # Bins of ceil(n/out) pixels every n/out: an upper bound of the field.
                k, s = -(-n // spec.output), n // spec.output
                rf, offset, jump = rf + (k - 1) * jump, offset + (k - 1) / 2 * jump, jump * s
            shape = (spec.output, spec.output, shape[2])
        elif isinstance(spec, L.Dense):
            fan_in = 1
            for d in shape:
                fan_in *= d
            params = fan_in * spec.features + spec.features
            shape = (spec.features,)
            rf = jump = offset = None
        if rf is None or len(shape) == 1:
            info = LayerInfo(spec.name, _KIND[type(spec)], shape, None, None, None, params)
        else:
            info = LayerInfo(spec.name, _KIND[type(spec)], shape, rf, jump, offset, params)
        table.append(info)
    return table


def parameter_count(layers: tuple, input_shape: tuple[int, int, int]) -> int:
    return sum(info.params for info in layer_table(layers, input_shape))
