"""torchvision's ResNet-50 (v1.5) as a Flax linen module, with state-dict import.

The network is ``torchvision.models.resnet50()``: a 7x7/2 pad-3 convolution to
64 channels, BatchNorm, ReLU and a 3x3/2 pad-1 max pool, then four stages of
3, 4, 6 and 3 Bottleneck blocks (widths 64, 128, 256, 512; each block
1x1 conv -> 3x3 conv -> 1x1 conv to 4x the width, every conv bias-free and
followed by BatchNorm, plus the shortcut and a ReLU after the sum).  The first
block of each stage has a ``downsample`` shortcut (1x1 conv + BatchNorm); in
stages 2-4 it halves the resolution, and, as in torchvision (ResNet "v1.5"),
the stride sits on the block's 3x3 ``conv2``, not on its first 1x1 conv.  A
global average pool gives 2048 features, a fully connected layer the logits.
25,557,032 parameters (BatchNorm running statistics are not parameters).
Input: ``[B, 224, 224, 3]`` float32 NHWC, already
normalised (torchvision: RGB in [0, 1], ImageNet mean/std); any size of at
least 32x32 runs, the pool being global.  BatchNorm is in inference mode:
``y = (x - running_mean) / sqrt(running_var + 1e-5) * weight + bias``.

Weights: a torchvision state dict (``resnet50().state_dict()``; ``.pth``/``.pt``,
``.safetensors`` or ``.npz``, a ``"module."`` prefix is dropped).  Conv kernels
are OIHW there and HWIO here, the fc matrix ``[out, in]`` there and
``[in, out]`` here; ``num_batches_tracked`` keys are ignored.  Missing,
unexpected or misshapen keys raise :class:`jaxvis.errors.WeightsFileError`.

Blob names: every submodule is named after its torchvision module path, so
the outputs captured by ``ResNet50().apply(variables, x,
capture_intermediates=True, mutable=["intermediates"])`` sit at paths which,
joined with ``/``, are torchvision's with ``.`` replaced by ``/``:

* top level: ``conv1``, ``bn1``, ``maxpool``, ``layer1`` ... ``layer4`` (stage
  outputs), ``avgpool`` (``[B, 2048]``), ``fc`` (the logits);
* per block ``layerS/B``: ``conv1``, ``bn1``, ``conv2``, ``bn2``, ``conv3``,
  ``bn3``, ``downsample/0``, ``downsample/1`` and ``downsample`` (block 0
  only; ``downsample`` equals ``downsample/1``), and ``layerS/B`` itself (the
  block output, after its last ReLU).

The ReLUs are plain ``nn.relu`` calls, as in torchvision (one shared module
per block); flax does not capture function outputs, so a wrapper naming them
calls them ``relu`` (top level, after ``bn1``) and ``layerS/B/relu``,
``layerS/B/relu_1``, ``layerS/B/relu_2`` (after bn1, after bn2, after the
residual sum).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from flax import linen as nn

from jaxvis.models import torch_layout
from jaxvis.models.torch_layout import bn_keys, conv_keys, torch_keys

__all__ = [
    "LAYERS",
    "AvgPool",
    "Bottleneck",
    "Downsample",
    "MaxPool",
    "ResNet50",
    "Stage",
    "init_variables",
    "variables_from_state_dict",
]

LAYERS = (3, 4, 6, 3)  # Bottleneck blocks per stage
_WIDTHS = (64, 128, 256, 512)
_EXPANSION = 4
_EPS = 1e-5  # torch.nn.BatchNorm2d's default


def _conv(features: int, kernel: int, stride: int = 1, pad: int = 0, name: str | None = None) -> nn.Conv:
    return nn.Conv(features, (kernel, kernel), strides=(stride, stride), padding=((pad, pad), (pad, pad)),
                   use_bias=False, name=name)


def _bn(name: str | None = None) -> nn.BatchNorm:
    return nn.BatchNorm(use_running_average=True, epsilon=_EPS, name=name)


class MaxPool(nn.Module):
    """``nn.MaxPool2d(3, stride=2, padding=1)``: the padding is -inf, never a maximum."""

    @nn.compact
    def __call__(self, x):
        return nn.max_pool(x, (3, 3), strides=(2, 2), padding=((1, 1), (1, 1)))


class AvgPool(nn.Module):
    """``nn.AdaptiveAvgPool2d(1)`` + ``flatten``: the mean over H, W, ``[B, C]``."""

    @nn.compact
    def __call__(self, x):
        return jnp.mean(x, axis=(1, 2))


class Downsample(nn.Module):
    """The shortcut of a stage's first block: ``"0"`` 1x1 conv (``stride``), ``"1"`` BatchNorm."""

    features: int
    stride: int = 1

    @nn.compact
    def __call__(self, x):
        x = _conv(self.features, 1, self.stride, name="0")(x)
        return _bn(name="1")(x)


