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
from jaxvis.optimize import families as FAM
from jaxvis.optimize import objectives as O
from jaxvis.optimize import regularizers as R
from jaxvis.optimize.ascent import (LR_POLICIES, START_IMAGES, NetworkSpace, NewFamilies, Theta, Units, ascend,
                                    no_new_families, start_images)
from jaxvis.optimize.fourier import spectrum_scale
from jaxvis.optimize.crop import plan_crop
from jaxvis.optimize.presets import preset as load_preset
from jaxvis.optimize.units import parse_unit

log = logging.getLogger("jaxvis")
OVERRIDES = ("steps", "lr", "desired_progress", "lr_policy", "decay", "blur_width", "blur_every",
             "norm_pct", "contrib_pct", "start", "family", "transforms", "diversity", "objective", "redirect_steps")
# The settings the new families added, with the values that keep older preset files the paper's ascent.
NEW_SETTINGS = {"family": "pixel", "transforms": False, "diversity": 0.0, "objective": "neuron", "redirect_steps": 0}


@dataclasses.dataclass
class VisResult:
    """Arrays are [N_units, restarts, ...] in the order of ``units``."""

    units: list  # (layer, channel, y, x) per unit, or the objective (objectives.Objective) it was given as
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
    pixel = families(settings, n) == FAM.PIXEL

    def paper(name, dtype):  # the paper's regularizers act on pixel-family elements only
        return jnp.asarray(np.where(pixel, np.broadcast_to(np.asarray(settings[name]), (n,)), 0), dtype)

    theta = Theta(
        decay=paper("decay", jnp.float32), blur_width=paper("blur_width", jnp.float32),
        blur_every=paper("blur_every", jnp.int32), norm_pct=paper("norm_pct", jnp.float32),
        contrib_pct=paper("contrib_pct", jnp.float32),
        lr_policy=jnp.asarray(np.where(pixel, np.broadcast_to(policy, (n,)), 0), jnp.int32), lr=arr("lr", jnp.float32),
        desired_progress=arr("desired_progress", jnp.float32), steps=arr("steps", jnp.int32),
    )
    return theta, np.broadcast_to(start, (n,))


def families(settings: dict, n: int) -> np.ndarray:
    """Each element's family index [n] (families.FAMILIES); pixel when unset."""
    names = np.broadcast_to(np.asarray(settings.get("family", "pixel")), (n,))
    return np.array([FAM.FAMILIES.index(str(f)) for f in names], np.int32)


NUMBERS = ("decay", "blur_width", "blur_every", "norm_pct", "contrib_pct", "steps", "lr", "desired_progress",
           "diversity", "redirect_steps")


def check_settings(settings: dict) -> None:
    """ConfigError naming the first setting (a scalar or per-element array) outside
    its range. The new families' settings (NEW_SETTINGS) are filled in when absent."""
    settings = {**NEW_SETTINGS, **settings}
    for name, allowed in (("lr_policy", LR_POLICIES), ("start", START_IMAGES), ("family", FAM.FAMILIES),
                          ("objective", O.KINDS)):
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
    for name in ("steps", "blur_every", "redirect_steps"):
        v = values[name]
        if np.any((v < 0) | (v != np.round(v))):
            raise ConfigError(f"{name} must be an integer >= 0, got {settings[name]!r}")
    if np.any((values["decay"] < 0) | (values["decay"] > 1)):
        raise ConfigError(f"decay is a fraction in 0..1, got {settings['decay']!r}")
    if np.any(values["blur_width"] < 0):
        raise ConfigError(f"blur_width must be >= 0, got {settings['blur_width']!r}")
    if np.any(values["diversity"] < 0):
        raise ConfigError(f"diversity must be >= 0, got {settings['diversity']!r}")
    if not np.all(np.isin(np.atleast_1d(np.asarray(settings["transforms"], object)), (True, False))):
        raise ConfigError(f"transforms must be True or False, got {settings['transforms']!r}")
    new = np.atleast_1d(np.asarray(settings["family"])) != "pixel"
    if np.any(new & np.broadcast_to(values["lr"] <= 0, new.shape)):
        raise ConfigError(f"lr (Adam's, for the fourier and maco families) must be > 0, got {settings['lr']!r}")


