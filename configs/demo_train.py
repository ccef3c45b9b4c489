"""Train a demo network on the generated shapes world (64x64, 10 classes).

    jaxvis train --config=configs/demo_train.py --workdir=workdirs/demo
    jaxvis train --config=configs/demo_train.py:demo_b --workdir=workdirs/demo_b

Re-running the same command resumes from the latest checkpoint. Each epoch
is ``images_per_epoch`` fresh generated images; ``export_epochs`` are the
epochs whose weights are kept as jaxvis model directories for the
feature-evolution figure (Zeiler & Fergus Fig. 4 used 1, 2, 5, 10, 20, 30,
40, 64 of 70 epochs; these are the same stages of a shorter run).
"""

import ml_collections


def get_config(model: str = "demo") -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.model = model or "demo"
    c.seed = 0 if c.model == "demo" else 1  # weight init
    c.data_seed = 1000 if c.model == "demo" else 2000  # training images
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
    return c
