"""``train_and_evaluate(config, workdir)``: trains a demo-family network (the
sequential CNNs ``demo``, ``demo_b`` and the function-defined ``demo_vit``) on
fresh generated images (batch ``i`` of the run is a pure function of the data
seed and ``i``, so a resumed run sees exactly the data an uninterrupted one
would), data-parallel over the local devices (each batch split across them,
the weights replicated: the step of one device up to float rounding; on a
CPU, ``jaxvis train`` makes one device per core), checkpoints every epoch
with orbax, evaluates on a held-out seed, and exports jaxvis model
directories: ``workdir/model`` (final) and ``workdir/evolution/epoch_NNN``
at the configured epochs (Zeiler & Fergus Fig. 4 scaled to this run).
"""

from __future__ import annotations

import dataclasses
import os
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
import orbax.checkpoint as ocp
from absl import logging

from jaxvis import config_checks as checks
from jaxvis import sharding
from jaxvis import workdir as wd
from jaxvis.data import shapes
from jaxvis.data.preprocess import preprocess
from jaxvis.errors import ArchitectureMismatchError, ConfigError
from jaxvis.models.function_def import FunctionDef
from jaxvis.models.registry import get_model_def, model_names
from jaxvis.net import first_parametric_layer, init_params, input_std
from jaxvis.weights import checkpoint


def optimizer(config, definition, total_steps: int) -> optax.GradientTransformation:
    """AdamW with warmup and cosine decay. Adam's steps have the same size for
    every weight, but a sequential network's first-layer weights are ~64x
    smaller (its inputs are pixels on the 0..255 scale), so its learning rate
    is divided by the same input std that ``init_params`` divides its weights
    by. A FunctionDef network (``demo_vit``) takes inputs of unit scale and
    its own initialisation: one rate for all its weights, weight decay on its
    matrices only (not on biases, LayerNorm scales or layer scales)."""
    schedule = optax.warmup_cosine_decay_schedule(
        0.0, config.learning_rate, config.warmup_steps, total_steps, end_value=config.learning_rate * 0.01
    )
    if isinstance(definition, FunctionDef):
        return optax.adamw(schedule, weight_decay=config.weight_decay,
                           mask=lambda params: jax.tree.map(lambda a: a.ndim >= 2, params))
    scale = input_std(definition.spec)
    first = first_parametric_layer(definition)
    return optax.multi_transform(
        {
            "first": optax.adamw(lambda step: schedule(step) / scale, weight_decay=config.weight_decay),
            "rest": optax.adamw(schedule, weight_decay=config.weight_decay),
        },
        lambda params: {name: jax.tree_util.tree_map(lambda _: "first" if name == first else "rest", sub)
                        for name, sub in params.items()},
    )


def dataset_mean_bgr(seed: int, count: int = 2000) -> tuple[float, float, float]:
    """Per-channel mean pixel of the generated world, in BGR (Caffe's convention)."""
    images, _ = shapes.make_batch(seed, 0, count)
    return tuple(float(v) for v in images.reshape(-1, 3).mean(0)[::-1])


def training_spec(definition, data_seed: int):
    """The preprocessing a run trains and exports with: a sequential network's spec with the
    mean pixel of its training data (``dataset_mean_bgr``); a FunctionDef's as it declares it
    (``demo_vit`` declares the demo world's mean and std, ``jaxvis/models/demo_vit.py``);
    the generator's class names."""
    if isinstance(definition, FunctionDef):
        return dataclasses.replace(definition.spec, class_names=shapes.CLASSES)
    return dataclasses.replace(definition.spec, mean=dataset_mean_bgr(data_seed), class_names=shapes.CLASSES)


def evaluate(definition, params, spec, seed: int, count: int, batch: int = 250) -> float:
    """Top-1 accuracy on ``count`` fresh images of generator seed ``seed``."""
    forward, logits = definition.forward(), definition.class_layer
    logits_fn = jax.jit(lambda p, x: forward(p, x, until=logits)[logits])
    correct = 0
    for start in range(0, count, batch):
        images, labels = shapes.make_batch(seed, start, min(batch, count - start))
        pred = np.asarray(jnp.argmax(logits_fn(params, preprocess(images, spec)), -1))
        correct += int((pred == labels).sum())
    return correct / count