def has_crops(net) -> bool:
    """Whether the ascent can use receptive-field crops: they need the layer
    tuple of a sequential network (crop.py)."""
    return net.definition.layers is not None


def run_layer(net, layer: str, channels, ys, xs, keys, settings: dict, max_steps: int | None = None,
              use_crops: bool = True, observe=None, groups=None, kinds=None, weights=None, statistics=None):
    """Low-level batched run for one layer: every argument is a per-element
    array [N] (settings values may be scalars). Returns an AscentOutput of numpy
    arrays. ``use_crops``: compute the objective on receptive-field crops when
    that is exact (crop.py); False forces the whole image. ``observe``: see
    ``ascent.ascend`` (it sees the padded batch when several devices share it).
    ``groups`` [N]: the diversity term compares elements of one group (default:
    each element alone). ``kinds`` [N] (objectives.NEURON / CHANNEL / WEIGHTS;
    default: settings' ``objective``) and ``weights`` [N, *blob] (WEIGHTS
    elements' maps). ``statistics``: the new families' ColorStatistics
    (default: families.color_statistics(net), computed only when needed)."""
    n = len(channels)
    settings = {**NEW_SETTINGS, **settings}
    check_settings(settings)
    theta, start = theta_arrays(settings, n)
    family = families(settings, n)
    max_steps = int(np.max(np.asarray(theta.steps))) if max_steps is None else max_steps
    radius = R.blur_radius(float(np.max(np.asarray(theta.blur_width))))
    spec = net.spec
    shape = net.definition.input_shape
    mean = jnp.asarray(spec.mean_array())
    std = jnp.asarray(np.asarray(spec.std, np.float32))
    x0 = jax.vmap(lambda k, s: start_images(k, s, shape, mean, spec.scale, std))(keys, jnp.asarray(start))
    lower, upper = (jnp.asarray(b) for b in valid_bounds(spec))
    units = Units(jnp.asarray(channels, jnp.int32), jnp.asarray(ys, jnp.int32), jnp.asarray(xs, jnp.int32))
    if kinds is None:
        kinds = np.vectorize(O.KINDS.index)(np.broadcast_to(np.asarray(settings["objective"]), (n,)))
    kinds = np.broadcast_to(np.asarray(kinds, np.int32), (n,))
    diversity = np.broadcast_to(np.asarray(settings["diversity"], np.float32), (n,))
    groups = np.arange(n, dtype=np.int32) if groups is None else np.asarray(groups, np.int32)
    new_index = np.flatnonzero(family != FAM.PIXEL).astype(np.int32)
    # Crops are exact for neuron objectives of every family: the crop is taken from
    # the image the network sees (transformed, for the new families); the diversity
    # term wants the whole blob.
    croppable = np.all(kinds == O.NEURON) and not np.any(diversity)
    plan, y0, cx0 = (plan_crop(net.layer(layer), ys, xs, shape[:2], net.definition.layers)
                     if use_crops and croppable and has_crops(net) else (None, ys, xs))
    corner = (jnp.asarray(y0, jnp.int32), jnp.asarray(cx0, jnp.int32)) if plan else None
    new, v0, space = _new_families(net, settings, family, new_index, keys, statistics, mean, std)
    redirect = np.broadcast_to(np.asarray(settings["redirect_steps"], np.int32), (n,))
    objective = (jnp.asarray(kinds), None if weights is None else jnp.asarray(weights, jnp.float32),
                 jnp.asarray(diversity), jnp.asarray(groups), jnp.asarray(redirect))
    per_element, shared = (x0, units, theta, corner, objective), (net.params, lower, upper)
    mesh = sharding.local_mesh()
    if mesh.size > 1:  # every local device takes a slice of the batch
        size = sharding.padded_size(n, mesh.size)
        per_element = sharding.pad_batch(per_element, n, size)
        kind, w, div, grp, red = per_element[4]  # padding is alone in its group, without diversity
        real = np.arange(size) < n
        per_element = (*per_element[:4], (kind, w, np.where(real, div, 0).astype(np.float32),
                                          np.where(real, grp, -1 - np.arange(size)).astype(np.int32), red))
        per_element, shared = sharding.place(per_element, shared, mesh)
    (x0, units, theta, corner, objective), (params, lower, upper) = per_element, shared
    info = net.layer(layer)
    out = ascend(net.forward, params, x0, units, theta, lower, upper, layer=layer,
                 spatial=info.spatial, tokens=info.tokens, max_steps=max_steps, radius=radius,
                 crop=plan, crop_corner=corner, observe=observe, objective=O.PerElement(*objective),
                 new=new, v0=v0, space=space)
    return jax.tree_util.tree_map(lambda a: np.asarray(a)[:n], out)


