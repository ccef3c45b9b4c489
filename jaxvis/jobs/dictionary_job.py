"""``jaxvis dictionary``: learn a TopK dictionary on one layer
(``jaxvis.dictionary.train``: ``WORKDIR/checkpoints``, ``WORKDIR/dictionary``),
then, with ``config.gallery``, visualize every feature through ``jaxvis
visualize`` (``config.visualize``: its presets, restarts, scores and top-9;
``WORKDIR/gallery``, the same pages, scores and top-9 as units get).
Re-running the same command resumes whichever part was cut short; the
visualization's ``config.visualize.layers`` may add the layer's own
channels beside its features (``configs/demo_dictionary.py`` does).
"""

from __future__ import annotations

import os
import time

import ml_collections

from jaxvis.dictionary.train import check_config as check_training
from jaxvis.dictionary.train import train_dictionary
from jaxvis.errors import ConfigError
from jaxvis.jobs import visualize_job

GALLERY_DIR = "gallery"
TRAINING_FIELDS = ("model", "weights", "layer", "source", "shapes_seed", "eval_seed", "eval_images",
                   "images_per_step", "steps", "expansion", "k", "k_aux", "learning_rate", "warmup_steps",
                   "dead_after", "seed", "save_every", "log_every")


def job_config(**fields) -> ml_collections.ConfigDict:
    """A ``jaxvis dictionary`` config with its defaults, ``fields`` replacing
    some (``visualize``: the fields of ``jaxvis visualize`` for the gallery)."""
    c = ml_collections.ConfigDict()
    c.model = "demo"
    c.weights = ""  # "": the shipped weights
    c.layer = "conv5"
    c.source = "shapes"  # "shapes": the generated demo world; else a folder of images (cycled)
    c.shapes_seed = 4000  # training images (the demo networks trained on 1000, 2000, 3000)
    c.eval_seed = 9999  # held-out images for the final metrics (a folder: its last step's images)
    c.eval_images = 200
    c.images_per_step = 16  # every place of each image is a sample
    c.steps = 1000
    c.expansion = 4  # latents = expansion x the layer's channels
    c.k = 8  # codes per sample (TopK)
    c.k_aux = 0  # 0: the power of two nearest to channels / 2 (Gao et al.)
    c.learning_rate = 1e-3
    c.warmup_steps = 20
    c.dead_after = 200_000  # samples without firing after which a latent is dead (the AuxK term revives it)
    c.seed = 0
    c.save_every = 100
    c.log_every = 50
    c.gallery = True  # visualize every feature afterwards (WORKDIR/gallery)
    # model, weights and dictionary are the training's (left "" here)
    c.visualize = visualize_job.job_config(model="", restarts=3, steps=150, grid_scale=2)
    visualize = fields.pop("visualize", None)
    unknown = set(fields) - set(c)
    if unknown:
        raise ConfigError(f"unknown dictionary config field(s) {', '.join(sorted(unknown))}; known: {', '.join(c)}")
    c.update(fields)
    if visualize is not None:
        c.visualize.update(visualize)
    return c


def training_config(config) -> ml_collections.ConfigDict:
    """The fields the training reads (its workdir's config.json holds these only)."""
    missing = [f for f in TRAINING_FIELDS if f not in config]
    if missing:
        raise ConfigError(f"config: missing {', '.join(missing)}; start from configs/demo_dictionary.py")
    return ml_collections.ConfigDict({f: config[f] for f in TRAINING_FIELDS})


def gallery_config(config, workdir: str) -> ml_collections.ConfigDict:
    """``config.visualize`` on the trained dictionary's network and features."""
    if "visualize" not in config:
        raise ConfigError("config.visualize: missing; start from configs/demo_dictionary.py")
    v = ml_collections.ConfigDict(config.visualize.to_dict())
    for name in ("model", "weights"):
        if v.get(name) not in ("", config[name]):
            raise ConfigError(f"config.visualize.{name}: {v[name]!r}; the gallery shows the dictionary's own "
                              f"network (config.{name}), leave it unset")
        v[name] = config[name]
    v.dictionary = os.path.abspath(workdir)
    return v


def run_dictionary(config, workdir: str) -> dict:
    """Trains (or resumes) the dictionary, then its gallery; returns
    {"dictionary", "gallery" (the visualize job's counts, or None), "seconds"}."""
    t0 = time.time()
    training = training_config(config)
    check_training(training)
    if config.get("gallery", True):  # its fields too, before the training runs (the features' blob comes later)
        early = gallery_config(config, workdir)
        early.dictionary = ""
        early.layers = tuple(name for name in early.layers if name != f"{config.layer}.features")
        visualize_job.check_config(early)
    dictionary = train_dictionary(training, workdir)
    gallery = None
    if config.get("gallery", True):
        gallery = visualize_job.run_visualize(gallery_config(config, workdir), os.path.join(workdir, GALLERY_DIR))
    return {"dictionary": dictionary, "gallery": gallery, "seconds": round(time.time() - t0, 1)}
