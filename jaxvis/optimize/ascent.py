"""The regularized ascent x <- r_theta(x + lr * da/dx) as ONE compiled step
program over a batch whose elements each carry their own unit, start image
and hyperparameters (units x restarts x theta combinations, flattened).

Per step (docs/ascent.md): g = da/dx at x; x += lr g; L2 decay; blur when
due; small-norm clip; small-contribution clip (with that g); valid-range clip.
The objective at the current x is recorded each step; the best x seen (over
x_0 .. x_steps) is kept with its value and step. An element whose value or
image turns non-finite is frozen at its last finite image and reported.

The same program also runs the Fourier and MaCo families (families.py) for
the elements ``NewFamilies.index`` names: their variables are updated by Adam
on the objective of a randomly transformed image, and their image is the
final one (the objective of the untransformed image is evaluated once, at
the end). Objectives (objectives.py) are per element: a neuron, a channel's
mean, or any weighted map of the layer, plus an optional diversity term
across the elements of a group (a unit's restarts).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

import optax

from jaxvis.ops.substitute import with_relu_backward
from jaxvis.data.preprocess import normalize
from jaxvis.optimize import families as FAM
from jaxvis.optimize import objectives as O
from jaxvis.optimize import regularizers as R

START_IMAGES = ("mean_plus_rand", "zeros", "uniform")
LR_POLICIES = ("constant", "progress")


class Theta(NamedTuple):
    """Per-element hyperparameters, each an array [N]."""

    decay: jax.Array
    blur_width: jax.Array
    blur_every: jax.Array  # int32
    norm_pct: jax.Array
    contrib_pct: jax.Array
    lr_policy: jax.Array  # int32 index into LR_POLICIES
    lr: jax.Array  # constant policy: the learning rate; progress: max_lr
    desired_progress: jax.Array  # progress policy: lr = min(max_lr, desired / |g|^2)
    steps: jax.Array  # int32: this element stops updating after `steps` steps


class Units(NamedTuple):
    """Per-element unit of one layer: channel, and (y, x) for spatial layers, arrays [N]."""

    channel: jax.Array
    y: jax.Array
    x: jax.Array


class NewFamilies(NamedTuple):
    """The elements of the new families (M of them, M may be 0) and what they share."""

    index: jax.Array  # [M] int32: their positions in the batch
    family: jax.Array  # [M] int32: families.FOURIER or families.MACO
    transforms: jax.Array  # [M] bool: a random transform every step
    lr: jax.Array  # [M] Adam's learning rate
    keys: jax.Array  # [M] PRNG keys: step t's transform is drawn from fold_in(key, t)
    matrix: jax.Array  # [3, 3] and
    magnitude: jax.Array  # [3, H, W//2+1]: families.ColorStatistics
    scale: jax.Array  # [H, W//2+1] fourier.spectrum_scale
    mean: jax.Array  # network-space conversion (preprocess spec)
    std: jax.Array


class NetworkSpace(NamedTuple):
    """Static half of the 0..1 RGB -> network input conversion, and the transform sizes."""

    bgr: bool
    pixel_scale: float
    sizes: FAM.RobustSizes


class AscentOutput(NamedTuple):
    best_x: jax.Array  # [N, H, W, C] network input space
    best_value: jax.Array  # [N]
    best_step: jax.Array  # [N] int32: 0 = the start image
    trace: jax.Array  # [N, max_steps] objective at x_t (NaN after the element's own steps)
    final_value: jax.Array  # [N] objective at the last image
    failed_step: jax.Array  # [N] int32: step at which a non-finite value appeared, -1 if none


def start_images(key, kind, shape, mean, scale, std) -> jax.Array:
    """One start image [H, W, C] in network space from ``kind`` (index into
    START_IMAGES): mean + N(0, 10^2) pixels, the mean itself, or U(0, 255)."""
    noise = jax.random.normal(key, shape) * 10.0 * scale / std
    uniform = (jax.random.uniform(key, shape, maxval=255.0) * scale - mean) / std
    return jnp.select([kind == 0, kind == 1], [noise, jnp.zeros(shape)], uniform)


def _batch_cond(pred, fn, x):
    """Applies the batched ``fn`` only when some element needs it (a real branch,
    not a select: outside vmap so skipped work costs nothing)."""
    return lax.cond(jnp.any(pred), fn, lambda x: x, x)


_STATIC = ("apply_fn", "layer", "spatial", "tokens", "radius", "crop", "space", "redirecting")


def _objective(apply_fn, params, x, units, objective, crop_corner, *, layer, spatial, tokens, crop):
    """(the sum to ascend, per-element values) at x: each element's objective
    (objectives.values) plus its diversity term, which is not in its value."""
    if crop is not None:
        size = (crop.size, crop.size, x.shape[-1])
        x = jax.vmap(lambda img, y0, x0: lax.dynamic_slice(img, (y0, x0, 0), size))(x, *crop_corner)
        blob = apply_fn(params, x, until=layer, unpadded=crop.unpadded)[layer]
        y = jnp.full_like(units.y, crop.target)
        units = Units(units.channel, y, y)
    else:
        blob = apply_fn(params, x, until=layer)[layer]
    v = O.values(blob, units.channel, units.y, units.x, objective.kind, objective.weights, spatial=spatial,
                 tokens=tokens)
    extra = O.diversity_term(blob, objective.diversity, objective.group)
    return jnp.sum(v) + extra, v


def _per_pixel(v):
    return v[:, None, None, None]


def _network_input(x, v, new, t, steps, space):
    """The batch the network sees: x, with the new families' rows replaced by
    their images, randomly transformed while they are still stepping."""
    if not new.index.shape[0]:  # a pixel-only batch: nothing to build or scatter (static)
        return x
    h, w = x.shape[1:3]
    images = FAM.images01(new.family, v, new.matrix, new.magnitude, new.scale, h, w)
    on = new.transforms & (t < steps[new.index])
    keys = jax.vmap(lambda key: jax.random.fold_in(key, t))(new.keys)
    images = jax.vmap(lambda key, image, on: FAM.transform(key, image, on, space.sizes))(keys, images, on)
    return x.at[new.index].set(_to_network(images, new, space))


def _to_network(image01, new, space):
    """RGB [..., H, W, 3] in 0..1 -> the network's input space: pixels 0..255
    in its channel order, times scale, minus mean, over std (preprocess.py)."""
    return normalize(image01 * 255.0, space.bgr, space.pixel_scale, new.mean, new.std)


def _new_images(v, new, space, h, w):
    """The new families' untransformed images in network space [M, H, W, C]."""
    return _to_network(FAM.images01(new.family, v, new.matrix, new.magnitude, new.scale, h, w), new, space)


