"""One Flax module for every architecture: a chain of declared layers that
returns every named blob.

Parameters are a dict ``{layer_name: {"kernel": ..., "bias": ...}}`` for the
Conv and Dense layers, in the layouts documented in ``layers.py``.
"""

from __future__ import annotations

import dataclasses

import flax.linen as nn
import jax

from jaxvis import ops
from jaxvis.errors import ConfigError, ModelDefinitionError
from jaxvis.models import layers as L
from jaxvis.ops import backward
from jaxvis.ops.conv import check_group_impl

# He-normal (fan-in) keeps activations of a random network O(1) through depth.
_KERNEL_INIT = nn.initializers.variance_scaling(2.0, "fan_in", "normal")


class _Conv(nn.Module):
    spec: L.Conv
    in_channels: int
    group_impl: str

    @nn.compact
    def __call__(self, x):
        s = self.spec
        kernel = self.param(
            "kernel", _KERNEL_INIT, (s.kernel, s.kernel, self.in_channels // s.groups, s.features)
        )
        bias = self.param("bias", nn.initializers.zeros, (s.features,))
        return ops.conv2d(
            x, kernel, bias, stride=s.stride, pad=s.pad, groups=s.groups, group_impl=self.group_impl
        )


class _Dense(nn.Module):
    spec: L.Dense

    @nn.compact
    def __call__(self, x):
        fan_in = 1
        for d in x.shape[1:]:
            fan_in *= d
        kernel = self.param("kernel", _KERNEL_INIT, (fan_in, self.spec.features))
        bias = self.param("bias", nn.initializers.zeros, (self.spec.features,))
        return ops.dense(x, kernel, bias)


class SequentialNet(nn.Module):
    """Applies ``layers`` in order. ``__call__(x, until=None)`` takes
    x: [B, H, W, C] float32 in the network's input space and returns
    ``{blob_name: array}`` (conv-like blobs [B, H, W, C], fc blobs [B, C]),
    stopping after blob ``until`` when given.
    """

    layers: tuple
    group_impl: str = "split"
    # A ReLU backward mode (ops/backward.py), which also gives max pooling its
    # switches: the hand-written custom-VJP projection of a zoo network, the
    # independent side that tests compare jaxvis.project's generic substitution
    # (ops/substitute.py) with. None: plain autodiff.
    relu_backward: str | None = None
    # LRN's backward in a projection: None (plain autodiff), "true" (the same
    # gradient as a declared custom rule) or "identity".
    lrn_backward: str | None = None

    @nn.compact
    def __call__(self, x: jax.Array, until: str | None = None, unpadded: bool = False) -> dict[str, jax.Array]:
        """``unpadded``: every Conv and MaxPool ignores its padding. On a unit's
        exact receptive-field crop this computes only that unit's cone
        (``jaxvis.optimize.crop``)."""
        check_group_impl(self.group_impl)
        for name, value, allowed in (("ReLU backward mode", self.relu_backward, (None, *backward.RELU_MODES)),
                                     ("LRN backward", self.lrn_backward, (None, *backward.LRN_MODES))):
            if value not in allowed:
                raise ConfigError(f"unknown {name} {value!r}; expected one of "
                                  f"{', '.join(str(a) for a in allowed if a is not None)}")
        blobs = {}
        for spec in self.layers:
            if unpadded and isinstance(spec, (L.Conv, L.MaxPool)):
                spec = dataclasses.replace(spec, pad=0)
            if isinstance(spec, L.Conv):
                if x.shape[-1] % spec.groups:
                    raise ModelDefinitionError(
                        f"{spec.name}: {x.shape[-1]} input channels not divisible by {spec.groups} groups")
                x = _Conv(spec, x.shape[-1], self.group_impl, name=spec.name)(x)
            elif isinstance(spec, L.Dense):
                x = _Dense(spec, name=spec.name)(x)
            elif isinstance(spec, L.ReLU):
                x = jax.nn.relu(x) if self.relu_backward is None else backward.relu(x, self.relu_backward)
            elif isinstance(spec, L.MaxPool):
                if self.relu_backward is None:
                    x = ops.max_pool(x, kernel=spec.kernel, stride=spec.stride, pad=spec.pad, ceil=spec.ceil)
                else:
                    x = backward.max_pool_switches(x, spec.kernel, spec.stride, spec.pad, spec.ceil)
            elif isinstance(spec, L.LRN):
                if self.lrn_backward == "identity":
                    x = backward.lrn_identity_backward(x, spec.size, spec.alpha, spec.beta, spec.k)
                elif self.lrn_backward == "true":
                    x = backward.lrn_true_backward(x, spec.size, spec.alpha, spec.beta, spec.k)
                else:
                    x = ops.lrn_across_channels(x, size=spec.size, alpha=spec.alpha, beta=spec.beta, k=spec.k)
            elif isinstance(spec, L.AdaptiveAvgPool):
                x = ops.adaptive_avg_pool(x, spec.output)
            elif isinstance(spec, L.Softmax):
                x = jax.nn.softmax(x, axis=-1)
            else:
                raise ModelDefinitionError(f"layer {getattr(spec, 'name', spec)!r}: unknown layer type "
                                           f"{type(spec).__name__}")
            blobs[spec.name] = x
            if spec.name == until:
                break
        return blobs
