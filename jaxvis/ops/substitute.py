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
- **ReLU6's cap**: ``min(x, c)`` where one operand is a positive constant,
  recognised as the ReLU's zero is: a literal, a constant of the traced
  program, or a broadcast / reshape / conversion to a float dtype of one,
  also when it reaches the min as an argument of an inlined call
  (``jnp.minimum(x, 6.0)``, ``jnp.minimum(x, jnp.full_like(x, 6))``, the cap
  inside ``jax.nn.relu6``, ``flax``'s and Keras's relu6, and ``jnp.clip(x, 0,
  6)``, whose bounds are arguments of its inner ``jit``). It is evaluated as
  ``jaxvis.ops.backward.cap(x, c, mode)``: the upstream passes where x < c
  (strictly) in backprop and guided modes and unchanged in deconv mode, so
  ReLU6 = cap(relu(x), 6) passes backprop ``u * [0 < x < 6]``, guided
  ``relu(u) * [0 < x < 6]``, deconv ``relu(u)``. A ``jit`` whose program holds
  a cap and nothing else to substitute is evaluated inline for it.
- **Ties of max** (in every mode, backprop too): ``max(a, b)`` of two
  non-constant operands sends the whole upstream to ``a`` where ``a >= b``
  and to ``b`` elsewhere, as a pooling switch does (and as Caffe and
  PyTorch do); JAX's own rule splits a tie in halves. Max pooling written as a chain of
  ``jnp.maximum`` over strided views then routes each window to the first
  maximum in the order the chain reduces; ``jaxvis.ops.max_pool`` reduces
  columns, then rows, which is row-major order: exactly the position that
  ``jaxvis.ops.backward.max_pool_switches`` records, for all-equal windows
  (all-zero after a ReLU, flat image regions) too.

Recursed into, when the sub-program holds something to substitute:

- ``jit`` (``pjit``), ``closed_call``, ``remat``/``checkpoint``: evaluated
  inline (when they hold a ReLU, a tie of max or a cap);
- ``custom_jvp_call`` and ``custom_vjp_call``: their forward program is
  evaluated with substitution and their custom derivative rule is dropped.
  For ``jax.nn.relu`` (a ``custom_jvp`` around ``max(x, 0)``) and
  ``jaxvis.ops.backward.relu`` (a ``custom_vjp`` around the same) this
  replaces the whole call with the chosen rule. A custom rule whose
  program holds no ReLU (``max_pool_switches``, ``lrn_identity_backward``)
  is kept: only ReLUs make a custom call be recursed into.

Everything else is bound as it is, with its ordinary gradient. In modes
``deconv`` and ``guided`` that is the projection's rule only for the
operations below (the decided ones); any other equation on the path from
fn's arguments to its outputs raises ConfigError naming the primitive, the
mode and ``what`` (the blob), instead of passing its plain gradient off as
a deconv or guided one. Modes ``backprop`` and ``redirected`` (the ascent's
option) never raise: the plain gradient is their rule.

- On the path: an equation's outputs are, when one of its inputs is. The
  differentiated inputs are fn's arguments (each flat leaf of a float
  dtype on its own); closed-over values, constants and the outputs of
  ``stop_gradient`` are not on it. Only equations whose outputs reach fn's
  outputs through a float value that carries the gradient are checked.
  Calls (``jit``, ``remat``, recursed custom calls) and the bodies of
  ``cond`` / ``scan`` / ``while`` are checked equation by equation.
