"""Model name -> architecture and preprocessing."""

from __future__ import annotations

from jaxvis.errors import UnknownModelError
from jaxvis.models import alexnet, caffenet, demo, torchvision_alexnet, torchvision_vgg16, vgg_s, zfnet
from jaxvis.models.definition import ModelDef

_MODELS: dict[str, ModelDef] = {
    m.name: m
    for m in (caffenet.MODEL, alexnet.MODEL, vgg_s.MODEL, zfnet.MODEL, torchvision_alexnet.MODEL,
              torchvision_vgg16.MODEL, demo.MODEL, demo.MODEL_B)
}


def model_names() -> tuple[str, ...]:
    return tuple(_MODELS)


def get_model_def(name: str) -> ModelDef:
    try:
        return _MODELS[name]
    except (KeyError, TypeError):  # TypeError: an unhashable name such as a list
        raise UnknownModelError(
            f"unknown model {name!r}; known models: {', '.join(_MODELS)}"
        ) from None


def register(definition: ModelDef) -> None:
    """Adds an architecture (e.g. a demo variant) under ``definition.name``;
    a layer tuple that cannot be built raises ModelDefinitionError here."""
    definition.table()
    _MODELS[definition.name] = definition
