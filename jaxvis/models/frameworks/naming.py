"""The one blob-naming rule of every framework adapter (Flax linen, Flax
NNX, Keras, Equinox), and the traced program that computes the blobs.

An adapter gives ``captured(params, x) -> {name: array}``: the outputs of
the framework's submodules (layers), each named by ``call_name``, with
every submodule call inside ``jax.named_scope(<its path>)`` (Flax linen's
own scopes do this already). ``traced_blobs`` then adds the output of
every ReLU *function* the network calls (``jax.nn.relu``, ``nn.relu``,
``jnp.maximum(x, 0)``, the ReLU inside ``jax.nn.relu6``, a Keras layer's
fused ``activation="relu"``), named ``<scope>/relu``, ``<scope>/relu_1``,
... in call order within the submodule whose code calls it (top level:
``relu``, ``relu_1``, ...), and returns all of them in forward order: the
order in which the traced program computes them (a ReLU before the
submodule that returns it, an inner submodule before the outer one
returning the same array). The network's own output is ``output`` when it
is not already one of these.

Only [B, H, W, C] maps and [B, C] vectors are blobs; other arrays are left
out. The equations are bound as they are (values and gradients are the
network's own); the ReLU equations are recognised as
``jaxvis.ops.substitute`` recognises them.
"""

from __future__ import annotations

import collections

import jax
import numpy as np
from jax.extend import core as jex_core

from jaxvis.ops import substitute


# Layer classes of every framework -> the kind ``jaxvis inspect`` shows; others: the class name, lower case.
_KINDS = {"Conv": "conv", "ConvLocal": "conv", "Conv2d": "conv", "Conv2D": "conv", "DepthwiseConv2D": "conv",
          "SeparableConv2D": "conv", "Dense": "fc", "DenseGeneral": "fc", "Linear": "fc", "BatchNorm": "norm",
          "BatchNormalization": "norm", "LayerNorm": "norm", "LayerNormalization": "norm", "GroupNorm": "norm",
          "GroupNormalization": "norm", "RMSNorm": "norm", "MaxPooling2D": "pool", "GlobalMaxPooling2D": "pool",
          "AveragePooling2D": "avgpool", "GlobalAveragePooling2D": "avgpool"}


def kind_of(layer) -> str:
    """The kind of a framework's layer object, by its class name."""
    cls = type(layer).__name__
    return _KINDS.get(cls, cls.lower())


def call_name(path, call: int = 0, rest=()) -> str:
    """A submodule's blob: its path joined with ``/``; the n-th call (n > 0)
    of a submodule called more than once adds ``call_n``; ``rest`` names an
    array inside a tuple or dict output (``path/0``, ``path/key``). The
    network itself (empty path) is ``output``."""
    parts = [str(p) for p in path] + ([f"call_{call}"] if call else []) + [str(r) for r in rest]
    return "/".join(parts) or "output"


def output_names(path, call: int, value) -> list[tuple[str, object]]:
    """[(blob name, array)] of one call's output: the output itself, or each
    array of a tuple, list or dict output (nested ones joined with ``/``)."""
    leaves = jax.tree_util.tree_flatten_with_path(value)[0]
    if len(leaves) == 1 and not leaves[0][0]:
        return [(call_name(path, call), leaves[0][1])]
    return [(call_name(path, call, [getattr(k, "key", getattr(k, "idx", getattr(k, "name", k))) for k in keys]), leaf)
            for keys, leaf in leaves]


def _scope(eqn, top: str | None) -> str:
    parts = [p for p in str(eqn.source_info.name_stack).split("/") if p]
    if top is not None and parts and parts[0] == top:
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


def traced_blobs(captured, params, x, *, top: str | None = None, kinds: dict | None = None) -> dict:
    """{blob: array} in forward order (module doc) of ``captured(params, x) ->
    {name: array}``; ``top``: a name-stack prefix to drop (Flax linen's top
    module); ``kinds``: filled with "relu" for the ReLU blobs (and "output"
    for names it lacks)."""
    closed, shapes = jax.make_jaxpr(captured, return_shape=True)(params, x)
    flat_names = [name for name, _ in sorted(shapes.items())]  # make_jaxpr flattens a dict by sorted keys
    order = _blob_order(closed.jaxpr, flat_names, top)
    if kinds is not None:
        for name, _ in order:
            kinds.setdefault(name, "relu" if name not in shapes else "output")
    # The same program with the blobs as its outputs, evaluated as it is.
    program = jex_core.ClosedJaxpr(closed.jaxpr.replace(outvars=[var for _, var in order]), closed.consts)
    values = jex_core.jaxpr_as_fun(program)(*jax.tree.leaves((params, x)))
    return {name: value for (name, _), value in zip(order, values)
            if np.ndim(value) in (2, 4) and np.shape(value)[0] == x.shape[0]}