- Decided: the linear and structural operations of ``_LINEAR`` (add, sub,
  neg, reshapes, slices, gathers, pads, concatenation, sums, sum pooling,
  dtype conversions...); ``mul``, ``dot_general`` and
  ``conv_general_dilated`` when no argument reaches both operands (a layer
  times its weights; the weights as arguments are fine, ``x * x`` is not);
  ``div`` by a value off the path (the BatchNorm inference affine, average
  pooling); ReLU6's cap (``min`` with a positive constant); ``select_n``
  (``jnp.where``) and ``cond`` whose predicate is off
  the path; the ReLU; ``max`` of two operands on the path (the tie rule);
  ``reduce_max``, ``reduce_window_max`` (``lax.reduce_window``,
  ``flax.linen.max_pool``: their gradient goes to the first maximum of each
  window in row-major order, the switches, overlapping windows adding up);
  the operations of ``_NO_GRADIENT`` (``stop_gradient``, ``sign``,
  rounding); any equation whose outputs are all integer or bool (``argmax``,
  comparisons: no gradient flows through them, but their outputs stay on
  the path: a predicate or a factor computed from the arguments raises;
  gather and dynamic-slice indices may depend on the arguments, routing as
  switches do); and
  ``custom_jvp`` / ``custom_vjp`` calls that are kept, whose own rule is
  taken as the decided one (``max_pool_switches``, ``lrn_identity_backward``,
  any custom rule of the caller's).
- Raising, for example: ``tanh``, ``logistic``, ``exp``, ``log``, ``pow``,
  ``integer_pow``, ``sqrt``, ``rsqrt``, ``erf``, ``abs``, ``min`` with
  anything but a positive constant, ``max`` with a constant other than 0, a product of two operands that one
  argument reaches both of, a division by a value on the path, a
  ``jnp.where`` whose predicate is computed from the arguments (a ReLU
  spelled ``jnp.where(x > 0, x, 0)``). So does Caffe's LRN written in plain
  ops (``jaxvis.ops.lrn_across_channels``) and, while the
  ``jax_softmax_custom_jvp`` flag is off, ``jax.nn.softmax`` (``exp``):
  wrapped in a custom rule they are kept.

Not handled: a ReLU inside ``cond``, ``while`` or ``scan`` (``nn.scan``,
``lax.fori_loop``) raises ConfigError naming the primitive. In mode
``backprop`` the result's gradient is ``jax.grad``'s for ``jax.nn.relu``;
a bare ``jnp.maximum(x, 0)`` differs only at x == 0 exactly (0 instead of
JAX's 1/2), a max of two values only at exact ties (the whole upstream to
the first operand instead of half to each).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax.extend import core as jex_core

from jaxvis.errors import ConfigError
from jaxvis.ops import backward

MODES = backward.RELU_MODES + backward.ASCENT_RELU_MODES
_CALLS = frozenset({"jit", "pjit", "closed_call", "core_call", "remat", "remat2", "checkpoint"})
_CUSTOM = frozenset({"custom_jvp_call", "custom_vjp_call"})
_CONTROL = frozenset({"cond", "while", "scan"})
# Ops that keep a constant's sign (zero, positive): max with a zero is still a ReLU, min with a positive
# constant still a cap.
_KIND_KEEPING = frozenset({"broadcast_in_dim", "convert_element_type", "reshape", "squeeze", "expand_dims",
                           "copy"})

# The decided rules of modes deconv and guided (module doc): linear and
# structural operations, linear in their float operands together (integer
# operands, such as gather's indices, carry no gradient)...
_LINEAR = frozenset({
    "add", "add_any", "sub", "neg", "reshape", "broadcast_in_dim", "transpose", "squeeze", "expand_dims",
    "slice", "dynamic_slice", "dynamic_update_slice", "gather", "scatter", "scatter-add", "scatter_add", "pad",
    "concatenate", "split", "rev", "reduce_sum", "reduce_window_sum", "cumsum", "convert_element_type", "copy",
    "copy_p", "reduce_precision", "device_put", "sharding_constraint", "optimization_barrier"})
# ...bilinear ones, decided when no argument reaches both operands...
_BILINEAR = frozenset({"mul", "dot_general", "conv_general_dilated"})
# ...the maximum of a window or an axis, whose gradient goes to the maximum (the switch)...
_SELECT_MAX = frozenset({"reduce_max", "reduce_window_max", "argmax", "argmin"})
# ...and operations through which no gradient flows (stop_gradient: nor the path).
_NO_GRADIENT = frozenset({"stop_gradient", "sign", "floor", "ceil", "round"})


def with_relu_backward(fn, mode: str, *, what: str | None = None):
    """fn(*args) -> pytree of arrays, any JAX function; returns fn2 with the
    same signature and forward values whose VJP uses ``mode``'s ReLU rule
    (one of MODES) at every ReLU of the traced program (see module doc).
    fn2 traces fn on each call; wrap it in ``jax.jit`` to trace once.

    In modes deconv and guided, fn2 raises ConfigError when an operation
    without a decided rule lies on the path from fn's arguments to its
    outputs (module doc); ``what`` names those outputs in the message (e.g.
    "blob 'conv5' of caffenet"). fn's arguments are what is differentiated:
    values closed over (typically the parameters) are constants, and so is
    whatever is computed from them alone."""
    if mode not in MODES:
        raise ConfigError(f"unknown ReLU backward mode {mode!r}; expected one of {', '.join(MODES)}")

    @functools.wraps(fn)
    def substituted(*args):
        closed, shapes = jax.make_jaxpr(fn, return_shape=True)(*args)
        if mode in ("deconv", "guided"):
            on_path = [1 << i if jnp.issubdtype(v.aval.dtype, jnp.inexact) else 0
                       for i, v in enumerate(closed.jaxpr.invars)]
            _check(closed.jaxpr, closed.consts, on_path, [True] * len(closed.jaxpr.outvars), None,
                   _Refusal(mode, what))
        outs = _evaluate(closed.jaxpr, closed.consts, jax.tree.leaves(args), mode)
        return jax.tree.unflatten(jax.tree.structure(shapes), outs)

    return substituted


def _constant_kind(value) -> str | None:
    """"zero" for a concrete (not traced) numeric array or scalar whose entries
    are all 0, "positive" for one whose entries are all > 0; None otherwise."""
    if isinstance(value, jax.core.Tracer):
        return None
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError):
        return None
    if arr.dtype.kind not in "biuf" or arr.size == 0:
        return None
    if not arr.any():
        return "zero"
    return "positive" if arr.dtype.kind in "iuf" and bool((arr > 0).all()) else None


