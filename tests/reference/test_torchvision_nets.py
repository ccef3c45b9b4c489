"""Checks of the plain-torch torchvision VGG16 / ResNet-50 references themselves:
parameter counts, torchvision's state-dict keys and shapes, blob names and
shapes, .pth / .safetensors round trips, analytic receptive fields (checked
against gradient support), and inference-mode BatchNorm."""
from __future__ import annotations

import gc

import pytest
import torch
import torch.nn.functional as F

from tests.reference import torchvision_nets as tvn


def _img(size: int, seed: int = 1, n: int = 1) -> torch.Tensor:
    return torch.randn(n, 3, size, size, generator=torch.Generator().manual_seed(seed))


def _read_back(path, model) -> dict:
    """The state dict saved at ``path``, holding exactly ``model``'s keys."""
    sd = tvn.load_state_dict_file(path)
    keys = list(model.state_dict())
    ordered = path.suffix == ".pth"  # .safetensors does not keep the key order
    assert (list(sd) if ordered else sorted(sd)) == (keys if ordered else sorted(keys))
    return sd


@pytest.fixture(scope="module")
def vgg():
    model = tvn.build_vgg16(seed=0)
    yield model
    del model
    gc.collect()


@pytest.fixture(scope="module")
def resnet():
    return tvn.build_resnet50(seed=0)


# ----------------------------------------------------------------------------- parameters and keys

def test_parameter_counts(vgg, resnet):
    assert sum(p.numel() for p in vgg.parameters()) == 138_357_544 == tvn.EXPECTED_PARAMS["vgg16"]
    assert sum(p.numel() for p in resnet.parameters()) == 25_557_032 == tvn.EXPECTED_PARAMS["resnet50"]


# torchvision.models.vgg16().state_dict(), written out by hand.
_VGG16_SHAPES = {
    "features.0": (64, 3), "features.2": (64, 64),
    "features.5": (128, 64), "features.7": (128, 128),
    "features.10": (256, 128), "features.12": (256, 256), "features.14": (256, 256),
    "features.17": (512, 256), "features.19": (512, 512), "features.21": (512, 512),
    "features.24": (512, 512), "features.26": (512, 512), "features.28": (512, 512),
}


def test_vgg16_state_dict_keys_and_shapes(vgg):
    sd = vgg.state_dict()
    expected = {}
    for mod, (o, i) in _VGG16_SHAPES.items():
        expected[f"{mod}.weight"], expected[f"{mod}.bias"] = (o, i, 3, 3), (o,)
    expected.update({"classifier.0.weight": (4096, 25088), "classifier.0.bias": (4096,),
                     "classifier.3.weight": (4096, 4096), "classifier.3.bias": (4096,),
                     "classifier.6.weight": (1000, 4096), "classifier.6.bias": (1000,)})
    assert list(sd) == list(expected)  # same keys, same (torchvision's) order
    assert {k: tuple(v.shape) for k, v in sd.items()} == expected
    assert all(v.dtype == torch.float32 for v in sd.values())
    assert isinstance(vgg.avgpool, torch.nn.AdaptiveAvgPool2d) and vgg.avgpool.output_size == (7, 7)


_BN = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")


def _bn_keys(prefix: str) -> list[str]:
    return [f"{prefix}.{k}" for k in _BN]


