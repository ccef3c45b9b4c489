"""Both sides of the float64 projection tests: jaxvis's ``projection_fn`` run
in float64, and the independent side, Captum's Deconvolution and
GuidedBackprop or plain torch autograd for backprop, on a plain-PyTorch
reference network cut at one blob."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import torch
from captum.attr import Deconvolution, GuidedBackprop

from jaxvis.backward import projection_fn


def float64_params(params):
    """A float64 copy of a parameter tree (inside ``jax.enable_x64``)."""
    with jax.enable_x64(True):
        return jax.tree_util.tree_map(lambda a: jnp.asarray(a, jnp.float64), params)


def projection64(net, params64, x, layer, channel, mode, at=None, seed_with="activation") -> np.ndarray:
    """jaxvis's projection of (layer, channel[, at]) for every image of x
    (NHWC), computed in float64 with ``params64``; NHWC float64."""
    with jax.enable_x64(True):
        fn = jax.jit(projection_fn(net, layer, mode, seed_with=seed_with, located=at is not None))
        b = len(x)
        yx = jnp.asarray(np.tile(np.asarray(at if at is not None else (0, 0)), (b, 1)))
        out = fn(params64, jnp.asarray(x, jnp.float64), jnp.full((b,), channel), yx)
        assert out.dtype == jnp.float64
        return np.asarray(out)


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


def assert_unit_projections_match(net, params64, x, cut, layers: dict, channel: int, mode: str, hooked: str,
                                  tol: float) -> None:
    """jaxvis's float64 projection of ``channel`` is within ``tol`` (relative)
    of the reference's at each layer of ``layers`` ({layer: (y, x) to seed at,
    or None: an fc unit seeded with 1}); ``cut(layer)`` is the reference
    network cut at that blob. At ``hooked`` (a map layer), Captum's ReLU hooks
    must have taken effect in deconv and guided modes (their projection is
    not plain autograd's)."""
    from tests.conftest import rel_err

    tx = torch_input(x, torch.float64)
    errors = {}
    for layer, at in layers.items():
        if at is not None:
            assert net.layer(layer).spatial
            ours = projection64(net, params64, x, layer, channel, mode, at=at)
            target = (channel, *at)
        else:
            ours = projection64(net, params64, x, layer, channel, mode, seed_with="ones")
            target = channel
        theirs = reference(mode, cut(layer), tx, target)
        assert np.abs(theirs).max() > 0, (layer, mode)
        errors[layer] = rel_err(ours, theirs)
        if mode != "backprop" and layer == hooked:
            assert rel_err(theirs, reference("backprop", cut(layer), tx, target)) > 1e-2, (layer, mode)
    bad = {k: v for k, v in errors.items() if not v <= tol}
    assert not bad, f"{net.name} {mode} projections differ from the reference beyond {tol}: {bad}"


def assert_own_activation_projection_matches(net, params64, x, model, layer: str, channel: int, tol: float) -> None:
    """The deconv of ``layer``'s whole ``channel`` seeded with its own
    activation is within ``tol`` of Captum's on ``model`` (cut at the layer)."""
    from tests.conftest import rel_err

    ours = projection64(net, params64, x, layer, channel, "deconv")
    theirs = reference("deconv", OwnActivation(model, channel), torch_input(x, torch.float64), None)
    assert np.abs(theirs).max() > 0
    assert rel_err(ours, theirs) <= tol
