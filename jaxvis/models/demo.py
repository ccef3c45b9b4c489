"""The demo network: CaffeNet's family (5 conv + 3 fc, LRN, overlapping 3x3/2
max pooling, Caffe conventions: BGR, 0..255, mean pixel) at 64x64, small
enough to train on a CPU. ``demo_layers`` builds variants of other widths.
"""

from jaxvis.data.preprocess import PreprocessSpec
from jaxvis.models import layers as L
from jaxvis.models.caffe_family import CLASSIFIER_ROLES, classifier
from jaxvis.models.definition import ModelDef

INPUT_SIZE = 64
NUM_CLASSES = 10
# The demo networks' pixel gradients are ~100x smaller than CaffeNet's: with
# Table 1's constant lr of 100 a conv5 unit barely moves in 200 steps, with
# 100 x 100 it passes every generated image's activation (measured).
ASCENT_LR_SCALE = 100.0


def demo_layers(
    widths: tuple[int, int, int, int, int] = (16, 32, 48, 48, 48),
    hidden: int = 256,
    num_classes: int = NUM_CLASSES,
) -> tuple:
    """64x64 input: conv1 5x5/1 -> 64, pool -> 32, conv2 -> 32, pool -> 16,
    conv3-5 at 16x16, pool -> 8, then fc6/fc7 of ``hidden`` units and fc8.
    Full resolution in conv1 matters: the smallest objects are 16 px wide
    (a stride-2 conv1 confused small disks and hexagons)."""
    c1, c2, c3, c4, c5 = widths
    return (
        L.Conv("conv1", c1, 5, pad=2),
        L.ReLU("relu1"),
        L.MaxPool("pool1", 3, 2),
        L.LRN("norm1", 5, 1e-4, 0.75),
        L.Conv("conv2", c2, 5, pad=2),
        L.ReLU("relu2"),
        L.MaxPool("pool2", 3, 2),
        L.LRN("norm2", 5, 1e-4, 0.75),
        L.Conv("conv3", c3, 3, pad=1),
        L.ReLU("relu3"),
        L.Conv("conv4", c4, 3, pad=1),
        L.ReLU("relu4"),
        L.Conv("conv5", c5, 3, pad=1),
        L.ReLU("relu5"),
        L.MaxPool("pool5", 3, 2),
        *classifier(num_classes, hidden),
    )


SPEC = PreprocessSpec(
    input_size=(INPUT_SIZE, INPUT_SIZE),
    channel_order="BGR",
    scale=1.0,
    mean=(128.0, 128.0, 128.0),
    resize=INPUT_SIZE,
    resize_mode="warp",
    class_names=("disk", "ring", "square", "triangle", "star", "cross", "crescent", "heart", "arrow", "frame"),
    color_statistics="demo_world",
)

MODEL = ModelDef(
    "demo", demo_layers(), SPEC, "jaxvis demo network, 64x64, BGR, CaffeNet family", shipped=True,
    ascent_lr_scale=ASCENT_LR_SCALE,
    **CLASSIFIER_ROLES,
)

# An independently trained second network (other seed, other widths) that
# judges demo's visualizations: an image demo_b also recognises is not just an
# adversarial pattern of demo.
MODEL_B = ModelDef(
    "demo_b",
    demo_layers((16, 24, 48, 48, 32), hidden=192),
    SPEC,
    "jaxvis second demo network (other seed and widths), 64x64, BGR",
    shipped=True,
    ascent_lr_scale=ASCENT_LR_SCALE,
    **CLASSIFIER_ROLES,
)
