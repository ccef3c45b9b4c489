"""Backward projections for any JAX function: the ReLU backward rule swapped
in by a small interpreter over the traced program (the rules:
docs/projections.md).

``with_relu_backward(fn, mode)`` traces ``fn`` with ``jax.make_jaxpr`` and
evaluates the equations itself. The forward numbers are those of ``fn``;
only the vector-Jacobian products (w.r.t. ``fn``'s inputs) change.

Substituted:

- **ReLU**: ``max(x, 0)`` where one operand is a zero literal, a zero
  constant of the traced program, or a broadcast / reshape / dtype
  conversion of one (``jnp.maximum(x, 0)``, ``jnp.maximum(x, jnp.zeros_like(x))``,
  the primal of ``jax.nn.relu`` and hence of ``flax.linen.relu``). It is
  evaluated as ``jaxvis.ops.backward.relu(x, mode)``: backprop passes
  ``u * [x > 0]``, deconv ``relu(u)``, guided ``relu(u) * [x > 0]``.
- **Ties of max** (modes ``deconv`` and ``guided`` only): ``max(a, b)`` of
  two non-constant operands sends the whole upstream to ``a`` where
  ``a >= b`` and to ``b`` elsewhere, as a pooling switch does; JAX's own
  rule splits a tie in halves. Max pooling written as a chain of
  ``jnp.maximum`` over strided views (``jaxvis.ops.max_pool``) then routes
  an all-equal window (an all-zero window after a ReLU) to its first
  position like ``jaxvis.ops.backward.max_pool_switches``. Exact ties
  between positive values of a window (flat image regions) can still go
  elsewhere: such a chain takes the first maximum in the order it reduces,
  for ``jaxvis.ops.max_pool`` (rows reduced first) the first column holding
  the maximum, then its first row, where the switches take row-major order.

Recursed into, when the sub-program holds something to substitute:

- ``jit`` (``pjit``), ``closed_call``, ``remat``/``checkpoint``: evaluated
  inline;
- ``custom_jvp_call`` and ``custom_vjp_call``: their forward program is
  evaluated with substitution and their custom derivative rule is dropped.
  For ``jax.nn.relu`` (a ``custom_jvp`` around ``max(x, 0)``) and
  ``jaxvis.ops.backward.relu`` (a ``custom_vjp`` around the same) this
  replaces the whole call with the chosen rule. A custom rule whose
  program holds no ReLU (``max_pool_switches``, ``lrn_identity_backward``)
  is kept: only ReLUs make a custom call be recursed into.

Left with their ordinary gradient (bound as they are): everything else,
among it convolution, dense layers (``dot_general``), average pooling,
``add``, ``concatenate``, the inference affine of BatchNorm, LRN,
``reduce_max``, and max pooling by ``lax.reduce_window`` / ``flax.linen.max_pool``
(``reduce_window_max``), whose gradient already goes to the first maximum of
each window in row-major order, overlapping windows adding up
(tests/backward/test_substitute.py checks it against the switches).

Not handled: a ReLU inside ``cond``, ``while`` or ``scan`` (``nn.scan``,
``lax.fori_loop``) raises ConfigError naming the primitive; a ReLU written
otherwise than as a max with zero (``jnp.where(x > 0, x, 0)``) keeps its
ordinary gradient. In mode ``backprop`` the result's gradient is
``jax.grad``'s for ``jax.nn.relu``; a bare ``jnp.maximum(x, 0)`` differs
only at x == 0 exactly (0 instead of JAX's 1/2).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax.extend import core as jex_core

from jaxvis.errors import ConfigError
from jaxvis.ops import backward

MODES = backward.RELU_MODES
_CALLS = frozenset({"jit", "pjit", "closed_call", "core_call", "remat", "remat2", "checkpoint"})
_CUSTOM = frozenset({"custom_jvp_call", "custom_vjp_call"})
_CONTROL = frozenset({"cond", "while", "scan"})
# Ops that keep a zero constant zero: max with their output is still a ReLU.
_ZERO_KEEPING = frozenset({"broadcast_in_dim", "convert_element_type", "reshape", "squeeze", "expand_dims",
                           "copy"})


def with_relu_backward(fn, mode: str):
    """fn(*args) -> pytree of arrays, any JAX function; returns fn2 with the
    same signature and forward values whose VJP uses ``mode``'s ReLU rule
    (one of MODES) at every ReLU of the traced program (see module doc).
    fn2 traces fn on each call; wrap it in ``jax.jit`` to trace once."""
    if mode not in MODES:
        raise ConfigError(f"unknown ReLU backward mode {mode!r}; expected one of {', '.join(MODES)}")

    @functools.wraps(fn)
    def substituted(*args):
        closed, shapes = jax.make_jaxpr(fn, return_shape=True)(*args)
        outs = _evaluate(closed.jaxpr, closed.consts, jax.tree.leaves(args), mode)
        return jax.tree.unflatten(jax.tree.structure(shapes), outs)

    return substituted


def _is_zero_constant(value) -> bool:
    """True for a concrete (not traced) array or scalar whose entries are all 0."""
    if isinstance(value, jax.core.Tracer):
        return False
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError):
        return False
    return arr.dtype.kind in "biuf" and arr.size > 0 and not arr.any()


def _sub_jaxpr(eqn):
    """-> (Jaxpr, consts) of a call-like equation, whose invars line up with eqn.invars."""
    inner = eqn.params["call_jaxpr"] if eqn.primitive.name in _CUSTOM else eqn.params["jaxpr"]
    if isinstance(inner, jex_core.ClosedJaxpr):
        return inner.jaxpr, inner.consts
    return inner, ()


def _zero_flags(jaxpr, consts, zero_in):
    """The Vars of jaxpr known to be zero before its first equation: zero
    consts and the invars flagged in zero_in (one bool per invar);
    _step_zeros adds what _ZERO_KEEPING equations make of them."""
    # only consts that a max or a zero-keeping op reads are brought back to the host
    operands = {v for e in jaxpr.eqns if e.primitive.name == "max" or e.primitive.name in _ZERO_KEEPING
                for v in e.invars if not isinstance(v, jex_core.Literal)}
    zeros = {v for v, c in zip(jaxpr.constvars, consts) if v in operands and _is_zero_constant(c)}
    zeros |= {v for v, z in zip(jaxpr.invars, zero_in) if z}
    return zeros


def _is_zero(atom, zeros) -> bool:
    if isinstance(atom, jex_core.Literal):
        return _is_zero_constant(atom.val)
    return atom in zeros


def _relu_operand(eqn, zeros):
    """The x of a ReLU equation max(x, 0) / max(0, x) of a float dtype; None otherwise."""
    if eqn.primitive.name != "max" or len(eqn.invars) != 2:
        return None
    a, b = eqn.invars
    out = eqn.outvars[0].aval
    if not jnp.issubdtype(out.dtype, jnp.inexact):
        return None
    for x, z in ((a, b), (b, a)):
        if _is_zero(z, zeros) and not isinstance(x, jex_core.Literal) and x.aval.shape == out.shape:
            return x
    return None


def _is_tie_max(eqn, zeros) -> bool:
    """max(a, b) of two non-constant float operands of the output's shape."""
    if eqn.primitive.name != "max" or _relu_operand(eqn, zeros) is not None:
        return False
    out = eqn.outvars[0].aval
    return jnp.issubdtype(out.dtype, jnp.inexact) and all(
        not isinstance(v, jex_core.Literal) and v.aval.shape == out.shape for v in eqn.invars)