@functools.partial(jax.jit, static_argnames=("space",))
def shown_images(x, v, new, space):
    """x with the new families' rows set to their current images (the step
    leaves those rows alone: the images are only made when needed)."""
    if not new.index.shape[0]:
        return x
    return x.at[new.index].set(_new_images(v, new, space, *x.shape[1:3]))


ADAM = optax.scale_by_adam()


@functools.partial(jax.jit, static_argnames=_STATIC)
def ascent_step(apply_fn, params, carry, t, units, objective, theta, new, lower, upper, crop_corner, *,
                layer, spatial, tokens, radius, crop, space, redirecting=False):
    """One step t (a traced int32) for the whole batch: carry = (x, best_x,
    best_val, best_step, failed, v, adam) -> (carry, trace, value): the
    objective at the batch the network saw, as a trace entry (NaN past the
    element's steps) and raw. v [M, 2, 3, H, W//2+1] are the new families'
    variables and adam their optimizer state. ``redirecting`` (static): some
    element is within its ``redirect_steps``; a second program, compiled only
    then (a ``lax.cond`` around the network made every step ~5x slower on
    XLA's CPU backend, measured)."""
    x, best_x, best_val, best_step, failed, v, adam = carry

    def objective_of(x, v):
        z = _network_input(x, v, new, t, theta.steps, space)
        return _objective(apply_fn, params, z, units, objective, crop_corner, layer=layer, spatial=spatial,
                          tokens=tokens, crop=crop)

    pixels = new.index.shape[0] < x.shape[0]  # static: some element is in the pixel family

    def gradients(fn):
        if pixels:
            return jax.grad(fn, argnums=(0, 1), has_aux=True)(x, v)
        gv, val = jax.grad(fn, argnums=1, has_aux=True)(x, v)  # no pixel element: no image gradient to make
        return (None, gv), val

    (g, gv), val = gradients(objective_of)
    if redirecting:  # both gradients, each element taking its own
        redirect = t < objective.redirect_steps
        (rg, rgv), _ = gradients(with_relu_backward(objective_of, "redirected"))
        if pixels:
            g = jnp.where(_per_pixel(redirect), rg, g)
        gv = jnp.where(redirect[new.index][:, None, None, None, None], rgv, gv)
    alive = (t < theta.steps) & (failed < 0)
    finite = jnp.isfinite(val)
    if pixels:
        x, best_x, best_val, best_step, pixel_finite = _pixel_update(x, g, val, t, theta, alive, best_x, best_val,
                                                                     best_step, new, lower, upper, radius)
        finite = finite & pixel_finite

    # The new families: Adam ascends (its updates descend -gv), frozen past their steps.
    new_alive = alive[new.index]
    updates, adam_next = ADAM.update(jax.tree.map(jnp.negative, gv), adam)
    v_next = v - new.lr[:, None, None, None, None] * updates
    v_ok = jnp.all(jnp.isfinite(v_next), axis=(1, 2, 3, 4)) & jnp.all(jnp.isfinite(gv), axis=(1, 2, 3, 4))
    v_keep = new_alive & v_ok
    v = jnp.where(v_keep[:, None, None, None, None], v_next, v)
    adam = jax.tree.map(lambda a, b: jnp.where(jnp.any(new_alive), a, b), adam_next, adam)
    # (their rows of x are refreshed from v only when shown: ``shown_images``)

    finite = finite.at[new.index].set(finite[new.index] & v_ok)
    failed = jnp.where(alive & ~finite, t, failed)
    trace = jnp.where(t < theta.steps, val, jnp.nan)
    return (x, best_x, best_val, best_step, failed, v, adam), trace, val