def test_resnet50_state_dict_keys_and_shapes(resnet):
    sd = resnet.state_dict()
    shapes = {k: tuple(v.shape) for k, v in sd.items()}
    # the stem and the first block, key by key in torchvision's order
    head = (["conv1.weight"] + _bn_keys("bn1")
            + ["layer1.0.conv1.weight"] + _bn_keys("layer1.0.bn1")
            + ["layer1.0.conv2.weight"] + _bn_keys("layer1.0.bn2")
            + ["layer1.0.conv3.weight"] + _bn_keys("layer1.0.bn3")
            + ["layer1.0.downsample.0.weight"] + _bn_keys("layer1.0.downsample.1")
            + ["layer1.1.conv1.weight"])
    assert list(sd)[:len(head)] == head
    assert list(sd)[-2:] == ["fc.weight", "fc.bias"]
    assert len(sd) == 320 and len(list(resnet.parameters())) == 161
    by_hand = {
        "conv1.weight": (64, 3, 7, 7), "bn1.weight": (64,), "bn1.running_var": (64,),
        "bn1.num_batches_tracked": (),
        "layer1.0.conv1.weight": (64, 64, 1, 1), "layer1.0.conv2.weight": (64, 64, 3, 3),
        "layer1.0.conv3.weight": (256, 64, 1, 1), "layer1.0.bn3.running_mean": (256,),
        "layer1.0.downsample.0.weight": (256, 64, 1, 1), "layer1.0.downsample.1.bias": (256,),
        "layer1.2.conv1.weight": (64, 256, 1, 1),
        "layer2.0.conv1.weight": (128, 256, 1, 1), "layer2.0.conv2.weight": (128, 128, 3, 3),
        "layer2.0.downsample.0.weight": (512, 256, 1, 1), "layer2.3.conv3.weight": (512, 128, 1, 1),
        "layer3.0.conv1.weight": (256, 512, 1, 1), "layer3.0.downsample.0.weight": (1024, 512, 1, 1),
        "layer3.5.bn3.weight": (1024,),
        "layer4.0.conv2.weight": (512, 512, 3, 3), "layer4.0.downsample.0.weight": (2048, 1024, 1, 1),
        "layer4.2.conv3.weight": (2048, 512, 1, 1), "layer4.2.bn3.running_var": (2048,),
        "fc.weight": (1000, 2048), "fc.bias": (1000,),
    }
    assert {k: shapes.get(k) for k in by_hand} == by_hand
    # blocks per stage, downsample only on block 0, no conv bias anywhere
    for s, n in enumerate((3, 4, 6, 3), start=1):
        assert f"layer{s}.{n - 1}.conv3.weight" in sd and f"layer{s}.{n}.conv1.weight" not in sd
        assert [k for k in sd if k.startswith(f"layer{s}.") and ".downsample.0." in k] == \
            [f"layer{s}.0.downsample.0.weight"]
    assert not [k for k in sd if k.startswith(("conv", "layer")) and "conv" in k and k.endswith(".bias")]
    assert all(sd[k].dtype == torch.int64 for k in sd if k.endswith("num_batches_tracked"))
    assert all(sd[k].dtype == torch.float32 for k in sd if not k.endswith("num_batches_tracked"))


def test_seeded_weights(resnet):
    again = tvn.build_resnet50(seed=0).state_dict()
    other = tvn.build_resnet50(seed=1).state_dict()
    sd = resnet.state_dict()
    assert all(torch.equal(sd[k], again[k]) for k in sd)
    assert not torch.equal(sd["layer2.0.conv2.weight"], other["layer2.0.conv2.weight"])
    assert not torch.equal(sd["layer2.0.bn2.running_mean"], other["layer2.0.bn2.running_mean"])


# ----------------------------------------------------------------------------- blobs

def test_resnet50_blobs(resnet):
    bl = tvn.blobs(resnet, _img(64))
    assert tuple(bl) == tvn.resnet50_blob_names()
    for name in ["conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4", "avgpool", "fc"] + \
            [f"layer{s}.{b}" for s, n in enumerate((3, 4, 6, 3), 1) for b in range(n)]:
        assert name in bl
    hw = {"conv1": 32, "maxpool": 16, "layer1": 16, "layer2.0.conv1": 16, "layer2.0.conv2": 8,
          "layer2": 8, "layer3": 4, "layer4": 2, "avgpool": 1}
    ch = {"conv1": 64, "maxpool": 64, "layer1": 256, "layer2.0.conv1": 128, "layer2.0.conv2": 128,
          "layer2": 512, "layer3": 1024, "layer4": 2048, "avgpool": 2048}
    assert {k: tuple(bl[k].shape) for k in hw} == {k: (1, ch[k], hw[k], hw[k]) for k in hw}
    assert bl["fc"].shape == (1, 1000)
    assert torch.equal(bl["relu"], bl["bn1"].clamp_min(0))
    blk = "layer3.0"
    assert torch.allclose(bl[f"{blk}.add"], bl[f"{blk}.bn3"] + bl[f"{blk}.downsample.1"], rtol=0, atol=0)
    assert torch.equal(bl[blk], bl[f"{blk}.add"].clamp_min(0))
    assert torch.equal(bl["layer3.1.add"], bl["layer3.1.bn3"] + bl["layer3.0"])  # identity shortcut
    assert torch.equal(bl["layer4"], bl["layer4.2"])
    with torch.no_grad():
        assert torch.equal(resnet(_img(64)), bl["fc"])
    stds = {k: float(bl[k].std()) for k in ("layer1", "layer2", "layer3", "layer4", "fc")}
    assert all(0.1 < v < 10 for v in stds.values()), stds  # well scaled: differences are visible


