"""The demo networks that ship with jaxvis load offline and classify a fresh
sample of the generated world (a seed no training run used)."""

import numpy as np
import pytest

import jaxvis
from jaxvis.data import shapes

FRESH_SEED = 424242  # training used 1000 (demo) / 2000 (demo_b), evaluation 9999


@pytest.mark.parametrize("name,floor", [("demo", 0.93), ("demo_b", 0.93)])
def test_shipped_network_accuracy(name, floor):
    net = jaxvis.load_model(name)
    assert net.spec.class_names == shapes.CLASSES
    images, labels = shapes.make_batch(FRESH_SEED, 0, 500)
    accuracy = float((np.asarray(net.blobs(net.preprocess(images))["prob"]).argmax(1) == labels).mean())
    assert accuracy >= floor, f"{name}: {accuracy:.3f} on 500 fresh images"


def test_registry_class_names_match_the_generator():
    assert jaxvis.get_model_def("demo").spec.class_names == shapes.CLASSES
    assert jaxvis.get_model_def("demo_b").spec.class_names == shapes.CLASSES

