"""Every blob of every zoo architecture equals an independent PyTorch
implementation (tests/reference/torch_nets.py) with the same random weights,
to <= 1e-4 relative error. The weights travel through the real import paths:
a .caffemodel written by the test's own protobuf encoder, or a torch.save'd
torchvision state dict, so layout conversions (OIHW -> HWIO, groups, fc6's
C x H x W flatten order, legacy 4-D blobs) are checked by the numbers.
"""

import numpy as np
import pytest
import torch

import jaxvis
from tests.conftest import rel_err
from tests.reference import torch_nets
from tests.reference.caffemodel_writer import write_caffemodel

TOL = 1e-4

# (architecture, caffemodel generation, legacy num/channels/height/width blobs)
CAFFE_CASES = [
    ("caffenet", "v2", False),
    ("alexnet", "v1", True),
    ("vgg_s", "v2", False),
    ("zfnet", "v1", False),
]


def _compare(net, ref_model, images):
    x = net.preprocess(images)  # real input scale: 0..255 minus the mean, where LRN matters
    ours = net.blobs(x)
    theirs = torch_nets.blobs(ref_model, torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2))))
    assert list(ours) == list(theirs), "blob names or order differ from the reference"
    errors = {name: rel_err(ours[name], theirs[name]) for name in theirs}
    bad = {k: v for k, v in errors.items() if not v <= TOL}
    assert not bad, f"blobs differ from PyTorch beyond {TOL}: {bad}"
    return ours


@pytest.mark.parametrize("arch,version,legacy", CAFFE_CASES)
def test_caffe_architectures_match_pytorch(arch, version, legacy, tmp_path, rgb_images):
    ref = torch_nets.build(arch, seed=1)
    path = tmp_path / f"{arch}.caffemodel"
    write_caffemodel(path, torch_nets.caffe_layers_from_torch(arch, ref), version=version, legacy_shapes=legacy)
    net = jaxvis.load_model(arch, weights=path)
    size = net.spec.input_size[0]
    blobs = _compare(net, ref, rgb_images(2, size, size, seed=3))
    # The LRN layers really act at this input scale (else a wrong LRN could pass).
    if "norm1" in blobs:
        before = blobs["pool1" if arch != "vgg_s" and arch != "alexnet" else "relu1"]
        assert rel_err(blobs["norm1"], before) > 1e-2


def test_grouped_conv_forms_agree(tmp_path, rgb_images):
    """The split form (CPU default) and XLA's feature_group_count compute the same blobs."""
    ref = torch_nets.build("caffenet", seed=2)
    path = tmp_path / "caffenet.caffemodel"
    write_caffemodel(path, torch_nets.caffe_layers_from_torch("caffenet", ref))
    split = jaxvis.load_model("caffenet", weights=path)
    fused = jaxvis.load_model("caffenet", weights=path, group_impl="xla")
    x = split.preprocess(rgb_images(1, 227, 227))
    a, b = split.blobs(x, until="relu5"), fused.blobs(x, until="relu5")
    for name in a:
        assert rel_err(a[name], b[name]) <= 1e-5, name


def test_torchvision_alexnet_matches_pytorch(tmp_path, rgb_images):
    ref = torch_nets.build("torchvision_alexnet", seed=4)
    path = tmp_path / "alexnet.pth"
    torch.save(ref.state_dict(), path)
    net = jaxvis.load_model("torchvision_alexnet", weights=path)
    _compare(net, ref, rgb_images(2, 224, 224, seed=5))


def test_torchvision_alexnet_other_input_size_uses_adaptive_pool(rgb_images):
    """At 256x256 pool5 is 7x7 and AdaptiveAvgPool really averages; compare the
    op against torch's on that blob (the registry's input size stays 224)."""
    from jaxvis.ops import adaptive_avg_pool

    x = np.random.default_rng(0).normal(size=(2, 7, 7, 5)).astype(np.float32)
    ours = np.asarray(adaptive_avg_pool(x, 6))
    theirs = torch.nn.AdaptiveAvgPool2d((6, 6))(torch.from_numpy(x.transpose(0, 3, 1, 2))).numpy()
    assert rel_err(ours, theirs.transpose(0, 2, 3, 1)) <= 1e-6
