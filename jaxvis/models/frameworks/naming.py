"""The one blob-naming rule of every framework adapter (Flax linen, Flax
NNX, Keras, Equinox), and the traced program that computes the blobs.

An adapter gives ``captured(params, x) -> {name: array}``: the outputs of
the framework's submodules (layers), each named by ``call_name``, with
every submodule call inside ``jax.named_scope(<its path>)`` (Flax linen's
own scopes do this already; ``recorded_calls`` below does it for the
others). ``traced_blobs`` then adds the output of every ReLU *function*
the network calls (``jax.nn.relu``, ``nn.relu``, ``jnp.maximum(x, 0)``,
the ReLU inside ``jax.nn.relu6``, a Keras layer's fused
``activation="relu"``), named ``<scope>/relu``, ``<scope>/relu_1``, ... in
call order within the submodule whose code calls it (top level: ``relu``,
``relu_1``, ...), and returns all of them in forward order: the order in
which the traced program computes them (a ReLU before the submodule that
returns it, an inner submodule before the outer one returning the same
array). The network's own output is ``output`` when it is not already one
of these.

Only [B, H, W, C] maps and [B, C] vectors are blobs; other arrays are left
out, and so is what the network computes under a JAX transformation of
its own (a ``jax.vmap``, ``scan`` or ``checkpoint`` inside it: arrays of
another shape or of another trace). The equations are bound as they are
(values and gradients are the network's own); the ReLU equations are
recognised as ``jaxvis.ops.substitute`` recognises them.

Frameworks without an interceptor of their own (Flax NNX, Equinox) record
their submodules' outputs with ``recorded_calls``: during one traced
forward pass, the modules of that pass's own copy of the network record
their ``__call__`` outputs and run inside ``jax.named_scope`` of their
path. Their params are nested dicts of arrays (``nested``, ``lookup``),
which a jaxvis model directory stores and reads back as they are.
"""

from __future__ import annotations

import collections
import contextlib
import contextvars
import dataclasses
import functools
from typing import Callable

import jax
import numpy as np
from jax.extend import core as jex_core

from jaxvis.ops import substitute


@dataclasses.dataclass(frozen=True)
class AdapterBlobs:
    """What an adapter gives for a network: ``apply(params, x) -> {blob: array}``,
    its params, each blob's kind (the ReLU blobs' fill in when ``apply`` is first
    traced) and each module's parameter count."""

    apply: Callable
    params: dict
    kinds: dict
    blob_params: dict


# Layer classes of every framework -> the kind ``jaxvis inspect`` shows; others: the class name, lower case.
_KINDS = {"Conv": "conv", "ConvLocal": "conv", "Conv2d": "conv", "Conv2D": "conv", "DepthwiseConv2D": "conv",
          "SeparableConv2D": "conv", "Dense": "fc", "DenseGeneral": "fc", "Linear": "fc", "BatchNorm": "norm",
          "BatchNormalization": "norm", "LayerNorm": "norm", "LayerNormalization": "norm", "GroupNorm": "norm",
          "GroupNormalization": "norm", "RMSNorm": "norm", "DepthwiseConv": "conv", "MaxPooling2D": "pool",
          "GlobalMaxPooling2D": "pool", "AveragePooling2D": "avgpool", "GlobalAveragePooling2D": "avgpool"}


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
    return [(call_name(path, call, [key_part(k) for k in keys]), leaf) for keys, leaf in leaves]


# The scopes ``recorded_calls`` opens: a call's whole path, its first part marked as a start, the rest as parts.
_START, _PART = "jaxvis=", "jaxvis:"


def _scope(eqn, top: str | None, marked: bool) -> str | None:
    """The module path a ReLU equation is named under; None under a
    transformation inside the network (``vmap(block)/relu``: no blob of its
    layout). ``marked``: only the scopes of ``recorded_calls`` count, from
    the last call's start (a framework's own scopes, ``eqx.nn.Sequential``,
    are dropped)."""
    parts = [p for p in str(eqn.source_info.name_stack).split("/") if p]
    if any("(" in p for p in parts):
        return None
    if marked:
        starts = [i for i, p in enumerate(parts) if p.startswith(_START)]
        parts = [p[len(_START):] for p in parts[starts[-1]:] if p.startswith((_START, _PART))] if starts else []
    elif top is not None and parts and parts[0] == top:
        parts = parts[1:]
    return "/".join(parts)


