"""Receptive fields of any JAX function's map blobs, read off its traced program.

``receptive_fields(fn, params, x_shape)`` traces ``fn(params, x)`` with
``jax.make_jaxpr`` (abstractly: nothing is computed, params may be
``jax.ShapeDtypeStruct``) and propagates a geometry through the equations.
The conventions are those of ``jaxvis.models.geometry``: ``size`` input pixels
on a side, ``stride`` input pixels between neighbouring units, ``offset`` the
input coordinate of the centre of unit (0, 0) (negative in the padding), so
unit y sees input rows ``offset + y*stride ± (size-1)/2``.

The state of a variable is either *constant* (it does not depend on x: params,
literals, anything computed from them alone) or *dependent*. A dependent
variable carries, per array dimension, at most one tag "this dimension indexes
input rows" (H) or "... input columns" (W), with a field (size, stride, first
input pixel seen by index 0). An input axis that no dimension carries is
*whole*: an element may depend on every row (column) of the image. x itself
is [B, H, W, C] with H at dimension 1 and W at dimension 2, fields (1, 1, 0).

Rules (any tagged dimension an equation does not keep a field for becomes
whole; an equation whose operands are all constant gives constants):

- ``conv_general_dilated`` (any dimension_numbers, kernel size, window
  strides, explicit padding, rhs_dilation, feature_group_count): a kernel of
  k taps dilated by d spans (k-1)*d+1 input positions; size += (span-1)*stride,
  first -= pad_low*stride, stride *= window stride. lhs_dilation != 1
  (transposed convolution) -> whole along that axis. A kernel that depends on
  x -> whole.
- ``reduce_window_sum``/``_max``/``_min`` and generic ``reduce_window``: the
  same arithmetic per dimension (window, window dilation, stride, low
  padding); base dilation != 1 -> whole.
- elementwise primitives of any arity (``add``, ``mul``, ``max``,
  ``select_n``, ``integer_pow``, ``exp``, comparisons, ``convert_element_type``,
  ``clamp``, ...; scalar operands allowed) and ``concatenate`` along an
  untagged dimension: the union of the operands' fields. Constants are
  neutral. The union of fields with equal strides is the smallest window
  covering both (every field's first pixel is an integer, so they always share
  the pixel grid); different strides, an axis at different dimensions, or an
  operand whole along the axis -> whole.
- layout: ``transpose`` permutes tags; ``squeeze``, ``broadcast_in_dim`` and
  ``reshape`` keep a tagged dimension they keep intact (same size, same
  row-major position); broadcasting a size-1 tagged dimension, merging it
  with another or splitting it -> whole.
- ``pad`` (interior 0): first -= low*stride (negative pads crop); interior
  padding -> whole. ``slice``: first += start*stride, stride *= slice stride.
  ``split``: a slice per output. ``dynamic_slice`` with literal start indices
  (clamped as XLA does), or taking the whole dimension: a slice; otherwise
  whole. ``rev`` of a tagged dimension -> whole.
- ``dot_general``: free and batch dimensions keep their tags (in the output's
  order: batch, lhs free, rhs free); a contracted tagged dimension -> whole,
  except when the other operand is a concrete constant matrix (a constant of
  the traced program, e.g. ``jaxvis.ops.adaptive_avg_pool``'s bin matrices)
  whose rows have supports [s0 + i*S, s0 + i*S + K) for every output i (nonzero
  entries' hull): a window of K taps with stride S and low padding -s0.
  PyTorch's adaptive average pooling bins are such rows when they are
  uniform (n -> out with n % out == 0, 7 -> 6, 13 -> 6, ...); non-uniform
  bins (8 -> 6 start at 0, 1, 2, 4, 5, 6) -> whole.
- reductions (``reduce_sum``, ``reduce_max``, ``argmax``, ... over axes) and
  cumulative ops (``cumsum``, ...) over a tagged dimension -> whole; over
  other dimensions the tags stay. ``sort``/``top_k`` likewise.
- calls are propagated into: ``jit``/``pjit``, ``closed_call``, ``core_call``,
  ``remat``/``checkpoint``, ``custom_jvp_call``, ``custom_vjp_call`` (their
  primal program), and ``cond`` (the union over branches; a predicate that
  depends on x -> whole).
- any other primitive with a dependent operand (``gather``, ``scatter``,
  ``while``, ``scan``, ...) -> whole.

Exactness: the window is the hull of the input pixels that can reach the
unit (through any path, whatever the weights) for units whose cone stays
inside every map: tests/models/test_traced_geometry.py measures it, and the
zoo's tables (geometry.py) agree blob for blob. Units near a border may see
only part of their window, the rest lying in padding or behind positions
that a map does not have (as with geometry.py's fields). Inside a window there
can be pixels that reach the unit through no path: dilated kernels, strides
larger than the field below them and unions of windows (residual sums,
concatenations, the views of a max pool) leave such holes; the window is then
the smallest one covering every pixel that does reach the unit. None is
conservative: the unit may see the whole image, or its field along an axis
was not worked out (any primitive without a rule above).
"""