def make_train_step(definition, tx: optax.GradientTransformation):
    """The jitted step: (state, images, labels) -> (state, mean loss, accuracy),
    the loss on the definition's declared class layer. With the batch sharded
    over a mesh and the state replicated, XLA splits the batch and sums the
    gradients across devices."""
    forward, class_layer = definition.forward(), definition.class_layer

    def loss_fn(params, x, y):
        logits = forward(params, x, until=class_layer)[class_layer]
        loss = optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
        return loss, (jnp.argmax(logits, -1) == y).mean()

    @jax.jit
    def train_step(state, x, y):
        (loss, acc), grads = jax.value_and_grad(loss_fn, has_aux=True)(state["params"], x, y)
        updates, opt_state = tx.update(grads, state["opt_state"], state["params"])
        params = optax.apply_updates(state["params"], updates)
        return {"step": state["step"] + 1, "params": params, "opt_state": opt_state}, loss, acc

    return train_step


def initial_state(definition, tx: optax.GradientTransformation, seed: int, mesh) -> dict:
    """Step 0, the initial weights and the optimizer state, on every device of ``mesh``."""
    params = definition.init(seed) if isinstance(definition, FunctionDef) else init_params(definition, seed)
    return sharding.replicate({"step": jnp.zeros((), jnp.int32), "params": params, "opt_state": tx.init(params)}, mesh)


def training_batch(data_seed: int, step: int, batch_size: int, spec, mesh) -> tuple:
    """Batch ``step`` of a run (a pure function of the data seed and the step),
    preprocessed and split across the mesh: (images, labels)."""
    images, labels = shapes.make_batch(data_seed, step * batch_size, batch_size)
    return sharding.shard_batch((preprocess(images, spec), labels), mesh)


def _layer_shapes(params) -> dict:
    """{top-level entry: {path below it: shape}} of a params pytree (a list, as a ViT's blocks,
    counts by index: orbax's metadata may hold it as a list or as a dict of "0", "1", ...)."""
    def key(entry):
        return str(getattr(entry, "key", getattr(entry, "idx", entry)))

    out = {}
    for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]:
        out.setdefault(key(path[0]), {})["/".join(key(p) for p in path[1:])] = tuple(leaf.shape)
    return out


def check_checkpoint_fits(path: str, state: dict, model: str) -> None:
    """ArchitectureMismatchError unless the training state saved at ``path`` has
    ``state``'s parameter shapes, read from the checkpoint's metadata before any
    restore starts (a restore that fails half-way leaves reads pending)."""
    with ocp.StandardCheckpointer() as ckptr:
        stored = ckptr.metadata(os.path.abspath(path)).item_metadata
    want, got = _layer_shapes(state["params"]), _layer_shapes(stored["params"])
    if got != want:
        diff = next(f"{n}: {got.get(n)} != {want.get(n)}" for n in sorted({*got, *want}) if got.get(n) != want.get(n))
        raise ArchitectureMismatchError(f"{path}: its checkpoint does not fit {model} ({diff})")


def check_config(config) -> None:
    """The fields a user sets, before anything is written or trained (JaxvisErrors naming the field)."""
    with checks.field("model"):
        definition = get_model_def(checks.text(config, "model"))  # a registry name, not a model directory
    classes = {info.name: info.channels for info in definition.table()}.get(definition.class_layer)
    if classes != len(shapes.CLASSES):
        raise ConfigError(f"config.model: {definition.name} is not a model of the shapes world: its class layer "
                          f"{definition.class_layer!r} must have {len(shapes.CLASSES)} units, it has "
                          f"{classes or 'none'}; "
                          f"train a demo-family model ({', '.join(n for n in model_names() if 'demo' in n)})")
    for name in ("seed", "data_seed", "eval_seed"):
        checks.integer(config, name, 0)
    checks.integer(config, "eval_images", 1)
    batch = checks.integer(config, "batch_size", 1)
    per_epoch = checks.integer(config, "images_per_epoch", 1)
    if per_epoch < batch:
        raise ConfigError(f"config.images_per_epoch: {per_epoch} is less than one batch (batch_size {batch})")
    steps_per_epoch = per_epoch // batch
    epochs = checks.integer(config, "epochs", 1)
    checks.number(config, "learning_rate", positive=True)
    warmup = checks.integer(config, "warmup_steps", 0)
    if warmup >= epochs * steps_per_epoch:
        raise ConfigError(f"config.warmup_steps: {warmup} is not below the run's {epochs * steps_per_epoch} steps "
                          f"({epochs} epochs x {steps_per_epoch})")
    checks.number(config, "weight_decay", minimum=0.0)
    exports = checks.get(config, "export_epochs")
    if (isinstance(exports, str) or not isinstance(exports, (tuple, list))
            or not all(isinstance(e, int) and not isinstance(e, bool) and e >= 1 for e in exports)):
        raise ConfigError(f"config.export_epochs: {exports!r} is not a tuple of epochs >= 1")
    checks.integer(config, "log_every", 1)


