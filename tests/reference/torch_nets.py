"""Independent plain-PyTorch reference implementations of the classic convnets.

This module is test-only reference code: it must never import ``jaxvis``.  The
architectures are written from their published definitions with ordinary
``torch.nn`` layers so the JAX/Flax port can be checked blob by blob.

Public API
----------
``ARCHS``                        the supported architecture names.
``build(name, seed)``            an eval-mode float32 model with random weights.
``blobs(model, x_nchw)``         every named blob (NHWC for conv-shaped, [B, C] for fc).
``param_arrays(model)``          ``{layer: {"weight", "bias"}}`` in Caffe/Torch layout.
``caffe_layers_from_torch(name, model)``  the layer list for ``caffemodel_writer``.

Every model carries ``model.arch`` (its name) and ``model.plan``: the ordered
list of ``(layer_name, blob_name_or_None, module)``; dropout layers have no blob.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

ARCHS = ("caffenet", "alexnet", "vgg_s", "zfnet", "torchvision_alexnet")

Plan = list[tuple[str, "str | None", nn.Module]]


def _conv(cin: int, cout: int, k: int, s: int = 1, p: int = 0, g: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, k, stride=s, padding=p, groups=g)


def _pool(k: int, s: int, ceil: bool = True) -> nn.MaxPool2d:
    """Max pooling; ``ceil=True`` is Caffe's output-size rule (valid here: pad 0, k >= s)."""
    return nn.MaxPool2d(k, stride=s, ceil_mode=ceil)


def _lrn(alpha: float = 1e-4, k: float = 1.0) -> nn.LocalResponseNorm:
    """Caffe ACROSS_CHANNELS LRN: x / (k + alpha/size * sum_window x^2)^0.75, size 5."""
    return nn.LocalResponseNorm(5, alpha=alpha, beta=0.75, k=k)


def _classifier(fc6_in: int) -> list[tuple[str, nn.Module]]:
    """fc6 relu6 drop6 fc7 relu7 drop7 fc8 prob (Caffe ordering)."""
    return [("fc6", nn.Linear(fc6_in, 4096)), ("relu6", nn.ReLU()), ("drop6", nn.Dropout(0.5)),
            ("fc7", nn.Linear(4096, 4096)), ("relu7", nn.ReLU()), ("drop7", nn.Dropout(0.5)),
            ("fc8", nn.Linear(4096, 1000)), ("prob", nn.Softmax(dim=1))]


def _caffe_layers(name: str) -> list[tuple[str, nn.Module]]:
    """Ordered (layer_name, module) list of the four Caffe-style networks."""
    if name in ("caffenet", "alexnet"):
        b1 = [("conv1", _conv(3, 96, 11, 4)), ("relu1", nn.ReLU())]
        p1, n1 = ("pool1", _pool(3, 2)), ("norm1", _lrn())
        b2 = [("conv2", _conv(96, 256, 5, 1, 2, 2)), ("relu2", nn.ReLU())]
        p2, n2 = ("pool2", _pool(3, 2)), ("norm2", _lrn())
        if name == "caffenet":  # pool then norm
            head = b1 + [p1, n1] + b2 + [p2, n2]
        else:  # BVLC AlexNet: norm then pool
            head = b1 + [n1, p1] + b2 + [n2, p2]
        return head + [
            ("conv3", _conv(256, 384, 3, 1, 1)), ("relu3", nn.ReLU()),
            ("conv4", _conv(384, 384, 3, 1, 1, 2)), ("relu4", nn.ReLU()),
            ("conv5", _conv(384, 256, 3, 1, 1, 2)), ("relu5", nn.ReLU()),
            ("pool5", _pool(3, 2))] + _classifier(256 * 6 * 6)
    if name == "vgg_s":
        return [
            ("conv1", _conv(3, 96, 7, 2)), ("relu1", nn.ReLU()),
            ("norm1", _lrn(alpha=5e-4, k=2.0)), ("pool1", _pool(3, 3)),
            ("conv2", _conv(96, 256, 5)), ("relu2", nn.ReLU()), ("pool2", _pool(2, 2)),
            ("conv3", _conv(256, 512, 3, 1, 1)), ("relu3", nn.ReLU()),
            ("conv4", _conv(512, 512, 3, 1, 1)), ("relu4", nn.ReLU()),
            ("conv5", _conv(512, 512, 3, 1, 1)), ("relu5", nn.ReLU()),
            ("pool5", _pool(3, 3))] + _classifier(512 * 6 * 6)
    if name == "zfnet":
        return [
            ("conv1", _conv(3, 96, 7, 2, 1)), ("relu1", nn.ReLU()),
            ("pool1", _pool(3, 2)), ("norm1", _lrn()),
            ("conv2", _conv(96, 256, 5, 2)), ("relu2", nn.ReLU()),
            ("pool2", _pool(3, 2)), ("norm2", _lrn()),
            ("conv3", _conv(256, 384, 3, 1, 1)), ("relu3", nn.ReLU()),
            ("conv4", _conv(384, 384, 3, 1, 1)), ("relu4", nn.ReLU()),
            ("conv5", _conv(384, 256, 3, 1, 1)), ("relu5", nn.ReLU()),
            ("pool5", _pool(3, 2))] + _classifier(256 * 6 * 6)
    raise ValueError(f"unknown arch {name!r}; expected one of {ARCHS}")