from __future__ import annotations

from typing import Callable, Mapping

import jax
import jax.numpy as jnp
import numpy as np
from jax.extend import core as jex_core

from jaxvis.errors import ConfigError

__all__ = ["receptive_fields"]

# Field along one input axis: (axis, size, stride, first) with axis 0 = rows
# (H), 1 = columns (W); ``first`` is the first input pixel index 0 sees.
# A dependent variable's state: a tuple with one entry per array dimension,
# a field or None. A constant's state: a _Const.


class _Const:
    """A variable that does not depend on x; ``value``: its concrete value when
    known (a literal or a constant of the traced program), else None."""

    __slots__ = ("value",)

    def __init__(self, value=None):
        self.value = value


_UNKNOWN_CONST = _Const()

_CALLS = frozenset({"jit", "pjit", "closed_call", "core_call", "remat", "remat2", "checkpoint"})
_CUSTOM = frozenset({"custom_jvp_call", "custom_vjp_call", "custom_vjp_call_jaxpr"})

# Primitives whose output element i depends on the operands' elements i only
# (operands of the output's shape, or scalars).
_ELEMENTWISE = frozenset("""
    abs acos acosh add add_any and asin asinh atan atan2 atanh bessel_i0e bessel_i1e bitcast_convert_type cbrt
    ceil clamp clz complex conj convert_element_type copy copy_p cos cosh digamma div eq erf erf_inv erfc exp exp2
    expm1 floor ge gt igamma igamma_grad_a igammac imag integer_pow is_finite le lgamma log log1p logistic lt max
    min mul ne neg nextafter not or polygamma population_count pow real reduce_precision regularized_incomplete_beta
    rem round rsqrt select_n shift_left shift_right_arithmetic shift_right_logical sign sin sinh sqrt square sub
    tan tanh xor zeta sharding_constraint mesh_cast reshard
""".split())
_REDUCE_AXES = frozenset({"reduce_sum", "reduce_max", "reduce_min", "reduce_prod", "reduce_and", "reduce_or",
                          "reduce_xor", "argmax", "argmin"})
_CUMULATIVE = frozenset({"cumsum", "cumprod", "cummax", "cummin", "cumlogsumexp"})
_REDUCE_WINDOW = frozenset({"reduce_window_sum", "reduce_window_max", "reduce_window_min", "reduce_window"})
# A constant matrix read for its nonzero pattern (dot_general) is at most this big.
_MAX_CONST_MATRIX = 1 << 22


def receptive_fields(fn: Callable, params, x_shape: tuple[int, int, int, int], *, dtype=jnp.float32,
                     per_axis: bool = False) -> dict[str, tuple | None]:
    """{blob: (rf_size, rf_stride, rf_offset) or None} for ``fn(params, x) ->
    {blob: array}`` on x of ``x_shape`` = (B, H, W, C) (NHWC).

    A map blob [B, h, w, c] whose dimensions 1 and 2 index input rows and
    columns with the same field along both gets that field (module doc);
    vector blobs, blobs whose field is whole or not worked out along an axis,
    blobs whose rows and columns differ, and blobs independent of x get None.
    ``per_axis=True``: (row field, column field) per blob instead, each
    (size, stride, offset), None where either is unknown.

    Nothing is computed: ``fn`` is traced once with abstract inputs
    (``params`` may be arrays or ``jax.ShapeDtypeStruct``; they are not
    copied)."""
    if len(tuple(x_shape)) != 4 or not all(isinstance(n, (int, np.integer)) and n > 0 for n in x_shape):
        raise ConfigError(f"x_shape must be (B, H, W, C) of positive ints, got {x_shape!r}")
    x = jax.ShapeDtypeStruct(tuple(int(n) for n in x_shape), dtype)
    closed, out_shapes = jax.make_jaxpr(fn, return_shape=True)(params, x)
    jaxpr = closed.jaxpr
    n_params = len(jax.tree.leaves(params))
    if len(jaxpr.invars) != n_params + 1:
        raise ConfigError(f"receptive_fields: expected {n_params} parameter leaves and x as the traced inputs, "
                          f"got {len(jaxpr.invars)} inputs")
    x_state = (None, (0, 1, 1, 0), (1, 1, 1, 0), None)
    in_states = [_UNKNOWN_CONST] * n_params + [x_state]
    out_states = _propagate(jaxpr, [_Const(c) for c in closed.consts], in_states)

    if not isinstance(out_shapes, Mapping):
        raise ConfigError(f"receptive_fields: fn must return a dict {{blob name: array}}, "
                          f"got {type(out_shapes).__name__}")
    leaves_with_paths = jax.tree_util.tree_flatten_with_path(out_shapes)[0]
    if len(leaves_with_paths) != len(out_shapes):
        raise ConfigError("receptive_fields: every value of fn's output dict must be one array")
    result = {}
    for (path, leaf), state in zip(leaves_with_paths, out_states):
        result[path[0].key] = _blob_field(state, len(leaf.shape), per_axis)
    return result


