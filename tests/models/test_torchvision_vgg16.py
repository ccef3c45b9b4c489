"""torchvision_vgg16 equals the plain-PyTorch VGG16 of tests/reference/torchvision_nets.py
(torchvision's exact state-dict keys) blob for blob, to <= 1e-4 relative error, with
the reference's random weights travelling through the real import path: a torch.save'd
.pth and a .safetensors state dict. So the key mapping (features.0 ... classifier.6),
OIHW -> HWIO and fc6's (C, H, W) -> (H, W, C) row order are checked by the numbers.

VGG16 holds 138M parameters (553 MB a copy): the module fixture builds the reference
once, saves its state dict, computes its blobs and frees it; each test then holds one
jaxvis copy at a time.
"""

import gc

import numpy as np
import pytest
import torch

import jaxvis
from jaxvis.models import get_model_def, parameter_count
from tests.conftest import rel_err
from tests.reference import torchvision_nets as tvn

TOL = 1e-4
ODD = 50  # pool2 sees 25x25: floor gives 12x12, ceil 13x13


def _input(size, seed):
    return torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(seed))


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """Weight files, inputs, the reference's blobs and receptive fields; no model kept."""
    model = tvn.build_vgg16(seed=3)
    pth, st = tvn.save_state_dict(model.state_dict(), tmp_path_factory.mktemp("vgg16") / "vgg16")
    x, x_odd = _input(224, 4), _input(ODD, 5)  # preprocess-free: the same float input to both
    ref = {
        "files": {"pth": pth, "safetensors": st},
        "x": x.numpy().transpose(0, 2, 3, 1),
        "blobs": tvn.blobs_nhwc(model, x),
        "x_odd": x_odd.numpy().transpose(0, 2, 3, 1),
        "blobs_odd": tvn.blobs_nhwc(model, x_odd, features_only=True),
        "rf": tvn.receptive_fields(model, 224),
    }
    del model
    gc.collect()
    yield ref
    for path in (pth, st):
        path.unlink(missing_ok=True)


def _errors(ours, theirs):
    assert list(ours) == list(theirs), "blob names or order differ from the reference"
    shapes = {k: (ours[k].shape, theirs[k].shape) for k in theirs if ours[k].shape != theirs[k].shape}
    assert not shapes, f"blob shapes (ours, reference) differ: {shapes}"
    return {name: rel_err(ours[name], theirs[name]) for name in theirs}


@pytest.mark.parametrize("fmt", ["pth", "safetensors"])
def test_blobs_match_reference(reference, fmt):
    net = jaxvis.load_model("torchvision_vgg16", weights=reference["files"][fmt])
    try:
        ours = net.blobs(reference["x"])
        prob = np.asarray(ours.pop("prob"))
        errors = _errors({k: np.asarray(v) for k, v in ours.items()}, reference["blobs"])
        bad = {k: v for k, v in errors.items() if not v <= TOL}
        assert not bad, f"blobs differ from the reference beyond {TOL}: {bad}"
        ref_prob = torch.softmax(torch.from_numpy(reference["blobs"]["fc8"]), dim=1).numpy()
        assert rel_err(prob, ref_prob) <= TOL
        if fmt == "pth":
            # Off the registry's 224 input, the odd sizes make the floor pooling rule visible.
            del ours
            odd = net.apply(net.params, reference["x_odd"], until="pool5")
            odd = {k: np.asarray(v) for k, v in odd.items() if k in reference["blobs_odd"]}
            odd = dict(sorted(odd.items(), key=lambda kv: list(reference["blobs_odd"]).index(kv[0])))
            errors = _errors(odd, reference["blobs_odd"])
            bad = {k: v for k, v in errors.items() if not v <= TOL}
            assert not bad, f"blobs at {ODD}x{ODD} differ from the reference beyond {TOL}: {bad}"
    finally:
        del net
        gc.collect()


def test_parameter_count():
    d = get_model_def("torchvision_vgg16")
    assert parameter_count(d.layers, d.input_shape) == 138_357_544 == tvn.EXPECTED_PARAMS["vgg16"]


def test_receptive_fields_match_reference(reference):
    table = {info.name: info for info in get_model_def("torchvision_vgg16").table()}
    ref = reference["rf"]
    assert [n for n in table if n != "prob"] == list(ref)
    ours = {n: (table[n].rf_size, table[n].rf_stride) for n in ref}
    assert ours == {n: (r.size, r.stride) for n, r in ref.items()}
    assert {n: table[n].rf_offset for n in ref} == {n: r.offset for n, r in ref.items()}
    assert ours["conv5_3"] == (196, 16) and ours["pool5"] == (212, 32)
    assert {n: table[n].shape[:2] for n in ref if table[n].spatial} == {n: (r.hw, r.hw) for n, r in ref.items() if r.hw}


def test_torch_keys_are_torchvisions():
    """Every parametric layer maps to the reference's (torchvision's) module path."""
    keys = get_model_def("torchvision_vgg16").torch_keys
    assert keys == {n: tvn.VGG16_MODULE[n] for n in tvn.VGG16_BLOBS if n.startswith(("conv", "fc"))}