def _sub_jaxpr(eqn):
    """-> (Jaxpr, consts) of a call-like equation, whose invars line up with eqn.invars."""
    inner = eqn.params["call_jaxpr"] if eqn.primitive.name in _CUSTOM else eqn.params["jaxpr"]
    if isinstance(inner, jex_core.ClosedJaxpr):
        return inner.jaxpr, inner.consts
    return inner, ()


def _constant_kinds(jaxpr, consts, kinds_in) -> dict:
    """{Var: "zero" | "positive"} of the Vars of jaxpr known to be constants of
    that sign before its first equation: consts, and the invars of a kind in
    kinds_in (one kind or None per invar); _step_kinds adds what
    _KIND_KEEPING equations make of them."""
    # only consts that a max, a min or a kind-keeping op reads are brought back to the host
    operands = {v for e in jaxpr.eqns if e.primitive.name in ("max", "min") or e.primitive.name in _KIND_KEEPING
                for v in e.invars if not isinstance(v, jex_core.Literal)}
    known = {v: _constant_kind(c) for v, c in zip(jaxpr.constvars, consts) if v in operands}
    known.update(zip(jaxpr.invars, kinds_in))
    return {v: kind for v, kind in known.items() if kind is not None}


def _kind(atom, known) -> str | None:
    if isinstance(atom, jex_core.Literal):
        return _constant_kind(atom.val)
    return known.get(atom)


def _is_zero(atom, known) -> bool:
    return _kind(atom, known) == "zero"


def _kinds_of(eqn, known) -> list:
    """The kinds of eqn's operands, for the invars of its sub-program."""
    return [_kind(v, known) for v in eqn.invars]


def _relu_operand(eqn, known):
    """The x of a ReLU equation max(x, 0) / max(0, x) of a float dtype; None otherwise."""
    if eqn.primitive.name != "max" or len(eqn.invars) != 2:
        return None
    a, b = eqn.invars
    out = eqn.outvars[0].aval
    if not jnp.issubdtype(out.dtype, jnp.inexact):
        return None
    for x, z in ((a, b), (b, a)):
        if _is_zero(z, known) and not isinstance(x, jex_core.Literal) and x.aval.shape == out.shape:
            return x
    return None


def _cap_operands(eqn, known):
    """(x, c) of a cap equation min(x, c) / min(c, x) of a float dtype, c a positive
    constant (a literal, a constant of the traced program, or a broadcast / reshape /
    dtype conversion of one, inside inlined calls too: ReLU6's 6); None otherwise."""
    if eqn.primitive.name != "min" or len(eqn.invars) != 2:
        return None
    out = eqn.outvars[0].aval
    if not jnp.issubdtype(out.dtype, jnp.inexact):
        return None
    for x, c in (eqn.invars, eqn.invars[::-1]):
        if _kind(c, known) == "positive" and not isinstance(x, jex_core.Literal) and x.aval.shape == out.shape:
            return x, c
    return None