def _blob_field(state, ndim: int, per_axis: bool):
    if isinstance(state, _Const) or ndim != 4:
        return None
    h, w = state[1], state[2]
    if h is None or w is None or h[0] != 0 or w[0] != 1:
        return None
    fields = tuple((size, stride, first + (size - 1) / 2) for _, size, stride, first in (h, w))
    if per_axis:
        return fields
    return fields[0] if fields[0] == fields[1] else None


# ---------------------------------------------------------------- the interpreter


def _propagate(jaxpr, const_states, in_states) -> list:
    """The states of jaxpr's outvars, given those of its constvars and invars."""
    env = {}

    def read(atom):
        if isinstance(atom, jex_core.Literal):
            return _Const(atom.val)
        return env[atom]

    const_states = list(const_states) + [_UNKNOWN_CONST] * (len(jaxpr.constvars) - len(const_states))
    env.update(zip(jaxpr.constvars, const_states))
    env.update(zip(jaxpr.invars, in_states))
    for eqn in jaxpr.eqns:
        states = [read(v) for v in eqn.invars]
        if not any(_is_dep(s) for s in states):  # x cannot enter but through the operands
            outs = [_UNKNOWN_CONST] * len(eqn.outvars)
        else:
            outs = _rule(eqn, states)
        for var, state in zip(eqn.outvars, outs):
            if not isinstance(var, jex_core.DropVar):
                env[var] = state
    return [read(v) for v in jaxpr.outvars]


def _shape(atom) -> tuple[int, ...]:
    return tuple(atom.aval.shape)


def _whole(ndim: int) -> tuple:
    return (None,) * ndim


def _is_dep(state) -> bool:
    return not isinstance(state, _Const)


def _union(a, b):
    """Two fields of one axis with equal strides -> the smallest window covering both."""
    first = min(a[3], b[3])
    last = max(a[3] + a[1] - 1, b[3] + b[1] - 1)
    return (a[0], last - first + 1, a[2], first)


def _combine(contributions, ndim: int):
    """The state of an output from its operands' states already mapped to the
    output's dimensions (one tuple of ndim entries, or a _Const, per operand)."""
    deps = [c for c in contributions if _is_dep(c)]
    if not deps:
        return _UNKNOWN_CONST
    if len(deps) == 1:
        return deps[0]
    out = [None] * ndim
    for axis in (0, 1):
        found = None
        for c in deps:
            here = next(((d, t) for d, t in enumerate(c) if t is not None and t[0] == axis), None)
            if here is None or (found is not None and (found[0] != here[0] or found[1][2] != here[1][2])):
                found = None
                break
            found = here if found is None else (here[0], _union(found[1], here[1]))
        if found is not None:
            out[found[0]] = found[1]
    return tuple(out)


def _window(tag, k: int, dilation: int, stride: int, pad_low: int):
    """A field seen through a window of k taps (dilated), strided, padded low."""
    _, size, jump, first = tag
    span = (k - 1) * dilation + 1
    return (tag[0], size + (span - 1) * jump, jump * stride, first - pad_low * jump)


def _slice_tag(tag, start: int, stride: int):
    return (tag[0], tag[1], tag[2] * stride, tag[3] + start * tag[2])


