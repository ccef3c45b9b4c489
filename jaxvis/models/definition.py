"""What the registry knows about an architecture."""

from __future__ import annotations

import dataclasses

from jaxvis.data.preprocess import PreprocessSpec
from jaxvis.models import geometry


@dataclasses.dataclass(frozen=True)
class ModelDef:
    """name: registry key; layers: the layer tuple; spec: preprocessing;
    weight_format: "caffe" (OIHW, BGR) or "torchvision" (state-dict keys below);
    torch_keys: {layer: state-dict prefix} for torchvision-format weights."""

    name: str
    layers: tuple
    spec: PreprocessSpec
    description: str
    weight_format: str = "caffe"
    torch_keys: dict | None = None

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return (*self.spec.input_size, 3)

    @property
    def layer_names(self) -> tuple[str, ...]:
        return tuple(spec.name for spec in self.layers)

    def table(self) -> list[geometry.LayerInfo]:
        return geometry.layer_table(self.layers, self.input_shape)