def _is_tie_max(eqn, known) -> bool:
    """max(a, b) of two non-constant float operands of the output's shape."""
    if eqn.primitive.name != "max" or _relu_operand(eqn, known) is not None:
        return False
    out = eqn.outvars[0].aval
    return jnp.issubdtype(out.dtype, jnp.inexact) and all(
        not isinstance(v, jex_core.Literal) and v.aval.shape == out.shape for v in eqn.invars)


def _step_kinds(eqn, known):
    """Records eqn's output as a constant of its operand's kind when eqn is a
    kind-keeping op of a known constant (a conversion to an integer or bool
    dtype keeps only zeros: 0.5 becomes 0)."""
    if eqn.primitive.name not in _KIND_KEEPING or not eqn.invars:
        return
    kind = _kind(eqn.invars[0], known)
    if kind == "positive" and not jnp.issubdtype(eqn.outvars[0].aval.dtype, jnp.inexact):
        kind = None
    if kind is not None:
        known[eqn.outvars[0]] = kind


def _holds(jaxpr, consts, kinds_in, inline: bool) -> bool:
    """Whether jaxpr (or a sub-program it calls) holds a ReLU, or with ``inline``
    (a call evaluated inline) a tie-max or a cap, that _evaluate would substitute."""
    known = _constant_kinds(jaxpr, consts, kinds_in)
    for eqn in jaxpr.eqns:
        if _relu_operand(eqn, known) is not None or (
                inline and (_is_tie_max(eqn, known) or _cap_operands(eqn, known) is not None)):
            return True
        name = eqn.primitive.name
        if name in _CALLS or name in _CUSTOM:
            inner, inner_consts = _sub_jaxpr(eqn)
            if _holds(inner, inner_consts, _kinds_of(eqn, known), inline and name in _CALLS):
                return True
        _step_kinds(eqn, known)
    return False


def relu_equations(jaxpr) -> list[int]:
    """Indices of the equations of ``jaxpr`` (its top level, a Jaxpr without
    consts) that compute a ReLU, as ``with_relu_backward`` recognises one: a
    max(x, 0), or a custom-derivative call of one input and one output of its
    shape whose program is a ReLU (``jax.nn.relu``, ``flax.linen.relu``)."""
    known = _constant_kinds(jaxpr, [], [None] * len(jaxpr.invars))
    found = []
    for index, eqn in enumerate(jaxpr.eqns):
        if _relu_operand(eqn, known) is not None:
            found.append(index)
        elif eqn.primitive.name in _CUSTOM and len(eqn.invars) == 1 and len(eqn.outvars) == 1:
            inner, consts = _sub_jaxpr(eqn)
            if (eqn.invars[0].aval.shape == eqn.outvars[0].aval.shape
                    and _holds(inner, consts, _kinds_of(eqn, known), False)):
                found.append(index)
        _step_kinds(eqn, known)
    return found


def _control_holds_relu(eqn) -> bool:
    """Whether a cond/while/scan equation holds a ReLU in any of its branches or bodies."""
    for value in eqn.params.values():
        for item in value if isinstance(value, (tuple, list)) else (value,):
            if isinstance(item, jex_core.ClosedJaxpr):
                if _holds(item.jaxpr, item.consts, [None] * len(item.jaxpr.invars), False):
                    return True
            elif isinstance(item, jex_core.Jaxpr):
                if _holds(item, (), [None] * len(item.invars), False):
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