def _rule(eqn, states) -> list:
    name = eqn.primitive.name
    rule = _RULES.get(name)
    if rule is None:
        if name in _ELEMENTWISE:
            rule = _elementwise
        elif name in _REDUCE_AXES:
            rule = _reduce_axes
        elif name in _CUMULATIVE:
            rule = _cumulative
        elif name in _REDUCE_WINDOW:
            rule = _reduce_window
        elif name in _CALLS or name in _CUSTOM:
            rule = _call
        else:
            rule = _fallback
    out = rule(eqn, states)
    return _fallback(eqn, states) if out is None else out


def _fallback(eqn, states) -> list:
    if not any(_is_dep(s) for s in states):
        return [_UNKNOWN_CONST] * len(eqn.outvars)
    return [_whole(len(_shape(v))) for v in eqn.outvars]


def _elementwise(eqn, states):
    (out,) = eqn.outvars
    shape = _shape(out)
    contributions = []
    for atom, state in zip(eqn.invars, states):
        if not _is_dep(state):
            continue
        if _shape(atom) == shape:
            contributions.append(state)
        elif _shape(atom) == ():
            contributions.append(_whole(len(shape)))
        else:
            return None
    return [_combine(contributions, len(shape))]


def _identity(eqn, states):
    """optimization_barrier: each output is its operand."""
    return list(states)


def _call(eqn, states):
    inner, consts = _sub_jaxpr(eqn)
    if inner is None or len(inner.invars) != len(states) or len(inner.outvars) != len(eqn.outvars):
        return None
    return _propagate(inner, [_Const(c) for c in consts], states)


def _sub_jaxpr(eqn):
    """-> (Jaxpr, consts) of a call-like equation (invars lined up with
    eqn.invars; custom calls: the primal program), or (None, ())."""
    keys = ("call_jaxpr", "fun_jaxpr") if eqn.primitive.name in _CUSTOM else ("jaxpr", "call_jaxpr")
    for key in keys:
        inner = eqn.params.get(key)
        if isinstance(inner, jex_core.ClosedJaxpr):
            return inner.jaxpr, inner.consts
        if isinstance(inner, jex_core.Jaxpr):
            return inner, ()
    return None, ()


def _cond(eqn, states):
    index, operands = states[0], states[1:]
    if _is_dep(index):
        return None
    per_branch = [_propagate(b.jaxpr, [_Const(c) for c in b.consts], operands) for b in eqn.params["branches"]]
    return [_combine([outs[k] for outs in per_branch], len(_shape(v))) for k, v in enumerate(eqn.outvars)]


def _conv(eqn, states):
    lhs, rhs = states
    p = eqn.params
    dn = p["dimension_numbers"]
    lhs_spec, rhs_spec, out_spec = dn.lhs_spec, dn.rhs_spec, dn.out_spec
    out_ndim = len(_shape(eqn.outvars[0]))
    rhs_shape = _shape(eqn.invars[1])
    contributions = []
    if _is_dep(lhs):
        tags = [None] * out_ndim
        if p.get("batch_group_count", 1) == 1:
            tags[out_spec[0]] = lhs[lhs_spec[0]]
        for i, (ld, od) in enumerate(zip(lhs_spec[2:], out_spec[2:])):
            tag = lhs[ld]
            if tag is None or p["lhs_dilation"][i] != 1:
                continue
            tags[od] = _window(tag, rhs_shape[rhs_spec[2 + i]], p["rhs_dilation"][i], p["window_strides"][i],
                               p["padding"][i][0])
        contributions.append(tuple(tags))
    if _is_dep(rhs):
        contributions.append(_whole(out_ndim))
    return [_combine(contributions, out_ndim)]


def _window_dims(state, p):
    """A state through reduce_window's per-dimension windows."""
    tags = []
    for d, tag in enumerate(state):
        k, s, pad = p["window_dimensions"][d], p["window_strides"][d], p["padding"][d]
        base, dil = p["base_dilation"][d], p["window_dilation"][d]
        if tag is None or (k == 1 and s == 1 and tuple(pad) == (0, 0) and base == 1):
            tags.append(tag)
        else:
            tags.append(_window(tag, k, dil, s, pad[0]) if base == 1 else None)
    return tuple(tags)


def _reduce_window(eqn, states):
    """reduce_window_sum/max/min (one operand) and reduce_window (operands,
    then as many init values; its reducer may mix the operands)."""
    n = len(eqn.outvars)
    operands, inits = states[:n], states[n:]
    out_ndim = len(_shape(eqn.outvars[0]))
    contributions = [_window_dims(s, eqn.params) for s in operands if _is_dep(s)]
    contributions += [_whole(out_ndim) for s in inits if _is_dep(s)]
    return [_combine(contributions, out_ndim)] * n


