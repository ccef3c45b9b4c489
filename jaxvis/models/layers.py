"""Declarative layer descriptions: an architecture is a tuple of these.

The same tuple drives the Flax module (``sequential.py``), the geometry table
(output shapes, receptive fields, parameter counts in ``geometry.py``) and the
weight importers, so the three can never disagree. Every layer produces one
named blob; its ``name`` is the blob name users address units by.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Conv:
    """Convolution, cross-correlation as in Caffe and PyTorch (no flip).

    Params: ``kernel`` [kh, kw, in/groups, out] (HWIO), ``bias`` [out].
    Groups are contiguous blocks of input and output channels (Caffe's rule).
    """

    name: str
    features: int
    kernel: int
    stride: int = 1
    pad: int = 0
    groups: int = 1


@dataclasses.dataclass(frozen=True)
class ReLU:
    name: str


@dataclasses.dataclass(frozen=True)
class MaxPool:
    """Max pooling; ``ceil=True`` is Caffe's output-size rule, False PyTorch's default."""

    name: str
    kernel: int
    stride: int
    pad: int = 0
    ceil: bool = True


@dataclasses.dataclass(frozen=True)
class LRN:
    """Caffe ACROSS_CHANNELS local response normalization.

    ``y = x * (k + alpha / size * sum_{window of size channels} x^2) ** -beta``.
    """

    name: str
    size: int = 5
    alpha: float = 1e-4
    beta: float = 0.75
    k: float = 1.0


@dataclasses.dataclass(frozen=True)
class AdaptiveAvgPool:
    """PyTorch ``AdaptiveAvgPool2d`` to a fixed output size."""

    name: str
    output: int


@dataclasses.dataclass(frozen=True)
class Dense:
    """Fully connected layer. A spatial input [B, H, W, C] is flattened in
    (H, W, C) order; importers permute Caffe's (C, H, W) rows to match.

    Params: ``kernel`` [in, out], ``bias`` [out].
    """

    name: str
    features: int


@dataclasses.dataclass(frozen=True)
class Softmax:
    name: str


Layer = Conv | ReLU | MaxPool | LRN | AdaptiveAvgPool | Dense | Softmax
PARAMETRIC = (Conv, Dense)
SPATIAL = (Conv, ReLU, MaxPool, LRN, AdaptiveAvgPool)
