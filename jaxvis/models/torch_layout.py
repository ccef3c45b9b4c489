"""A torchvision state dict <-> the variables of the zoo's Flax linen ports
(``torchvision_resnet50``, ``torchvision_mobilenet_v2``), whose submodules
are named after torchvision's module paths.

A flax leaf ``(collection, *modules, leaf)`` is the torch key
``".".join(modules) + "." + attribute``: ``params/kernel`` -> ``weight``,
``params/scale`` -> ``weight``, ``params/bias`` -> ``bias``,
``batch_stats/mean`` -> ``running_mean``, ``batch_stats/var`` ->
``running_var``. Convolution kernels are OIHW there and HWIO here (a
depthwise kernel [C, 1, kh, kw] becomes [kh, kw, 1, C], flax's grouped
layout), fully connected matrices ``[out, in]`` there and ``[in, out]``
here; ``num_batches_tracked`` keys are ignored.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxvis.errors import WeightsFileError

_TORCH_NAME = {
    ("params", "kernel"): "weight",
    ("params", "scale"): "weight",
    ("params", "bias"): "bias",
    ("batch_stats", "mean"): "running_mean",
    ("batch_stats", "var"): "running_var",
}


def _to_torch_shape(name: str, shape: tuple) -> tuple:
    """The torch shape of a flax leaf: HWIO -> OIHW, ``[in, out]`` -> ``[out, in]``."""
    if name == "kernel" and len(shape) == 4:
        return (shape[3], shape[2], shape[0], shape[1])
    if name == "kernel" and len(shape) == 2:
        return (shape[1], shape[0])
    return tuple(shape)


def _from_torch(name: str, value: np.ndarray) -> np.ndarray:
    if name == "kernel" and value.ndim == 4:
        return value.transpose(2, 3, 1, 0)  # OIHW -> HWIO
    if name == "kernel" and value.ndim == 2:
        return value.T  # [out, in] -> [in, out]
    return value


def conv_keys(module: str) -> list[str]:
    """The state-dict keys of a bias-free torch convolution."""
    return [f"{module}.weight"]


def bn_keys(module: str) -> list[str]:
    """The state-dict keys of a torch BatchNorm (``num_batches_tracked`` left out)."""
    return [f"{module}.{k}" for k in ("weight", "bias", "running_mean", "running_var")]


def torch_keys(template, order: list[str]) -> dict[str, tuple[tuple[str, ...], tuple]]:
    """``{torch key: (flax path (collection, ..., leaf), torch shape)}`` of a
    variables ``template`` (a tree of shapes), in torchvision's ``order``."""
    keys = {}
    for path, leaf in jax.tree_util.tree_leaves_with_path(template):
        names = tuple(p.key for p in path)
        collection, modules, leaf_name = names[0], names[1:-1], names[-1]
        key = ".".join((*modules, _TORCH_NAME[collection, leaf_name]))
        keys[key] = (names, _to_torch_shape(leaf_name, leaf.shape))
    assert sorted(order) == sorted(keys), "the flax tree and torchvision's keys disagree"
    return {k: keys[k] for k in order}


def _listing(keys: list[str], few: int = 5) -> str:
    shown = ", ".join(keys[:few])
    return f"{len(keys)} ({shown}{', ...' if len(keys) > few else ''})"


def variables_from_state_dict(state: dict[str, np.ndarray], source: str, expected: dict, what: str,
                              num_classes: int) -> dict:
    """Flax variables ``{"params", "batch_stats"}`` from ``state``, whose keys must be
    exactly ``expected``'s (``torch_keys``; ``num_batches_tracked`` aside), every shape
    fitting. ``source`` names the state dict and ``what`` the network in errors."""
    given = [k for k in state if not k.endswith("num_batches_tracked")]
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in given if k not in expected]
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing keys: {_listing(missing)}")
        if unexpected:
            parts.append(f"unexpected keys: {_listing(unexpected)}")
        raise WeightsFileError(f"{source}: not a {what} state dict; " + "; ".join(parts))
    variables: dict = {}
    for key, (path, shape) in expected.items():
        value = np.asarray(state[key], np.float32)
        if value.shape != shape:
            raise WeightsFileError(f"{source}: {key} has shape {tuple(value.shape)}, a {what} "
                                   f"(num_classes={num_classes}) expects {shape}")
        node = variables
        for name in path[:-1]:
            node = node.setdefault(name, {})
        node[path[-1]] = jnp.asarray(np.ascontiguousarray(_from_torch(path[-1], value)))
    return variables
