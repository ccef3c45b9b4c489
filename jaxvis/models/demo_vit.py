"""The demo vision transformer ``demo_vit``: a small ViT (``jaxvis/models/vit.py``,
timm's layout and blob names) trained on the generated demo world
(``jaxvis/data/shapes.py``: 64x64 images of the 10 shape classes), to ship
with jaxvis like the CNNs ``demo`` and ``demo_b`` once trained (``SHIPPED``).

Architecture (``CONFIG``): 8x8 patches (an 8x8 grid of 64 patch tokens), a
class token in front (65 tokens), width 128, 4 pre-norm blocks of 4 heads
(head width 32) and an MLP of 512 hidden units (4x, exact GELU), learned
position embeddings for the class token and the grid, a final LayerNorm and
a 10-class head on the class token (``head``, the class logits); no softmax
blob. Blobs: ``pos_drop`` (the tokens entering block 0), ``blocks.N.mlp.act``
(the MLP's hidden units), ``blocks.N``, ``norm`` (tokens [B, 65, C]: one class
token, then the 8x8 patch grid, row-major) and ``head`` [B, 10].

Preprocessing (``SPEC``): RGB, pixels scaled to [0, 1], then the demo
world's per-channel mean and std (``MEAN_RGB``, ``STD_RGB``: measured on the
first 2000 images of the training data seed, ``world_statistics``), so
inputs have zero mean and unit variance per channel: the scale a ViT's
LayerNorm-free patch embedding and timm's initialisation (std 0.02) assume.

``ascent_lr_scale``: the presets' pixel learning rate converted from
CaffeNet's 0..255 pixels to these inputs (``vit_zoo.pixel_lr_scale``, as for
the zoo's transformers).

Weights: ``jaxvis train --config=configs/demo_train.py:demo_vit`` trains
them (a jaxvis model directory, ``weights=DIR/model``); random from a seed
(``init``); or a timm ``VisionTransformer`` state dict of this shape. Trained
weights are to ship in ``jaxvis/assets/models/demo_vit`` (``SHIPPED``); they
do not yet.
"""

from __future__ import annotations

import functools

from jaxvis.data import shapes
from jaxvis.data.preprocess import PreprocessSpec
from jaxvis.models import vit

NAME = "demo_vit"
PATCH = 8
CONFIG = vit.ViTConfig(patch=PATCH, dim=128, depth=4, heads=4, mlp_dim=512,
                       pos_grid=(shapes.IMAGE_SIZE // PATCH, shapes.IMAGE_SIZE // PATCH),
                       classes=len(shapes.CLASSES), naming="timm")
# Trained weights do not ship yet: the training recipe below learns too slowly on a 2-core CPU (the README's
# "Vision transformers" says how far it got); until they do, demo_vit's weights are random from a seed.
SHIPPED = False
DATA_SEED = 3000  # configs/demo_train.py's data_seed for demo_vit (demo: 1000, demo_b: 2000)
# world_statistics(DATA_SEED), rounded: RGB on the [0, 1] scale.
MEAN_RGB = (0.5022, 0.5034, 0.4956)
STD_RGB = (0.2852, 0.2881, 0.2862)

SPEC = PreprocessSpec(
    input_size=(shapes.IMAGE_SIZE, shapes.IMAGE_SIZE),
    channel_order="RGB",
    scale=1 / 255,
    mean=MEAN_RGB,
    std=STD_RGB,
    resize=shapes.IMAGE_SIZE,
    resize_mode="warp",
    class_names=shapes.CLASSES,
    color_statistics="demo_world",
)


def world_statistics(seed: int = DATA_SEED, count: int = 2000) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """(mean, std) per RGB channel, on the [0, 1] scale, of the first ``count``
    images of generator seed ``seed``: what ``MEAN_RGB`` and ``STD_RGB`` hold."""
    images, _ = shapes.make_batch(seed, 0, count)
    pixels = images.reshape(-1, 3) / 255.0
    return tuple(float(v) for v in pixels.mean(0)), tuple(float(v) for v in pixels.std(0))


@functools.cache
def definition():
    """The zoo's ``demo_vit``: ``vit.ViTBlobs(CONFIG)`` with the demo world's
    preprocessing and class names, class logits at ``head``, the token layout
    of a class token and the 8x8 grid (trained weights do not ship yet: ``SHIPPED``)."""
    from jaxvis.models.vit_zoo import vit_definition

    return vit_definition(NAME, CONFIG, SPEC, "timm",
                          f"jaxvis demo vision transformer, 64x64, RGB mean/std, patch {PATCH}, width {CONFIG.dim}, "
                          f"{CONFIG.depth} blocks of {CONFIG.heads} heads, trained on the demo world",
                          shipped=SHIPPED)
