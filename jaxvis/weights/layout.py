"""Caffe/PyTorch weight layouts -> jaxvis params, with every shape checked.

Source layout (Caffe and PyTorch agree): conv weight (O, I/group, kh, kw),
fc weight (out, in) whose ``in`` runs over a spatial input in (C, H, W) order,
bias (O,). Legacy Caffe blobs are right-aligned 4-D: a bias (1, 1, 1, N), an fc
weight (1, 1, out, in). jaxvis: conv kernel (kh, kw, I/group, O) (HWIO, the
same group blocks), fc kernel (in, out) with ``in`` in (H, W, C) order.
"""

from __future__ import annotations

import numpy as np

from jaxvis.errors import ArchitectureMismatchError
from jaxvis.models import layers as L
from jaxvis.models.definition import ModelDef


def _squeeze_leading(arr: np.ndarray, ndim: int) -> np.ndarray:
    """Drops leading size-1 axes (legacy right-aligned blobs) down to ``ndim`` axes."""
    while arr.ndim > ndim and arr.shape[0] == 1:
        arr = arr[0]
    return arr


def _expect(arr: np.ndarray, shape: tuple, what: str, source: str) -> None:
    if tuple(arr.shape) != tuple(shape):
        raise ArchitectureMismatchError(
            f"{source}: {what} has shape {tuple(arr.shape)}, expected {tuple(shape)}"
        )


def params_from_source_layout(
    definition: ModelDef, arrays: dict[str, list[np.ndarray]], source: str
) -> dict:
    """arrays: {layer: [weight, bias]} in the source layout above.
    Returns jaxvis params {layer: {"kernel", "bias"}} as float32 numpy arrays.
    Raises ArchitectureMismatchError naming the layer, expected and found shapes.
    """
    table = {info.name: info for info in definition.table()}
    names = definition.layer_names
    needed = [s.name for s in definition.layers if isinstance(s, L.PARAMETRIC)]
    missing = [n for n in needed if n not in arrays]
    if missing:
        raise ArchitectureMismatchError(
            f"{source}: no weights for layer(s) {', '.join(missing)} of {definition.name} "
            f"(it needs {', '.join(needed)}; found weights for: {', '.join(arrays) or 'nothing'})"
        )
    params = {}
    for spec in definition.layers:
        if not isinstance(spec, L.PARAMETRIC):
            continue
        blobs = arrays[spec.name]
        if len(blobs) != 2:
            raise ArchitectureMismatchError(
                f"{source}: layer {spec.name!r} has {len(blobs)} parameter blob(s), expected 2 (weights, bias)"
            )
        weight, bias = (np.asarray(b, np.float32) for b in blobs)
        out = spec.features
        bias = _squeeze_leading(bias, 1)
        _expect(bias, (out,), f"layer {spec.name!r} bias", source)
        prev = table[names[names.index(spec.name) - 1]].shape if names.index(spec.name) else definition.input_shape
        if isinstance(spec, L.Conv):
            expected = (out, prev[-1] // spec.groups, spec.kernel, spec.kernel)
            _expect(weight, expected, f"layer {spec.name!r} weights", source)
            kernel = weight.transpose(2, 3, 1, 0)
        else:
            fan_in = int(np.prod(prev))
            weight = _squeeze_leading(weight, 2)
            _expect(weight, (out, fan_in), f"layer {spec.name!r} weights", source)
            if len(prev) == 3:  # (C, H, W) rows -> (H, W, C) rows
                h, w, c = prev
                weight = weight.reshape(out, c, h, w).transpose(0, 2, 3, 1).reshape(out, fan_in)
            kernel = weight.T
        params[spec.name] = {"kernel": np.ascontiguousarray(kernel), "bias": bias}
    return params
