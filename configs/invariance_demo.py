"""Invariance to vertical translation, scale and rotation (Zeiler & Fergus
Fig. 5) on the shipped demo network: 100 generated objects, feature
distances at conv1 (layer 1) and fc7 (layer 7), and p(true class).

    jaxvis invariance --config=configs/invariance_demo.py --workdir=workdirs/invariance_demo
"""

import ml_collections


def get_config() -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.model = "demo"
    c.weights = ""
    c.layers = ("conv1", "fc7")  # the early and the late layer
    c.shapes_seed = 779
    c.images = 100
    c.max_shift = 12  # px, vertical
    c.shift_step = 2
    c.min_scale, c.max_scale, c.scale_steps = 0.6, 1.4, 9
    c.rotation_step = 15.0  # degrees, 0..360
    return c