def _blob_order(jaxpr, names, top, marked, returned=None):
    """-> [(name, atom)] of the captured leaves (jaxpr's outputs, named
    ``names``) and the ReLU outputs, in forward order. Leaves that are one
    array (a block returning its last layer's output, an identity layer)
    go inner module first, or, given ``returned`` ({name: position}: the
    order in which recorded calls returned), in that order: the calls'
    own."""
    produced = {v: index for index, eqn in enumerate(jaxpr.eqns) for v in eqn.outvars}
    counts = collections.Counter()
    entries = []
    for index in substitute.relu_equations(jaxpr):
        eqn = jaxpr.eqns[index]
        scope = _scope(eqn, top, marked)
        if scope is None:
            continue
        n = counts[scope]
        counts[scope] += 1
        entries.append(((index, 0, 0), "/".join(filter(None, [scope, "relu" if n == 0 else f"relu_{n}"])),
                        eqn.outvars[0]))
    for name, var in zip(names, jaxpr.outvars):
        index = -1 if isinstance(var, jex_core.Literal) else produced.get(var, -1)
        entries.append(((index, 1, -name.count("/") if returned is None else returned[name]), name, var))
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


def traced_blobs(captured, params, x, *, top: str | None = None, kinds: dict | None = None,
                 per_example: bool = False, recorded: bool = False) -> dict:
    """{blob: array} in forward order (module doc) of ``captured(params, x) ->
    {name: array}``; ``top``: a name-stack prefix to drop (Flax linen's top
    module); ``kinds``: filled with "relu" for the ReLU blobs (and "output"
    for names it lacks); ``per_example``: x is one example, not a batch, so
    the blobs are [H, W, C] maps (or [C, H, W]), [N, D] tokens and [C] vectors, for an
    adapter that vmaps the result over the batch (Equinox); ``recorded``:
    ``captured`` records its calls with ``recorded_calls``, whose scopes
    alone name the ReLUs, and returns them in the order they returned (that
    order ranks the outputs that are one array)."""
    returned: list = []  # recorded: the names in the order the calls returned (make_jaxpr sorts a dict's keys)

    def in_call_order(params, x):
        outputs = captured(params, x)
        returned[:] = list(outputs)
        return outputs

    closed, shapes = jax.make_jaxpr(in_call_order, return_shape=True)(params, x)
    flat_names = [name for name, _ in sorted(shapes.items())]  # make_jaxpr flattens a dict by sorted keys
    order = _blob_order(closed.jaxpr, flat_names, top, recorded,
                        {name: i for i, name in enumerate(returned)} if recorded else None)
    if kinds is not None:
        for name, _ in order:
            kinds.setdefault(name, "relu" if name not in shapes else "output")
    # The same program with the blobs as its outputs, evaluated as it is.
    program = jex_core.ClosedJaxpr(closed.jaxpr.replace(outvars=[var for _, var in order]), closed.consts)
    values = jex_core.jaxpr_as_fun(program)(*jax.tree.leaves((params, x)))
    if per_example:  # vectors [C], tokens [N, D], maps [H, W, C]
        return {name: value for (name, _), value in zip(order, values) if np.ndim(value) in (1, 2, 3)}
    return {name: value for (name, _), value in zip(order, values)
            if np.ndim(value) in (2, 3, 4) and np.shape(value)[0] == x.shape[0]}


# --- Recorded calls: the submodule outputs of a framework with no interceptor of its own (NNX, Equinox) ---------

_CALLS = contextvars.ContextVar("jaxvis_recorded_calls", default=None)
_RECORDED: dict[type, type] = {}  # a module class -> its recording subclass (made once per class)


@dataclasses.dataclass
class _Calls:
    """The calls of one traced forward pass: which objects are recorded (by id)
    under which path, the outputs so far, the calls so far per path."""

    paths: dict
    output_of: Callable
    outer: object  # a value of the traced program itself (its input)
    outputs: dict = dataclasses.field(default_factory=dict)
    counts: collections.Counter = dataclasses.field(default_factory=collections.Counter)


def _recording(call):
    """``call`` (a class's ``__call__``) that, for an object being recorded,
    runs inside ``jax.named_scope`` of its path (marked, so that
    ``traced_blobs`` tells it from scopes of the framework's own, and whole,
    so that a module called from any other's code is named by its own path)
    and records its output."""

    @functools.wraps(call)
    def __call__(self, *args, **kwargs):
        calls = _CALLS.get()
        path = None if calls is None else calls.paths.get(id(self))
        if path is None:
            return call(self, *args, **kwargs)
        n = calls.counts[path]
        calls.counts[path] += 1
        scope = "/".join(mark + str(p) for mark, p in zip([_START] + [_PART] * len(path), path))
        with jax.named_scope(scope) if path else contextlib.nullcontext():
            value = call(self, *args, **kwargs)
        calls.outputs.update((name, array) for name, array in output_names(path, n, calls.output_of(value))
                             if not _inner(array, calls.outer))
        return value

    return __call__