def _pixel_update(x, g, val, t, theta, alive, best_x, best_val, best_step, new, lower, upper, radius):
    """The paper's step for the pixel elements (the new families' rows of x
    are left as they are): the best image so far, then x <- r_theta(x + lr g)
    where the element is alive and everything is finite. Returns (x, best_x,
    best_val, best_step, finite [N])."""
    pixel = jnp.ones(x.shape[0], bool).at[new.index].set(False)
    better = alive & pixel & (val > best_val)
    best_x = jnp.where(_per_pixel(better), x, best_x)
    best_val = jnp.where(better, val, best_val)
    best_step = jnp.where(better, t, best_step)

    g2 = jnp.sum(g * g, axis=(1, 2, 3))
    lr = jnp.where(theta.lr_policy == 1,
                   jnp.minimum(theta.lr, theta.desired_progress / jnp.maximum(g2, 1e-30)), theta.lr)
    y = x + _per_pixel(lr) * g
    y = R.decay(y, _per_pixel(theta.decay))
    y = R.blur_batch_if_due(y, t, theta.blur_width, theta.blur_every, radius)
    y = _batch_cond(theta.norm_pct > 0, lambda y: jax.vmap(R.clip_small_norm)(y, theta.norm_pct), y)
    y = _batch_cond(theta.contrib_pct > 0, lambda y: jax.vmap(R.clip_small_contribution)(y, g, theta.contrib_pct), y)
    y = R.clip_to_valid(y, lower, upper)
    # Percentile clipping can zero a NaN image, so the inputs of the step are checked too.
    finite = (jnp.isfinite(lr) & jnp.all(jnp.isfinite(g), axis=(1, 2, 3)) & jnp.all(jnp.isfinite(y), axis=(1, 2, 3)))
    x = jnp.where(_per_pixel(alive & finite & jnp.isfinite(val)), y, x)
    return x, best_x, best_val, best_step, finite


