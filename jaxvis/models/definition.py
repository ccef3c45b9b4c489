"""The model contract every stage of jaxvis works with, and its sequential
implementation.

A model definition (an *architecture*: no weights) tells jaxvis

- ``name``, ``description`` and ``spec``: the input (size, channel order,
  scale, mean, std, class names; ``jaxvis.PreprocessSpec``);
- ``forward(group_impl)``: a pure, hashable ``(params, x, until=None,
  unpadded=False) -> {blob: array}`` in forward order, x [B, H, W, 3] in the
  network's input space, maps [B, h, w, c], vectors [B, c];
- ``table()``: one ``LayerInfo`` per blob (shape, kind, receptive field,
  parameters), shapes from the forward itself;
- declared roles: ``class_layer`` (the blob of class logits), ``prob_layer``
  (the blob of class probabilities), ``ascent_lr_scale`` (what the presets'
  learning rates, given in CaffeNet's units, are multiplied by). Nothing is
  inferred from a layer's position: a job that needs a role the model does
  not declare says so;
- ``layers``: the layer tuple of a sequential architecture (exact
  receptive-field crops, ``optimize/crop.py``), None otherwise.

Two implementations: ``ModelDef`` below (the zoo's sequential Caffe-family
layer tuples) and ``jaxvis.models.function_def.FunctionDef`` (any JAX
function or Flax module: ``jaxvis.from_function``, ``jaxvis.from_flax``).
"""

from __future__ import annotations

import dataclasses
import os

import jax

from jaxvis.data.preprocess import PreprocessSpec
from jaxvis.errors import ModelDefinitionError
from jaxvis.models import geometry
from jaxvis.models.sequential import SequentialNet


@dataclasses.dataclass(frozen=True)
class Forward:
    """A sequential architecture's pure forward, weights not included. Equal
    (and hashed alike) for all networks of one architecture, so a ``jax.jit``
    that takes it as a static argument compiles once per architecture and keeps
    no network's weights alive."""

    module: SequentialNet

    def __call__(self, params: dict, x: jax.Array, until: str | None = None, unpadded: bool = False
                 ) -> dict[str, jax.Array]:
        return self.module.apply({"params": params}, x, until=until, unpadded=unpadded)


@dataclasses.dataclass(frozen=True)
class ModelDef:
    """name: registry key; layers: the layer tuple; spec: preprocessing;
    weight_format: "caffe" (OIHW, BGR) or "torchvision" (state-dict keys below);
    torch_keys: {layer: state-dict prefix} for torchvision-format weights;
    shipped: whether trained weights ship with jaxvis; class_layer /
    prob_layer / ascent_lr_scale: the roles of the module doc."""

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
    class_layer: str | None = None
    prob_layer: str | None = None

    def __post_init__(self):
        self.table()  # a layer tuple that cannot be built raises ModelDefinitionError here
        check_roles(self.name, self.layer_names, self.class_layer, self.prob_layer)

    @property
    def shipped_weights(self) -> str | None:
        """Directory of the weights that ship with jaxvis, if any."""
        return shipped_weights_path(self.name) if self.shipped else None

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return (*self.spec.input_size, 3)

    @property
    def layer_names(self) -> tuple[str, ...]:
        return tuple(spec.name for spec in self.layers)

    def table(self) -> list[geometry.LayerInfo]:
        return geometry.layer_table(self.layers, self.input_shape)

    def parameter_count(self) -> int:
        return sum(info.params for info in self.table())

    def forward(self, group_impl: str = "split", lrn_backward: str | None = None) -> Forward:
        """The pure forward; ``lrn_backward`` ("true"/"identity") gives LRN the
        backward of a projection (``jaxvis.ops.backward``), same forward numbers."""
        return Forward(SequentialNet(self.layers, group_impl=group_impl, lrn_backward=lrn_backward))


def shipped_weights_path(name: str) -> str:
    """Where the trained weights of zoo model ``name`` ship: ``jaxvis/assets/models/<name>``
    (a jaxvis model directory), for sequential and function definitions alike."""
    return os.path.join(os.path.dirname(os.path.dirname(__file__)), "assets", "models", name)


def check_roles(name: str, blob_names, class_layer: str | None, prob_layer: str | None) -> None:
    """class_layer and prob_layer each None or one of the blobs; ModelDefinitionError otherwise."""
    for role, value in (("class_layer", class_layer), ("prob_layer", prob_layer)):
        if value is not None and value not in blob_names:
            raise ModelDefinitionError(f"{name}: {role} {value!r} is not one of its blobs; its blobs are: "
                                       f"{', '.join(blob_names)}")
