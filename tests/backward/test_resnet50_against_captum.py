"""Backward projections on torchvision_resnet50 equal independent implementations:
Captum's Deconvolution and GuidedBackprop, and plain torch autograd for
backprop, on the plain-PyTorch ResNet-50 of tests/reference/torchvision_nets.py
(random weights, non-trivial BatchNorm running statistics) loaded into jaxvis
through the real .pth import path, to <= 1e-4 relative error at layer1 (the
first stage's output, a located seed), fc (a logit, seeded with 1) and layer4
(a whole channel seeded with its own activation).

As in tests/backward/test_vgg16_against_captum.py, both sides run in float64:
the same jaxvis code with float64 variables (``params`` and ``batch_stats``)
and input. In float32 two correct implementations round differently, and a
pre-activation within rounding of zero then takes the other branch: on this
network and input one pre-activation of layer3/1/bn1 (about 3e-6 in float64)
changes sign in float32, and the backprop of an fc unit moves by 1.6%.
``test_port_computes_in_float64`` checks that the float64 run really is one.

torchvision's Bottleneck calls one ``nn.ReLU`` module three times. Captum's
hooks are per call (a forward pre-hook and a forward hook put tensor hooks on
that call's input and output; the module's last output gradient is kept until
its input gradient arrives, and inside a block the three calls' backward steps
follow one another), so the shared module is hooked correctly:
``test_captum_handles_the_shared_relu`` checks it against a copy of the
reference with one ReLU module per call.

Inputs are 64x64 to stay fast (the pool is global; layer1 is 16x16, layer4
2x2). The projection function is jitted, as the public API runs it.
"""

import copy
import gc

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

import jaxvis
from tests.backward.captum_reference import (
    Until,
    assert_own_activation_projection_matches,
    assert_unit_projections_match,
    float64_params,
    reference,
    torch_input,
)
from tests.conftest import rel_err
from tests.reference import torchvision_nets as tvn

TOL = 1e-4
SIZE = 64
CHANNEL = 7
# blob -> seeded location on its grid at SIZE x SIZE (None: fc blob, seeded with 1).
# layer1 is post-ReLU: (7, 6) is a positive activation of CHANNEL there (1.17).
LAYERS = {"layer1": (7, 6), "fc": None}
pytestmark = pytest.mark.filterwarnings("ignore:Setting backward hooks on ReLU:UserWarning")


def _until(model, blob):
    steps = [(name, getattr(model, name)) for name in ("conv1", "bn1", "relu", "maxpool")]
    steps += model.stages()  # (layerS, its nn.Sequential of Bottlenecks)
    steps += [("avgpool", model.avgpool), ("fc", model.fc)]
    return Until(model, blob, steps)


class _ReLUPerCall(tvn.Bottleneck):
    """The reference Bottleneck with its three ReLU calls on three modules
    (``relu``, ``relu_1``, ``relu_2``); otherwise the same computation."""

    def forward_blobs(self, x, prefix, out):
        identity = x
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.relu_1(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        if self.downsample is not None:
            identity = self.downsample(x)
        return self.relu_2(y + identity)


def _relu_per_call(model):
    """A copy of ``model`` (same weights) whose blocks own one ReLU module per call."""
    model = copy.deepcopy(model)
    for _, stage in model.stages():
        for block in stage:
            block.__class__ = _ReLUPerCall
            block.relu_1, block.relu_2 = torch.nn.ReLU(), torch.nn.ReLU()
    return model


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """(jaxvis net, its float64 variables, float64 reference, NHWC float64 input)."""
    ref = tvn.build_resnet50(seed=6)
    assert not any(getattr(m, "inplace", False) for m in ref.modules()), "in-place ReLUs defeat Captum's hooks"
    assert sum(isinstance(m, torch.nn.ReLU) for m in ref.modules()) == 1 + sum(tvn.RESNET50_LAYERS)
    pth = tmp_path_factory.mktemp("resnet50") / "resnet50.pth"
    torch.save(ref.state_dict(), pth)  # torchvision's keys, as tvn.save_state_dict's .pth
    ref = ref.double()  # in place
    net = jaxvis.load_model("torchvision_resnet50", weights=pth)
    pth.unlink()
    assert set(net.params) == {"params", "batch_stats"}
    params = float64_params(net.params)
    assert {a.dtype for a in jax.tree_util.tree_leaves(params)} == {jnp.dtype(jnp.float64)}
    net = jaxvis.Net(net.definition, {}, net.spec)  # drop the float32 copy; projection_fn needs no params
    gc.collect()
    x = torch.randn(1, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(8), dtype=torch.float64)
    yield net, params, ref, x.numpy().transpose(0, 2, 3, 1)
    del net, params, ref
    gc.collect()


def test_port_computes_in_float64(pair):
    """Given float64 variables and input, the traced forward program holds no
    float32 array (a layer pinned to float32 would make the float64 comparisons
    below float32 ones)."""
    net, params, _, x = pair
    forward = net.definition.forward(net.group_impl)
    with jax.enable_x64(True):
        program = jax.make_jaxpr(lambda p, x: forward(p, x, until="fc")["fc"])(params, jnp.asarray(x))
    lines = [line.strip() for line in str(program).splitlines() if "f32[" in line]
    casts = [line for line in lines if "new_dtype=float32" in line]
    assert not lines, (f"{len(lines)} float32 lines in the float64 forward program, {len(casts)} of them "
                       f"casts to float32, e.g. {(casts or lines)[:3]}")


@pytest.mark.parametrize("mode", ["deconv", "guided", "backprop"])
def test_unit_projection_matches_reference(pair, mode):
    net, params, ref, x = pair
    assert_unit_projections_match(net, params, x, lambda layer: _until(ref, layer), LAYERS, CHANNEL, mode,
                                  hooked="layer1", tol=TOL)


def test_channel_map_seeded_with_its_activation(pair):
    net, params, ref, x = pair
    assert_own_activation_projection_matches(net, params, x, _until(ref, "layer4"), "layer4", CHANNEL, TOL)


def test_captum_handles_the_shared_relu(pair):
    """Captum on the reference (one ReLU module per block, called three times)
    equals Captum on a copy with one ReLU module per call, at fc."""
    _, _, ref, x = pair
    tx = torch_input(x, torch.float64)
    separate = _relu_per_call(ref)
    assert sum(isinstance(m, torch.nn.ReLU) for m in separate.modules()) == 1 + 3 * sum(tvn.RESNET50_LAYERS)
    with torch.no_grad():
        assert torch.equal(separate(tx), ref(tx))
    for mode in ("deconv", "guided"):
        shared = reference(mode, _until(ref, "fc"), tx, CHANNEL)
        assert np.abs(shared).max() > 0, mode
        assert rel_err(shared, reference(mode, _until(separate, "fc"), tx, CHANNEL)) <= 1e-12, mode
