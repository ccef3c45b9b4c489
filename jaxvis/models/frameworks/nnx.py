"""Every blob of a Flax NNX module, without changing its code.

``nnx_blobs(module)`` returns ``naming.AdapterBlobs``: ``apply(params, x)
-> {blob: array}`` in forward order, by the adapters'
one naming rule (``jaxvis/models/frameworks/naming.py``), for x
[B, H, W, 3] as the module takes it (NNX layers are channels-last and
batched, as jaxvis is):

- every submodule's ``__call__`` output, named by its attribute path joined
  with ``/``: ``self.stem = nnx.Conv(...)`` gives ``stem``; the first block
  of ``self.layers = nnx.List([...])`` gives ``layers/0`` and its conv
  ``layers/0/conv1``; a second call ``path/call_1``, a tuple or dict output
  ``path/0``, ``path/key``;
- every ReLU function's output (``nnx.relu``, ``jax.nn.relu``,
  ``jnp.maximum(x, 0)``) as ``<scope>/relu``, ``<scope>/relu_1``, ...:
  numbered in call order within the submodule whose ``__call__`` calls it;
- the module's own output as ``output`` when it is none of these.

Functions (``nnx.max_pool``, ``jnp.mean``) give no blob of their own, nor
do methods other than ``__call__``. A module reached by two paths (shared)
is named by the first one ``nnx.iter_graph`` finds.

**Eval mode.** The blobs are those of the module in evaluation mode, always:
jaxvis works on a copy of the module with ``.eval()`` applied
(``use_running_average=True``, ``deterministic=True`` wherever a submodule
has them: BatchNorm on its running statistics, Dropout off), so a module
still in training mode after its training loop works as it is, and the
module given is left unchanged. A forward pass that still writes one of
its variables (a layer of your own that keeps statistics in training mode)
is a ModelDefinitionError naming the variable: jaxvis's programs have no
Python state.

**Params.** The state of ``nnx.split`` (of the eval copy), as nested dicts
of arrays by variable path, one dict per variable type: ``{"params":
{"stem": {"kernel": ..., "bias": ...}, ...}, "batch_stats": {"bn": {"mean":
..., "var": ...}}}`` (Flax's collection names; a type Flax has no name for
goes by its class name). That is what a jaxvis model directory stores and
reads back. RNG streams (``nnx.Rngs`` held by Dropout and others) are not
weights: they stay as the module had them, constants of the program.

How: ``apply`` rebuilds the state from the params, ``nnx.merge`` makes a
fresh module of it for that pass (the program stays one pure function: it
jit-compiles, vmaps and differentiates), ``naming.recorded_calls`` records
that module's submodule calls, and ``naming.traced_blobs`` adds the ReLUs.
"""

from __future__ import annotations

import jax
from flax import nnx

from jaxvis.errors import ModelDefinitionError, WeightsFileError
from jaxvis.models.frameworks import naming


def _collection(variable) -> str:
    """The params key of a variable's type: Flax's collection name ("params", "batch_stats"), else its class name."""
    if isinstance(variable, nnx.Param):
        return "params"
    try:
        return nnx.variable_name_from_type(type(variable))
    except (AttributeError, ValueError):  # older Flax, or a type registered under no name
        return type(variable).__name__


def _leaf_names(state) -> list:
    """Per leaf of ``state`` (in flatten order): (collection, *variable path) or None for an RNG stream's leaf."""
    names = []
    is_variable = lambda v: isinstance(v, nnx.Variable)  # noqa: E731
    for path, variable in jax.tree_util.tree_flatten_with_path(state, is_leaf=is_variable)[0]:
        parts = tuple(naming.key_part(k) for k in path)
        for inner, _ in jax.tree_util.tree_flatten_with_path(variable)[0]:
            rest = tuple(naming.key_part(k) for k in inner)
            rest = rest[:-1] if rest[-1:] == ("value",) else rest
            keep = is_variable(variable) and not isinstance(variable, nnx.RngState)
            names.append((_collection(variable), *parts, *rest) if keep else None)
    return names


def _modules(module) -> list:
    """[(path, submodule)] of every module in the graph, the root's path empty."""
    return [(path, node) for path, node in nnx.iter_graph(module) if isinstance(node, nnx.Module)]


def _check_unchanged(given_leaves, module) -> None:
    """ModelDefinitionError when the forward pass wrote one of the module's variables."""
    after = jax.tree_util.tree_flatten_with_path(nnx.state(module))[0]
    for (path, leaf), given in zip(after, given_leaves):
        if leaf is not given:
            where = "/".join(naming.key_part(k) for k in path if naming.key_part(k) != "value")
            raise ModelDefinitionError(
                f"the module writes its variable {where!r} in the forward pass; jaxvis runs it in eval mode "
                "(.eval(): use_running_average=True, deterministic=True) and needs a forward pass that changes no "
                "variable (a layer of your own in training mode?)")


def nnx_blobs(module: nnx.Module):
    """-> naming.AdapterBlobs: apply(params, x) -> {blob: array}, params, kinds, blob_params."""
    graphdef, state = nnx.split(module)
    evaluated = nnx.merge(graphdef, state)  # a copy (its own module objects), put in eval mode
    evaluated.eval()
    graphdef, state = nnx.split(evaluated)
    leaves, treedef = jax.tree_util.tree_flatten(state)
    names = _leaf_names(state)
    if len(names) != len(leaves) or len(set(n for n in names if n)) != sum(1 for n in names if n):
        raise ModelDefinitionError(f"{type(module).__name__}: its variables could not be named one by one")
    abstract = naming.abstract_leaf([(name, leaf) for name, leaf in zip(names, leaves) if name])
    if abstract is not None:
        raise WeightsFileError(f"{type(module).__name__}: the variable {abstract!r} is a shape with no values (a "
                               "module from nnx.eval_shape?); give the module its weights first (nnx.merge or "
                               "nnx.update with arrays)")
    params = naming.nested([(name, leaf) for name, leaf in zip(names, leaves) if name])
    constants = [None if name else leaf for name, leaf in zip(names, leaves)]
    kinds = {"/".join(str(p) for p in path): naming.kind_of(m) for path, m in _modules(evaluated)
             if path and callable(m)}
    blob_params = naming.param_counts([(name[1:], leaf) for name, leaf in zip(names, leaves)
                                       if name and name[0] == "params"])

    def captured(params, x):
        given = [constant if name is None else naming.lookup(params, name)
                 for name, constant in zip(names, constants)]
        fresh = nnx.merge(graphdef, jax.tree_util.tree_unflatten(treedef, given))
        with naming.recorded_calls(_modules(fresh), x) as outputs:
            fresh(x)
        _check_unchanged(given, fresh)
        return dict(outputs)

    def apply(params, x):
        return naming.traced_blobs(captured, params, x, kinds=kinds, recorded=True)

    return naming.AdapterBlobs(apply, params, kinds, blob_params)
