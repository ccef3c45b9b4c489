"""Plain-PyTorch references of torchvision's VGG16 and ResNet-50 (test-only code).

Written with ordinary ``torch.nn`` layers (no ``torchvision`` import, nothing is
downloaded) but with torchvision's exact module layout, so ``state_dict()`` keys
and shapes are those of ``torchvision.models.vgg16()`` / ``resnet50()`` and a
torchvision checkpoint loads with ``load_state_dict(strict=True)``.  It must
never import ``jaxvis``: the Flax ports are checked against it blob by blob.

Public API
----------
``VGG16()``, ``ResNet50()``         the modules; ``model(x)`` returns the logits.
``build_vgg16(seed)``, ``build_resnet50(seed)``  eval-mode float32, random weights;
                                    ResNet BatchNorm running stats are non-trivial.
``blobs(model, x_nchw)``            ordered ``{blob: tensor}`` (NCHW / [B, C]), no grad.
``blobs_nhwc(model, x_nchw)``       the same as float32 numpy, 4-D blobs NHWC.
``save_state_dict(sd, stem)``       writes ``stem.pth`` and ``stem.safetensors``.
``load_state_dict_file(path)``      reads either back (keys unchanged).
``receptive_fields(model, size)``   ``{blob: RF(size, stride, offset, hw)}`` computed
                                    from the model's own conv/pool hyper-parameters.

Blob names
----------
VGG16 (``VGG16_BLOBS``; ``VGG16_MODULE`` maps each to its torchvision module path):
  conv1_1 relu1_1 conv1_2 relu1_2 pool1
  conv2_1 relu2_1 conv2_2 relu2_2 pool2
  conv3_1 relu3_1 conv3_2 relu3_2 conv3_3 relu3_3 pool3
  conv4_1 relu4_1 conv4_2 relu4_2 conv4_3 relu4_3 pool4
  conv5_1 relu5_1 conv5_2 relu5_2 conv5_3 relu5_3 pool5      (features.0 ... features.30)
  avgpool                                                     (AdaptiveAvgPool2d((7, 7)))
  fc6 relu6 fc7 relu7 fc8                                     (classifier.0/1/3/4/6)
The dropouts (classifier.2, classifier.5) are identities in eval mode and have no blob.
``convX_Y`` / ``fcN`` are pre-ReLU, ``reluX_Y`` / ``reluN`` post-ReLU.

ResNet-50: every blob is named by torchvision's module path, so a forward hook on
that torchvision module sees the same tensor (beware: torchvision's ReLUs are
``inplace=True``, so a hook on ``bnK`` there reads the post-ReLU values after the
fact; this reference never works in place):
  conv1 bn1 relu maxpool
  per block ``layerS.B`` (S = 1..4, B = 0..2/3/5/2):
    layerS.B.conv1 .bn1 .relu1 .conv2 .bn2 .relu2 .conv3 .bn3
    layerS.B.downsample.0 .downsample.1   (block 0 of each stage only)
    layerS.B.add                          (bn3 + shortcut, pre-ReLU)
    layerS.B                              (the block output, post-ReLU)
  after the last block of a stage: ``layerS`` (== its last block's output)
  avgpool ([B, 2048, 1, 1])  fc ([B, 1000] logits)
``relu1`` / ``relu2`` / ``add`` are not torchvision module names (torchvision uses one
shared ``relu`` module per block); everything else is.

Receptive fields (224 x 224 input; size / stride in input pixels):
  VGG16: conv5_3 196 / 16, pool5 212 / 32, avgpool 212 / 32 (identity at 224).
  ResNet-50: conv1 7 / 2, maxpool 11 / 4, layer1 35 / 4, layer2 91 / 8,
  layer3 267 / 16, layer4 427 / 32.
"""
from __future__ import annotations

from collections import OrderedDict
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from torch import nn

EXPECTED_PARAMS = {"vgg16": 138_357_544, "resnet50": 25_557_032}

# ----------------------------------------------------------------------------- VGG16

_VGG16_CFG = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]


def _vgg16_feature_names() -> list[str]:
    names, stage, idx = [], 1, 1
    for v in _VGG16_CFG:
        if v == "M":
            names.append(f"pool{stage}")
            stage, idx = stage + 1, 1
        else:
            names += [f"conv{stage}_{idx}", f"relu{stage}_{idx}"]
            idx += 1
    return names


