"""jaxvis.models.torchvision_resnet50 equals the plain-PyTorch ResNet-50 of
tests/reference/torchvision_nets.py (torchvision's exact state-dict keys) blob for
blob, to <= 1e-4 relative error, with the reference's random weights (non-trivial
BatchNorm running statistics) travelling through the real import path: a torch.save'd
.pth and a .safetensors state dict.  So the key mapping, OIHW -> HWIO, the fc
transpose, BatchNorm in inference mode and the stride on the 3x3 conv (v1.5) are
checked by the numbers; a reference with the stride on the first 1x1 conv (v1) must
not match.

Blob names (jaxvis.from_flax's rules): a submodule's output is its module path joined
with "/", the reference's name with "." -> "/" ("layer1/0/conv1" <-> "layer1.0.conv1");
the ReLU calls of a block are layerS/B/relu, relu_1, relu_2 (reference relu1, relu2 and
the block output). Every reference blob but the residual sum ("layerS.B.add", no
module's or ReLU's output) is compared.
"""

import gc

import jax
import numpy as np
import pytest
import torch

import jaxvis
from jaxvis.errors import WeightsFileError
from jaxvis.models import torchvision_resnet50 as tr
from jaxvis.weights.torch_state import read_state_dict
from tests.conftest import rel_err
from tests.reference import torchvision_nets as tvn

TOL = 1e-4
SIZE = 224
def _input(seed: int) -> np.ndarray:
    x = torch.randn(1, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(seed))
    return x


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """Weight files and blobs of the v1.5 reference and of the stride-in-1x1 mutant."""
    tmp = tmp_path_factory.mktemp("resnet50")
    x = _input(1)
    ref = {"x": x.numpy().transpose(0, 2, 3, 1)}
    for tag, mutant in (("v15", False), ("v1", True)):
        model = tvn.build_resnet50(seed=0, stride_in_1x1=mutant)
        pth, st = tvn.save_state_dict(model.state_dict(), tmp / tag)
        ref[tag] = {"files": {"pth": pth, "safetensors": st}, "blobs": tvn.blobs_nhwc(model, x),
                    "params": sum(p.numel() for p in model.parameters())}
        del model
    gc.collect()
    return ref


def _reference_name(blob: str) -> str:
    """A jaxvis blob name -> the reference's: "/" -> ".", the ReLU calls of a block
    (relu, relu_1, relu_2) -> relu1, relu2 and the block output, "downsample" -> its
    last child."""
    parts = blob.split("/")
    if len(parts) == 3 and parts[2] in ("relu", "relu_1", "relu_2"):
        return ".".join(parts[:2]) + {"relu": ".relu1", "relu_1": ".relu2", "relu_2": ""}[parts[2]]
    if parts[-1] == "downsample":
        return ".".join(parts) + ".1"
    return ".".join(parts)


@pytest.mark.parametrize("fmt", ["pth", "safetensors"])
def test_every_blob_of_load_model_matches_reference(reference, fmt):
    """Through the real entry point: jaxvis.load_model with the weight file, net.blobs."""
    net = jaxvis.load_model("torchvision_resnet50", weights=str(reference["v15"]["files"][fmt]))
    ours = {k: np.asarray(v) for k, v in net.blobs(reference["x"]).items()}
    theirs = reference["v15"]["blobs"]
    names = {blob: _reference_name(blob) for blob in ours}
    assert set(names.values()) == set(tvn.resnet50_blob_names()) - {n for n in theirs if n.endswith(".add")}
    errors = {}
    for blob, name in names.items():
        ref = theirs[name].reshape(theirs[name].shape[0], -1) if name == "avgpool" else theirs[name]  # [B,1,1,C]
        assert ours[blob].shape == ref.shape, (blob, ours[blob].shape, ref.shape)
        errors[blob] = rel_err(ours[blob], ref)
    bad = {k: v for k, v in errors.items() if not v <= TOL}
    assert not bad, f"blobs differ from the reference beyond {TOL}: {bad}"
    worst = max(errors, key=errors.get)
    print(f"{fmt}: {len(errors)} blobs, worst relative error {errors[worst]:.2e} at {worst}")


def test_receptive_fields_equal_the_analytic_ones():
    """Stage outputs 35/91/267/427 px; every map blob's (size, stride) equals the
    reference's analytic field, computed from the torch modules' own hyperparameters."""
    definition = jaxvis.get_model_def("torchvision_resnet50")
    analytic = tvn.receptive_fields(tvn.ResNet50(), 224)
    table = {info.name: info for info in definition.table()}
    assert [table[f"layer{s}"].rf_size for s in range(1, 5)] == [35, 91, 267, 427]
    for blob, info in table.items():
        if info.spatial:
            rf = analytic[_reference_name(blob)]
            assert (info.rf_size, info.rf_stride) == (rf.size, rf.stride), blob
    assert table["fc"].rf_size is None and table["avgpool"].rf_size is None


