"""Backward projections equal independent implementations: Captum's
Deconvolution and GuidedBackprop, and plain torch autograd for backprop, on
the PyTorch reference networks (tests/reference/torch_nets.py) with the same
random weights, to <= 1e-4 relative error at conv1, conv3, conv5 and fc8.

The comparisons run in float64 on both sides (the same jaxvis code, with
float64 weights and inputs). In float32 two correct implementations round
differently, and a pre-activation within rounding of zero, or a near-tie in
a pooling window, then takes the other branch: a dense backprop through
CaffeNet changes by ~1% (measured: one conv4 sign of 130k). The float32
public API is checked too, on located seeds."""

import copy

import numpy as np
import pytest
import torch

import jaxvis
from jaxvis.weights.layout import params_from_source_layout
from tests.backward.captum_reference import OwnActivation, Until, float64_params, projection64, reference, torch_input
from tests.conftest import rel_err
from tests.reference import torch_nets

TOL = 1e-4
pytestmark = pytest.mark.filterwarnings("ignore:Setting backward hooks on ReLU:UserWarning")
LAYERS = ("conv1", "conv3", "conv5", "fc8")


def _until(model, blob):
    return Until(model, blob, [(name, mod) for (_, name, mod) in model.plan])


@pytest.fixture(scope="module", params=["caffenet", "vgg_s"])
def pair(request):
    arch = request.param
    ref = torch_nets.build(arch, seed=4)
    definition = jaxvis.get_model_def(arch)
    arrays = {k: [v["weight"], v["bias"]] for k, v in torch_nets.param_arrays(ref).items()}
    net = jaxvis.Net(definition, params_from_source_layout(definition, arrays, "torch"), definition.spec)
    size = definition.input_shape[0]
    images = np.random.default_rng(5).integers(0, 256, (1, size, size, 3), dtype=np.uint8)
    x = net.preprocess(images)
    return net, ref, x


@pytest.mark.parametrize("mode", ["deconv", "guided", "backprop"])
def test_unit_projection_matches_reference(pair, mode):
    net, ref, x = pair
    ref64 = copy.deepcopy(ref).double()
    for layer in LAYERS:
        info = net.layer(layer)
        channel = 7 % info.channels
        if info.spatial:
            at = (info.shape[0] // 2, info.shape[1] // 2 - 1)
            ours = projection64(net, float64_params(net.params), x, layer, channel, mode, at=at)
            target = (channel, *at)
        else:
            ours = projection64(net, float64_params(net.params), x, layer, channel, mode, seed_with="ones")
            target = channel
        theirs = reference(mode, _until(ref64, layer), torch_input(x, torch.float64), target)
        assert np.abs(theirs).max() > 0, (layer, mode)
        assert rel_err(ours, theirs) <= TOL, (net.name, layer, mode, rel_err(ours, theirs))


def test_channel_map_seeded_with_its_activation(pair):
    net, ref, x = pair
    ours = projection64(net, float64_params(net.params), x, "conv5", 11, "deconv")
    theirs = reference("deconv", OwnActivation(_until(copy.deepcopy(ref).double(), "conv5"), 11),
                        torch_input(x, torch.float64), None)
    assert rel_err(ours, theirs) <= TOL


@pytest.mark.parametrize("mode", ["deconv", "guided"])
def test_float32_public_api(pair, mode):
    net, ref, x = pair
    x = np.concatenate([x, x[:, ::-1]])  # two images, one unit each
    ours = jaxvis.project(net, x, "conv5", [3, 9], at=(6, 5), mode=mode)
    theirs = reference(mode, _until(ref, "conv5"), torch_input(x), [(3, 6, 5), (9, 6, 5)])
    assert ours.dtype == np.float32
    assert rel_err(ours, theirs) <= TOL
