"""``jaxvis.visualize``: regularized activation maximisation of many units,
restarts and hyperparameter settings in one compiled program per layer."""

from __future__ import annotations

import dataclasses
import logging
import numbers

import jax
import jax.numpy as jnp
import numpy as np

from jaxvis import sharding
from jaxvis.errors import ConfigError
from jaxvis.optimize import regularizers as R
from jaxvis.optimize.ascent import LR_POLICIES, START_IMAGES, Theta, Units, ascend, start_images
from jaxvis.optimize.crop import plan_crop
from jaxvis.optimize.presets import preset as load_preset
from jaxvis.optimize.units import parse_unit

log = logging.getLogger("jaxvis")
OVERRIDES = ("steps", "lr", "desired_progress", "lr_policy", "decay", "blur_width", "blur_every",
             "norm_pct", "contrib_pct", "start")


@dataclasses.dataclass
class VisResult:
    """Arrays are [N_units, restarts, ...] in the order of ``units``."""

    units: list[tuple[str, int, int, int]]
    images: np.ndarray  # uint8 RGB [U, R, H, W, 3], de-processed best images
    x: np.ndarray  # [U, R, H, W, C] float32 best images in network space
    best_value: np.ndarray  # [U, R]
    best_step: np.ndarray  # [U, R]
    trace: np.ndarray  # [U, R, steps] objective per step
    failed_step: np.ndarray  # [U, R] step where the value went non-finite, -1 if never
    theta: dict


def valid_bounds(spec) -> tuple[np.ndarray, np.ndarray]:
    """Network-space images of pixel values 0 and 255 (per channel or per pixel)."""
    mean, std = spec.mean_array(), np.asarray(spec.std, np.float32)
    return (0.0 - mean) / std, (255.0 * spec.scale - mean) / std


def theta_arrays(settings: dict, n: int) -> tuple[Theta, np.ndarray]:
    """Broadcasts scalar or per-element settings to a Theta of [n] arrays, plus start kinds."""
    def arr(name, dtype):
        v = np.broadcast_to(np.asarray(settings[name]), (n,))
        return jnp.asarray(v, dtype)

    policy = np.vectorize(LR_POLICIES.index)(np.asarray(settings["lr_policy"]))
    start = np.vectorize(START_IMAGES.index)(np.asarray(settings["start"]))
    theta = Theta(
        decay=arr("decay", jnp.float32), blur_width=arr("blur_width", jnp.float32),
        blur_every=arr("blur_every", jnp.int32), norm_pct=arr("norm_pct", jnp.float32),
        contrib_pct=arr("contrib_pct", jnp.float32),
        lr_policy=jnp.asarray(np.broadcast_to(policy, (n,)), jnp.int32), lr=arr("lr", jnp.float32),
        desired_progress=arr("desired_progress", jnp.float32), steps=arr("steps", jnp.int32),
    )
    return theta, np.broadcast_to(start, (n,))


NUMBERS = ("decay", "blur_width", "blur_every", "norm_pct", "contrib_pct", "steps", "lr", "desired_progress")


def check_settings(settings: dict) -> None:
    """ConfigError naming the first setting (a scalar or per-element array) outside its range."""
    for name, allowed in (("lr_policy", LR_POLICIES), ("start", START_IMAGES)):
        bad = set(np.atleast_1d(np.asarray(settings[name])).tolist()) - set(allowed)
        if bad:
            raise ConfigError(f"{name} must be one of {', '.join(allowed)}; got {', '.join(map(str, bad))}")
    values = {}
    for name in NUMBERS:
        try:
            values[name] = v = np.asarray(settings[name], np.float64)
        except (TypeError, ValueError):
            raise ConfigError(f"{name} must be a number, got {settings[name]!r}") from None
        if not np.all(np.isfinite(v)):
            raise ConfigError(f"{name} must be finite, got {settings[name]!r}")
    for name in ("norm_pct", "contrib_pct"):
        v = values[name]
        if np.any((v < 0) | (v > 100)):
            raise ConfigError(f"{name} is a percentile in 0..100, got {v.min()}..{v.max()}")
    for name in ("steps", "blur_every"):
        v = values[name]
        if np.any((v < 0) | (v != np.round(v))):
            raise ConfigError(f"{name} must be an integer >= 0, got {settings[name]!r}")
    if np.any((values["decay"] < 0) | (values["decay"] > 1)):
        raise ConfigError(f"decay is a fraction in 0..1, got {settings['decay']!r}")
    if np.any(values["blur_width"] < 0):
        raise ConfigError(f"blur_width must be >= 0, got {settings['blur_width']!r}")


def has_crops(net) -> bool:
    """Whether the ascent can use receptive-field crops: they need the layer
    tuple of a sequential network (crop.py)."""
    return net.definition.layers is not None


