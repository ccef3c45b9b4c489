"""``train_dictionary(config, workdir)``: a TopK SAE (``jaxvis.dictionary.sae``)
learned with optax's Adam on one layer's activations, streamed from the demo
world or a folder of images (``jaxvis.dictionary.samples``). Step ``i``'s
samples are every place of images ``i * images_per_step`` onwards, so a
resumed run sees what an uninterrupted one would; the state (parameters,
Adam's moments, the dead-latent counter) is checkpointed with orbax every
``save_every`` steps, and a run killed at any moment resumes from the last
checkpoint to the same bytes. Each step's images are split across the local
devices (``jaxvis.sharding``), the state replicated. At the end the
dictionary is evaluated on held-out images and written to
``workdir/dictionary`` (``jaxvis.dictionary.store``).
"""

from __future__ import annotations

import os
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
import orbax.checkpoint as ocp
from absl import logging

import jaxvis
from jaxvis import config_checks as checks
from jaxvis import sharding
from jaxvis import workdir as wd
from jaxvis.analysis.sources import FolderImages, GeneratedImages
from jaxvis.dictionary import sae, samples
from jaxvis.dictionary.store import Dictionary, save
from jaxvis.errors import ConfigError, JaxvisError

DICTIONARY_DIR = "dictionary"


def image_source(config, net, seed_field: str = "shapes_seed"):
    """The training images: the demo world of ``config.shapes_seed`` (endless)
    or a folder (``config.source``), cycled in sorted order."""
    if config.source == "shapes":
        return GeneratedImages(int(config[seed_field]), 2 ** 62)
    return FolderImages(config.source, net)


def step_images(source, step: int, count: int) -> np.ndarray:
    """Images ``step * count`` onwards of the source (a folder cycles), uint8
    [count, h, w, 3]; a folder's files that do not decode are replaced by the
    step's decodable ones, in order (so every step has ``count`` images)."""
    n = len(source)
    lo = step * count
    if isinstance(source, GeneratedImages):
        return source.batch(lo, lo + count)[0]
    idx = [(lo + j) % n for j in range(count)]
    images, valid = zip(*(source.batch(i, i + 1) for i in idx))
    images, valid = np.concatenate(images), np.concatenate(valid)
    if not valid.any():
        raise JaxvisError(f"none of images {idx[0]}..{idx[-1]} of {source.folder} decodes; cannot train on them")
    good = np.flatnonzero(valid)
    return images[np.resize(good, count)] if not valid.all() else images


def check_config(config):
    """The fields a user sets, before anything is written or trained; returns the network's definition."""
    definition = checks.model(config)
    checks.weights(config)
    layer = checks.layer(definition, config, "layer")
    info = next(i for i in definition.table() if i.name == layer)
    checks.source(config)
    checks.integer(config, "shapes_seed", 0)
    checks.integer(config, "eval_seed", 0)
    checks.integer(config, "eval_images", 1)
    checks.integer(config, "images_per_step", 1)
    checks.integer(config, "steps", 1)
    expansion = checks.integer(config, "expansion", 1)
    k = checks.integer(config, "k", 1)
    if k > expansion * info.channels:
        raise ConfigError(f"config.k: {k} codes per sample is more than the {expansion * info.channels} latents "
                          f"(expansion {expansion} x {info.channels} channels of {layer!r})")
    checks.integer(config, "k_aux", 0)
    checks.number(config, "learning_rate", positive=True)
    checks.integer(config, "warmup_steps", 0)
    checks.integer(config, "dead_after", 1)
    checks.integer(config, "seed", 0)
    checks.integer(config, "save_every", 1)
    checks.integer(config, "log_every", 1)
    return definition