class Bottleneck(nn.Module):
    """torchvision's Bottleneck: 1x1 (``width``), 3x3 (``width``, ``stride``), 1x1 (4 x ``width``)."""

    width: int
    stride: int = 1
    downsample: bool = False

    @nn.compact
    def __call__(self, x):
        identity = x
        y = _conv(self.width, 1, name="conv1")(x)
        y = nn.relu(_bn(name="bn1")(y))
        y = _conv(self.width, 3, self.stride, pad=1, name="conv2")(y)
        y = nn.relu(_bn(name="bn2")(y))
        y = _conv(self.width * _EXPANSION, 1, name="conv3")(y)
        y = _bn(name="bn3")(y)
        if self.downsample:
            identity = Downsample(self.width * _EXPANSION, self.stride, name="downsample")(x)
        return nn.relu(y + identity)


class Stage(nn.Module):
    """``layerS``: ``blocks`` Bottlenecks named ``"0"``, ``"1"``, ...; block 0 strides and
    has the ``downsample`` shortcut."""

    width: int
    blocks: int
    stride: int = 1

    @nn.compact
    def __call__(self, x):
        for b in range(self.blocks):
            x = Bottleneck(self.width, self.stride if b == 0 else 1, downsample=b == 0, name=str(b))(x)
        return x


class ResNet50(nn.Module):
    """torchvision ResNet-50 (v1.5); ``x`` ``[B, H, W, 3]`` float32 NHWC -> logits ``[B, num_classes]``."""

    num_classes: int = 1000

    @nn.compact
    def __call__(self, x):
        x = _conv(64, 7, 2, pad=3, name="conv1")(x)
        x = nn.relu(_bn(name="bn1")(x))
        x = MaxPool(name="maxpool")(x)
        for s, (width, blocks) in enumerate(zip(_WIDTHS, LAYERS)):
            x = Stage(width, blocks, 1 if s == 0 else 2, name=f"layer{s + 1}")(x)
        x = AvgPool(name="avgpool")(x)
        return nn.Dense(self.num_classes, name="fc")(x)


# ----------------------------------------------------------------------------- variables

# The parameters do not depend on the spatial size (the pool is global): a
# small input stands in for 224 x 224 when only the variables are wanted.
_INIT_SHAPE = (1, 32, 32, 3)


@functools.partial(jax.jit, static_argnums=1)
def _init(key: jax.Array, num_classes: int) -> dict:
    return ResNet50(num_classes).init(key, jnp.zeros(_INIT_SHAPE, jnp.float32))


def init_variables(seed: int = 0, num_classes: int = 1000) -> dict:
    """Random ``{"params", "batch_stats"}`` (flax's initialisers; running mean 0, var 1).

    The first call per ``num_classes`` compiles the initialisers (the 54 random
    kernels take XLA some seconds on a CPU); later calls reuse the program."""
    return _init(jax.random.PRNGKey(seed), num_classes)


def _template(num_classes: int) -> dict:
    """The variables' tree of ``jax.ShapeDtypeStruct``s, nothing computed."""
    return jax.eval_shape(lambda: init_variables(0, num_classes))



def _torchvision_order() -> list[str]:
    """torchvision's state-dict keys in its order (``num_batches_tracked`` left out)."""
    keys = conv_keys("conv1") + bn_keys("bn1")
    for s, blocks in enumerate(LAYERS, start=1):
        for b in range(blocks):
            p = f"layer{s}.{b}"
            for i in (1, 2, 3):
                keys += conv_keys(f"{p}.conv{i}") + bn_keys(f"{p}.bn{i}")
            if b == 0:
                keys += conv_keys(f"{p}.downsample.0") + bn_keys(f"{p}.downsample.1")
    return keys + ["fc.weight", "fc.bias"]


@functools.lru_cache(maxsize=None)
def _torch_keys(num_classes: int) -> dict[str, tuple[tuple[str, ...], tuple]]:
    return torch_keys(_template(num_classes), _torchvision_order())


def variables_from_state_dict(state: dict[str, np.ndarray], source: str, num_classes: int = 1000) -> dict:
    """Flax variables ``{"params", "batch_stats"}`` from a torchvision ResNet-50 state dict
    (``jaxvis/models/torch_layout.py``). ``source`` names it in error messages (a path, say)."""
    return torch_layout.variables_from_state_dict(state, source, _torch_keys(num_classes),
                                                  "torchvision ResNet-50", num_classes)


# ----------------------------------------------------------------------------- the zoo entry

@functools.cache
def definition():
    """The zoo's ``torchvision_resnet50``: this module through ``from_flax``'s
    blob naming (``jaxvis.models.frameworks.flax_linen``), class logits at ``fc``, no
    softmax blob; weights random from a seed or a torchvision state dict."""
    from jaxvis.models.frameworks.flax_linen import flax_blobs, module_param_counts
    from jaxvis.models.function_def import FunctionDef
    from jaxvis.models.torchvision_alexnet import SPEC

    apply, kinds = flax_blobs(ResNet50())
    template = _template(1000)
    return FunctionDef(
        "torchvision_resnet50", apply, SPEC, template,
        "torchvision ResNet-50 (v1.5), 224x224, RGB [0,1] mean/std, BatchNorm in inference mode",
        class_layer="fc", kinds=kinds, blob_params=module_param_counts(template), source="torchvision_resnet50",
        init=init_variables, from_state_dict=variables_from_state_dict, weight_format="torchvision",
        param_collection="params")
