"""VGG_CNN_S (Chatfield et al. 2014), 224x224: the network of the "Peeking
inside convnets" posts. Ceil-mode pooling, LRN with k=2, conv5 has 512 units.
102,908,520 parameters. The original subtracts a mean image; without one,
jaxvis uses the ImageNet mean pixel (pass ``mean=`` to load_model to match).
"""

from jaxvis.models import layers as L
from jaxvis.models.caffe_family import CLASSIFIER_ROLES, caffe_spec, classifier
from jaxvis.models.definition import ModelDef

LAYERS = (
    L.Conv("conv1", 96, 7, stride=2),
    L.ReLU("relu1"),
    L.LRN("norm1", 5, 5e-4, 0.75, k=2.0),
    L.MaxPool("pool1", 3, 3),
    L.Conv("conv2", 256, 5),
    L.ReLU("relu2"),
    L.MaxPool("pool2", 2, 2),
    L.Conv("conv3", 512, 3, pad=1),
    L.ReLU("relu3"),
    L.Conv("conv4", 512, 3, pad=1),
    L.ReLU("relu4"),
    L.Conv("conv5", 512, 3, pad=1),
    L.ReLU("relu5"),
    L.MaxPool("pool5", 3, 3),
    *classifier(),
)

MODEL = ModelDef("vgg_s", LAYERS, caffe_spec(224), "VGG_CNN_S, 224x224, BGR, ceil pooling", **CLASSIFIER_ROLES)
