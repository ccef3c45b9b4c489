"""The model zoo: one file per architecture, a registry, a generic Flax module."""

from jaxvis.models.definition import ModelDef
from jaxvis.models.geometry import LayerInfo, layer_table, parameter_count
from jaxvis.models.registry import get_model_def, model_names
from jaxvis.models.sequential import SequentialNet

__all__ = [
    "LayerInfo",
    "ModelDef",
    "SequentialNet",
    "get_model_def",
    "layer_table",
    "model_names",
    "parameter_count",
]
