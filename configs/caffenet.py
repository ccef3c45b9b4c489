"""Every unit of CaffeNet with the paper's settings (Yosinski et al. 2015):
Table 1 row 3, 1000 steps, 9 restarts, all conv layers and fc8.

    jaxvis visualize --config=configs/caffenet.py --workdir=workdirs/vis_caffenet \
        --config.weights=bvlc_reference_caffenet.caffemodel

2,376 units x 9 restarts; without --config.weights the network is randomly
initialised (useful only to time the job).
"""

import ml_collections


def get_config() -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.model = "caffenet"
    c.weights = ""  # a .caffemodel, state dict or jaxvis model directory; "": random weights
    c.layers = ()  # empty: every conv layer and the class layer fc8
    c.presets = ("row3",)
    c.restarts = 9
    c.steps = 0  # 0: the preset's own (1000 for row 3)
    c.seed = 0
    c.chunk_units = 16
    c.grid_scale = 1
    c.figure5_units = 8  # units per layer in the Figure 5 image sets (the strongest)
    return c
