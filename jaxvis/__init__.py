"""jaxvis: what the units of a convolutional network detect, at network scale.

    import jaxvis
    net = jaxvis.load_model("caffenet", weights="bvlc_reference_caffenet.caffemodel")
    x = net.preprocess(rgb_uint8_images)   # [B,H,W,3] uint8 RGB -> float32 NHWC
    blobs = net.blobs(x)                   # {"conv1": [B,55,55,96], ..., "prob": [B,1000]}
"""

from jaxvis.backward import project
from jaxvis.errors import (
    ArchitectureMismatchError,
    InputImageError,
    JaxvisError,
    UnitError,
    UnknownModelError,
    WeightsFileError,
)
from jaxvis.loading import load_model
from jaxvis.models import LayerInfo, ModelDef, get_model_def, model_names
from jaxvis.net import Net
from jaxvis.optimize import VisResult, visualize

__version__ = "0.1.0"

__all__ = [
    "ArchitectureMismatchError",
    "InputImageError",
    "JaxvisError",
    "LayerInfo",
    "ModelDef",
    "Net",
    "UnitError",
    "UnknownModelError",
    "VisResult",
    "WeightsFileError",
    "get_model_def",
    "load_model",
    "model_names",
    "project",
    "visualize",
]
