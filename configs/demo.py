"""Every unit of the shipped demo network: the README's main job.

    jaxvis visualize --config=configs/demo.py --workdir=workdirs/vis_demo

All conv layers (192 units) and the class layer fc8 (10 units), Table 1's
row 3 with 150 steps (the demo networks' learning rate is scaled up, so they
converge sooner than CaffeNet's 1000) and 3 restarts per unit: about 7
minutes on a 2-core CPU. The paper's 9 restarts and 1000 steps:
``--config.restarts=9 --config.steps=0`` (about 20x longer). Re-running
the same command resumes; the gallery is workdirs/vis_demo/index.html.
"""

import ml_collections


def get_config() -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.model = "demo"
    c.weights = ""  # "": the shipped weights
    c.layers = ()  # empty: every conv layer and the class layer
    c.presets = ("row3",)
    c.restarts = 3
    c.steps = 150  # 0: the preset's own step count
    c.seed = 0
    c.chunk_units = 16  # units per compiled batch (x restarts); one resumable record each
    c.grid_scale = 2  # PNG enlargement of grids and montages
    c.figure5_units = 8  # units per layer in the Figure 5 image sets (the strongest)
    return c