def _step_zeros(eqn, zeros):
    """Adds eqn's output to zeros when it is a zero-keeping op of a known zero."""
    if eqn.primitive.name in _ZERO_KEEPING and eqn.invars and _is_zero(eqn.invars[0], zeros):
        zeros.add(eqn.outvars[0])


def _holds(jaxpr, consts, zero_in, ties: bool) -> bool:
    """Whether jaxpr (or a sub-program it calls) holds a ReLU, or with ``ties``
    a tie-max, that _evaluate would substitute."""
    zeros = _zero_flags(jaxpr, consts, zero_in)
    for eqn in jaxpr.eqns:
        if _relu_operand(eqn, zeros) is not None or (ties and _is_tie_max(eqn, zeros)):
            return True
        name = eqn.primitive.name
        if name in _CALLS or name in _CUSTOM:
            inner, inner_consts = _sub_jaxpr(eqn)
            if _holds(inner, inner_consts, [_is_zero(v, zeros) for v in eqn.invars], ties and name in _CALLS):
                return True
        _step_zeros(eqn, zeros)
    return False


def _control_holds_relu(eqn) -> bool:
    """Whether a cond/while/scan equation holds a ReLU in any of its branches or bodies."""
    for value in eqn.params.values():
        for item in value if isinstance(value, (tuple, list)) else (value,):
            if isinstance(item, jex_core.ClosedJaxpr):
                if _holds(item.jaxpr, item.consts, [False] * len(item.jaxpr.invars), False):
                    return True
            elif isinstance(item, jex_core.Jaxpr):
                if _holds(item, (), [False] * len(item.invars), False):
                    return True
    return False


