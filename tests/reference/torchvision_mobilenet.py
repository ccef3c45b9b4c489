"""A plain-PyTorch reference of torchvision's MobileNetV2 (test-only code).

Transcribed from torchvision's ``torchvision/models/mobilenetv2.py`` (its
``InvertedResidual`` and ``MobileNetV2``, with ``Conv2dNormActivation`` from
``torchvision/ops/misc.py``) in ordinary ``torch.nn`` layers, so that
``state_dict()`` keys and shapes are those of
``torchvision.models.mobilenet_v2()`` and torchvision's checkpoint loads with
``load_state_dict(strict=True)``. No torchvision import (it does not import
beside the CPU torch of the tests), nothing downloaded, no jaxvis import.

``forward_blobs`` returns every module output by its torchvision module path
(``features.0.0`` conv, ``features.0.1`` BatchNorm, ``features.0.2`` ReLU6,
``features.0``, ..., ``features.5.conv``, ``features.5`` (after the residual
sum), ``features.18``, ``pool`` [B, 1280], ``classifier.1``), NCHW.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from tests.reference.torchvision_nets import _init_conv_linear_, randomize_batchnorm_

SETTING = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))
EXPECTED_PARAMS = 3_504_872


def conv_bn_relu6(inp: int, out: int, kernel: int = 3, stride: int = 1, groups: int = 1) -> nn.Sequential:
    """torchvision's Conv2dNormActivation(norm_layer=BatchNorm2d, activation_layer=ReLU6)."""
    return nn.Sequential(nn.Conv2d(inp, out, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False),
                         nn.BatchNorm2d(out), nn.ReLU6())


class InvertedResidual(nn.Module):
    def __init__(self, inp: int, out: int, stride: int, expand_ratio: int) -> None:
        super().__init__()
        hidden = int(round(inp * expand_ratio))
        self.use_res_connect = stride == 1 and inp == out
        layers: list[nn.Module] = []
        if expand_ratio != 1:
            layers.append(conv_bn_relu6(inp, hidden, kernel=1))
        layers += [conv_bn_relu6(hidden, hidden, stride=stride, groups=hidden),
                   nn.Conv2d(hidden, out, 1, 1, 0, bias=False), nn.BatchNorm2d(out)]
        self.conv = nn.Sequential(*layers)

    def forward(self, x):
        return x + self.conv(x) if self.use_res_connect else self.conv(x)


class MobileNetV2(nn.Module):
    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        features: list[nn.Module] = [conv_bn_relu6(3, 32, stride=2)]
        inp = 32
        for t, c, n, s in SETTING:
            for i in range(n):
                features.append(InvertedResidual(inp, c, s if i == 0 else 1, t))
                inp = c
        features.append(conv_bn_relu6(inp, 1280, kernel=1))
        self.features = nn.Sequential(*features)
        self.classifier = nn.Sequential(nn.Dropout(p=0.2), nn.Linear(1280, num_classes))

    def forward(self, x):
        x = nn.functional.adaptive_avg_pool2d(self.features(x), (1, 1))
        return self.classifier(torch.flatten(x, 1))

    def forward_blobs(self, x: torch.Tensor) -> "OrderedDict[str, torch.Tensor]":
        out: OrderedDict[str, torch.Tensor] = OrderedDict()

        def run(module: nn.Sequential, x, prefix):
            for name, child in module.named_children():
                x = child(x)
                out[f"{prefix}.{name}"] = x
            return x

        for k, block in enumerate(self.features):
            p = f"features.{k}"
            if isinstance(block, InvertedResidual):
                y = x
                for j, layer in enumerate(block.conv):
                    y = run(layer, y, f"{p}.conv.{j}") if isinstance(layer, nn.Sequential) else layer(y)
                    out[f"{p}.conv.{j}"] = y
                out[f"{p}.conv"] = y
                x = x + y if block.use_res_connect else y
            else:
                x = run(block, x, p)
            out[p] = x
        out["pool"] = torch.flatten(nn.functional.adaptive_avg_pool2d(x, (1, 1)), 1)
        out["classifier.1"] = self.classifier(out["pool"])
        return out


def build_mobilenet_v2(seed: int = 0, calib_size: int = 224) -> MobileNetV2:
    """MobileNetV2 in eval mode, float32, random weights and non-trivial BatchNorm statistics from ``seed``;
    the projections' BatchNorms (the residual branch's last) scaled small to keep the sums O(1)."""
    gen = torch.Generator().manual_seed(seed)
    model = MobileNetV2()
    _init_conv_linear_(model, gen)
    last = {id(m.conv[-1]) for m in model.modules() if isinstance(m, InvertedResidual)}
    randomize_batchnorm_(model, gen, calib_size, small=last)
    return model.float().eval()
