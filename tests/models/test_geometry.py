"""Architecture facts known independently of jaxvis: parameter counts,
receptive fields, output sizes; and the table matches the real blobs."""

import jax
import jax.numpy as jnp
import pytest

import jaxvis
from jaxvis.errors import UnknownModelError
from jaxvis.models import get_model_def, parameter_count
from jaxvis.models.sequential import SequentialNet


@pytest.mark.parametrize(
    "name,count",
    [("caffenet", 60_965_224), ("alexnet", 60_965_224), ("vgg_s", 102_908_520), ("torchvision_alexnet", 61_100_840)],
)
def test_parameter_counts(name, count):
    d = get_model_def(name)
    assert parameter_count(d.layers, d.input_shape) == count


def test_caffenet_receptive_fields():
    table = {i.name: i for i in get_model_def("caffenet").table()}
    assert {n: table[n].rf_size for n in ("conv1", "conv2", "conv3", "conv4", "conv5")} == {
        "conv1": 11, "conv2": 51, "conv3": 99, "conv4": 131, "conv5": 163,
    }
    assert [table[n].rf_stride for n in ("conv1", "conv2", "conv3", "pool5")] == [4, 8, 16, 32]
    assert table["fc6"].rf_size is None  # the whole image


def test_published_output_sizes():
    sizes = lambda name: {i.name: i.shape for i in get_model_def(name).table()}  # noqa: E731
    vgg, zf = sizes("vgg_s"), sizes("zfnet")
    # Chatfield et al. 2014 / SPEC: 109 -> 37 -> 33 -> 17 -> 6; Zeiler & Fergus Fig. 3: 110 -> 55 -> 26 -> 13 -> 6.
    assert [vgg[n][:2] for n in ("conv1", "pool1", "conv2", "pool2", "pool5")] == [
        (109, 109), (37, 37), (33, 33), (17, 17), (6, 6)]
    assert vgg["conv5"][2] == 512
    assert [zf[n][:2] for n in ("conv1", "pool1", "conv2", "pool2", "pool5")] == [
        (110, 110), (55, 55), (26, 26), (13, 13), (6, 6)]


_CONV_TAIL = ("conv3", "relu3", "conv4", "relu4", "conv5", "relu5", "pool5")
_FC = ("fc6", "relu6", "fc7", "relu7", "fc8", "prob")
# Forward order of the published deploy definitions (dropout is identity at test
# time): CaffeNet pools before normalising, AlexNet and VGG-S normalise first.
PUBLISHED_ORDER = {
    "caffenet": ("conv1", "relu1", "pool1", "norm1", "conv2", "relu2", "pool2", "norm2", *_CONV_TAIL, *_FC),
    "alexnet": ("conv1", "relu1", "norm1", "pool1", "conv2", "relu2", "norm2", "pool2", *_CONV_TAIL, *_FC),
    "vgg_s": ("conv1", "relu1", "norm1", "pool1", "conv2", "relu2", "pool2", *_CONV_TAIL, *_FC),
}


SEQUENTIAL = [n for n in jaxvis.model_names() if get_model_def(n).layers is not None]  # ResNet-50: its own test


@pytest.mark.parametrize("name", SEQUENTIAL)
def test_table_matches_traced_blobs(name):
    d = get_model_def(name)
    x = jax.ShapeDtypeStruct((2, *d.input_shape), jnp.float32)
    module = SequentialNet(d.layers)
    produced = []  # the blobs' order as the module returns them (pytrees come back key-sorted)

    def forward(x):
        blobs = module.init_with_output(jax.random.key(0), x)[0]
        produced.extend(blobs)
        return blobs

    shapes = jax.eval_shape(forward, x)
    table = d.table()
    # The exact forward order, not just the same set of names.
    assert produced == [info.name for info in table] == list(d.layer_names)
    assert produced[0] in ("conv1", "conv1_1") and produced[-1] == "prob"
    if name in PUBLISHED_ORDER:
        assert tuple(produced) == PUBLISHED_ORDER[name]
    for info in table:
        assert shapes[info.name].shape == (2, *info.shape), info.name


def test_unknown_model_lists_known_ones():
    with pytest.raises(UnknownModelError, match="known models: caffenet, alexnet, vgg_s"):
        jaxvis.load_model("resnet50")