INIT_SD = 0.01  # the fourier family's start: pixel std before the sigmoid (near grey, as Lucid's)


def _new_families(net, settings, family, index, keys, statistics, mean, std):
    """(NewFamilies, start variables, NetworkSpace) for the elements ``index``;
    ``mean`` and ``std``: the network's preprocessing arrays."""
    spec = net.spec
    h, w = net.definition.input_shape[:2]
    if not index.size:
        return no_new_families(h, w)
    n = len(family)
    if statistics is None:
        statistics = FAM.color_statistics(net)
    lr = np.broadcast_to(np.asarray(settings["lr"], np.float32), (n,))[index]
    transforms = np.broadcast_to(np.asarray(settings["transforms"], bool), (n,))[index]
    sub_keys = keys[jnp.asarray(index)]
    fam = jnp.asarray(family[index])
    new = NewFamilies(jnp.asarray(index), fam, jnp.asarray(transforms), jnp.asarray(lr), sub_keys,
                      jnp.asarray(statistics.matrix, jnp.float32), jnp.asarray(statistics.magnitude, jnp.float32),
                      spectrum_scale(h, w), mean, std)
    shape = FAM.variables_shape(h, w)
    v0 = jax.vmap(lambda k, f: FAM.init_variables(k, f, shape, INIT_SD))(sub_keys, fam)
    space = NetworkSpace(spec.channel_order == "BGR", float(spec.scale), FAM.robust_sizes(h, w))
    return new, v0.reshape(len(index), *shape), space


def scale_lr(net, settings: dict) -> dict:
    """settings with the pixel family's lr multiplied by the model's declared
    ``ascent_lr_scale`` (presets give it in CaffeNet's units); Adam's lr of the
    new families is unit-free and kept. lr may be a number or an array."""
    lr = np.asarray(settings["lr"], np.float64)
    pixel = np.asarray(settings.get("family", "pixel")) == "pixel"
    scaled = np.where(pixel, lr * net.definition.ascent_lr_scale, lr)
    return {**settings, "lr": float(scaled) if scaled.ndim == 0 else scaled}


def family_lr(family) -> float:
    """The learning rate of ``family``'s own preset (row3 for pixel), for a
    family override that gives none."""
    if family not in FAM.FAMILIES:
        raise ConfigError(f"family must be one of {', '.join(FAM.FAMILIES)}, got {family!r}")
    return float(load_preset("row3" if family == "pixel" else family).lr)


def restart_keys(seed: int, restarts: int) -> jax.Array:
    """Restart r starts from key fold_in(seed, r), whatever the unit or batch."""
    return jax.vmap(lambda r: jax.random.fold_in(jax.random.key(seed), r))(jnp.arange(restarts))


