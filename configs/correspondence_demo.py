"""Correspondence of object parts (Zeiler & Fergus Table 1) on the shipped
demo network: Δ at conv5 and fc7 (rectified) for occluded parts vs random
occlusions of the same object.

    jaxvis correspondence --config=configs/correspondence_demo.py --workdir=workdirs/correspondence_demo

Your own images: ``--config.parts_file=parts.json`` with
{"left eye": {"img1.jpg": [y0, x0, y1, x1], ...}, ...} (boxes in the
model's input coordinates).
"""

import ml_collections


def get_config() -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.model = "demo"
    c.weights = ""
    c.layers = ("relu5", "relu7")  # conv5 and fc7 after their ReLU, as in Caffe's in-place blobs
    c.parts = ("arrow:tip", "arrow:tail", "heart:point", "crescent:horn0", "triangle:corner0")  # class:part
    c.parts_file = ""  # a JSON of part boxes for your own images (replaces ``parts``)
    c.images_per_part = 10
    c.size = 10  # occluder side, px
    c.shapes_seed = 780
    c.random_seed = 0
    return c
