"""Every blob of an Equinox model, without changing its code.

``equinox_blobs(model, state, layout)`` returns ``naming.AdapterBlobs``:
``apply(params, x) -> {blob: array}`` in forward order, x
[B, H, W, 3] and the blobs [B, H, W, C] maps and [B, C] vectors as
everywhere in jaxvis, by the adapters' one naming rule
(``jaxvis/models/frameworks/naming.py``):

- every submodule's ``__call__`` output, named by its attribute path joined
  with ``/``: a field ``stem: eqx.nn.Conv2d`` gives ``stem``; the first
  entry of a field ``layers: list`` gives ``layers/0`` and its field
  ``conv1`` ``layers/0/conv1``; ``eqx.nn.Sequential``'s layers
  ``features/layers/0``, ...; a second call ``path/call_1``; an output
  ``(y, state)`` of a stateful layer is y, other tuple outputs give
  ``path/0``, ``path/1``;
- every ReLU function's output (``jax.nn.relu``, ``jnp.maximum(x, 0)``,
  inside ``eqx.nn.Lambda`` too) as ``<scope>/relu``, ``<scope>/relu_1``,
  ...: in call order within the submodule whose ``__call__`` calls it (the
  ``jax.named_scope`` s Equinox's own layers open do not enter the names);
- the model's own output as ``output`` when it is none of these.

Functions (``jnp.mean``) give no blob of their own, nor do methods other
than ``__call__``.

**Batch and layout** (``layout``, how the model takes one input):

- ``"CHW"`` (the default: ``eqx.nn.Conv2d``'s convention): the model takes
  one example [3, H, W]. jaxvis vmaps it over the batch, gives each example
  as x[b] transposed to [3, H, W], and transposes every [C, H, W] output
  back to [H, W, C]; [C] vectors stay as they are.
- ``"HWC"``: one example [H, W, 3], channels last; vmapped, nothing
  transposed.
- ``"NCHW"`` / ``"NHWC"``: the model takes the whole batch itself (it
  vmaps inside, or is written for batches); it is called once, on x
  transposed to [B, 3, H, W] (its [B, C, H, W] outputs transposed back) or
  on x as it is.

Other shapes are no blobs (a [C, H, W] output is taken for a map in the
channel-first layouts).

**State and inference mode.** A model with stateful layers (BatchNorm) comes
with the ``eqx.nn.State`` that ``eqx.nn.make_with_state`` returned, and is
called ``model(x, state)``, its output the first element of the ``(y,
state)`` it returns; without a state it is called ``model(x)``. jaxvis
applies ``eqx.nn.inference_mode`` (BatchNorm on its running statistics,
Dropout off), to its own copy: the model given is left as it is. A forward
pass that still changes the state is a ModelDefinitionError: jaxvis's
programs have no Python state, and the state returned is dropped.

**Params.** The arrays of ``eqx.partition(model, eqx.is_array)`` and of the
state, as nested dicts by attribute path: ``{"params": {"stem": {"weight":
..., "bias": ...}, "layers": {"0": {...}}, ...}, "state": {"bn":
{"batch_counter": ..., "batch_state_index": {"0": mean, "1": var}}, ...}}``
(a state entry under the path of its ``eqx.nn.StateIndex``). That is what a
jaxvis model directory stores and reads back.

How: ``apply`` rebuilds the model from the params (``eqx.combine``: a
fresh copy for that pass), ``naming.recorded_calls`` records that copy's
submodule calls and ``naming.traced_blobs`` adds the ReLUs; with a
per-example layout that happens on one example, vmapped over the batch.
"""

from __future__ import annotations

import equinox as eqx
import jax

from jaxvis.errors import ModelDefinitionError, WeightsFileError
from jaxvis.models.frameworks import naming

LAYOUTS = ("CHW", "HWC", "NCHW", "NHWC")


def submodules(tree, path=()) -> list:
    """[(path, module)] of every ``eqx.Module`` inside ``tree`` (itself too, path empty when it is one)."""
    found = [(path, tree)] if isinstance(tree, eqx.Module) else []
    is_module = lambda node: node is not tree and isinstance(node, eqx.Module)  # noqa: E731
    for keys, node in jax.tree_util.tree_flatten_with_path(tree, is_leaf=is_module)[0]:
        if is_module(node):
            found += submodules(node, (*path, *(naming.key_part(k) for k in keys)))
    return found


def state_indices(model) -> list:
    """[(path, eqx.nn.StateIndex)] of the model's stateful layers' state entries."""
    is_index = lambda node: isinstance(node, eqx.nn.StateIndex)  # noqa: E731
    return [("/".join(naming.key_part(k) for k in keys), node)
            for keys, node in jax.tree_util.tree_flatten_with_path(model, is_leaf=is_index)[0] if is_index(node)]


