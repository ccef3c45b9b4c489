"""The independent side of the projection tests: Captum's Deconvolution and
GuidedBackprop, or plain torch autograd for backprop, on a plain-PyTorch
reference network cut at one blob."""

from __future__ import annotations

import numpy as np
import torch
from captum.attr import Deconvolution, GuidedBackprop


class Until(torch.nn.Module):
    """``model`` up to ``blob``, running ``steps`` ([(blob name, module)] in
    forward order, modules of ``model``): its ReLU modules stay children of
    this module, so Captum's hooks replace their backward."""

    def __init__(self, model, blob, steps):
        super().__init__()
        self.model, self.blob, self.steps = model, blob, list(steps)

    def forward(self, x):
        for name, mod in self.steps:
            if isinstance(mod, torch.nn.Linear) and x.dim() == 4:
                x = torch.flatten(x, 1)
            x = mod(x)
            if name == self.blob:
                return x
        raise KeyError(self.blob)


class OwnActivation(torch.nn.Module):
    """Scalar per image: sum over the channel map of map * map.detach(), whose
    gradient seeds the map with its own activation."""

    def __init__(self, until, channel):
        super().__init__()
        self.until, self.channel = until, channel

    def forward(self, x):
        m = self.until(x)[:, self.channel]
        return (m * m.detach()).sum(dim=(1, 2))


def torch_input(x, dtype=torch.float32) -> torch.Tensor:
    """NHWC numpy -> NCHW tensor."""
    return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2))).to(dtype)


def reference(mode, model, tx, target) -> np.ndarray:
    """The projection of ``target`` (a channel, (channel, y, x), a list of
    those per image, or None for a scalar model) to the input, NHWC."""
    tx = tx.clone().requires_grad_(True)
    if mode == "deconv":
        out = Deconvolution(model).attribute(tx, target=target)
    elif mode == "guided":
        out = GuidedBackprop(model).attribute(tx, target=target)
    else:
        y = model(tx)
        sel = y if target is None else y[(slice(None), *target)] if isinstance(target, tuple) else y[:, target]
        out = torch.autograd.grad(sel.sum(), tx)[0]
    return out.detach().numpy().transpose(0, 2, 3, 1)