_VGG16_FEATURES = _vgg16_feature_names()  # 31 names, one per features.i
# (blob, torchvision module path) of the classifier; None = dropout, no blob.
_VGG16_CLASSIFIER = ["fc6", "relu6", None, "fc7", "relu7", None, "fc8"]

VGG16_MODULE: dict[str, str] = {n: f"features.{i}" for i, n in enumerate(_VGG16_FEATURES)}
VGG16_MODULE["avgpool"] = "avgpool"
VGG16_MODULE.update({n: f"classifier.{i}" for i, n in enumerate(_VGG16_CLASSIFIER) if n})
VGG16_BLOBS: tuple[str, ...] = tuple(VGG16_MODULE)


class VGG16(nn.Module):
    """torchvision.models.VGG (cfg "D", no batch norm): features / avgpool / classifier."""

    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        cin = 3
        for v in _VGG16_CFG:
            if v == "M":
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            else:
                layers += [nn.Conv2d(cin, v, kernel_size=3, padding=1), nn.ReLU()]
                cin = v
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(
            nn.Linear(512 * 7 * 7, 4096), nn.ReLU(), nn.Dropout(0.5),
            nn.Linear(4096, 4096), nn.ReLU(), nn.Dropout(0.5),
            nn.Linear(4096, num_classes))

    def forward_blobs(self, x: torch.Tensor, features_only: bool = False) -> "OrderedDict[str, torch.Tensor]":
        """Every named blob in order; ``features_only`` stops after pool5 (any input >= 32)."""
        out: OrderedDict[str, torch.Tensor] = OrderedDict()
        for name, mod in zip(_VGG16_FEATURES, self.features):
            x = mod(x)
            out[name] = x
        if features_only:
            return out
        x = self.avgpool(x)
        out["avgpool"] = x
        x = torch.flatten(x, 1)
        for name, mod in zip(_VGG16_CLASSIFIER, self.classifier):
            x = mod(x)
            if name:
                out[name] = x
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_blobs(x)["fc8"]


# ----------------------------------------------------------------------------- ResNet-50

