"""BVLC reference CaffeNet (227x227): conv -> relu -> pool -> LRN, groups of 2
in conv2/4/5. The network of Yosinski et al. 2015. 60,965,224 parameters.

Caffe's ReLUs run in place, so Caffe's "conv1" blob after a forward pass holds
what jaxvis calls "relu1"; jaxvis keeps the pre-ReLU "conv1" as well.
"""

from jaxvis.models import layers as L
from jaxvis.models.caffe_family import CLASSIFIER_ROLES, caffe_spec, classifier
from jaxvis.models.definition import ModelDef

LAYERS = (
    L.Conv("conv1", 96, 11, stride=4),
    L.ReLU("relu1"),
    L.MaxPool("pool1", 3, 2),
    L.LRN("norm1", 5, 1e-4, 0.75),
    L.Conv("conv2", 256, 5, pad=2, groups=2),
    L.ReLU("relu2"),
    L.MaxPool("pool2", 3, 2),
    L.LRN("norm2", 5, 1e-4, 0.75),
    L.Conv("conv3", 384, 3, pad=1),
    L.ReLU("relu3"),
    L.Conv("conv4", 384, 3, pad=1, groups=2),
    L.ReLU("relu4"),
    L.Conv("conv5", 256, 3, pad=1, groups=2),
    L.ReLU("relu5"),
    L.MaxPool("pool5", 3, 2),
    *classifier(),
)

MODEL = ModelDef("caffenet", LAYERS, caffe_spec(227), "BVLC reference CaffeNet, 227x227, BGR", **CLASSIFIER_ROLES)