def visualize(net, units, preset: str = "row3", restarts: int = 9, seed: int = 0, statistics=None,
              **overrides) -> VisResult:
    """Optimises an image for each unit, ``restarts`` times (restart r starts
    from key fold_in(seed, r), the same for every unit). A unit is (layer,
    channel) or (layer, channel, y, x), or any objective of
    ``jaxvis.objectives`` (neuron, channel, direction, class_logit and their
    weighted sums). ``preset``: Table 1's rows (the paper's pixel ascent),
    ``fourier`` or ``maco`` (Adam, transforms), or FILE.py:NAME.
    ``overrides`` replace preset values: steps, lr, desired_progress,
    lr_policy, decay, blur_width, blur_every, norm_pct, contrib_pct, start,
    family, transforms, diversity (across a unit's restarts), redirect_steps, objective
    ("neuron" or "channel": what a (layer, channel) unit means). Without an lr
    override the pixel family's lr is multiplied by the model's
    ``ascent_lr_scale`` (1 for the Caffe zoo, 100 for the demo networks);
    ``result.theta`` holds what ran. ``statistics``: the new families'
    families.ColorStatistics (default: families.color_statistics(net))."""
    unknown = set(overrides) - set(OVERRIDES)
    if unknown:
        raise ConfigError(f"unknown override(s) {', '.join(sorted(unknown))}; known: {', '.join(OVERRIDES)}")
    if isinstance(restarts, bool) or not isinstance(restarts, numbers.Integral) or restarts < 1:
        raise ConfigError(f"restarts must be an integer >= 1, got {restarts!r}")
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise ConfigError(f"seed must be an integer, got {seed!r}")
    settings = {**NEW_SETTINGS, **load_preset(preset).to_dict()}
    if "family" in overrides and "lr" not in overrides and overrides["family"] != settings["family"]:
        settings["lr"] = family_lr(overrides["family"])  # another family's lr is in other units
    settings.update(overrides)
    check_settings(settings)  # before anything is sized by steps
    if "lr" not in overrides:
        settings = scale_lr(net, settings)
    if isinstance(units, (str, bytes)) or not hasattr(units, "__iter__"):
        raise ConfigError(f"units must be a list of (layer, channel) or (layer, channel, y, x), or objectives; "
                          f"got {units!r}")
    kind = O.KINDS.index(settings["objective"])
    parsed = [u if isinstance(u, O.Objective) else parse_unit(net, u) for u in units]
    compiled = [O.compile_one(net, u) if isinstance(u, O.Objective) else (u[0], kind, *u[1:], None) for u in parsed]
    steps = int(settings["steps"])
    u_count, shape = len(parsed), net.definition.input_shape
    best_x = np.zeros((u_count, restarts, *shape), np.float32)
    best_value = np.zeros((u_count, restarts), np.float32)
    best_step = np.zeros((u_count, restarts), np.int32)
    failed = np.full((u_count, restarts), -1, np.int32)
    trace = np.zeros((u_count, restarts, steps), np.float32)
    keys_r = restart_keys(seed, restarts)
    if statistics is None and settings["family"] != "pixel":
        statistics = FAM.color_statistics(net)
    for layer in dict.fromkeys(c[0] for c in compiled):
        idx = [i for i, c in enumerate(compiled) if c[0] == layer]
        cols = np.array([compiled[i][1:5] for i in idx]).repeat(restarts, axis=0)
        maps = [compiled[i][5] for i in idx]
        weights = None
        if any(m is not None for m in maps):
            blank = np.zeros(next(m for m in maps if m is not None).shape, np.float32)
            weights = np.stack([blank if m is None else m for m in maps]).repeat(restarts, axis=0)
        keys = jnp.tile(keys_r, len(idx))
        out = run_layer(net, layer, cols[:, 1], cols[:, 2], cols[:, 3], keys, settings, groups=np.repeat(idx, restarts),
                        kinds=cols[:, 0], weights=weights, statistics=statistics)
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