def _evaluate(jaxpr, consts, args, mode: str, kinds_in=None) -> list:
    """Evaluates jaxpr on consts and args (flat lists of arrays or tracers)
    with the substitutions of the module doc; returns the flat outputs."""
    env = {}
    known = _constant_kinds(jaxpr, consts, kinds_in or [None] * len(jaxpr.invars))

    def read(atom):
        return atom.val if isinstance(atom, jex_core.Literal) else env[atom]

    env.update(zip(jaxpr.constvars, consts))
    env.update(zip(jaxpr.invars, args))
    for eqn in jaxpr.eqns:
        name = eqn.primitive.name
        relu_x = _relu_operand(eqn, known)
        capped = _cap_operands(eqn, known)
        if relu_x is not None:
            outs = [backward.relu(read(relu_x), mode)]
        elif capped is not None:
            outs = [backward.cap(read(capped[0]), read(capped[1]), mode)]
        elif _is_tie_max(eqn, known):
            outs = [_max_first(*map(read, eqn.invars))]
        elif name in _CALLS or name in _CUSTOM:
            inner, inner_consts = _sub_jaxpr(eqn)
            inner_kinds = _kinds_of(eqn, known)
            if _holds(inner, inner_consts, inner_kinds, name in _CALLS):
                outs = _evaluate(inner, inner_consts, [read(v) for v in eqn.invars], mode, inner_kinds)
            else:
                outs = _bind(eqn, read)
        elif name in _CONTROL and _control_holds_relu(eqn):
            raise ConfigError(f"with_relu_backward: a ReLU inside {name!r} is not substituted "
                              "(control flow is not supported); call the network without cond/while/scan")
        else:
            outs = _bind(eqn, read)
        env.update(zip(eqn.outvars, outs))
        _step_kinds(eqn, known)
    return [read(v) for v in jaxpr.outvars]


def _bind(eqn, read) -> list:
    """eqn evaluated as it is (its ordinary derivative rule applies); the flat outputs."""
    with eqn.ctx.manager:
        out = eqn.primitive.bind(*map(read, eqn.invars), **eqn.primitive.get_bind_params(eqn.params))
    return list(out) if eqn.primitive.multiple_results else [out]


# --- Modes deconv and guided: no plain gradient passed off as theirs ------------------------------

class _Refusal:
    """The ConfigError of an undecided equation on the path (module doc)."""

    def __init__(self, mode: str, what: str | None):
        self.mode, self.what = mode, what

    def __call__(self, name: str, reason: str = ""):
        detail = f" ({reason})" if reason else ""
        raise ConfigError(
            f"with_relu_backward(mode={self.mode!r}): {name!r}{detail} lies on the path from the arguments to "
            f"{self.what or 'the output'} and has no {self.mode} rule: its plain gradient would pass for a "
            f"{self.mode} projection. Use mode='backprop' for the plain gradient (the decided operations: "
            "jaxvis/ops/substitute.py)")


def _is_float(var) -> bool:
    return jnp.issubdtype(var.aval.dtype, jnp.inexact)


def _gradient_live(jaxpr, live_out) -> tuple[set, list]:
    """The Vars of jaxpr whose gradient reaches an outvar flagged in live_out:
    float values, not through stop_gradient; and one flag per invar."""
    live = {v for v, flag in zip(jaxpr.outvars, live_out)
            if flag and not isinstance(v, jex_core.Literal) and _is_float(v)}
    for eqn in reversed(jaxpr.eqns):
        outs = [v in live for v in eqn.outvars]
        if not any(outs) or eqn.primitive.name == "stop_gradient":
            continue
        if eqn.primitive.name in _CALLS or eqn.primitive.name in _CUSTOM:
            inner_in = _gradient_live(_sub_jaxpr(eqn)[0], outs)[1]
        else:
            inner_in = [True] * len(eqn.invars)
        live |= {v for v, flag in zip(eqn.invars, inner_in)
                 if flag and not isinstance(v, jex_core.Literal) and _is_float(v)}
    return live, [v in live for v in jaxpr.invars]


def _undecided(eqn, on_path, known) -> str | None:
    """None when eqn (with an input on the path) has a decided rule; else the
    reason it has none ("" when its primitive has none at all)."""
    name = eqn.primitive.name
    if not any(_is_float(v) for v in eqn.outvars):
        return None  # integer and bool outputs: no gradient flows
    if name in _LINEAR or name in _SELECT_MAX or name in _NO_GRADIENT:
        return None
    if name in _BILINEAR:
        a, b = on_path[:2]
        return "a product of two operands that both depend on the arguments" if a & b else None
    if name == "div":
        return "a division by a value computed from the arguments" if on_path[1] else None
    if name == "select_n":
        return "a selection by a predicate computed from the arguments" if on_path[0] else None
    if name == "max":
        if _relu_operand(eqn, known) is not None or (all(on_path) and _is_tie_max(eqn, known)):
            return None
        return "max with a value that is neither 0 nor on the path"
    if name == "min":
        return None if _cap_operands(eqn, known) is not None else "min with a value that is not a positive constant"
    return ""


