"""torchvision's VGG16 (configuration "D", no batch norm), 224x224: thirteen
3x3/1 pad-1 convolutions in five stages, each closed by 2x2/2 floor max
pooling, RGB in [0, 1] normalised by the ImageNet mean/std, adaptive average
pool to 7x7, classifier 4096-4096-1000. 138,357,544 parameters.
Weights: a torchvision state dict (``torchvision.models.vgg16``).
"""

from jaxvis.models import layers as L
from jaxvis.models.caffe_family import CLASSIFIER_ROLES, classifier
from jaxvis.models.definition import ModelDef
from jaxvis.models.torchvision_alexnet import SPEC

# Output channels of each stage's convolutions.
_STAGES = ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512))


def _features() -> tuple[tuple, dict[str, str]]:
    """The conv/relu/pool layers and {conv: "features.<i>"}, i the position in
    torchvision's ``features`` Sequential (conv, relu, ..., pool)."""
    layers, keys, index = [], {}, 0
    for stage, widths in enumerate(_STAGES, start=1):
        for i, width in enumerate(widths, start=1):
            layers += [L.Conv(f"conv{stage}_{i}", width, 3, pad=1), L.ReLU(f"relu{stage}_{i}")]
            keys[f"conv{stage}_{i}"] = f"features.{index}"
            index += 2
        layers.append(L.MaxPool(f"pool{stage}", 2, 2, ceil=False))
        index += 1
    return tuple(layers), keys


_FEATURES, _FEATURE_KEYS = _features()

LAYERS = (
    *_FEATURES,
    L.AdaptiveAvgPool("avgpool", 7),
    *classifier(),
)

TORCH_KEYS = {
    **_FEATURE_KEYS,  # features.0, features.2, features.5, ..., features.28
    "fc6": "classifier.0",
    "fc7": "classifier.3",
    "fc8": "classifier.6",
}

MODEL = ModelDef(
    "torchvision_vgg16",
    LAYERS,
    SPEC,
    "torchvision VGG16, 224x224, RGB [0,1] mean/std",
    weight_format="torchvision",
    torch_keys=TORCH_KEYS,
    **CLASSIFIER_ROLES,
)
