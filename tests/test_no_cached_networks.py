"""Compiled functions are cached per architecture, so no cache keeps a network
(and so its parameters) alive: after one use of each cached entry point and
``del net``, the Net object and one of its parameter arrays are freed."""

import gc
import weakref

import numpy as np
import pytest

import jaxvis
from jaxvis.analysis import topk
from jaxvis.analysis.occlusion import occlusion_maps
from jaxvis.data import shapes
from jaxvis.live.frame import Selection, run_frame

USES = {
    "project": lambda net, x: jaxvis.project(net, x, "conv3", 2, at=(4, 5)),
    "project_whole_channel": lambda net, x: jaxvis.project(net, x, "fc7", 1, mode="guided"),
    "channel_maxima": lambda net, x: topk.channel_maxima(net, x, ("conv2", "fc7")),
    "projected_patches": lambda net, x: topk.projected_patches(
        net, net.deprocess(x), "conv5", [0], np.array([1]), np.array([2])),
    "occlusion_maps": lambda net, x: occlusion_maps(net, x[0], label=0, size=32, stride=32, layer="conv5"),
    "visualize": lambda net, x: jaxvis.visualize(net, [("conv2", 1), ("fc8", 2)], restarts=1, steps=2),
    "blobs": lambda net, x: net.blobs(x, until="conv2"),
    "live_frame": lambda net, x: run_frame(net, x, Selection("conv3", 2, mode="guided")),
}


def _used_and_dropped(use) -> tuple[weakref.ref, weakref.ref]:
    """Weak references to a fresh network and its conv1 kernel after ``use`` and ``del``."""
    net = jaxvis.load_model("demo")
    x = net.preprocess(shapes.make_sample(4, 0).image)
    use(net, x)  # each returns numpy results: the computation has run
    refs = weakref.ref(net), weakref.ref(net.params["conv1"]["kernel"])
    del net
    gc.collect()
    return refs


@pytest.mark.parametrize("name", USES)
def test_a_dropped_network_is_freed(name):
    net_ref, kernel_ref = _used_and_dropped(USES[name])
    assert net_ref() is None, f"{name}: something still holds the network"
    assert kernel_ref() is None, f"{name}: something still holds the network's parameters"


def test_the_compiled_function_is_shared_by_networks_of_one_architecture():
    net = jaxvis.load_model("demo")
    x = net.preprocess(shapes.make_sample(4, 0).image)
    before = topk._maxima_fn(net, ("conv2",))
    topk.channel_maxima(net, x, ("conv2",))
    assert topk._maxima_fn(net, ("conv2",)) is before
    assert topk._maxima_fn(jaxvis.load_model("demo", weights="random", seed=3), ("conv2",)) is before  # a checkpoint
    assert topk._maxima_fn(jaxvis.load_model("demo_b"), ("conv2",)) is not before  # another architecture
    assert topk._maxima_fn(net, ("conv3",)) is not before