def update(state: dict, a: jax.Array, tx, k: int, k_aux: int, dead_after: int) -> tuple[dict, dict]:
    """One training step of the SAE on samples ``a`` [n, d]: the loss's
    gradient with the decoder's radial component projected out, the optimizer
    step, the decoder renormalised, the dead-latent counter advanced."""
    dead = sae.DeadTracker.dead(state["since_fired"], dead_after)
    (loss, m), grads = jax.value_and_grad(sae.losses, has_aux=True)(state["params"], a, dead, k, k_aux)
    grads = sae.project_decoder_grads(state["params"], grads)
    updates, opt_state = tx.update(grads, state["opt_state"], state["params"])
    params = sae.normalize_decoder(optax.apply_updates(state["params"], updates))
    since = sae.DeadTracker.update(state["since_fired"], m["codes"])
    metrics = {"loss": loss, "nmse": m["nmse"], "aux": m["aux"], "l0": m["l0"],
               "dead": jnp.mean(sae.DeadTracker.dead(since, dead_after))}
    return {"step": state["step"] + 1, "params": params, "opt_state": opt_state, "since_fired": since}, metrics


def new_state(params: dict, tx) -> dict:
    """The training state at step 0 of SAE parameters ``params``: the optimizer's
    state, and no latent silent yet."""
    latents = params["b_enc"].shape[0]
    return {"step": jnp.zeros((), jnp.int32), "params": params, "opt_state": tx.init(params),
            "since_fired": jnp.zeros((latents,), jnp.int32)}


def make_step(net, layer: str, tx, k: int, k_aux: int, dead_after: int):
    """The jitted step: (state, network params, images) -> (state, metrics)."""
    forward, info = net.forward, net.layer(layer)

    def step(state, net_params, x):
        a = samples.from_blob(forward(net_params, x, until=layer)[layer], info)
        return update(state, a, tx, k, k_aux, dead_after)

    return jax.jit(step, donate_argnums=0)


def evaluate(net, layer: str, params: dict, k: int, images: np.ndarray, batch: int = 64) -> dict:
    """Normalised MSE, fraction of variance explained, L0 and the fraction of
    latents that never fire, on every sample of ``images``."""
    info = net.layer(layer)
    blob = jax.jit(lambda p, x: samples.from_blob(net.forward(p, x, until=layer)[layer], info))
    err = l0 = count = 0.0
    fired = np.zeros(params["W_enc"].shape[0], bool)
    sums, squares = 0.0, 0.0
    for lo in range(0, len(images), batch):
        a = blob(net.params, net.preprocess(images[lo:lo + batch]))
        z = sae.encode(params, a, k)
        err += float(jnp.sum(jnp.square(a - sae.decode(params, z))))
        sums = sums + np.asarray(jnp.sum(a, axis=0), np.float64)
        squares = squares + np.asarray(jnp.sum(jnp.square(a), axis=0), np.float64)
        l0 += float(jnp.sum(z > 0))
        count += a.shape[0]
        fired |= np.asarray(jnp.any(z > 0, axis=0))
    total = float(np.sum(squares - sums ** 2 / count))  # |a - mean(a)|² over the whole set
    nmse = err / max(total, 1e-30)
    return {"nmse": nmse, "fve": 1.0 - nmse, "l0": l0 / count, "never_fired": float(1.0 - fired.mean()),
            "samples": int(count)}


def _initial_state(config, net, layer, tx, source, latents: int, resuming: bool) -> dict:
    """b_pre at the geometric median of step 0's samples (zeros when ``resuming``:
    the checkpoint replaces them); the rest ``sae.init_params``."""
    info = net.layer(layer)
    if resuming:
        b_pre = np.zeros(info.channels)
    else:
        first = step_images(source, 0, int(config.images_per_step))
        b_pre = sae.geometric_median(np.asarray(samples.from_blob(
            net.blobs(net.preprocess(first), until=layer)[layer], info)))
    return new_state(sae.init_params(info.channels, latents, int(config.seed), b_pre), tx)


def _bar(fraction: float, width: int = 24) -> str:
    filled = int(round(fraction * width))
    return "[" + "#" * filled + "." * (width - filled) + "]"


