"""The demo networks that ship with jaxvis load offline and classify a fresh
sample of the generated world (a seed no training run used)."""

import dataclasses

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



# ----------------------------------------------------------------------------- demo_vit, the shipped transformer

def test_vit_blobs_equal_the_module_function():
    """demo_vit's blobs (random weights until trained ones ship) are ``vit.blobs`` of its params,
    computed here directly, not through the FunctionDef."""
    from jaxvis.models import demo_vit, vit
    from tests.conftest import rel_err

    net = jaxvis.load_model("demo_vit")
    assert net.spec.class_names == shapes.CLASSES and net.spec.channel_order == "RGB"
    images, _ = shapes.make_batch(FRESH_SEED + 1, 0, 8)
    x = net.preprocess(images)
    got, want = net.blobs(x), vit.blobs(demo_vit.CONFIG, vit.init_params(demo_vit.CONFIG, 0), x)
    assert list(got) == list(want)
    for name in want:
        assert rel_err(got[name], want[name]) < 1e-5, name


def test_vit_definition_declares_its_layout_and_the_world_statistics():
    from jaxvis.models import demo_vit

    d = jaxvis.get_model_def("demo_vit")
    assert d.shipped == demo_vit.SHIPPED and dataclasses.replace(d, shipped=True).shipped_weights.endswith(
        "assets/models/demo_vit")
    assert d.class_layer == "head" and d.source == "demo_vit"
    layouts = d.token_layouts
    assert set(layouts) == set(d.layer_names) - {"head"}
    assert all(t == jaxvis.TokenLayout(1, (8, 8)) for t in layouts.values())
    assert sum(info.params for info in d.table()) == d.parameter_count()
    mean, std = demo_vit.world_statistics()
    np.testing.assert_allclose(demo_vit.MEAN_RGB, mean, atol=1e-4)
    np.testing.assert_allclose(demo_vit.STD_RGB, std, atol=1e-4)


def test_function_def_with_missing_shipped_weights_says_so(monkeypatch):
    import dataclasses

    from jaxvis import loading
    from jaxvis.errors import WeightsFileError
    from jaxvis.models import registry

    moved = dataclasses.replace(jaxvis.get_model_def("demo_vit"), name="demo_vit_not_shipped", shipped=True)
    monkeypatch.setitem(registry._MODELS, "demo_vit_not_shipped", moved)
    with pytest.raises(WeightsFileError, match="the shipped weights of demo_vit_not_shipped are missing"):
        loading.load_model("demo_vit_not_shipped")
    assert loading.load_model("demo_vit_not_shipped", weights="random").params["blocks"][0]["fc1"]["kernel"].shape \
        == (128, 512)
