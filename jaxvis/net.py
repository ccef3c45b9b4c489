"""A network with its weights: the object users and later stages work with."""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np

from jaxvis.data import preprocess as pp
from jaxvis.errors import InputImageError, UnitError
from jaxvis.models import layers as L
from jaxvis.models.definition import ModelDef
from jaxvis.models.function_def import FunctionDef
from jaxvis.models.geometry import LayerInfo
from jaxvis.models.sequential import SequentialNet
from jaxvis.ops.conv import check_group_impl


@dataclasses.dataclass(frozen=True, eq=False)
class Net:
    """definition: the architecture (the model contract of
    ``jaxvis.models.definition``: a zoo ``ModelDef`` or a ``FunctionDef``);
    params: what its forward takes (zoo: {layer: {"kernel", "bias"}});
    spec: preprocessing (may differ from the definition's, e.g. a mean image)."""

    definition: ModelDef | FunctionDef
    params: dict
    spec: pp.PreprocessSpec
    group_impl: str = "split"

    def __post_init__(self):
        check_group_impl(self.group_impl)

    @property
    def name(self) -> str:
        return self.definition.name

    @property
    def layer_names(self) -> tuple[str, ...]:
        """Blob names in forward order."""
        return self.definition.layer_names

    @functools.cached_property
    def table(self) -> list[LayerInfo]:
        """Per-blob shape, receptive field and parameter count."""
        return self.definition.table()

    def layer(self, name: str) -> LayerInfo:
        for info in self.table:
            if info.name == name:
                return info
        raise UnitError(f"{self.name} has no layer {name!r}; its layers are: {', '.join(self.layer_names)}")

    @functools.cached_property
    def forward(self):
        """``apply`` without the network: hashable, equal for every network of
        one architecture; what compiled functions and caches take as static."""
        return self.definition.forward(self.group_impl)

    @property
    def class_layer(self) -> str | None:
        """The blob of class logits, as the definition declares it (or None)."""
        return self.definition.class_layer

    @property
    def prob_layer(self) -> str | None:
        """The blob of class probabilities, as the definition declares it (or None)."""
        return self.definition.prob_layer

    def require(self, role: str, why: str) -> str:
        """The blob of ``role`` ("class_layer" or "prob_layer"), or a UnitError
        saying the network does not declare one and what needed it."""
        return require(self.definition, role, why)

    def probabilities(self, blobs: dict) -> jax.Array:
        """Class probabilities [B, classes] from this network's blobs: its
        prob_layer, else the softmax of its class_layer."""
        return probabilities(self.definition, blobs)

    def feature_layers(self) -> list[str]:
        """The blobs of kind "features": a dictionary's (``jaxvis.with_dictionary``)."""
        return [info.name for info in self.table if info.kind == "features"]

    def default_layers(self) -> list[str]:
        """What jobs visualize when told no layers: a dictionary's features
        (kind "features", ``jaxvis.with_dictionary``), else every convolution's
        blob (kind "conv" in the table; a transformer without convolutions:
        every block's output, kind "block"), then the class layer when declared."""
        features = self.feature_layers()
        if features:
            return features
        convs = ([info.name for info in self.table if info.kind == "conv"]
                 or [info.name for info in self.table if info.kind == "block"])
        layers = convs + ([self.class_layer] if self.class_layer and self.class_layer not in convs else [])
        if not layers:
            raise UnitError(f"{self.name} has no blob of kind 'conv' or 'block' and declares no class_layer, so there "
                            f"is no default set of layers; name them (config.layers), e.g. "
                            f"{', '.join(self.layer_names[:3])}")
        return layers

    def apply(self, params: dict, x: jax.Array, until: str | None = None, unpadded: bool = False
              ) -> dict[str, jax.Array]:
        """Pure forward: params, x [B, H, W, 3] -> {blob: array}; jit/vmap/grad
        freely. ``unpadded``: ignore all padding (one unit's cone, optimize/crop.py)."""
        return self.forward(params, x, until=until, unpadded=unpadded)

    @functools.cached_property
    def _jitted(self):
        return jax.jit(self.forward, static_argnames="until")

    def check_input(self, x) -> jax.Array:
        """x as float32 network input [B, H, W, 3] of this network's size, or an
        InputImageError naming the expected and the given shape (``blobs`` and
        ``jaxvis.project`` take their input through this)."""
        expected = self.definition.input_shape
        want = f"{self.name} expects input [B, {expected[0]}, {expected[1]}, {expected[2]}] " \
               "(use net.preprocess on uint8 RGB images)"
        try:
            x = jnp.asarray(x, jnp.float32)
        except (TypeError, ValueError) as e:
            raise InputImageError(f"{want}, got {type(x).__name__} that is not a numeric array ({e})") from None
        if x.ndim != 4 or tuple(x.shape[1:]) != expected:
            raise InputImageError(f"{want}, got shape {tuple(x.shape)}")
        return x

    def blobs(self, x, until: str | None = None) -> dict[str, jax.Array]:
        """x: [B, H, W, 3] float32 network input -> every named blob (conv [B,H,W,C], fc [B,C])."""
        x = self.check_input(x)
        if until is not None:
            self.layer(until)
        out = self._jitted(self.params, x, until=until)
        names = self.layer_names if until is None else self.layer_names[:self.layer_names.index(until) + 1]
        return {name: out[name] for name in names if name in out}  # forward order, up to ``until``

    def preprocess(self, images) -> np.ndarray:
        """[B, H, W, 3] or [H, W, 3] uint8 RGB, any size -> [B, h, w, 3] float32 network input."""
        return pp.preprocess(images, self.spec)

    def deprocess(self, x) -> np.ndarray:
        """[B, h, w, 3] network input -> [B, h, w, 3] uint8 RGB for display."""
        return pp.deprocess(x, self.spec)

    def summary(self) -> str:
        """The layer table ``jaxvis inspect`` prints: every blob's kind, shape,
        receptive field and parameters, then the input spec and the total."""
        from jaxvis.models.summary import format_table

        return format_table(self.definition, self.table, spec=self.spec, total=self.num_parameters())

    def num_parameters(self) -> int:
        """Learned parameters (a Flax module's "params" collection, not its batch statistics)."""
        collection = getattr(self.definition, "param_collection", None)
        params = self.params[collection] if collection else self.params
        return sum(int(np.prod(a.shape)) for a in jax.tree_util.tree_leaves(params))


