"""Every blob of a ``flax.linen`` module, without changing its code.

``flax_blobs(module)`` returns ``apply(variables, x) -> {blob: array}`` in
forward order. The blobs are

- the output of every submodule's ``__call__``, named by its module path
  joined with ``/`` (a top-level ``nn.Conv(..., name="conv2")`` gives
  ``conv2``; the first block of a stage ``layer1`` gives ``layer1/0``, its
  conv ``layer1/0/conv1``). A submodule called more than once gives
  ``path``, ``path/call_1``, ...; one that returns a tuple or dict gives one
  blob per array, ``path/0``, ``path/key``;
- the output of every ReLU *function* the module calls (``nn.relu``,
  ``jax.nn.relu``, ``jnp.maximum(x, 0)``), named ``<scope>/relu``,
  ``<scope>/relu_1``, ``<scope>/relu_2``, ... in call order within the
  module whose code calls it (top level: ``relu``, ``relu_1``, ...);
- the module's own output as ``output`` when it is not already one of the
  blobs above.

Only [B, H, W, C] maps and [B, C] vectors are blobs; other arrays are left
out. Forward order is the order in which the traced program computes them
(a ReLU before the module that returns it, an inner module before the outer
one returning the same array).

How: the module is applied with ``capture_intermediates=True``, traced to a
jaxpr and evaluated equation by equation; equations are bound as they are
(values and gradients are the module's own), and the ReLU equations are
recognised as ``jaxvis.backward.substitute`` recognises them.
"""

from __future__ import annotations

import collections

import flax.linen as nn
import jax
import numpy as np
from jax.extend import core as jex_core

from jaxvis.backward import substitute

_KINDS = {"Conv": "conv", "ConvLocal": "conv", "Dense": "fc", "DenseGeneral": "fc", "BatchNorm": "norm",
          "LayerNorm": "norm", "GroupNorm": "norm", "RMSNorm": "norm"}


def _captured_names(captured) -> list[str]:
    """Names of the flattened leaves of the ``intermediates`` collection."""
    names = []
    for path, _ in jax.tree_util.tree_flatten_with_path(captured)[0]:
        keys = [str(getattr(k, "key", getattr(k, "idx", k))) for k in path]
        at = keys.index("__call__")
        module, call, rest = keys[:at], int(keys[at + 1]), keys[at + 2:]
        names.append("/".join(module + ([f"call_{call}"] if call else []) + rest) or "output")
    return names


def _scope(eqn, top: str) -> str:
    parts = [p for p in str(eqn.source_info.name_stack).split("/") if p]
    if parts and parts[0] == top:
        parts = parts[1:]
    return "/".join(parts)


def _blob_order(jaxpr, names, top):
    """-> [(name, atom)] of the captured leaves (jaxpr's outputs, named
    ``names``) and the ReLU outputs, in forward order."""
    produced = {v: index for index, eqn in enumerate(jaxpr.eqns) for v in eqn.outvars}
    counts = collections.Counter()
    entries = []
    for index in substitute.relu_equations(jaxpr):
        eqn = jaxpr.eqns[index]
        scope = _scope(eqn, top)
        n = counts[scope]
        counts[scope] += 1
        entries.append(((index, 0, 0), "/".join(filter(None, [scope, "relu" if n == 0 else f"relu_{n}"])),
                        eqn.outvars[0]))
    for name, var in zip(names, jaxpr.outvars):
        index = -1 if isinstance(var, jex_core.Literal) else produced.get(var, -1)
        entries.append(((index, 1, -name.count("/")), name, var))
    entries.sort(key=lambda e: e[0])
    named = [var for _, name, var in entries if name != "output"]
    seen, order = set(), []
    for _, name, var in entries:
        if name == "output" and any(v is var for v in named):
            continue
        if name not in seen:
            seen.add(name)
            order.append((name, var))
    return order


def flax_blobs(module: nn.Module):
    """-> (apply(variables, x) -> {blob: array}, kinds {module path: kind})."""
    top = type(module).__name__
    kinds: dict[str, str] = {}

    def record_kinds(next_fun, args, kwargs, context):
        if context.method_name == "__call__" and context.module.path:
            name = "/".join(str(p) for p in context.module.path)
            cls = type(context.module).__name__
            kinds[name] = _KINDS.get(cls, cls.lower())
        return next_fun(*args, **kwargs)

    def captured(variables, x):
        with nn.intercept_methods(record_kinds):
            _, state = module.apply(variables, x, capture_intermediates=True, mutable=["intermediates"])
        return state["intermediates"]

    def apply(variables, x):
        closed, shapes = jax.make_jaxpr(captured, return_shape=True)(variables, x)
        names = _captured_names(shapes)
        order = _blob_order(closed.jaxpr, names, top)
        for name, _ in order:
            kinds.setdefault(name, "relu" if name not in names else "output")
        # The same program with the blobs as its outputs, evaluated as it is.
        program = jex_core.ClosedJaxpr(closed.jaxpr.replace(outvars=[var for _, var in order]), closed.consts)
        values = jex_core.jaxpr_as_fun(program)(*jax.tree.leaves((variables, x)))
        return {name: value for (name, _), value in zip(order, values)
                if np.ndim(value) in (2, 4) and np.shape(value)[0] == x.shape[0]}

    return apply, kinds


def module_param_counts(variables) -> dict[str, int]:
    """{module path: parameters in its subtree of the "params" collection}, for every submodule."""
    counts = {}

    def walk(node, path):
        if hasattr(node, "items"):
            for key, child in node.items():
                walk(child, f"{path}/{key}" if path else str(key))
        counts[path] = counts.get(path, 0) + sum(int(np.prod(np.shape(a))) for a in jax.tree.leaves(node))

    walk(variables.get("params", {}), "")
    counts.pop("", None)
    return counts