def train_and_evaluate(config, workdir: str) -> dict:
    """Trains ``config.model``; returns {"eval_accuracy", "steps", "wall_seconds"}."""
    check_config(config)
    resumed = wd.claim(workdir, config.to_dict())
    definition = get_model_def(config.model)
    spec = training_spec(definition, config.data_seed)
    steps_per_epoch = config.images_per_epoch // config.batch_size
    total_steps = config.epochs * steps_per_epoch
    tx = optimizer(config, definition, total_steps)
    train_step = make_train_step(definition, tx)
    mesh = sharding.local_mesh(divides=config.batch_size)
    state = initial_state(definition, tx, config.seed, mesh)
    logging.info("training %s on %d device(s), batch %d", config.model, mesh.size, config.batch_size)
    manager = ocp.CheckpointManager(
        os.path.abspath(os.path.join(workdir, "checkpoints")),
        options=ocp.CheckpointManagerOptions(create=True, enable_async_checkpointing=False),
        item_names=("state", "meta"),
    )
    start_step = manager.latest_step() or 0
    if start_step:
        check_checkpoint_fits(os.path.join(workdir, "checkpoints", str(start_step), "state"), state, config.model)
        try:
            restored = manager.restore(start_step, args=ocp.args.Composite(state=ocp.args.StandardRestore(state)))
        except Exception as e:  # orbax raises many types on a structure mismatch
            raise ArchitectureMismatchError(
                f"workdir {workdir}: its checkpoint does not fit {config.model}: {e}") from None
        state = restored["state"]
        logging.info("resuming %s from step %d (epoch %d)", workdir, start_step, start_step // steps_per_epoch)
    elif resumed:
        logging.info("workdir %s exists but has no checkpoint yet; starting from step 0", workdir)

    export_epochs = set(config.export_epochs) | {config.epochs}
    t0, seen, window = time.time(), 0, []
    for step in range(start_step, total_steps):
        # The step is dispatched asynchronously: the next batch is generated
        # while XLA computes this one (no host sync until the log line).
        state, loss, acc = train_step(state, *training_batch(config.data_seed, step, config.batch_size, spec, mesh))
        seen += config.batch_size
        window.append((loss, acc))
        if (step + 1) % config.log_every == 0 or step + 1 == total_steps:
            mean_loss, mean_acc = np.mean(jax.device_get(window), axis=0)
            rate = seen / (time.time() - t0)
            eta = (total_steps - step - 1) * config.batch_size / rate
            logging.info(
                "epoch %d/%d step %d/%d  loss %.4f  acc %.3f  %.0f img/s  eta %dm%02ds",
                step // steps_per_epoch + 1, config.epochs, step + 1, total_steps,
                mean_loss, mean_acc, rate, eta // 60, eta % 60,
            )
            window = []
        if (step + 1) % steps_per_epoch == 0:
            epoch = (step + 1) // steps_per_epoch
            meta = {"epoch": epoch, "step": step + 1, "train_loss": float(loss)}
            if epoch in export_epochs:
                params = jax.device_get(state["params"])  # evaluated on one device, not replicated
                meta["eval_accuracy"] = evaluate(definition, params, spec, config.eval_seed, config.eval_images)
                logging.info("epoch %d: held-out accuracy %.4f (seed %d, %d images)",
                             epoch, meta["eval_accuracy"], config.eval_seed, config.eval_images)
                checkpoint.save(os.path.join(workdir, "evolution", f"epoch_{epoch:03d}"), config.model,
                                params, spec, {"training": meta})
            manager.save(step + 1, args=ocp.args.Composite(
                state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta)))
    manager.wait_until_finished()
    final_step = int(state["step"])
    params = jax.device_get(state["params"])
    final_meta = manager.restore(final_step, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))["meta"]
    accuracy = final_meta.get("eval_accuracy")
    if accuracy is None:
        accuracy = evaluate(definition, params, spec, config.eval_seed, config.eval_images)
    info = {"eval_accuracy": accuracy, "eval_seed": config.eval_seed, "eval_images": config.eval_images,
            "steps": final_step, "epochs": config.epochs, "seed": config.seed, "data_seed": config.data_seed,
            "wall_seconds_this_run": round(time.time() - t0, 1)}
    checkpoint.save(os.path.join(workdir, "model"), config.model, params, spec, {"training": info})
    logging.info("done: %s held-out accuracy %.4f; model written to %s", config.model, accuracy,
                 os.path.join(workdir, "model"))
    return info
