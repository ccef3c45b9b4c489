"""Shared facts of the Caffe model zoo: BGR, 0..255, ImageNet mean pixel."""

from jaxvis.data.preprocess import PreprocessSpec
from jaxvis.models import layers as L

# B, G, R mean of the ILSVRC-2012 training set (Caffe's ilsvrc_2012_mean, averaged).
IMAGENET_MEAN_BGR = (104.007, 116.669, 122.679)


def caffe_spec(input_size: int) -> PreprocessSpec:
    """Caffe's classifier pipeline: warp to 256x256, centre crop, BGR, mean pixel.

    The original models subtract a 256x256 mean image; pass it with
    ``load_model(..., mean="mean.binaryproto")`` to match them exactly.
    """
    return PreprocessSpec(
        input_size=(input_size, input_size),
        channel_order="BGR",
        scale=1.0,
        mean=IMAGENET_MEAN_BGR,
        resize=256,
        resize_mode="warp",
        color_statistics="imagenet",
    )


# The roles of the blobs ``classifier`` names: fc8 holds the class logits, prob
# their softmax. Every zoo model declares them (jaxvis.models.definition).
CLASSIFIER_ROLES = {"class_layer": "fc8", "prob_layer": "prob"}


def classifier(num_classes: int = 1000, hidden: int = 4096) -> tuple:
    """fc6 -> relu6 -> fc7 -> relu7 -> fc8 -> prob (dropout is identity at test time)."""
    return (
        L.Dense("fc6", hidden),
        L.ReLU("relu6"),
        L.Dense("fc7", hidden),
        L.ReLU("relu7"),
        L.Dense("fc8", num_classes),
        L.Softmax("prob"),
    )
