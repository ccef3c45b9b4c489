"""Zeiler & Fergus 2013 architecture (their Fig. 3), 224x224.

conv1 96@7x7/2 (pad 1) -> 110; pool 3/2 -> 55; LRN; conv2 256@5x5/2 -> 26;
pool 3/2 -> 13; LRN; conv3 384, conv4 384, conv5 256 @3x3 (dense connections,
no groups); pool 3/2 -> 6; fc 4096, 4096, 1000. The paper's "contrast
normalization" is Caffe's LRN(5, 1e-4, 0.75); pooling uses Caffe's ceil rule,
which gives the paper's 55 and 13 (floor would give 54).
"""

from jaxvis.models import layers as L
from jaxvis.models.caffe_family import CLASSIFIER_ROLES, caffe_spec, classifier
from jaxvis.models.definition import ModelDef

LAYERS = (
    L.Conv("conv1", 96, 7, stride=2, pad=1),
    L.ReLU("relu1"),
    L.MaxPool("pool1", 3, 2),
    L.LRN("norm1", 5, 1e-4, 0.75),
    L.Conv("conv2", 256, 5, stride=2),
    L.ReLU("relu2"),
    L.MaxPool("pool2", 3, 2),
    L.LRN("norm2", 5, 1e-4, 0.75),
    L.Conv("conv3", 384, 3, pad=1),
    L.ReLU("relu3"),
    L.Conv("conv4", 384, 3, pad=1),
    L.ReLU("relu4"),
    L.Conv("conv5", 256, 3, pad=1),
    L.ReLU("relu5"),
    L.MaxPool("pool5", 3, 2),
    *classifier(),
)

MODEL = ModelDef("zfnet", LAYERS, caffe_spec(224), "Zeiler & Fergus 2013, 224x224, BGR", **CLASSIFIER_ROLES)