class Bottleneck(nn.Module):
    """torchvision Bottleneck (ResNet v1.5: the stride sits on the 3x3 ``conv2``).

    ``stride_in_1x1=True`` moves it to ``conv1`` (original ResNet v1 / Caffe); it
    exists only so the tests can check that this mutation is detected.
    """

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1,
                 downsample: nn.Module | None = None, stride_in_1x1: bool = False) -> None:
        super().__init__()
        s1, s3 = (stride, 1) if stride_in_1x1 else (1, stride)
        width = planes
        self.conv1 = nn.Conv2d(inplanes, width, 1, stride=s1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride=s3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, planes * self.expansion, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU()
        self.downsample = downsample
        self.stride = stride

    def forward_blobs(self, x: torch.Tensor, prefix: str, out: dict) -> torch.Tensor:
        identity = x
        y = self.conv1(x); out[f"{prefix}.conv1"] = y
        y = self.bn1(y); out[f"{prefix}.bn1"] = y
        y = self.relu(y); out[f"{prefix}.relu1"] = y
        y = self.conv2(y); out[f"{prefix}.conv2"] = y
        y = self.bn2(y); out[f"{prefix}.bn2"] = y
        y = self.relu(y); out[f"{prefix}.relu2"] = y
        y = self.conv3(y); out[f"{prefix}.conv3"] = y
        y = self.bn3(y); out[f"{prefix}.bn3"] = y
        if self.downsample is not None:
            identity = self.downsample[0](x); out[f"{prefix}.downsample.0"] = identity
            identity = self.downsample[1](identity); out[f"{prefix}.downsample.1"] = identity
        y = y + identity; out[f"{prefix}.add"] = y
        y = self.relu(y); out[prefix] = y
        return y

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_blobs(x, "block", {})


RESNET50_LAYERS = (3, 4, 6, 3)


class ResNet50(nn.Module):
    """torchvision.models.ResNet(Bottleneck, [3, 4, 6, 3]) with the same keys."""

    def __init__(self, num_classes: int = 1000, stride_in_1x1: bool = False) -> None:
        super().__init__()
        self.inplanes = 64
        self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU()
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        for i, (planes, blocks) in enumerate(zip((64, 128, 256, 512), RESNET50_LAYERS)):
            self.add_module(f"layer{i + 1}", self._make_layer(planes, blocks, 1 if i == 0 else 2, stride_in_1x1))
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * Bottleneck.expansion, num_classes)

    def _make_layer(self, planes: int, blocks: int, stride: int, stride_in_1x1: bool) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes * Bottleneck.expansion:
            downsample = nn.Sequential(
                nn.Conv2d(self.inplanes, planes * Bottleneck.expansion, 1, stride=stride, bias=False),
                nn.BatchNorm2d(planes * Bottleneck.expansion))
        layers = [Bottleneck(self.inplanes, planes, stride, downsample, stride_in_1x1)]
        self.inplanes = planes * Bottleneck.expansion
        layers += [Bottleneck(self.inplanes, planes, stride_in_1x1=stride_in_1x1) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def stages(self) -> list[tuple[str, nn.Sequential]]:
        return [(f"layer{i + 1}", getattr(self, f"layer{i + 1}")) for i in range(len(RESNET50_LAYERS))]

    def forward_blobs(self, x: torch.Tensor) -> "OrderedDict[str, torch.Tensor]":
        out: OrderedDict[str, torch.Tensor] = OrderedDict()
        x = self.conv1(x); out["conv1"] = x
        x = self.bn1(x); out["bn1"] = x
        x = self.relu(x); out["relu"] = x
        x = self.maxpool(x); out["maxpool"] = x
        for sname, stage in self.stages():
            for b, block in enumerate(stage):
                x = block.forward_blobs(x, f"{sname}.{b}", out)
            out[sname] = x
        x = self.avgpool(x); out["avgpool"] = x
        x = self.fc(torch.flatten(x, 1)); out["fc"] = x
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_blobs(x)["fc"]


def resnet50_blob_names() -> tuple[str, ...]:
    """The ResNet-50 blob names in forward order (independent of any input)."""
    names = ["conv1", "bn1", "relu", "maxpool"]
    for s, n in enumerate(RESNET50_LAYERS, start=1):
        for b in range(n):
            p = f"layer{s}.{b}"
            names += [f"{p}.{k}" for k in ("conv1", "bn1", "relu1", "conv2", "bn2", "relu2", "conv3", "bn3")]
            if b == 0:
                names += [f"{p}.downsample.0", f"{p}.downsample.1"]
            names += [f"{p}.add", p]
        names.append(f"layer{s}")
    return tuple(names + ["avgpool", "fc"])


# ----------------------------------------------------------------------------- random weights

def _init_conv_linear_(model: nn.Module, gen: torch.Generator) -> None:
    """Kaiming-normal (fan_in, ReLU gain) weights, N(0, 0.1) biases: O(1) activations."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                fan_in = m.weight[0].numel()
                m.weight.copy_(torch.randn(m.weight.shape, generator=gen) * (2.0 / fan_in) ** 0.5)
                if m.bias is not None:
                    m.bias.copy_(torch.randn(m.bias.shape, generator=gen) * 0.1)


def build_vgg16(seed: int = 0) -> VGG16:
    """VGG16 in eval mode, float32, weights drawn from ``seed``."""
    model = VGG16()
    _init_conv_linear_(model, torch.Generator().manual_seed(seed))
    return model.float().eval()


def build_resnet50(seed: int = 0, stride_in_1x1: bool = False, calib_size: int = 128) -> ResNet50:
    """ResNet-50 in eval mode, float32, everything drawn from ``seed``.

    BatchNorm: weight U(0.5, 1.5) (bn3 of each block U(0.2, 0.6), keeping the
    residual sums O(1)), bias N(0, 0.1).  Running stats are *not* the identity:
    one forward pass of a seeded random ``calib_size`` image sets, at each BN in
    turn, ``running_mean = batch_mean + 0.3 * batch_std * N(0, 1)`` and
    ``running_var = batch_var * U(0.5, 2)``; so inference normalisation is
    exercised (outputs are neither zero-mean nor unit-variance) while the
    activations stay well scaled through 50 layers.  ``num_batches_tracked``
    is set to 1000 (any value; it is unused in eval mode).
    """
    gen = torch.Generator().manual_seed(seed)
    model = ResNet50(stride_in_1x1=stride_in_1x1)
    _init_conv_linear_(model, gen)
    bn3s = {id(m.bn3) for m in model.modules() if isinstance(m, Bottleneck)}
    randomize_batchnorm_(model, gen, calib_size, small=bn3s)
    return model.float().eval()


def randomize_batchnorm_(model: nn.Module, gen: torch.Generator, calib_size: int, small=frozenset()) -> None:
    """BatchNorm weights U(0.5, 1.5) (those whose ``id`` is in ``small`` U(0.2, 0.6)),
    biases N(0, 0.1), and running stats set by one forward pass of a seeded random
    ``calib_size`` image: at each BN in turn ``running_mean = batch_mean + 0.3 *
    batch_std * N(0, 1)``, ``running_var = batch_var * U(0.5, 2)``."""
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    with torch.no_grad():
        for m in bns:
            lo, hi = (0.2, 0.6) if id(m) in small else (0.5, 1.5)
            m.weight.copy_(lo + (hi - lo) * torch.rand(m.weight.shape, generator=gen))
            m.bias.copy_(torch.randn(m.bias.shape, generator=gen) * 0.1)
            m.num_batches_tracked.fill_(1000)

    def calibrate(mod: nn.BatchNorm2d, args: tuple) -> None:
        x = args[0]
        mean = x.mean(dim=(0, 2, 3))
        var = x.var(dim=(0, 2, 3), unbiased=False)
        c = mean.numel()
        mod.running_mean.copy_(mean + 0.3 * var.sqrt() * torch.randn(c, generator=gen))
        mod.running_var.copy_(var * (0.5 + 1.5 * torch.rand(c, generator=gen)))

    model.eval()
    hooks = [m.register_forward_pre_hook(calibrate) for m in bns]
    try:
        with torch.no_grad():
            model(torch.randn(1, 3, calib_size, calib_size, generator=gen))
    finally:
        for h in hooks:
            h.remove()


# ----------------------------------------------------------------------------- blobs

def blobs(model: nn.Module, x_nchw: torch.Tensor, **kw) -> "OrderedDict[str, torch.Tensor]":
    """Ordered ``{blob: tensor}``: NCHW for 4-D blobs, [B, C] for fc blobs; no grad."""
    with torch.no_grad():
        return model.forward_blobs(x_nchw.float(), **kw)


def blobs_nhwc(model: nn.Module, x_nchw: torch.Tensor, **kw) -> dict[str, np.ndarray]:
    """``blobs`` as float32 numpy, 4-D blobs transposed to NHWC ``[B, H, W, C]``."""
    res = {}
    for k, t in blobs(model, x_nchw, **kw).items():
        a = t.numpy()
        res[k] = np.ascontiguousarray(a.transpose(0, 2, 3, 1) if a.ndim == 4 else a, dtype=np.float32)
    return res


# ----------------------------------------------------------------------------- checkpoints

def save_state_dict(state_dict: dict[str, torch.Tensor], stem: str | Path) -> tuple[Path, Path]:
    """Write ``stem.pth`` (``torch.save``) and ``stem.safetensors`` with the keys as given
    (a ``model.state_dict()`` here has torchvision's keys, BN buffers included)."""
    from safetensors.torch import save_file

    stem = Path(stem)
    pth, st = stem.with_name(stem.name + ".pth"), stem.with_name(stem.name + ".safetensors")
    sd = OrderedDict((k, v.detach()) for k, v in state_dict.items())
    torch.save(sd, pth)
    # safetensors refuses shared or non-contiguous storage; state-dict tensors are neither
    # shared nor strided here, ``contiguous()`` returns them without a copy.
    save_file({k: v.contiguous() for k, v in sd.items()}, str(st))
    return pth, st


def load_state_dict_file(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a ``.pth`` (memory-mapped, weights_only) or ``.safetensors`` state dict.

    ``.pth`` keeps the saved key order; ``.safetensors`` does not (same keys, its own order)."""
    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    return torch.load(path, map_location="cpu", weights_only=True, mmap=True)


# ----------------------------------------------------------------------------- receptive fields

class RF(NamedTuple):
    """Receptive field: ``size`` pixels on a side, ``stride`` pixels between units, ``offset``
    = input coordinate of unit (0, 0)'s centre (jaxvis.models.geometry's convention), ``hw``
    = the blob's spatial side.  ``size`` is None for fc blobs (whole image)."""

    size: int | None
    stride: int | None
    offset: float | None
    hw: int | None


def _step(rf: RF, k: int, s: int, p: int, ceil: bool = False) -> RF:
    """One conv / pool window: rf += (k-1)*jump; offset += ((k-1)/2 - p)*jump; jump *= s."""
    n = rf.hw + 2 * p - k
    hw = (-(-n // s) if ceil else n // s) + 1
    return RF(rf.size + (k - 1) * rf.stride, rf.stride * s, rf.offset + ((k - 1) / 2 - p) * rf.stride, hw)


def _hp(m: nn.Module) -> tuple[int, int, int]:
    """(kernel, stride, pad) of a square Conv2d / MaxPool2d."""
    k, s, p = (v if isinstance(v, int) else v[0] for v in (m.kernel_size, m.stride, m.padding))
    if isinstance(m, nn.Conv2d):
        assert m.kernel_size[0] == m.kernel_size[1] and m.stride[0] == m.stride[1] and m.dilation == (1, 1)
    return k, s, p


def _layer(rf: RF, m: nn.Module) -> RF:
    if isinstance(m, nn.Conv2d):
        return _step(rf, *_hp(m))
    if isinstance(m, nn.MaxPool2d):
        assert m.dilation == 1
        return _step(rf, *_hp(m), ceil=m.ceil_mode)
    if isinstance(m, nn.AdaptiveAvgPool2d):
        out = m.output_size if isinstance(m.output_size, int) else m.output_size[0]
        if rf.hw == out:
            return rf
        # as jaxvis.models.geometry: bins of ceil(n/out) pixels every n//out (an upper bound)
        k, s = -(-rf.hw // out), rf.hw // out
        return RF(rf.size + (k - 1) * rf.stride, rf.stride * s, rf.offset + (k - 1) / 2 * rf.stride, out)
    if isinstance(m, nn.Linear):
        return RF(None, None, None, None)
    return rf  # ReLU, BatchNorm, Dropout: pointwise


def _merge(a: RF, b: RF) -> RF:
    """A residual sum: both branches must agree on grid (stride, offset, shape); the
    field is the larger one."""
    assert (a.stride, a.offset, a.hw) == (b.stride, b.offset, b.hw), ("misaligned residual", a, b)
    return RF(max(a.size, b.size), a.stride, a.offset, a.hw)


def receptive_fields(model: nn.Module, input_size: int = 224) -> dict[str, RF]:
    """``{blob: RF}`` for every blob of ``VGG16`` / ``ResNet50``, from the modules'
    own kernel / stride / padding (so a changed stride shows up here)."""
    rf = RF(1, 1, 0.0, input_size)
    res: dict[str, RF] = {}
    if isinstance(model, VGG16):
        for name, m in zip(_VGG16_FEATURES, model.features):
            rf = res[name] = _layer(rf, m)
        rf = res["avgpool"] = _layer(rf, model.avgpool)
        for name, m in zip(_VGG16_CLASSIFIER, model.classifier):
            rf = _layer(rf, m)
            if name:
                res[name] = rf
        return res
    if not isinstance(model, ResNet50):
        raise TypeError(type(model).__name__)
    for name in ("conv1", "bn1", "relu", "maxpool"):
        rf = res[name] = _layer(rf, getattr(model, name))
    for sname, stage in model.stages():
        for b, block in enumerate(stage):
            p, x = f"{sname}.{b}", rf
            for name, m in (("conv1", block.conv1), ("bn1", block.bn1), ("relu1", block.relu),
                            ("conv2", block.conv2), ("bn2", block.bn2), ("relu2", block.relu),
                            ("conv3", block.conv3), ("bn3", block.bn3)):
                rf = res[f"{p}.{name}"] = _layer(rf, m)
            short = x
            if block.downsample is not None:
                for i, m in enumerate(block.downsample):
                    short = res[f"{p}.downsample.{i}"] = _layer(short, m)
            rf = res[f"{p}.add"] = res[p] = _merge(rf, short)
        res[sname] = rf
    rf = res["avgpool"] = _layer(rf, model.avgpool)
    res["fc"] = _layer(rf, model.fc)
    return res


if __name__ == "__main__":
    import time

    for build in (build_resnet50, build_vgg16):
        t0 = time.perf_counter()
        net = build()
        t1 = time.perf_counter()
        bl = blobs(net, torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(1)))
        t2 = time.perf_counter()
        n = sum(p.numel() for p in net.parameters())
        rfs = receptive_fields(net, 224)
        print(f"== {type(net).__name__}: params {n:,}  build {t1 - t0:.2f}s  forward(b=1, 224) {t2 - t1:.2f}s")
        for k, t in bl.items():
            if "." not in k or k.count(".") == 1 and not k.split(".")[-1].isalpha() or k.endswith(".add"):
                print(f"  {k:16s} {str(tuple(t.shape)):22s} mean {t.mean():+.3g} std {t.std():.3g}  {rfs[k]}")
        del net, bl
