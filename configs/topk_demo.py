"""The top-9 generated images of every unit of the shipped demo network,
with receptive-field patches and deconvolutions (Zeiler & Fergus Fig. 2).

    jaxvis topk --config=configs/topk_demo.py --workdir=workdirs/topk_demo

A folder of your own images instead: ``--config.source=/path/to/images``
(any size; the model's resize and crop; unreadable files are skipped and
counted). ``--config.optimized=workdirs/vis_demo`` puts each unit's
optimized images (from ``jaxvis visualize``) beside its patches.
``--config.dictionary=workdirs/dictionary_demo`` ranks the features of a
``jaxvis dictionary`` run (``conv5.features``) instead of the channels.
Re-running resumes; the gallery is workdirs/topk_demo/index.html.
"""

import ml_collections


def get_config() -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.model = "demo"
    c.weights = ""  # "": the shipped weights
    c.dictionary = ""  # a `jaxvis dictionary` workdir: its features are the blob <layer>.features
    c.layers = ()  # empty: every conv layer and the class layer (with a dictionary: its features)
    c.source = "shapes"  # "shapes": the generated demo world; else a folder of images
    c.shapes_seed = 777  # a seed the demo networks never trained on
    c.images = 2000
    c.k = 9
    c.batch = 128
    c.save_every = 4  # batches between saves of the running top-k
    c.mode = "deconv"  # deconv | guided | backprop
    c.chunk_units = 16
    c.units_per_layer = 0  # 0: pictures of every channel; N: of each layer's first N (every channel is ranked)
    c.optimized = ""  # a jaxvis visualize workdir (e.g. workdirs/vis_demo): unit pages show its images too
    c.optimized_preset = "row3"
    return c
