"""The model contract (``jaxvis.models.definition``) for any JAX function
``apply(params, x) -> {blob: array}``: what ``jaxvis.from_function`` and
``jaxvis.from_flax`` build, and the zoo's non-sequential networks.

Shapes come from ``jax.eval_shape`` of the function; receptive fields from
its traced program (``jaxvis.models.traced_geometry``).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from jaxvis.data.preprocess import PreprocessSpec
from jaxvis.errors import ConfigError, ModelDefinitionError
from jaxvis.models.definition import check_roles, shipped_weights_path
from jaxvis.models import tokens as T
from jaxvis.models.geometry import LayerInfo


@dataclasses.dataclass(frozen=True)
class FunctionForward:
    """``apply`` in the contract's forward signature. Equal (and hashed alike)
    for every network of one FunctionDef, so compiled functions keyed on it
    keep no weights alive."""

    apply: Callable

    def __call__(self, params, x: jax.Array, until: str | None = None, unpadded: bool = False
                 ) -> dict[str, jax.Array]:
        # ``until`` is a hint: under jit, XLA drops what the used blobs do not need.
        if unpadded:
            raise ConfigError("receptive-field crops need a sequential architecture; this network has none")
        return self.apply(params, x)


@dataclasses.dataclass(frozen=True, eq=False)
class FunctionDef:
    """A network given as a pure function. ``param_shapes``: the params' pytree
    of ``jax.ShapeDtypeStruct`` (weights loaded later must match it);
    ``kinds`` / ``blob_params``: per-blob kind ("conv", "fc", "norm", "relu",
    ... ; default "map"/"vector") and parameter count, when known;
    ``source``: how another process rebuilds the architecture (a registry
    name or a plugin path ``package.module:function``), None for one made in
    this process only; ``init`` (seed -> params) and ``from_state_dict`` ((state dict,
    source) -> params, the state dict read by ``jaxvis.loading`` from a
    ``.pth``/``.safetensors``/``.npz`` file): random and imported weights,
    where the architecture has them; ``tokens``: the layout of its token blobs
    [B, N, D] (a ``TokenLayout`` for all, or {blob: TokenLayout}; None: inferred,
    ``jaxvis.models.tokens``)."""

    name: str
    apply: Callable
    spec: PreprocessSpec
    param_shapes: object
    description: str = ""
    class_layer: str | None = None
    prob_layer: str | None = None
    ascent_lr_scale: float = 1.0
    kinds: dict | None = None
    blob_params: dict | None = None
    source: str | None = None
    init: Callable | None = None
    from_state_dict: Callable | None = None
    weight_format: str = "function"
    param_collection: str | None = None  # the collection of learned parameters ("params" for Flax)
    tokens: object = None  # declared token layouts: a TokenLayout, {blob: TokenLayout}, or None
    shipped: bool = False  # trained weights ship in jaxvis/assets/models/<name> (a zoo entry's)
    layers = None  # not sequential: no receptive-field crops

    def __post_init__(self):
        T.check_declared(self.name, self.tokens)
        check_roles(self.name, self.layer_names, self.class_layer, self.prob_layer)
        self.token_layouts  # a token blob whose layout is neither declared nor inferable raises here
        for role in ("class_layer", "prob_layer"):
            blob = getattr(self, role)
            if blob is not None and len(self.blob_shapes[blob]) != 1:
                raise ModelDefinitionError(f"{self.name}: {role} {blob!r} must be a vector blob [B, classes], "
                                           f"got per-example shape {self.blob_shapes[blob]}")

    @property
    def shipped_weights(self) -> str | None:
        """Directory of the weights that ship with jaxvis, if any (``ModelDef``'s rule)."""
        return shipped_weights_path(self.name) if self.shipped else None

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return (*self.spec.input_size, 3)

    @functools.cached_property
    def blob_shapes(self) -> dict[str, tuple[int, ...]]:
        """{blob: per-example shape} in forward order, from ``jax.eval_shape``."""
        return blob_shapes(self.name, self.apply, self.param_shapes, self.input_shape)

    @property
    def layer_names(self) -> tuple[str, ...]:
        return tuple(self.blob_shapes)

    @functools.cached_property
    def token_layouts(self) -> dict[str, T.TokenLayout]:
        """{token blob: its layout}, declared or inferred; ModelDefinitionError when one cannot be."""
        try:
            return {name: T.resolve(name, shape[0], self.spec.input_size, self.tokens)
                    for name, shape in self.blob_shapes.items() if len(shape) == 2}
        except ModelDefinitionError as e:
            raise ModelDefinitionError(f"{self.name}: {e}") from None

    def parameter_count(self) -> int:
        """Entries of the learned parameters (``param_collection`` when set)."""
        shapes = self.param_shapes[self.param_collection] if self.param_collection else self.param_shapes
        return sum(int(np.prod(a.shape)) for a in jax.tree.leaves(shapes))

    def forward(self, group_impl: str = "split", lrn_backward: str | None = None) -> FunctionForward:
        return FunctionForward(self.apply)

    @functools.cached_property
    def _table(self) -> tuple[LayerInfo, ...]:
        from jaxvis.models.traced_geometry import receptive_fields

        fields = receptive_fields(self.apply, self.param_shapes, (1, *self.input_shape))
        rows = []
        layouts = self.token_layouts
        for name, shape in self.blob_shapes.items():
            default = {3: "map", 2: "tokens", 1: "vector"}[len(shape)]
            kind = (self.kinds or {}).get(name) or default
            field = fields.get(name) if len(shape) == 3 else None
            rf = field if field is not None else (None, None, None)
            rows.append(LayerInfo(name, kind, shape, *rf, int((self.blob_params or {}).get(name, 0)),
                                  tokens=layouts.get(name)))
        return tuple(rows)

    def table(self) -> list[LayerInfo]:
        return list(self._table)


@dataclasses.dataclass(frozen=True)
class FlatBlobs:
    """``fn(params, x)`` whose output becomes one flat {blob: array}: nested
    dicts are flattened with ``/`` (``{"stage1": {"block0": a}}`` gives
    ``stage1/block0``), and big_vision's ``(logits, out_dict)`` gives the
    dict's blobs followed by ``logits``, unless the dict already holds that
    array. Equal for equal ``fn``, so compiled functions keyed on it are shared."""

    fn: Callable

    def __call__(self, params, x):
        out = self.fn(params, x)
        logits = None
        if isinstance(out, tuple) and len(out) == 2 and isinstance(out[1], dict) and not isinstance(out[0], dict):
            logits, out = out
        if not isinstance(out, dict):
            return out
        flat = _flatten(out, "")
        if logits is not None and not any(v is logits for v in flat.values()):
            flat["logits" if "logits" not in flat else "output"] = logits
        return flat


def _flatten(tree: dict, prefix: str) -> dict:
    flat = {}
    for key, value in tree.items():
        name = f"{prefix}/{key}" if prefix else key
        if isinstance(value, dict) and isinstance(key, str):
            flat.update(_flatten(value, name))
        else:
            flat[name] = value
    return flat


def as_shape_structs(params):
    """A params pytree -> the same pytree of ``jax.ShapeDtypeStruct``."""
    return jax.tree.map(lambda a: jax.ShapeDtypeStruct(np.shape(a), jnp.result_type(a)), params)


def blob_shapes(name: str, apply: Callable, param_shapes, input_shape) -> dict[str, tuple[int, ...]]:
    """Runs ``apply`` abstractly on [1, *input_shape]; ModelDefinitionError
    unless it returns a dict of [1, H, W, C] maps, [1, N, D] tokens and [1, C] vectors."""
    x = jax.ShapeDtypeStruct((1, *input_shape), jnp.float32)
    order, kinds = [], {}

    def recording(params, x):  # jax sorts a returned dict's keys; the order is taken while tracing
        out = apply(params, x)
        if not isinstance(out, dict):
            kinds[None] = type(out).__name__
            return None
        order.extend(out)
        out = {k: jnp.asarray(v) if isinstance(v, (int, float, np.ndarray, np.generic)) else v for k, v in out.items()}
        kinds.update({k: type(v).__name__ for k, v in out.items() if not isinstance(v, jax.Array)})
        return {k: v for k, v in out.items() if isinstance(v, jax.Array)}

    try:
        out = jax.eval_shape(recording, param_shapes, x)
    except Exception as e:  # the user's function raises whatever it raises
        raise ModelDefinitionError(
            f"{name}: does not run on input [B, {input_shape[0]}, {input_shape[1]}, {input_shape[2]}] "
            f"(the spec's input_size {input_shape[0]}x{input_shape[1]}, RGB): {type(e).__name__}: "
            f"{str(e).splitlines()[0] if str(e) else ''}") from None
    if None in kinds or not order:
        raise ModelDefinitionError(f"{name}: must return a dict {{blob name: array}} (nested dicts are flattened "
                                   f"with '/'), or big_vision's (logits, {{name: array}}); got "
                                   f"{kinds.get(None, 'an empty dict')}")
    shapes = {}
    for key in order:
        if not isinstance(key, str):
            raise ModelDefinitionError(f"{name}: blob names must be strings, got {key!r}")
        if key in kinds:
            raise ModelDefinitionError(f"{name}: blob {key!r} is a {kinds[key]}, expected an array")
        value = out[key]
        if value.ndim not in (2, 3, 4) or value.shape[0] != 1:
            raise ModelDefinitionError(f"{name}: blob {key!r} has shape {value.shape} for a batch of 1; expected "
                                       "[B, H, W, C] maps, [B, N, D] tokens or [B, C] vectors")
        shapes[key] = tuple(value.shape[1:])
    return shapes