def test_vgg16_blobs(vgg):
    small = tvn.blobs(vgg, _img(64), features_only=True)
    assert tuple(small) == tvn.VGG16_BLOBS[:31]
    assert small["conv1_1"].shape == (1, 64, 64, 64) and small["pool5"].shape == (1, 512, 2, 2)
    for name in ("1_1", "3_3", "5_3"):
        assert torch.equal(small[f"relu{name}"], small[f"conv{name}"].clamp_min(0))
    assert torch.equal(small["pool4"], F.max_pool2d(small["relu4_3"], 2, 2))

    full = tvn.blobs(vgg, _img(224))
    assert tuple(full) == tvn.VGG16_BLOBS
    assert tvn.VGG16_MODULE["conv1_1"] == "features.0" and tvn.VGG16_MODULE["pool5"] == "features.30"
    assert [tvn.VGG16_MODULE[k] for k in ("fc6", "relu6", "fc7", "relu7", "fc8")] == \
        ["classifier.0", "classifier.1", "classifier.3", "classifier.4", "classifier.6"]
    expect = {"conv1_2": (64, 224), "pool1": (64, 112), "pool2": (128, 56), "pool3": (256, 28),
              "conv5_3": (512, 14), "pool5": (512, 7), "avgpool": (512, 7)}
    assert {k: tuple(full[k].shape) for k in expect} == {k: (1, c, h, h) for k, (c, h) in expect.items()}
    assert torch.equal(full["avgpool"], full["pool5"])  # 7x7 -> (7, 7): identity
    assert full["fc8"].shape == (1, 1000) and torch.equal(full["relu7"], full["fc7"].clamp_min(0))
    with torch.no_grad():
        assert torch.equal(vgg(_img(224)), full["fc8"])


# ----------------------------------------------------------------------------- BatchNorm

def test_batchnorm_inference_uses_running_stats(resnet):
    assert not any(m.training for m in resnet.modules())
    before = {k: v.clone() for k, v in resnet.state_dict().items() if "running" in k or "num_batches" in k}
    bl = tvn.blobs(resnet, _img(64, seed=3))
    for conv, bn_name in (("conv1", "bn1"), ("layer3.2.conv2", "layer3.2.bn2")):
        bn = resnet.get_submodule(bn_name)
        assert bn.eps == 1e-5
        rm, rv = bn.running_mean, bn.running_var
        assert rm.abs().min() > 0 and (rv - 1).abs().max() > 0.1  # not the identity stats
        c = (slice(None), None, None)
        manual = (bl[conv] - rm[c]) / torch.sqrt(rv[c] + bn.eps) * bn.weight[c] + bn.bias[c]
        assert torch.allclose(bl[bn_name], manual, rtol=1e-5, atol=1e-5)
        batch = F.batch_norm(bl[conv], None, None, bn.weight, bn.bias, training=True, eps=bn.eps)
        assert (bl[bn_name] - batch).abs().max() > 0.05  # batch statistics would give something else
    after = resnet.state_dict()
    assert all(torch.equal(v, after[k]) for k, v in before.items())  # eval forward leaves stats alone


# ----------------------------------------------------------------------------- checkpoints

def test_resnet50_checkpoint_round_trips(resnet, tmp_path):
    pth, st = tvn.save_state_dict(resnet.state_dict(), tmp_path / "resnet50")
    x = _img(64, seed=4)
    ref = tvn.blobs(resnet, x)
    try:
        for path in (pth, st):
            sd = _read_back(path, resnet)
            assert sd["bn1.num_batches_tracked"].dtype == torch.int64 and sd["bn1.num_batches_tracked"].shape == ()
            fresh = tvn.ResNet50()  # default init: every tensor differs until loaded
            fresh.load_state_dict(sd, strict=True)
            out = tvn.blobs(fresh.eval(), x)
            assert list(out) == list(ref) and all(torch.equal(out[k], ref[k]) for k in ref), path.suffix
    finally:
        pth.unlink(), st.unlink()


def test_vgg16_checkpoint_round_trips(vgg, tmp_path):
    """~553 MB per file; the fresh model is built on the meta device and takes the loaded
    tensors (assign=True) so that at most two copies of the weights are alive."""
    pth, st = tvn.save_state_dict(vgg.state_dict(), tmp_path / "vgg16")
    x = _img(224, seed=5)
    try:
        with torch.no_grad():
            ref = vgg(x)
        for path in (pth, st):
            sd = _read_back(path, vgg)
            with torch.device("meta"):
                fresh = tvn.VGG16()
            fresh.load_state_dict(sd, strict=True, assign=True)
            with torch.no_grad():
                assert torch.equal(fresh.eval()(x), ref), path.suffix
            del sd, fresh
            gc.collect()
    finally:
        pth.unlink(), st.unlink()