def _drop_dims(state, dropped):
    return tuple(t for d, t in enumerate(state) if d not in dropped)


def _reduce_axes(eqn, states):
    (state,) = states
    return [_drop_dims(state, set(eqn.params["axes"]))]


def _reduce(eqn, states):
    n = len(eqn.outvars)
    dims = set(eqn.params["dimensions"])
    out_ndim = len(_shape(eqn.outvars[0]))
    contributions = [_drop_dims(s, dims) for s in states[:n] if _is_dep(s)]
    contributions += [_whole(out_ndim) for s in states[n:] if _is_dep(s)]
    return [_combine(contributions, out_ndim)] * n


def _cumulative(eqn, states):
    (state,) = states
    axis = eqn.params["axis"]
    return [tuple(None if d == axis else t for d, t in enumerate(state))]


def _along(eqn, states, dim: int):
    """Ops that mix the operands along one dimension (sort, top_k): that dimension's tag goes."""
    out_ndim = len(_shape(eqn.outvars[0]))
    contributions = [tuple(None if d == dim else t for d, t in enumerate(s)) for s in states if _is_dep(s)]
    return [_combine(contributions, out_ndim)] * len(eqn.outvars)


def _sort(eqn, states):
    return _along(eqn, states, eqn.params["dimension"])


def _top_k(eqn, states):
    return _along(eqn, states, len(_shape(eqn.invars[0])) - 1)


def _transpose(eqn, states):
    (state,) = states
    return [tuple(state[d] for d in eqn.params["permutation"])]


def _squeeze(eqn, states):
    (state,) = states
    ndim = len(state)
    return [_drop_dims(state, {d % ndim for d in eqn.params["dimensions"]})]


def _broadcast_in_dim(eqn, states):
    state = states[0]
    if any(_is_dep(s) for s in states[1:]):
        return None
    out_shape = _shape(eqn.outvars[0])
    in_shape = _shape(eqn.invars[0])
    tags = [None] * len(out_shape)
    for d, od in enumerate(eqn.params["broadcast_dimensions"]):
        if state[d] is not None and in_shape[d] == out_shape[od]:
            tags[od] = state[d]
    return [tuple(tags)]


def _prefix_products(shape):
    out, acc = [], 1
    for n in shape:
        out.append(acc)
        acc *= n
    return out


def _reshape(eqn, states):
    state = states[0]
    if eqn.params.get("dimensions") is not None or any(_is_dep(s) for s in states[1:]):
        return None
    in_shape, out_shape = _shape(eqn.invars[0]), _shape(eqn.outvars[0])
    pin, pout = _prefix_products(in_shape), _prefix_products(out_shape)
    tags = [None] * len(out_shape)
    for d, tag in enumerate(state):
        if tag is None:
            continue
        # row-major: dimension d survives as the output dimension with its size
        # and the same product of sizes before it (size-1 ones: matched in order)
        targets = [j for j, n in enumerate(out_shape) if n == in_shape[d] and pout[j] == pin[d]]
        if in_shape[d] != 1:
            if targets:
                tags[targets[0]] = tag
            continue
        sources = [i for i, n in enumerate(in_shape) if n == 1 and pin[i] == pin[d]]
        if len(sources) == len(targets):
            tags[targets[sources.index(d)]] = tag
    return [tuple(tags)]


def _pad(eqn, states):
    state, value = states
    out_ndim = len(_shape(eqn.outvars[0]))
    contributions = [_whole(out_ndim)] if _is_dep(value) else []
    if _is_dep(state):
        tags = []
        for tag, (low, _high, interior) in zip(state, eqn.params["padding_config"]):
            if tag is None or (low == 0 and interior == 0):
                tags.append(tag)
            else:  # index 0 of the output is input index -low
                tags.append(_slice_tag(tag, -int(low), 1) if interior == 0 else None)
        contributions.append(tuple(tags))
    return [_combine(contributions, out_ndim)]


def _slice(eqn, states):
    (state,) = states
    strides = eqn.params["strides"] or (1,) * len(state)
    return [tuple(t if t is None else _slice_tag(t, int(start), int(s))
                  for t, start, s in zip(state, eqn.params["start_indices"], strides))]


