"""Feature evolution of the demo network during training (Zeiler & Fergus
Fig. 4) and its conv1 filters at each checkpoint (Fig. 6).

    jaxvis train --config=configs/demo_train.py --workdir=workdirs/demo   # the checkpoints (~16 min, 2 cores)
    jaxvis evolution --config=configs/evolution_demo.py --workdir=workdirs/evolution_demo
"""

import ml_collections


def get_config() -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.evolution_dir = "workdirs/demo/evolution"  # epoch_NNN model directories from jaxvis train
    c.layers = ("conv1", "conv3", "conv5")
    c.filters = "conv1"  # the layer whose RGB filters are drawn (it must see the pixels)
    c.units_per_layer = 6
    c.shapes_seed = 781
    c.images = 400  # the probe set
    c.min_size = 240  # PNG enlargement
    return c
