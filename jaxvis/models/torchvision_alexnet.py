"""torchvision's AlexNet (224x224): no LRN, floor pooling, RGB in [0, 1]
normalised by the ImageNet mean/std, adaptive average pool to 6x6.
61,100,840 parameters. Weights: a torchvision state dict.
"""

from jaxvis.data.preprocess import PreprocessSpec
from jaxvis.models import layers as L
from jaxvis.models.caffe_family import CLASSIFIER_ROLES, classifier
from jaxvis.models.definition import ModelDef

LAYERS = (
    L.Conv("conv1", 64, 11, stride=4, pad=2),
    L.ReLU("relu1"),
    L.MaxPool("pool1", 3, 2, ceil=False),
    L.Conv("conv2", 192, 5, pad=2),
    L.ReLU("relu2"),
    L.MaxPool("pool2", 3, 2, ceil=False),
    L.Conv("conv3", 384, 3, pad=1),
    L.ReLU("relu3"),
    L.Conv("conv4", 256, 3, pad=1),
    L.ReLU("relu4"),
    L.Conv("conv5", 256, 3, pad=1),
    L.ReLU("relu5"),
    L.MaxPool("pool5", 3, 2, ceil=False),
    L.AdaptiveAvgPool("avgpool", 6),
    *classifier(),
)

SPEC = PreprocessSpec(
    input_size=(224, 224),
    channel_order="RGB",
    scale=1 / 255,
    mean=(0.485, 0.456, 0.406),
    std=(0.229, 0.224, 0.225),
    resize=256,
    resize_mode="shorter_side",
    color_statistics="imagenet",
)

TORCH_KEYS = {
    "conv1": "features.0",
    "conv2": "features.3",
    "conv3": "features.6",
    "conv4": "features.8",
    "conv5": "features.10",
    "fc6": "classifier.1",
    "fc7": "classifier.4",
    "fc8": "classifier.6",
}

MODEL = ModelDef(
    "torchvision_alexnet",
    LAYERS,
    SPEC,
    "torchvision AlexNet, 224x224, RGB [0,1] mean/std",
    weight_format="torchvision",
    torch_keys=TORCH_KEYS,
    **CLASSIFIER_ROLES,
)