class CaffeStyleNet(nn.Module):
    """Layers registered under their Caffe layer names (state_dict keys ``conv1.weight`` ...)."""

    def __init__(self, arch: str) -> None:
        super().__init__()
        self.arch = arch
        self.plan: Plan = []
        for lname, mod in _caffe_layers(arch):
            self.add_module(lname, mod)
            self.plan.append((lname, None if isinstance(mod, nn.Dropout) else lname, mod))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return the fc8 logits."""
        return _run(self, x)["fc8"]


class TorchvisionAlexNet(nn.Module):
    """torchvision.models.AlexNet layout: ``features`` / ``avgpool`` / ``classifier``."""

    def __init__(self) -> None:
        super().__init__()
        self.arch = "torchvision_alexnet"
        self.features = nn.Sequential(
            _conv(3, 64, 11, 4, 2), nn.ReLU(), _pool(3, 2, ceil=False),
            _conv(64, 192, 5, 1, 2), nn.ReLU(), _pool(3, 2, ceil=False),
            _conv(192, 384, 3, 1, 1), nn.ReLU(),
            _conv(384, 256, 3, 1, 1), nn.ReLU(),
            _conv(256, 256, 3, 1, 1), nn.ReLU(), _pool(3, 2, ceil=False))
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        self.classifier = nn.Sequential(
            nn.Dropout(0.5), nn.Linear(256 * 6 * 6, 4096), nn.ReLU(),
            nn.Dropout(0.5), nn.Linear(4096, 4096), nn.ReLU(), nn.Linear(4096, 1000))
        feat_names = ["conv1", "relu1", "pool1", "conv2", "relu2", "pool2", "conv3", "relu3",
                      "conv4", "relu4", "conv5", "relu5", "pool5"]
        cls_names = ["drop6", "fc6", "relu6", "drop7", "fc7", "relu7", "fc8"]
        self.plan: Plan = [(n, n, m) for n, m in zip(feat_names, self.features)]
        self.plan.append(("avgpool", "avgpool", self.avgpool))
        for n, m in zip(cls_names, self.classifier):
            self.plan.append((n, None if isinstance(m, nn.Dropout) else n, m))
        self.plan.append(("prob", "prob", nn.Softmax(dim=1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return the fc8 logits (as torchvision does)."""
        return _run(self, x)["fc8"]


def _init_(model: nn.Module) -> None:
    """Kaiming-normal (fan_in, ReLU gain) weights and N(0, 0.1) biases: nonzero, O(1) activations."""
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
            nn.init.normal_(m.bias, mean=0.0, std=0.1)


def build(name: str, seed: int = 0) -> nn.Module:
    """Build ``name`` in eval mode, float32, weights drawn after ``torch.manual_seed(seed)``."""
    if name not in ARCHS:
        raise ValueError(f"unknown arch {name!r}; expected one of {ARCHS}")
    torch.manual_seed(seed)
    model = TorchvisionAlexNet() if name == "torchvision_alexnet" else CaffeStyleNet(name)
    _init_(model)
    return model.float().eval()