def run_layer(net, layer: str, channels, ys, xs, keys, settings: dict, max_steps: int | None = None,
              use_crops: bool = True, observe=None):
    """Low-level batched run for one layer: every argument is a per-element
    array [N] (settings values may be scalars). Returns an AscentOutput of numpy
    arrays. ``use_crops``: compute the objective on receptive-field crops when
    that is exact (crop.py); False forces the whole image. ``observe``: see
    ``ascent.ascend`` (it sees the padded batch when several devices share it)."""
    n = len(channels)
    check_settings(settings)
    theta, start = theta_arrays(settings, n)
    max_steps = int(np.max(np.asarray(theta.steps))) if max_steps is None else max_steps
    radius = R.blur_radius(float(np.max(np.asarray(theta.blur_width))))
    spec = net.spec
    shape = net.definition.input_shape
    mean = jnp.asarray(spec.mean_array())
    std = jnp.asarray(np.asarray(spec.std, np.float32))
    x0 = jax.vmap(lambda k, s: start_images(k, s, shape, mean, spec.scale, std))(keys, jnp.asarray(start))
    lower, upper = (jnp.asarray(b) for b in valid_bounds(spec))
    units = Units(jnp.asarray(channels, jnp.int32), jnp.asarray(ys, jnp.int32), jnp.asarray(xs, jnp.int32))
    plan, y0, cx0 = (plan_crop(net.layer(layer), ys, xs, shape[:2], net.definition.layers)
                     if use_crops and has_crops(net) else (None, ys, xs))
    corner = (jnp.asarray(y0, jnp.int32), jnp.asarray(cx0, jnp.int32)) if plan else None
    per_element, shared = (x0, units, theta, corner), (net.params, lower, upper)
    mesh = sharding.local_mesh()
    if mesh.size > 1:  # every local device takes a slice of the batch
        per_element = sharding.pad_batch(per_element, n, sharding.padded_size(n, mesh.size))
        per_element, shared = sharding.place(per_element, shared, mesh)
    (x0, units, theta, corner), (params, lower, upper) = per_element, shared
    out = ascend(net.forward, params, x0, units, theta, lower, upper, layer=layer,
                 spatial=net.layer(layer).spatial, max_steps=max_steps, radius=radius,
                 crop=plan, crop_corner=corner, observe=observe)
    return jax.tree_util.tree_map(lambda a: np.asarray(a)[:n], out)


def scale_lr(net, settings: dict) -> dict:
    """settings with lr multiplied by the model's declared ``ascent_lr_scale``
    (presets give lr in CaffeNet's units); lr may be a number or an array."""
    return {**settings, "lr": settings["lr"] * net.definition.ascent_lr_scale}


def restart_keys(seed: int, restarts: int) -> jax.Array:
    """Restart r starts from key fold_in(seed, r), whatever the unit or batch."""
    return jax.vmap(lambda r: jax.random.fold_in(jax.random.key(seed), r))(jnp.arange(restarts))


def visualize(net, units, preset: str = "row3", restarts: int = 9, seed: int = 0, **overrides) -> VisResult:
    """Optimises an image for each unit, ``restarts`` times (restart r starts
    from key fold_in(seed, r), the same for every unit). ``overrides`` replace
    preset values: steps, lr, desired_progress, lr_policy, decay, blur_width,
    blur_every, norm_pct, contrib_pct, start. Without an lr override the
    preset's lr is multiplied by the model's ``ascent_lr_scale`` (1 for the
    Caffe zoo, 100 for the demo networks); ``result.theta`` holds what ran."""
    unknown = set(overrides) - set(OVERRIDES)
    if unknown:
        raise ConfigError(f"unknown override(s) {', '.join(sorted(unknown))}; known: {', '.join(OVERRIDES)}")
    if isinstance(restarts, bool) or not isinstance(restarts, numbers.Integral) or restarts < 1:
        raise ConfigError(f"restarts must be an integer >= 1, got {restarts!r}")
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise ConfigError(f"seed must be an integer, got {seed!r}")
    settings = scale_lr(net, load_preset(preset).to_dict())
    settings.update(overrides)
    check_settings(settings)  # before anything is sized by steps
    if isinstance(units, (str, bytes)) or not hasattr(units, "__iter__"):
        raise ConfigError(f"units must be a list of (layer, channel) or (layer, channel, y, x), got {units!r}")
    parsed = [parse_unit(net, u) for u in units]
    steps = int(settings["steps"])
    u_count, shape = len(parsed), net.definition.input_shape
    best_x = np.zeros((u_count, restarts, *shape), np.float32)
    best_value = np.zeros((u_count, restarts), np.float32)
    best_step = np.zeros((u_count, restarts), np.int32)
    failed = np.full((u_count, restarts), -1, np.int32)
    trace = np.zeros((u_count, restarts, steps), np.float32)
    keys_r = restart_keys(seed, restarts)
    for layer in dict.fromkeys(p[0] for p in parsed):
        idx = [i for i, p in enumerate(parsed) if p[0] == layer]
        cols = np.array([parsed[i][1:] for i in idx]).repeat(restarts, axis=0)
        keys = jnp.tile(keys_r, len(idx))
        out = run_layer(net, layer, cols[:, 0], cols[:, 1], cols[:, 2], keys, settings)
        best_x[idx] = out.best_x.reshape(len(idx), restarts, *shape)
        best_value[idx] = out.best_value.reshape(len(idx), restarts)
        best_step[idx] = out.best_step.reshape(len(idx), restarts)
        failed[idx] = out.failed_step.reshape(len(idx), restarts)
        trace[idx] = out.trace.reshape(len(idx), restarts, steps)
    for u, r in zip(*np.nonzero(failed >= 0)):
        log.warning("unit %s restart %d: objective or image became non-finite at step %d; kept its last finite image",
                    parsed[u], r, failed[u, r])
    images = net.deprocess(best_x.reshape(-1, *shape)).reshape(u_count, restarts, *shape[:2], 3)
    return VisResult(parsed, images, best_x, best_value, best_step, trace, failed, settings)