def require(definition, role: str, why: str) -> str:
    """``Net.require`` for a definition (what weight-free caches close over)."""
    blob = getattr(definition, role)
    if blob is None:
        raise UnitError(f"{why} needs the network's {role}, and {definition.name} declares none "
                        f"(pass {role}=... to jaxvis.from_function / from_flax)")
    return blob


def probabilities(definition, blobs: dict) -> jax.Array:
    """``Net.probabilities`` for a definition: jit-safe, holds no weights."""
    if definition.prob_layer is not None:
        return blobs[definition.prob_layer]
    return jax.nn.softmax(blobs[require(definition, "class_layer", "class probabilities")], axis=-1)


def input_std(spec: pp.PreprocessSpec) -> float:
    """Typical std of network inputs: pixels (std about 64 on 0..255) in the spec's units."""
    return 64.0 * spec.scale / float(np.mean(spec.std))


def init_params(definition: ModelDef, seed: int = 0) -> dict:
    """Random parameters from ``seed``: He-normal kernels, zero biases.

    He-normal assumes unit-variance inputs; network inputs are pixels on the
    spec's scale (std about 64 on Caffe's 0..255), so the first layer's
    kernel is divided by that std and activations start near unit scale.
    """
    module = SequentialNet(definition.layers)
    x = jnp.zeros((1, *definition.input_shape), jnp.float32)
    params = jax.jit(module.init)(jax.random.key(seed), x)["params"]
    first = first_parametric_layer(definition)
    params = dict(params)
    params[first] = dict(params[first], kernel=params[first]["kernel"] / input_std(definition.spec))
    return params


def first_parametric_layer(definition: ModelDef) -> str:
    """The name of the first layer with weights (the one that sees the pixels)."""
    return next(spec.name for spec in definition.layers if isinstance(spec, L.PARAMETRIC))


def param_shapes(definition: ModelDef) -> dict:
    """{layer: {"kernel": shape, "bias": shape}} without allocating anything."""
    module = SequentialNet(definition.layers)
    x = jax.ShapeDtypeStruct((1, *definition.input_shape), jnp.float32)
    abstract = jax.eval_shape(module.init, jax.random.key(0), x)["params"]
    return jax.tree_util.tree_map(lambda a: tuple(a.shape), abstract)
