"""torchvision's MobileNetV2 as a Flax linen module, with state-dict import.

The network is ``torchvision.models.mobilenet_v2()`` (width 1.0):

* ``features/0``: a 3x3/2 convolution to 32 channels, BatchNorm, ReLU6;
* ``features/1`` ... ``features/17``: inverted residual blocks, in groups
  (expansion t, channels c, blocks n, first stride s) = (1, 16, 1, 1),
  (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
  (6, 320, 1, 1). A block is ``conv``: a 1x1 expansion to t x its input
  channels with BatchNorm and ReLU6 (absent when t = 1), a 3x3 depthwise
  convolution (one group per channel, the group's stride on the first block;
  computed as nine shifted products, ``jaxvis.ops.conv.depthwise_conv``)
  with BatchNorm and ReLU6, a 1x1 projection to c channels and BatchNorm; the
  block's input is added when the stride is 1 and the channels stay the same;
* ``features/18``: a 1x1 convolution to 1280 channels, BatchNorm, ReLU6;
* ``pool``: the global average, ``[B, 1280]``; ``classifier``: dropout (the
  identity here) and a fully connected layer to the 1000 ImageNet logits.

Every convolution is bias-free, padding (k - 1) // 2; BatchNorm is in
inference mode with eps 1e-5. 3,504,872 parameters. Input: ``[B, 224, 224,
3]`` float32 NHWC, normalised as torchvision does (RGB in [0, 1], ImageNet
mean and std); any size of at least 32x32 runs (the pool is global).

Blob names follow torchvision's module paths, ``.`` -> ``/``
(``jaxvis/models/frameworks/flax_linen.py``'s rule): ``features/0/0`` (conv),
``features/0/1`` (BatchNorm), ``features/0/relu`` (its ReLU6) and
``features/0`` (the stage's output); in block k ``features/k/conv/0/0``,
``features/k/conv/0/1``, ``features/k/conv/0/relu`` (expansion),
``features/k/conv/1/...`` (depthwise), ``features/k/conv/2`` (projection),
``features/k/conv/3`` (its BatchNorm), ``features/k`` (the block's output,
after the residual sum); for t = 1 (block 1) the depthwise layer is
``conv/0`` and the projection ``conv/1``, ``conv/2``, as in torchvision.
The ReLU6s are ``jax.nn.relu6`` calls, named as the adapters name a ReLU
(the output of relu6, capped); deconv and guided backprop take ReLU6 by the
rule of docs/projections.md.

Weights: a torchvision state dict (``.pth``/``.pt``, ``.safetensors``,
``.npz``), through ``jaxvis/models/torch_layout.py``.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from flax import linen as nn

from jaxvis.models import torch_layout
from jaxvis.ops.conv import depthwise_conv
from jaxvis.models.torch_layout import bn_keys, conv_keys, torch_keys

__all__ = ["SETTING", "MobileNetV2", "init_variables", "variables_from_state_dict", "definition"]

SETTING = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))
_FIRST, _LAST = 32, 1280
_EPS = 1e-5  # torch.nn.BatchNorm2d's default


def _bn(name: str) -> nn.BatchNorm:
    return nn.BatchNorm(use_running_average=True, epsilon=_EPS, name=name)


class DepthwiseConv(nn.Module):
    """A bias-free depthwise convolution whose ``kernel`` is ``nn.Conv``'s with
    ``feature_group_count`` = channels ([k, k, 1, C]), computed by
    ``jaxvis.ops.conv.depthwise_conv`` (XLA's grouped convolution is slow on CPUs)."""

    kernel_size: int
    stride: int = 1

    @nn.compact
    def __call__(self, x):
        k = self.kernel_size
        kernel = self.param("kernel", nn.initializers.lecun_normal(), (k, k, 1, x.shape[-1]))
        return depthwise_conv(x, kernel, self.stride, (k - 1) // 2)


class ConvBNReLU6(nn.Module):
    """torchvision's ``Conv2dNormActivation``: ``"0"`` conv (bias-free; ``depthwise``: one group per
    channel, ``features`` = the input's channels), ``"1"`` BatchNorm, then ReLU6."""

    features: int
    kernel: int = 3
    stride: int = 1
    depthwise: bool = False

    @nn.compact
    def __call__(self, x):
        pad = (self.kernel - 1) // 2
        if not self.depthwise:
            x = nn.Conv(self.features, (self.kernel, self.kernel), strides=(self.stride, self.stride),
                        padding=((pad, pad), (pad, pad)), use_bias=False, name="0")(x)
        else:
            x = DepthwiseConv(self.kernel, self.stride, name="0")(x)
        return jax.nn.relu6(_bn("1")(x))


class Layers(nn.Module):
    """torchvision's ``InvertedResidual.conv``: a Sequential of the block's layers, named "0", "1", ..."""

    hidden: int
    out: int
    stride: int
    expand: bool

    @nn.compact
    def __call__(self, x):
        i = 0
        if self.expand:
            x = ConvBNReLU6(self.hidden, 1, name="0")(x)
            i = 1
        x = ConvBNReLU6(self.hidden, 3, self.stride, depthwise=True, name=str(i))(x)
        x = nn.Conv(self.out, (1, 1), use_bias=False, name=str(i + 1))(x)
        return _bn(str(i + 2))(x)


class InvertedResidual(nn.Module):
    out: int
    stride: int
    expansion: int

    @nn.compact
    def __call__(self, x):
        channels = x.shape[-1]
        y = Layers(channels * self.expansion, self.out, self.stride, self.expansion != 1, name="conv")(x)
        return x + y if self.stride == 1 and channels == self.out else y


class Features(nn.Module):
    """torchvision's ``features``: the stem, the 17 blocks, the last 1x1 convolution, named "0" ... "18"."""

    @nn.compact
    def __call__(self, x):
        x = ConvBNReLU6(_FIRST, 3, 2, name="0")(x)
        k = 1
        for t, c, n, s in SETTING:
            for b in range(n):
                x = InvertedResidual(c, s if b == 0 else 1, t, name=str(k))(x)
                k += 1
        return ConvBNReLU6(_LAST, 1, name=str(k))(x)


class Pool(nn.Module):
    """``nn.functional.adaptive_avg_pool2d(x, (1, 1))`` + ``flatten``: the mean over H, W, ``[B, C]``."""

    @nn.compact
    def __call__(self, x):
        return jnp.mean(x, axis=(1, 2))


class Classifier(nn.Module):
    """``classifier``: ``"0"`` Dropout (identity in inference), ``"1"`` Linear."""

    num_classes: int

    @nn.compact
    def __call__(self, x):
        return nn.Dense(self.num_classes, name="1")(x)


class MobileNetV2(nn.Module):
    """torchvision MobileNetV2; ``x`` ``[B, H, W, 3]`` float32 NHWC -> logits ``[B, num_classes]``."""

    num_classes: int = 1000

    @nn.compact
    def __call__(self, x):
        x = Features(name="features")(x)
        return Classifier(self.num_classes, name="classifier")(Pool(name="pool")(x))


# ----------------------------------------------------------------------------- variables

_INIT_SHAPE = (1, 32, 32, 3)  # the parameters do not depend on the input size (the pool is global)


@functools.partial(jax.jit, static_argnums=1)
def _init(key: jax.Array, num_classes: int) -> dict:
    return MobileNetV2(num_classes).init(key, jnp.zeros(_INIT_SHAPE, jnp.float32))


def init_variables(seed: int = 0, num_classes: int = 1000) -> dict:
    """Random ``{"params", "batch_stats"}`` (flax's initialisers; running mean 0, var 1)."""
    return _init(jax.random.PRNGKey(seed), num_classes)


def _template(num_classes: int) -> dict:
    return jax.eval_shape(lambda: init_variables(0, num_classes))


def _torchvision_order() -> list[str]:
    """torchvision's state-dict keys in its order (``num_batches_tracked`` left out)."""
    def conv_bn(m):
        return conv_keys(f"{m}.0") + bn_keys(f"{m}.1")

    keys = conv_bn("features.0")
    k = 1
    for t, _, n, _ in SETTING:
        for _ in range(n):
            p, i = f"features.{k}.conv", 0
            if t != 1:
                keys += conv_bn(f"{p}.0")
                i = 1
            keys += conv_bn(f"{p}.{i}") + conv_keys(f"{p}.{i + 1}") + bn_keys(f"{p}.{i + 2}")
            k += 1
    return keys + conv_bn(f"features.{k}") + ["classifier.1.weight", "classifier.1.bias"]


@functools.lru_cache(maxsize=None)
def _torch_keys(num_classes: int) -> dict[str, tuple[tuple[str, ...], tuple]]:
    return torch_keys(_template(num_classes), _torchvision_order())


def variables_from_state_dict(state: dict[str, np.ndarray], source: str, num_classes: int = 1000) -> dict:
    """Flax variables ``{"params", "batch_stats"}`` from a torchvision MobileNetV2 state dict
    (``jaxvis/models/torch_layout.py``). ``source`` names it in error messages (a path, say)."""
    return torch_layout.variables_from_state_dict(state, source, _torch_keys(num_classes),
                                                  "torchvision MobileNetV2", num_classes)


# ----------------------------------------------------------------------------- the zoo entry

@functools.cache
def definition():
    """The zoo's ``torchvision_mobilenet_v2``: this module through the Flax adapter's
    blob naming, the ImageNet class names, class logits at ``classifier``, no softmax
    blob; weights random from a seed or a torchvision state dict."""
    import dataclasses

    from jaxvis.data.imagenet import imagenet_class_names
    from jaxvis.models.frameworks.flax_linen import flax_blobs, module_param_counts
    from jaxvis.models.function_def import FunctionDef
    from jaxvis.models.torchvision_alexnet import SPEC

    apply, kinds = flax_blobs(MobileNetV2())
    template = _template(1000)
    return FunctionDef(
        "torchvision_mobilenet_v2", apply, dataclasses.replace(SPEC, class_names=imagenet_class_names()), template,
        "torchvision MobileNetV2, 224x224, RGB [0,1] mean/std, BatchNorm in inference mode, ReLU6",
        class_layer="classifier", kinds=kinds, blob_params=module_param_counts(template),
        source="torchvision_mobilenet_v2", init=init_variables, from_state_dict=variables_from_state_dict,
        weight_format="torchvision", param_collection="params")
