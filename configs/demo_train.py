"""Train a demo network on the generated shapes world (64x64, 10 classes).

    jaxvis train --config=configs/demo_train.py --workdir=workdirs/demo
    jaxvis train --config=configs/demo_train.py:demo_b --workdir=workdirs/demo_b
    jaxvis train --config=configs/demo_train.py:demo_vit --workdir=workdirs/demo_vit

Re-running the same command resumes from the latest checkpoint. Each epoch
is ``images_per_epoch`` fresh generated images; ``export_epochs`` are the
epochs whose weights are kept as jaxvis model directories for the
feature-evolution figure (Zeiler & Fergus Fig. 4 used 1, 2, 5, 10, 20, 30,
40, 64 of 70 epochs; these are the same stages of a shorter run).
"""

import ml_collections

# model -> (weight-init seed, training-data seed)
SEEDS = {"demo": (0, 1000), "demo_b": (1, 2000), "demo_vit": (2, 3000)}


def get_config(model: str = "demo") -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.model = model or "demo"
    c.seed, c.data_seed = SEEDS.get(c.model, SEEDS["demo_b"])  # weight init; training images
    c.eval_seed = 9999  # held-out images, never trained on
    c.eval_images = 2000
    c.batch_size = 64
    c.images_per_epoch = 12800
    # demo_b is narrower and has no time target: it gets more images.
    c.epochs = 16 if c.model == "demo" else 18
    c.learning_rate = 2e-3
    c.warmup_steps = 50
    c.weight_decay = 1e-4
    c.export_epochs = (1, 2, 3, 5, 7, 10, 13)  # and the last epoch
    c.log_every = 50
    if c.model == "demo_vit":
        # A transformer without a convolution's priors: larger batches, a longer
        # warmup, AdamW's usual decoupled weight decay (on its matrices only).
        c.batch_size = 128
        c.epochs = 40  # 512k images: held-out 0.432, short of 95% (README "Vision transformers")
        c.learning_rate = 1e-3
        c.warmup_steps = 200
        c.weight_decay = 0.05
        c.export_epochs = (1, 2, 5, 10)
    return c