def test_stride_in_1x1_weights_do_not_match(reference):
    """Same keys and shapes, stride moved to the first 1x1 conv: stage 1 (stride 1)
    still matches, stage 2 on must not; so the comparison above can fail."""
    net = jaxvis.load_model("torchvision_resnet50", weights=str(reference["v1"]["files"]["pth"]))
    ours, theirs = {k: np.asarray(v) for k, v in net.blobs(reference["x"]).items()}, reference["v1"]["blobs"]
    assert rel_err(ours["layer1"], theirs["layer1"]) <= TOL
    assert ours["layer2/0/conv1"].shape != theirs["layer2.0.conv1"].shape  # 56x56 here, 28x28 there
    for name in ("layer2", "layer3", "layer4", "fc"):
        assert ours[name.replace(".", "/")].shape == theirs[name].shape
        assert rel_err(ours[name], theirs[name]) > 100 * TOL, name


def test_parameter_count(reference):
    count = jaxvis.get_model_def("torchvision_resnet50").parameter_count()
    assert count == tvn.EXPECTED_PARAMS["resnet50"] == 25_557_032 == reference["v15"]["params"]
    net = jaxvis.load_model("torchvision_resnet50", weights=str(reference["v15"]["files"]["safetensors"]))
    assert net.num_parameters() == count
    path = reference["v15"]["files"]["safetensors"]
    variables = tr.variables_from_state_dict(read_state_dict(path), path)
    # init_variables builds the very tree the state dict maps onto (shapes only: no compile).
    shapes = jax.tree_util.tree_map(lambda a: (a.shape, a.dtype), variables)
    assert jax.tree_util.tree_map(lambda a: (a.shape, a.dtype), jax.eval_shape(tr.init_variables)) == shapes


def test_maxpool_pads_with_minus_infinity():
    """All-negative input: zero padding would show up at the border, -inf does not."""
    x = -1.0 - torch.rand(2, 5, 9, 8, generator=torch.Generator().manual_seed(0))
    ref = torch.nn.functional.max_pool2d(x, 3, stride=2, padding=1).numpy().transpose(0, 2, 3, 1)
    ours = np.asarray(tr.MaxPool().apply({}, x.numpy().transpose(0, 2, 3, 1)))
    assert ours.shape == ref.shape == (2, 5, 4, 5)
    np.testing.assert_array_equal(ours, ref)


@pytest.fixture(scope="module")
def state(reference):
    return read_state_dict(reference["v15"]["files"]["safetensors"])


def test_missing_key(state):
    bad = dict(state)
    del bad["layer3.2.bn2.running_var"]
    with pytest.raises(WeightsFileError, match=r"missing keys: 1 \(layer3\.2\.bn2\.running_var\)") as e:
        tr.variables_from_state_dict(bad, "ckpt.pth")
    assert "ckpt.pth" in str(e.value) and "unexpected" not in str(e.value)


def test_many_missing_keys_are_counted(state):
    bad = {k: v for k, v in state.items() if not k.startswith("layer4.")}
    n = sum(k.startswith("layer4.") and not k.endswith("num_batches_tracked") for k in state)
    with pytest.raises(WeightsFileError, match=rf"missing keys: {n} \(layer4\.0\.conv1\.weight, .*, \.\.\.\)"):
        tr.variables_from_state_dict(bad, "ckpt.pth")


def test_unexpected_key(state):
    bad = dict(state, **{"layer5.0.conv1.weight": np.zeros((1, 1, 1, 1), np.float32)})
    with pytest.raises(WeightsFileError, match=r"unexpected keys: 1 \(layer5\.0\.conv1\.weight\)") as e:
        tr.variables_from_state_dict(bad, "ckpt.pth")
    assert "missing" not in str(e.value)


def test_wrong_shape(state):
    bad = dict(state, **{"layer2.0.conv2.weight": np.zeros((128, 128, 1, 1), np.float32)})
    with pytest.raises(WeightsFileError, match=r"layer2\.0\.conv2\.weight has shape \(128, 128, 1, 1\).*"
                                               r"expects \(128, 128, 3, 3\)"):
        tr.variables_from_state_dict(bad, "ckpt.pth")
    bad = dict(state, **{"fc.weight": state["fc.weight"][:10], "fc.bias": state["fc.bias"][:10]})
    with pytest.raises(WeightsFileError, match=r"fc\.weight has shape \(10, 2048\).*expects \(1000, 2048\)"):
        tr.variables_from_state_dict(bad, "ckpt.pth")
    assert tr.variables_from_state_dict(bad, "ckpt.pth", num_classes=10)["params"]["fc"]["kernel"].shape == (2048, 10)