def test_wrong_keys_are_refused(resnet):
    sd = resnet.state_dict()
    sd["layer1.0.downsample.conv.weight"] = sd.pop("layer1.0.downsample.0.weight")
    with pytest.raises(RuntimeError, match="downsample"):
        tvn.ResNet50().load_state_dict(sd, strict=True)


# ----------------------------------------------------------------------------- receptive fields

def _support(model: tvn.ResNet50, size: int, blob: str) -> tuple[int, int, int]:
    """(rows, cols, centre row) of the input pixels with a nonzero gradient of the centre
    unit of ``blob`` (summed over channels): the empirical receptive field."""
    x = _img(size, seed=6).double().requires_grad_(True)
    m = model.double()
    try:
        out = m.forward_blobs(x)[blob]
        c = out.shape[-1] // 2
        out[0, :, c, c].sum().backward()
    finally:
        model.float()
    nz = (x.grad[0].abs().sum(0) > 0).nonzero()
    r0, r1 = int(nz[:, 0].min()), int(nz[:, 0].max())
    c0, c1 = int(nz[:, 1].min()), int(nz[:, 1].max())
    return r1 - r0 + 1, c1 - c0 + 1, (r0 + r1) // 2


_RESNET50_RF = {"conv1": (7, 2), "maxpool": (11, 4), "layer1": (35, 4), "layer2": (91, 8),
                "layer3": (267, 16), "layer4": (427, 32)}


def _check_resnet_rf(model: tvn.ResNet50) -> None:
    rf = tvn.receptive_fields(model, 224)
    assert {k: (rf[k].size, rf[k].stride) for k in _RESNET50_RF} == _RESNET50_RF
    assert {k: rf[k].hw for k in _RESNET50_RF} == {"conv1": 112, "maxpool": 56, "layer1": 56, "layer2": 28,
                                                   "layer3": 14, "layer4": 7}
    # the analytic field of layer1 / layer2 is what the gradient actually reaches
    for blob, size in (("layer1", 64), ("layer2", 128)):
        r = tvn.receptive_fields(model, size)[blob]
        rows, cols, centre = _support(model, size, blob)
        assert (rows, cols) == (r.size, r.size), (blob, rows, cols, r)
        assert centre == r.offset + (r.hw // 2) * r.stride


def test_resnet50_receptive_fields(resnet):
    _check_resnet_rf(resnet)
    rf = tvn.receptive_fields(resnet, 64)
    bl = tvn.blobs(resnet, _img(64))
    assert all(rf[k].hw == bl[k].shape[-1] for k in bl if bl[k].dim() == 4)
    assert rf["fc"].size is None


def test_resnet50_stride_on_1x1_is_caught():
    """Mutation: ResNet v1 (stride on the 1x1 conv) has the same shapes and keys but
    different fields (layer2: 99 instead of 91), so the check above fails."""
    mutant = tvn.build_resnet50(seed=0, stride_in_1x1=True)
    assert [k for k in mutant.state_dict()] == [k for k in tvn.ResNet50().state_dict()]
    rf = tvn.receptive_fields(mutant, 224)
    assert (rf["layer2"].size, rf["layer3"].size, rf["layer4"].size) == (99, 291, 483)
    assert _support(mutant, 128, "layer2")[:2] == (99, 99)
    with pytest.raises(AssertionError):
        _check_resnet_rf(mutant)


def test_vgg16_receptive_fields(vgg):
    rf = tvn.receptive_fields(vgg, 224)
    got = {k: (rf[k].size, rf[k].stride, rf[k].hw) for k in ("conv1_2", "pool1", "pool2", "pool3", "pool4",
                                                             "conv5_3", "pool5", "avgpool")}
    assert got == {"conv1_2": (5, 1, 224), "pool1": (6, 2, 112), "pool2": (16, 4, 56), "pool3": (44, 8, 28),
                   "pool4": (100, 16, 14), "conv5_3": (196, 16, 14), "pool5": (212, 32, 7),
                   "avgpool": (212, 32, 7)}
    assert rf["fc6"].size is None and rf["fc8"].size is None
    small = tvn.receptive_fields(vgg, 64)
    bl = tvn.blobs(vgg, _img(64), features_only=True)
    assert all(small[k].hw == bl[k].shape[-1] for k in bl)
