"""BVLC AlexNet (227x227): as CaffeNet but LRN before pooling. 60,965,224 parameters."""

from jaxvis.models import layers as L
from jaxvis.models.caffe_family import CLASSIFIER_ROLES, caffe_spec, classifier
from jaxvis.models.definition import ModelDef

LAYERS = (
    L.Conv("conv1", 96, 11, stride=4),
    L.ReLU("relu1"),
    L.LRN("norm1", 5, 1e-4, 0.75),
    L.MaxPool("pool1", 3, 2),
    L.Conv("conv2", 256, 5, pad=2, groups=2),
    L.ReLU("relu2"),
    L.LRN("norm2", 5, 1e-4, 0.75),
    L.MaxPool("pool2", 3, 2),
    L.Conv("conv3", 384, 3, pad=1),
    L.ReLU("relu3"),
    L.Conv("conv4", 384, 3, pad=1, groups=2),
    L.ReLU("relu4"),
    L.Conv("conv5", 256, 3, pad=1, groups=2),
    L.ReLU("relu5"),
    L.MaxPool("pool5", 3, 2),
    *classifier(),
)

MODEL = ModelDef("alexnet", LAYERS, caffe_spec(227), "BVLC AlexNet, 227x227, BGR, LRN before pool", **CLASSIFIER_ROLES)
