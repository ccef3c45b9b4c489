"""Occlusion sensitivity (Zeiler & Fergus Fig. 7) for 200 generated images
on the shipped demo network, with the pointing game.

    jaxvis occlusion --config=configs/occlusion_demo.py --workdir=workdirs/occlusion_demo

The occluder is a 12x12 square of random pixels moved by 4 px. Zeiler &
Fergus's grey square (``--config.fill=mean``) is itself an object in the
demo world (the class "square"): occluding plain background with it can
make the network see a square, which moves the most sensitive position off
the object (README: measured 78.5% vs 95.5% in the pointing game). A folder of
your own images: ``--config.source=/path`` (the correct class is then the
predicted one). Re-running resumes.
"""

import ml_collections


def get_config() -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.model = "demo"
    c.weights = ""
    c.source = "shapes"  # "shapes" or a folder of images
    c.shapes_seed = 778  # a seed the demo networks never trained on
    c.images = 200
    c.size = 12
    c.stride = 4
    c.fill = "noise"  # noise | mean (grey)
    c.layer = "conv5"  # the strongest feature map of this layer is panel (b)
    c.chunk_images = 25
    c.scale = 2
    return c