def _check(jaxpr, consts, on_path_in, live_out, kinds_in, refuse) -> list:
    """Calls refuse(primitive, reason) at the first equation of jaxpr (or of a
    sub-program) that lies on the path to a live outvar without a decided rule.
    on_path_in: per invar, a bit mask of the arguments it depends on (0: off
    the path); returns the masks of the outvars."""
    known = _constant_kinds(jaxpr, consts, kinds_in or [None] * len(jaxpr.invars))
    live = _gradient_live(jaxpr, live_out)[0]
    on_path = dict(zip(jaxpr.invars, on_path_in))

    def mask(atom):
        return 0 if isinstance(atom, jex_core.Literal) else on_path.get(atom, 0)

    for eqn in jaxpr.eqns:
        name = eqn.primitive.name
        ins = [mask(v) for v in eqn.invars]
        outs_live = [v in live for v in eqn.outvars]
        union = functools.reduce(int.__or__, ins, 0)
        if not union:
            outs = [0] * len(eqn.outvars)
        elif name in _CALLS or (name in _CUSTOM and _holds(*_sub_jaxpr(eqn), _kinds_of(eqn, known), False)):
            inner, inner_consts = _sub_jaxpr(eqn)
            outs = _check(inner, inner_consts, ins, outs_live, _kinds_of(eqn, known), refuse)
        elif name in _CUSTOM:  # kept: its own rule is the decided one
            outs = [union] * len(eqn.outvars)
        elif name in _CONTROL:
            outs = _check_control(eqn, ins, outs_live, refuse) if any(outs_live) else [union] * len(eqn.outvars)
        else:
            if any(outs_live):
                reason = _undecided(eqn, ins, known)
                if reason is not None:
                    refuse(name, reason)
            outs = [0 if name == "stop_gradient" else union] * len(eqn.outvars)
        on_path.update(zip(eqn.outvars, outs))
        _step_kinds(eqn, known)
    return [mask(v) for v in jaxpr.outvars]


def _check_closed(closed, on_path_in, live_out, refuse) -> list:
    if isinstance(closed, jex_core.ClosedJaxpr):
        return _check(closed.jaxpr, closed.consts, on_path_in, live_out, None, refuse)
    return _check(closed, (), on_path_in, live_out, None, refuse)


def _check_control(eqn, ins, outs_live, refuse) -> list:
    """_check for cond, scan and while: every branch, and loop bodies until the
    path masks of their carried values stop growing."""
    name, p = eqn.primitive.name, eqn.params
    if name == "cond":
        if ins[0]:
            refuse("cond", "a branch chosen by a value computed from the arguments")
        masks = [_check_closed(b, ins[1:], outs_live, refuse) for b in p["branches"]]
        return [functools.reduce(int.__or__, m, 0) for m in zip(*masks)]
    if name == "scan":
        n_consts, n_carry = p["num_consts"], p["num_carry"]
        consts, carry, xs = ins[:n_consts], ins[n_consts:n_consts + n_carry], ins[n_consts + n_carry:]
        body, fixed = p["jaxpr"], lambda c: consts + c + xs
        live = [True] * n_carry + list(outs_live[n_carry:])
    else:  # while: the carry's gradient (JAX has no reverse mode through while_loop; forward mode passes here)
        n_consts = p["body_nconsts"]
        consts, carry = ins[p["cond_nconsts"]:p["cond_nconsts"] + n_consts], ins[p["cond_nconsts"] + n_consts:]
        n_carry, body, fixed = len(carry), p["body_jaxpr"], lambda c: consts + c
        live = [True] * n_carry
    while True:
        outs = _check_closed(body, fixed(carry), live, refuse)
        grown = [a | b for a, b in zip(carry, outs[:n_carry])]
        if grown == carry:
            return carry + outs[n_carry:] if name == "scan" else carry
        carry = grown