def no_new_families(h: int, w: int) -> tuple[NewFamilies, jax.Array, NetworkSpace]:
    """(an empty NewFamilies (M = 0), their empty variables, a NetworkSpace) for
    an h x w input: a pixel-only batch."""
    wh = w // 2 + 1
    new = NewFamilies(jnp.zeros((0,), jnp.int32), jnp.zeros((0,), jnp.int32), jnp.zeros((0,), bool),
                      jnp.zeros((0,), jnp.float32), jax.random.split(jax.random.key(0), 0), jnp.eye(3),
                      jnp.ones((3, h, wh)), jnp.ones((h, wh)), jnp.zeros((3,)), jnp.ones((3,)))
    v0 = jnp.zeros((0, *FAM.variables_shape(h, w)), jnp.float32)
    return new, v0, NetworkSpace(False, 1.0, FAM.robust_sizes(h, w))


def ascend(
    apply_fn,
    params,
    x0: jax.Array,
    units: Units,
    theta: Theta,
    lower: jax.Array,
    upper: jax.Array,
    *,
    layer: str,
    spatial: bool,
    max_steps: int,
    tokens=None,
    radius: int,
    crop=None,
    crop_corner: tuple[jax.Array, jax.Array] | None = None,
    observe=None,
    objective: "O.PerElement | None" = None,
    new: NewFamilies | None = None,
    v0: jax.Array | None = None,
    space: NetworkSpace | None = None,
) -> AscentOutput:
    """apply_fn(params, x, until) -> blobs (hashable, e.g. Net.apply); x0: [N, H, W, C];
    lower/upper: valid-range bounds broadcastable to x; radius: static blur
    kernel half-size >= every element's own (R.blur_radius(max width)).
    spatial / tokens: the layer's blob is a map / a token blob of that
    ``TokenLayout`` (neither: a vector); objectives.values reads it so.
    crop: an optional CropPlan (see crop.py) with per-element ``crop_corner``
    (y0, x0): the objective is then computed on receptive-field crops, exactly.
    observe: an optional ``observe(t, x_t)`` called after step t with the
    batch's current images (the live view streams them; it may raise to stop).
    objective: per-element objectives (objectives.PerElement; default: each
    element's unit as a neuron, no diversity). new, v0, space: the new
    families' elements, their start variables [M, 2, 3, H, W//2+1] and the
    static conversion (default: none, a pixel-only batch).

    The steps are dispatched from Python, one compiled ``ascent_step`` each
    (asynchronously: the host never waits inside the loop). A ``lax.scan``
    over the same step runs about 2x slower on XLA's CPU backend (measured:
    CaffeNet conv5, 165 vs 80 ms per step at batch 8)."""
    n, h, w = x0.shape[:3]
    if objective is None:
        objective = O.neurons(n)
    if new is None:
        new, v0, space = no_new_families(h, w)
    x0 = shown_images(x0, v0, new, space)
    statics = dict(layer=layer, spatial=spatial, tokens=tokens, radius=radius, crop=crop, space=space)
    # best_val strongly typed float32, like the step's output: a weakly typed start
    # value would make step 0 a second compiled program.
    best_val = jnp.full((n,), -jnp.inf, jnp.float32)
    carry = (x0, x0, best_val, jnp.zeros((n,), jnp.int32), jnp.full((n,), -1, jnp.int32), v0, ADAM.init(v0))
    traces = []
    redirect_until = int(np.max(np.asarray(objective.redirect_steps), initial=0))
    for t in range(max_steps + 1):
        # The extra last call only evaluates the final image (every element is past its steps).
        carry, trace, final = ascent_step(apply_fn, params, carry, jnp.int32(t), units, objective, theta, new,
                                          lower, upper, crop_corner, **statics, redirecting=t < redirect_until)
        traces.append(trace)
        if observe is not None and t < max_steps:
            observe(t + 1, shown_images(carry[0], carry[5], new, space))
    x, best_x, best_val, best_step, failed, v = carry[:6]
    x = shown_images(x, v, new, space)
    better = (failed < 0) & jnp.isfinite(final) & (final > best_val)
    # A new-family element keeps its last image (its last finite one if it failed).
    kept = better | jnp.zeros((n,), bool).at[new.index].set(True)
    best_x = jnp.where(_per_pixel(kept), x, best_x)
    best_val = jnp.where(better, final, best_val)
    best_step = jnp.where(better, jnp.minimum(theta.steps, max_steps), best_step)
    trace = jnp.stack(traces[:-1], axis=1) if max_steps else jnp.zeros((n, 0), jnp.float32)
    return AscentOutput(best_x, best_val, best_step, trace, final, failed)
