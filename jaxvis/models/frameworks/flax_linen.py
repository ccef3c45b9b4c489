"""Every blob of a ``flax.linen`` module, without changing its code.

``flax_blobs(module)`` returns ``apply(variables, x) -> {blob: array}`` in
forward order, by the adapters' one naming rule
(``jaxvis/models/frameworks/naming.py``): the output of every submodule's
``__call__``, named by its module path joined with ``/`` (a top-level
``nn.Conv(..., name="conv2")`` gives ``conv2``; the first block of a stage
``layer1`` gives ``layer1/0``, its conv ``layer1/0/conv1``), a second call
``path/call_1``, a tuple or dict output ``path/0``, ``path/key``; the
output of every ReLU function as ``<scope>/relu``, ``<scope>/relu_1``, ...;
the module's own output as ``output``.

How: the module is applied with ``capture_intermediates=True`` (Flax's
module scopes are the name stack the ReLUs' scopes come from) and the
captured outputs go through ``naming.traced_blobs``.
"""

from __future__ import annotations

import flax.linen as nn
import jax

from jaxvis.models.frameworks import naming

def _named_outputs(captured) -> dict:
    """{blob name: array} of the ``intermediates`` collection's leaves."""
    named = {}
    for path, leaf in jax.tree_util.tree_flatten_with_path(captured)[0]:
        keys = [naming.key_part(k) for k in path]
        at = keys.index("__call__")
        named[naming.call_name(keys[:at], int(keys[at + 1]), keys[at + 2:])] = leaf
    return named


def flax_blobs(module: nn.Module):
    """-> (apply(variables, x) -> {blob: array}, kinds {module path: kind})."""
    top = type(module).__name__
    kinds: dict[str, str] = {}

    def record_kinds(next_fun, args, kwargs, context):
        if context.method_name == "__call__" and context.module.path:
            name = "/".join(str(p) for p in context.module.path)
            kinds[name] = naming.kind_of(context.module)
        return next_fun(*args, **kwargs)

    def captured(variables, x):
        with nn.intercept_methods(record_kinds):
            _, state = module.apply(variables, x, capture_intermediates=True, mutable=["intermediates"])
        return _named_outputs(state["intermediates"])

    def apply(variables, x):
        return naming.traced_blobs(captured, variables, x, top=top, kinds=kinds)

    return apply, kinds


def module_param_counts(variables) -> dict[str, int]:
    """{module path: parameters in its subtree of the "params" collection}, for every submodule."""
    leaves = jax.tree_util.tree_flatten_with_path(variables.get("params", {}))[0]
    return naming.param_counts([(tuple(naming.key_part(k) for k in path), leaf) for path, leaf in leaves])
