"""What the registry knows about an architecture."""

from __future__ import annotations

import dataclasses
import os

from jaxvis.data.preprocess import PreprocessSpec
from jaxvis.models import geometry


@dataclasses.dataclass(frozen=True)
class ModelDef:
    """name: registry key; layers: the layer tuple; spec: preprocessing;
    weight_format: "caffe" (OIHW, BGR) or "torchvision" (state-dict keys below);
    torch_keys: {layer: state-dict prefix} for torchvision-format weights;
    shipped: whether trained weights ship with jaxvis."""

    name: str
    layers: tuple
    spec: PreprocessSpec
    description: str
    weight_format: str = "caffe"
    torch_keys: dict | None = None
    shipped: bool = False  # trained weights ship in jaxvis/assets/models/<name>
    # Multiplies the presets' learning rates (given in CaffeNet's units, where
    # the toolbox's lr 100 was tuned) when the user does not set lr.
    ascent_lr_scale: float = 1.0

    @property
    def shipped_weights(self) -> str | None:
        """Directory of the weights that ship with jaxvis, if any."""
        if not self.shipped:
            return None
        return os.path.join(os.path.dirname(os.path.dirname(__file__)), "assets", "models", self.name)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return (*self.spec.input_size, 3)

    @property
    def layer_names(self) -> tuple[str, ...]:
        return tuple(spec.name for spec in self.layers)

    def table(self) -> list[geometry.LayerInfo]:
        return geometry.layer_table(self.layers, self.input_shape)