def _inner(value, outer) -> bool:
    """Whether ``value`` is a tracer of another trace than ``outer``'s: made
    under a transformation inside the network (``jax.vmap``, ``jax.checkpoint``),
    it is not a value of the traced program. (A tracer's ``_trace``: where a
    JAX version has none, nothing is left out.)"""
    return isinstance(value, jax.core.Tracer) and getattr(value, "_trace", None) is not getattr(outer, "_trace", None)


def _recording_class(cls: type) -> type:
    """A subclass of ``cls`` whose ``__call__`` records (same name, same layout: no new slots)."""
    if cls not in _RECORDED:
        namespace = {"__call__": _recording(cls.__call__), "__slots__": (), "__module__": cls.__module__,
                     "__qualname__": cls.__qualname__}
        _RECORDED[cls] = type(cls)(cls.__name__, (cls,), namespace)
    return _RECORDED[cls]


@contextlib.contextmanager
def recorded_calls(modules, x, output_of=lambda value: value):
    """Records the ``__call__`` outputs of ``modules`` ([(path, module object)],
    the root's path empty) while inside: yields {blob name: array}, filled as
    the calls return, named by ``output_names`` (the root: ``output``), each
    call inside ``jax.named_scope`` of its path (the module doc's rule; give
    ``traced_blobs`` ``recorded=True``).
    ``x``: the traced program's input (calls under a transformation inside
    the network, whose outputs belong to another trace, are not recorded);
    ``output_of``: a call's return value -> what counts as its output (an
    Equinox layer returns ``(y, state)``: y).

    The objects must be this forward pass's own (a copy made for it): while
    inside, each has the class ``_recording_class`` of its class (the
    original class is restored on exit); nothing else changes, and no other
    object, class or thread records anything."""
    modules = [(tuple(path), m) for path, m in modules if callable(m)]
    calls = _Calls({id(m): path for path, m in modules}, output_of, x)
    classes = [(m, type(m)) for _, m in modules]
    token = _CALLS.set(calls)
    try:
        for m, cls in classes:
            object.__setattr__(m, "__class__", _recording_class(cls))
        yield calls.outputs
    finally:
        for m, cls in classes:
            object.__setattr__(m, "__class__", cls)
        _CALLS.reset(token)


# --- Params as nested dicts: what a jaxvis model directory stores and reads back ---------------------------------


def key_part(key) -> str:
    """One entry of a ``jax.tree_util`` key path as a string: a dict key, a
    sequence index, an attribute name."""
    for attr in ("key", "idx", "name"):
        if hasattr(key, attr):
            return str(getattr(key, attr))
    return str(key)


def nested(named_leaves) -> dict:
    """[(name: tuple of str, leaf)] -> {part: {part: ... leaf}}; names must
    be unique and none a prefix of another."""
    out: dict = {}
    for name, leaf in named_leaves:
        node = out
        for part in name[:-1]:
            node = node.setdefault(part, {})
        node[name[-1]] = leaf
    return out


def lookup(tree: dict, name):
    """The leaf of ``nested`` output at ``name``."""
    for part in name:
        tree = tree[part]
    return tree


def abstract_leaf(named_leaves) -> str | None:
    """The name (joined with ``/``) of the first leaf that is a shape with no
    values (``jax.ShapeDtypeStruct``: what ``nnx.eval_shape`` and
    ``eqx.filter_eval_shape`` leave), or None."""
    return next(("/".join(name) for name, leaf in named_leaves if isinstance(leaf, jax.ShapeDtypeStruct)), None)


def param_counts(named_leaves) -> dict[str, int]:
    """{module path: entries of the leaves below it} from [(name, leaf)], each
    name a module path plus the attribute (and any parts below) holding the
    array: ``("block", "conv1", "kernel")`` counts for ``block`` and
    ``block/conv1``."""
    counts: collections.Counter = collections.Counter()
    for name, leaf in named_leaves:
        for end in range(1, len(name)):
            counts["/".join(name[:end])] += int(np.prod(np.shape(leaf)))
    return dict(counts)