def _run(model: nn.Module, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """Apply ``model.plan`` layer by layer; flatten NCHW -> (C, H, W) before the first Linear."""
    out: dict[str, torch.Tensor] = {}
    for _lname, blob, mod in model.plan:
        if isinstance(mod, nn.Linear) and x.dim() == 4:
            x = torch.flatten(x, 1)
        x = mod(x)
        if blob is not None:
            out[blob] = x
    return out


def blobs(model: nn.Module, x_nchw: torch.Tensor) -> dict[str, np.ndarray]:
    """All named blobs in order: 4-D as NHWC float32 ``[B, H, W, C]``, fc blobs as ``[B, C]``."""
    with torch.no_grad():
        raw = _run(model, x_nchw.float())
    res: dict[str, np.ndarray] = {}
    for k, t in raw.items():
        a = t.detach().cpu().numpy()
        if a.ndim == 4:
            a = a.transpose(0, 2, 3, 1)
        res[k] = np.ascontiguousarray(a, dtype=np.float32)
    return res


def param_arrays(model: nn.Module) -> dict[str, dict[str, np.ndarray]]:
    """``{layer: {"weight": W, "bias": b}}``; conv W (O, I/group, kh, kw), fc W (out, in).

    fc6's ``in`` axis is in (C, H, W) order, as ``torch.flatten`` of NCHW gives.
    """
    res: dict[str, dict[str, np.ndarray]] = {}
    for lname, _blob, mod in model.plan:
        if isinstance(mod, (nn.Conv2d, nn.Linear)):
            res[lname] = {"weight": mod.weight.detach().cpu().numpy().astype(np.float32),
                          "bias": mod.bias.detach().cpu().numpy().astype(np.float32)}
    return res


_CAFFE_TYPE = ((nn.Conv2d, "Convolution"), (nn.Linear, "InnerProduct"), (nn.ReLU, "ReLU"),
               (nn.MaxPool2d, "Pooling"), (nn.LocalResponseNorm, "LRN"),
               (nn.Dropout, "Dropout"), (nn.Softmax, "Softmax"))


def caffe_layers_from_torch(name: str, model: nn.Module) -> list[tuple[str, str, list[np.ndarray]]]:
    """``[(layer_name, caffe_type, [W, b] or [])]`` in network order, for ``write_caffemodel``.

    Only the Caffe-style nets (caffenet, alexnet, vgg_s, zfnet) are accepted.
    """
    if name == "torchvision_alexnet" or name not in ARCHS:
        raise ValueError(f"{name!r} is not a Caffe-style network")
    if getattr(model, "arch", name) != name:
        raise ValueError(f"model is {model.arch!r}, not {name!r}")
    params = param_arrays(model)
    layers = []
    for lname, _blob, mod in model.plan:
        ctype = next(t for cls, t in _CAFFE_TYPE if isinstance(mod, cls))
        p = params.get(lname)
        layers.append((lname, ctype, [p["weight"], p["bias"]] if p else []))
    return layers


EXPECTED_PARAMS = {"caffenet": 60_965_224, "alexnet": 60_965_224, "vgg_s": 102_908_520,
                   "zfnet": 62_357_608, "torchvision_alexnet": 61_100_840}
EXPECTED_SPATIAL = {  # blob -> H (== W) of the conv-shaped blobs
    "caffenet": {"conv1": 55, "pool1": 27, "conv2": 27, "pool2": 13, "conv5": 13, "pool5": 6},
    "alexnet": {"conv1": 55, "pool1": 27, "conv2": 27, "pool2": 13, "conv5": 13, "pool5": 6},
    "vgg_s": {"conv1": 109, "pool1": 37, "conv2": 33, "pool2": 17, "conv5": 17, "pool5": 6},
    "zfnet": {"conv1": 110, "pool1": 55, "conv2": 26, "pool2": 13, "conv5": 13, "pool5": 6},
    "torchvision_alexnet": {"conv1": 55, "pool1": 27, "conv2": 27, "pool2": 13, "conv5": 13,
                            "pool5": 6, "avgpool": 6},
}
INPUT_SIZE = {"caffenet": 227, "alexnet": 227, "vgg_s": 224, "zfnet": 224,
              "torchvision_alexnet": 224}


if __name__ == "__main__":
    import time

    for arch in ARCHS:
        t0 = time.perf_counter()
        net = build(arch)
        t1 = time.perf_counter()
        s = INPUT_SIZE[arch]
        bl = blobs(net, torch.randn(1, 3, s, s, generator=torch.Generator().manual_seed(1)))
        t2 = time.perf_counter()
        n = sum(p.numel() for p in net.parameters())
        assert n == EXPECTED_PARAMS[arch], (arch, n)
        for b, h in EXPECTED_SPATIAL[arch].items():
            assert bl[b].shape[1:3] == (h, h), (arch, b, bl[b].shape)
        assert bl["prob"].shape == (1, 1000) and abs(bl["prob"].sum() - 1) < 1e-4
        print(f"== {arch}: params {n:,}  build {t1 - t0:.2f}s  forward(b=1) {t2 - t1:.2f}s")
        for b, a in bl.items():
            print(f"  {b:8s} {str(a.shape):20s} std {a.std():.3g}")


def run_until(model: nn.Module, x: torch.Tensor, blob_name: str) -> torch.Tensor:
    """The NCHW (or [B, C]) tensor of one blob, with autograd; stops there."""
    for _lname, blob, mod in model.plan:
        if isinstance(mod, nn.Linear) and x.dim() == 4:
            x = torch.flatten(x, 1)
        x = mod(x)
        if blob == blob_name:
            return x
    raise KeyError(blob_name)
