"""The zoo: model name -> architecture and preprocessing. A network outside
the zoo is named by a plugin path instead (``jaxvis/plugin.py``)."""

from __future__ import annotations

from jaxvis.errors import UnknownModelError
from jaxvis.models import (
    alexnet,
    caffenet,
    demo,
    demo_vit,
    torchvision_alexnet,
    torchvision_mobilenet_v2,
    torchvision_resnet50,
    torchvision_vgg16,
    vgg_s,
    vit_zoo,
    zfnet,
)

# A sequential definition, or a function that builds one (traced when first named).
_MODELS: dict = {
    **{m.name: m for m in (caffenet.MODEL, alexnet.MODEL, vgg_s.MODEL, zfnet.MODEL, torchvision_alexnet.MODEL,
                           torchvision_vgg16.MODEL)},
    "torchvision_resnet50": torchvision_resnet50.definition,
    "torchvision_mobilenet_v2": torchvision_mobilenet_v2.definition,
    **vit_zoo.DEFINITIONS,
    **{m.name: m for m in (demo.MODEL, demo.MODEL_B)},
    demo_vit.NAME: demo_vit.definition,
}


def model_names() -> tuple[str, ...]:
    return tuple(_MODELS)


def get_model_def(name: str):
    """The definition of a zoo model (the contract of ``jaxvis.models.definition``)."""
    try:
        entry = _MODELS[name]
    except (KeyError, TypeError):  # TypeError: an unhashable name such as a list
        raise UnknownModelError(
            f"unknown model {name!r}; known models: {', '.join(_MODELS)}; or a plugin path "
            "package.module:function, or a jaxvis model directory"
        ) from None
    return entry() if callable(entry) else entry