@jax.custom_vjp
def _max_first(a: jax.Array, b: jax.Array) -> jax.Array:
    """max(a, b) (same shapes) whose backward sends the upstream to a where a >= b, else to b."""
    return jax.lax.max(a, b)


def _max_first_fwd(a, b):
    return jax.lax.max(a, b), a >= b


def _max_first_bwd(take_a, g):
    zero = jnp.zeros_like(g)
    return jnp.where(take_a, g, zero), jnp.where(take_a, zero, g)


_max_first.defvjp(_max_first_fwd, _max_first_bwd)


def _evaluate(jaxpr, consts, args, mode: str, zero_in=None) -> list:
    """Evaluates jaxpr on consts and args (flat lists of arrays or tracers)
    with the substitutions of the module doc; returns the flat outputs."""
    env = {}
    zeros = _zero_flags(jaxpr, consts, zero_in or [False] * len(jaxpr.invars))
    ties = mode != "backprop"

    def read(atom):
        return atom.val if isinstance(atom, jex_core.Literal) else env[atom]

    env.update(zip(jaxpr.constvars, consts))
    env.update(zip(jaxpr.invars, args))
    for eqn in jaxpr.eqns:
        name = eqn.primitive.name
        relu_x = _relu_operand(eqn, zeros)
        if relu_x is not None:
            outs = [backward.relu(read(relu_x), mode)]
        elif ties and _is_tie_max(eqn, zeros):
            outs = [_max_first(*map(read, eqn.invars))]
        elif name in _CALLS or name in _CUSTOM:
            inner, inner_consts = _sub_jaxpr(eqn)
            inner_zero = [_is_zero(v, zeros) for v in eqn.invars]
            if _holds(inner, inner_consts, inner_zero, ties and name in _CALLS):
                outs = _evaluate(inner, inner_consts, [read(v) for v in eqn.invars], mode, inner_zero)
            else:
                outs = _bind(eqn, read)
        elif name in _CONTROL and _control_holds_relu(eqn):
            raise ConfigError(f"with_relu_backward: a ReLU inside {name!r} is not substituted "
                              "(control flow is not supported); call the network without cond/while/scan")
        else:
            outs = _bind(eqn, read)
        env.update(zip(eqn.outvars, outs))
        _step_zeros(eqn, zeros)
    return [read(v) for v in jaxpr.outvars]


def _bind(eqn, read) -> list:
    """eqn evaluated as it is (its ordinary derivative rule applies); the flat outputs."""
    with eqn.ctx.manager:
        out = eqn.primitive.bind(*map(read, eqn.invars), **eqn.primitive.get_bind_params(eqn.params))
    return list(out) if eqn.primitive.multiple_results else [out]
