"""The demo networks that ship with jaxvis load offline and classify a fresh
sample of the generated world (a seed no training run used)."""

import numpy as np
import pytest

import jaxvis
from jaxvis.data import shapes

FRESH_SEED = 424242  # training used 1000 (demo) / 2000 (demo_b), evaluation 9999


@pytest.mark.parametrize("name", ["demo"])  # demo_b's training is not finished yet
def test_shipped_network_accuracy(name):
    net = jaxvis.load_model(name)
    assert net.spec.class_names == shapes.CLASSES
    images, labels = shapes.make_batch(FRESH_SEED, 0, 500)
    accuracy = float((np.asarray(net.blobs(net.preprocess(images))["prob"]).argmax(1) == labels).mean())
    assert accuracy >= 0.93, f"{name}: {accuracy:.3f} on 500 fresh images"


def test_registry_class_names_match_the_generator():
    assert jaxvis.get_model_def("demo").spec.class_names == shapes.CLASSES
    assert jaxvis.get_model_def("demo_b").spec.class_names == shapes.CLASSES


def test_missing_shipped_weights_say_how_to_make_them():
    if jaxvis.get_model_def("demo_b").shipped_weights and not __import__("os").path.isdir(
        jaxvis.get_model_def("demo_b").shipped_weights
    ):
        with pytest.raises(jaxvis.WeightsFileError, match="jaxvis train --config=configs/demo_train.py:demo_b"):
            jaxvis.load_model("demo_b")
