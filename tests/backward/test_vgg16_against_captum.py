"""Backward projections on torchvision_vgg16 equal independent implementations:
Captum's Deconvolution and GuidedBackprop, and plain torch autograd for
backprop, on the plain-PyTorch VGG16 of tests/reference/torchvision_nets.py with
the same random weights (loaded into jaxvis through the real .pth import path),
to <= 1e-4 relative error at conv2_2, conv5_3 and fc8.

As in tests/backward/test_against_captum.py, both sides run in float64 (the same
jaxvis code, with float64 weights and input): in float32 two correct
implementations round differently, and a pre-activation within rounding of zero,
or a near-tie in a max-pooling window, then takes the other branch.

Inputs are 64x64 to stay fast (the conv blobs are shape-polymorphic). At 64x64
pool5 is 2x2, so the adaptive average pool up to 7x7 is not the identity it is
at 224: its overlapping bins are exercised too (the reference treats it the same
way: torch's AdaptiveAvgPool2d((7, 7))). The projection function is jitted, as
the public API runs it (one compilation per case is cheaper here than eager
dispatch compiling every op).

VGG16 holds 138M parameters (1.1 GB a float64 copy): the module fixture keeps one
float64 reference and one float64 jaxvis parameter tree.
"""

import gc

import pytest
import torch

import jaxvis
from tests.backward.captum_reference import (
    Until,
    assert_own_activation_projection_matches,
    assert_unit_projections_match,
    float64_params,
)
from tests.reference import torchvision_nets as tvn

TOL = 1e-4
SIZE = 64
CHANNEL = 7
# blob -> seeded location on its grid at SIZE x SIZE (None: fc blob, whole-vector seed)
LAYERS = {"conv2_2": (16, 15), "conv5_3": (2, 1), "fc8": None}
pytestmark = pytest.mark.filterwarnings("ignore:Setting backward hooks on ReLU:UserWarning")


def _until(model, blob):
    return Until(model, blob, [(name, model.get_submodule(tvn.VGG16_MODULE[name])) for name in tvn.VGG16_BLOBS])


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """(jaxvis net, its float64 params, float64 reference, NHWC float64 input)."""
    ref = tvn.build_vgg16(seed=6)
    assert not any(getattr(m, "inplace", False) for m in ref.modules()), "in-place ReLUs defeat Captum's hooks"
    assert sum(isinstance(m, torch.nn.ReLU) for m in ref.modules()) == 15
    pth = tmp_path_factory.mktemp("vgg16") / "vgg16.pth"
    torch.save(ref.state_dict(), pth)  # torchvision's keys, as tvn.save_state_dict's .pth
    ref = ref.double()  # in place: the float32 copy is freed
    net = jaxvis.load_model("torchvision_vgg16", weights=pth)
    pth.unlink()
    params = float64_params(net.params)
    net = jaxvis.Net(net.definition, {}, net.spec)  # drop the float32 copy; projection_fn needs no params
    gc.collect()
    x = torch.randn(1, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(8), dtype=torch.float64)
    yield net, params, ref, x.numpy().transpose(0, 2, 3, 1)
    del net, params, ref
    gc.collect()


@pytest.mark.parametrize("mode", ["deconv", "guided", "backprop"])
def test_unit_projection_matches_reference(pair, mode):
    net, params, ref, x = pair
    assert_unit_projections_match(net, params, x, lambda layer: _until(ref, layer), LAYERS, CHANNEL, mode,
                                  hooked="conv2_2", tol=TOL)


def test_channel_map_seeded_with_its_activation(pair):
    net, params, ref, x = pair
    assert_own_activation_projection_matches(net, params, x, _until(ref, "conv5_3"), "conv5_3", 11, TOL)