def _state_names(model, state) -> list:
    """Per leaf of ``state`` (in flatten order): its name, the path of its
    StateIndex in the model and the leaf's place in that entry
    (``stem_bn/batch_state_index/0``: a BatchNorm's running mean); the
    state's own flatten paths when the two do not line up."""
    named = [((*path.split("/"), *(naming.key_part(k) for k in keys)), leaf)
             for path, index in state_indices(model)
             for keys, leaf in jax.tree_util.tree_flatten_with_path(state.get(index))[0]]
    flat = jax.tree_util.tree_flatten_with_path(state)[0]
    if len(named) == len(flat) and all(a is b for (_, a), (_, b) in zip(named, flat)):
        return [name for name, _ in named]
    return [tuple(naming.key_part(k) for k in keys) for keys, _ in flat]


def _without_state(value):
    """A call's output less the ``eqx.nn.State`` it returns beside it."""
    if isinstance(value, (tuple, list)) and any(isinstance(v, eqx.nn.State) for v in value):
        rest = [v for v in value if not isinstance(v, eqx.nn.State)]
        return rest[0] if len(rest) == 1 else tuple(rest)
    return value


def _check_unchanged(given: list, returned) -> None:
    """ModelDefinitionError unless the state the model returns holds the arrays it was given (``given``)."""
    new = next((v for v in (returned if isinstance(returned, (tuple, list)) else ())
                if isinstance(v, eqx.nn.State)), None)
    leaves = [] if new is None else jax.tree.leaves(new)
    if new is not None and (len(leaves) != len(given) or any(a is not b for a, b in zip(given, leaves))):
        raise ModelDefinitionError(
            "the model changes its state in the forward pass; jaxvis runs it under eqx.nn.inference_mode and "
            "needs a forward pass that keeps the state as it is (a stateful layer of your own in training mode?)")


def _to_channels_last(value, batched: bool):
    """A channel-first output -> channels last: [C, H, W] -> [H, W, C] (batched: [B, C, H, W] -> [B, H, W, C])."""
    if value.ndim == 3 + batched:
        return value.transpose((0, 2, 3, 1) if batched else (1, 2, 0))
    return value


def equinox_blobs(model: eqx.Module, state=None, layout: str = "CHW"):
    """-> naming.AdapterBlobs: apply(params, x) -> {blob: array}, params, kinds, blob_params."""
    model = eqx.nn.inference_mode(model)
    abstract = naming.abstract_leaf([(tuple(naming.key_part(k) for k in keys), leaf) for keys, leaf
                                     in jax.tree_util.tree_flatten_with_path({"params": model, "state": state})[0]])
    if abstract is not None:
        raise WeightsFileError(f"{type(model).__name__}: {abstract!r} is a shape with no values (a model from "
                               "eqx.filter_eval_shape?); give the model (and state) arrays first")
    arrays, static = eqx.partition(model, eqx.is_array)
    tree = {"params": arrays, "state": state}
    flat, treedef = jax.tree_util.tree_flatten_with_path(tree)
    names = [tuple(naming.key_part(k) for k in keys) for keys, _ in flat]
    if state is not None:  # the state's leaves come last: named by the layers they belong to
        count = len(jax.tree.leaves(state))
        names[len(names) - count:] = [("state", *name) for name in _state_names(model, state)]
    params = naming.nested([(name, leaf) for name, (_, leaf) in zip(names, flat)])
    kinds = {"/".join(path): naming.kind_of(m) for path, m in submodules(model) if path and callable(m)}
    blob_params = naming.param_counts([(name[1:], leaf) for name, (_, leaf) in zip(names, flat)
                                       if name[0] == "params"])
    per_example, channels_first = layout in ("CHW", "HWC"), layout in ("CHW", "NCHW")

    def captured(params, x):
        rebuilt = jax.tree_util.tree_unflatten(treedef, [naming.lookup(params, name) for name in names])
        fresh, state_ = eqx.combine(rebuilt["params"], static), rebuilt["state"]
        x = x.transpose((2, 0, 1) if per_example else (0, 3, 1, 2)) if channels_first else x
        given = jax.tree.leaves(state_)  # (read first: eqx.nn.State.set retires the state it updates)
        with naming.recorded_calls(submodules(fresh), x, _without_state) as outputs:
            returned = fresh(x) if state_ is None else fresh(x, state_)
        _check_unchanged(given, returned)
        return dict(outputs)

    def apply(params, x):
        if not per_example:
            blobs = naming.traced_blobs(captured, params, x, kinds=kinds, recorded=True)
            return {k: _to_channels_last(v, True) if channels_first else v for k, v in blobs.items()}
        order = []  # the forward order, read while vmap traces (it returns a dict by sorted keys)

        def one(params, example):
            blobs = naming.traced_blobs(captured, params, example, kinds=kinds, per_example=True,
                                        recorded=True)
            order.extend(blobs)
            return blobs

        blobs = jax.vmap(one, in_axes=(None, 0))(params, x)
        return {k: _to_channels_last(blobs[k], True) if channels_first else blobs[k] for k in order}

    return naming.AdapterBlobs(apply, params, kinds, blob_params)