def train_dictionary(config, workdir: str):
    """Trains (or resumes) the dictionary of ``config``; returns it (also written to ``workdir/dictionary``)."""
    check_config(config)
    wd.claim(workdir, config.to_dict())
    net = jaxvis.load_model(config.model, weights=config.weights or None)
    layer = config.layer
    info = samples.check_layer(net, layer)
    latents, k = int(config.expansion) * info.channels, int(config.k)
    k_aux = int(config.k_aux) or sae.default_k_aux(info.channels)
    steps = int(config.steps)
    tx = optax.adam(optax.warmup_constant_schedule(0.0, float(config.learning_rate), int(config.warmup_steps)))
    source = image_source(config, net)
    mesh = sharding.local_mesh(divides=int(config.images_per_step))
    manager = ocp.CheckpointManager(
        os.path.abspath(os.path.join(workdir, "checkpoints")),
        options=ocp.CheckpointManagerOptions(create=True, enable_async_checkpointing=False, max_to_keep=2),
        item_names=("state",))
    start = manager.latest_step() or 0
    state = sharding.replicate(_initial_state(config, net, layer, tx, source, latents, bool(start)), mesh)
    net_params = sharding.replicate(net.params, mesh)
    if start:
        state = manager.restore(start, args=ocp.args.Composite(state=ocp.args.StandardRestore(state)))["state"]
        logging.info("resuming %s from step %d", workdir, start)
    step_fn = make_step(net, layer, tx, k, k_aux, int(config.dead_after))
    per_step = int(config.images_per_step) * samples.per_image(info)
    logging.info("dictionary of %d latents (k=%d, k_aux=%d) on %s %r (%d channels), %d samples per step, "
                 "%d device(s)", latents, k, k_aux, net.name, layer, info.channels, per_step, mesh.size)
    t0, window = time.time(), []
    for step in range(start, steps):
        x = sharding.shard_batch(net.preprocess(step_images(source, step, int(config.images_per_step))), mesh)
        state, metrics = step_fn(state, net_params, x)
        window.append(metrics)
        if (step + 1) % int(config.log_every) == 0 or step + 1 == steps:
            m = {key: float(np.mean([w[key] for w in jax.device_get(window)])) for key in window[0]}
            rate = (step + 1 - start) * per_step / (time.time() - t0)
            eta = (steps - step - 1) * per_step / rate
            logging.info("step %d/%d %s  nmse %.4f  fve %.3f  L0 %.1f  dead %.3f  %.0f samples/s  eta %dm%02ds",
                         step + 1, steps, _bar((step + 1) / steps), m["nmse"], 1 - m["nmse"], m["l0"], m["dead"],
                         rate, eta // 60, eta % 60)
            window = []
        if (step + 1) % int(config.save_every) == 0 or step + 1 == steps:
            manager.save(step + 1, args=ocp.args.Composite(state=ocp.args.StandardSave(state)))
    manager.wait_until_finished()
    params = {key: np.asarray(v, np.float32) for key, v in jax.device_get(state["params"]).items()}
    held_out = GeneratedImages(int(config.eval_seed), int(config.eval_images)) if config.source == "shapes" else None
    if held_out is not None:
        metrics = evaluate(net, layer, params, k, held_out.batch(0, len(held_out))[0])
    else:  # a folder: the last step's images stand in (no held-out set is declared)
        metrics = evaluate(net, layer, params, k, step_images(source, steps - 1, int(config.images_per_step)))
    metrics["dead_at_end"] = float(np.mean(np.asarray(jax.device_get(state["since_fired"])) >= int(config.dead_after)))
    dictionary = Dictionary(params, net.name, config.weights, layer, k, {
        "k_aux": k_aux, "steps": steps, "samples_seen": steps * per_step, "dead_after": int(config.dead_after),
        "source": config.source, "metrics": metrics,
        "evaluated_on": (f"{config.eval_images} generated images of seed {config.eval_seed}" if held_out is not None
                         else f"the last step's {config.images_per_step} images of {config.source}")})
    save(os.path.join(workdir, DICTIONARY_DIR), dictionary)
    logging.info("dictionary written to %s: held-out nmse %.4f (fve %.3f), L0 %.1f, never fired %.3f",
                 os.path.join(workdir, DICTIONARY_DIR), metrics["nmse"], metrics["fve"], metrics["l0"],
                 metrics["never_fired"])
    return dictionary