def _dynamic_slice(eqn, states):
    state, indices = states[0], states[1:]
    if not _is_dep(state) or any(_is_dep(s) for s in indices):
        return None
    shape = _shape(eqn.invars[0])
    sizes = eqn.params["slice_sizes"]
    tags = []
    for d, tag in enumerate(state):
        if tag is None:
            tags.append(None)
        elif sizes[d] == shape[d]:
            tags.append(tag)  # the start is clamped to 0
        elif indices[d].value is not None and np.ndim(indices[d].value) == 0:
            start = min(max(int(indices[d].value), 0), shape[d] - sizes[d])
            tags.append(_slice_tag(tag, start, 1))
        else:
            tags.append(None)
    return [tuple(tags)]


def _split(eqn, states):
    (state,) = states
    axis = eqn.params["axis"]
    outs, start = [], 0
    for size in eqn.params["sizes"]:
        outs.append(tuple(_slice_tag(t, start, 1) if d == axis and t is not None else t
                          for d, t in enumerate(state)))
        start += int(size)
    return outs


def _concatenate(eqn, states):
    dim = eqn.params["dimension"]
    out_ndim = len(_shape(eqn.outvars[0]))
    contributions = [tuple(None if d == dim else t for d, t in enumerate(s)) for s in states if _is_dep(s)]
    return [_combine(contributions, out_ndim)]


def _rev(eqn, states):
    (state,) = states
    dims = set(eqn.params["dimensions"])
    return [tuple(None if d in dims else t for d, t in enumerate(state))]


def _dot_general(eqn, states):
    (lc, rc), (lb, rb) = eqn.params["dimension_numbers"]
    lhs_shape, rhs_shape = _shape(eqn.invars[0]), _shape(eqn.invars[1])
    out_ndim = len(_shape(eqn.outvars[0]))
    lfree = [d for d in range(len(lhs_shape)) if d not in lc and d not in lb]
    rfree = [d for d in range(len(rhs_shape)) if d not in rc and d not in rb]
    # output dimension of each operand dimension
    lpos = {d: i for i, d in enumerate(lb)} | {d: len(lb) + i for i, d in enumerate(lfree)}
    rpos = {d: i for i, d in enumerate(rb)} | {d: len(lb) + len(lfree) + i for i, d in enumerate(rfree)}
    contributions = []
    for state, pos, contract, other, ocontract, ofree, opos in (
            (states[0], lpos, lc, states[1], rc, rfree, rpos),
            (states[1], rpos, rc, states[0], lc, lfree, lpos)):
        if not _is_dep(state):
            continue
        tags = [None] * out_ndim
        for d, tag in enumerate(state):
            if tag is None:
                continue
            if d in pos:
                tags[pos[d]] = tag
            elif len(contract) == 1 and len(ofree) == 1 and not _is_dep(other):
                # a contracted tagged dimension against a constant matrix of
                # known nonzero pattern: a uniform window, if it is one
                window = _matrix_window(other.value, ocontract[0], ofree[0], tag)
                if window is not None:
                    tags[opos[ofree[0]]] = window
        contributions.append(tuple(tags))
    return [_combine(contributions, out_ndim)]


def _matrix_window(value, contract_dim: int, free_dim: int, tag):
    """The field of out[i] = sum_j m[i, j] in[j] (m: the constant, [free,
    contract] after transposing), when the nonzero hull of row i is
    [s0 + i*S, s0 + i*S + K) for all i (at least two rows); else None."""
    if value is None or np.ndim(value) != 2 or np.size(value) > _MAX_CONST_MATRIX:
        return None
    m = np.asarray(value)
    if contract_dim == 0:
        m = m.T
    if m.shape[0] < 2:
        return None
    nonzero = m != 0
    if not nonzero.any(axis=1).all():
        return None
    starts = nonzero.argmax(axis=1)
    ends = m.shape[1] - nonzero[:, ::-1].argmax(axis=1)
    widths = ends - starts
    step = int(starts[1] - starts[0])
    if step < 1 or not (widths == widths[0]).all() or not (np.diff(starts) == step).all():
        return None
    return _window(tag, int(widths[0]), 1, step, -int(starts[0]))


_RULES = {
    "conv_general_dilated": _conv,
    "cond": _cond,
    "reduce": _reduce,
    "sort": _sort,
    "top_k": _top_k,
    "transpose": _transpose,
    "squeeze": _squeeze,
    "broadcast_in_dim": _broadcast_in_dim,
    "reshape": _reshape,
    "pad": _pad,
    "slice": _slice,
    "dynamic_slice": _dynamic_slice,
    "split": _split,
    "concatenate": _concatenate,
    "rev": _rev,
    "dot_general": _dot_general,
    "optimization_barrier": _identity,
}

