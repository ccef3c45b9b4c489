"""Invariance (Zeiler & Fergus Fig. 5): the same object re-rendered shifted
vertically, scaled and rotated (``jaxvis.data.shapes.transform``); for each
transformed image, the Euclidean distance between its feature vector and the
original's at an early and a late layer, and the true class's probability.

Distances are reported raw and relative to the original's feature norm
(||f(Tx) - f(x)|| / ||f(x)||), which makes layers of different sizes and
scales comparable: the paper's finding is that small transformations move
the first layer's features much more than the top layers'.
"""

from __future__ import annotations

import numpy as np

from jaxvis.data import shapes

SWEEPS = {
    "translation": ("dy", "vertical shift (px)"),
    "scale": ("scale", "scale"),
    "rotation": ("rotate", "rotation (degrees)"),
}


def transformed(params: shapes.ObjectParams, sweep: str, value: float) -> shapes.ObjectParams:
    if sweep == "rotation":
        return shapes.transform(params, rotate=np.deg2rad(value))
    return shapes.transform(params, **{SWEEPS[sweep][0]: value})


def sweep(net, params: list[shapes.ObjectParams], sweep_name: str, values, layers) -> dict:
    """-> {"values", "distance": {layer: [images, values]}, "relative": {...}, "prob": [images, values]}"""
    values = np.asarray(values, np.float64)
    n, m = len(params), len(values)
    images = np.stack([shapes.render(transformed(p, sweep_name, v)).image for p in params for v in values])
    originals = np.stack([shapes.render(p).image for p in params])
    blobs_t = {k: np.asarray(v) for k, v in net.blobs(net.preprocess(images)).items()}
    blobs_o = {k: np.asarray(v) for k, v in net.blobs(net.preprocess(originals)).items()}
    out = {"values": values.tolist(), "distance": {}, "relative": {}}
    for layer in layers:
        ft = blobs_t[layer].reshape(n, m, -1)
        fo = blobs_o[layer].reshape(n, 1, -1)
        dist = np.sqrt(((ft - fo) ** 2).sum(-1))
        out["distance"][layer] = dist
        out["relative"][layer] = dist / np.maximum(np.sqrt((fo ** 2).sum(-1)), 1e-12)
    labels = np.array([p.label for p in params])
    out["prob"] = np.asarray(net.probabilities(blobs_t)).reshape(n, m, -1)[np.arange(n), :, labels]
    return out
