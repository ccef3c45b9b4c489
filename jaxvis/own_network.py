"""Your own network in jaxvis: ``from_function`` for any JAX function,
``from_flax`` for any ``flax.linen`` module (the tutorial:
docs/tutorial_own_network.md). Both return a ``jaxvis.Net`` that every
stage takes: ``visualize``, ``project``, the jobs, the gallery, ``inspect``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxvis.data.preprocess import PreprocessSpec
from jaxvis.errors import ConfigError, ModelDefinitionError, WeightsFileError
from jaxvis.models.frameworks import naming
from jaxvis.models.frameworks.flax_linen import flax_blobs, module_param_counts
from jaxvis.models.function_def import FlatBlobs, FunctionDef, as_shape_structs
from jaxvis.net import Net
from jaxvis.weights import shape_mismatch, tree_shapes


def _check_spec(spec, name: str) -> None:
    if not isinstance(spec, PreprocessSpec):
        raise ConfigError(f"{name}: spec must be a jaxvis.PreprocessSpec (input size, channel order, scale, "
                          f"mean, std, class names), got {type(spec).__name__}")


def _check_params(params, name: str) -> None:
    leaves = jax.tree.leaves(params)
    bad = [type(a).__name__ for a in leaves if not hasattr(a, "shape")]
    if bad:
        raise WeightsFileError(f"{name}: params must be a pytree of arrays, found a {bad[0]}")


def from_function(apply_fn, params, *, spec: PreprocessSpec, class_layer: str | None = None,
                  prob_layer: str | None = None, name: str = "function", description: str = "",
                  ascent_lr_scale: float = 1.0, source: str | None = None, tokens=None) -> Net:
    """A network from a pure JAX function ``apply_fn(params, x) -> {blob: array}``.

    x is [B, H, W, 3] float32 in the network's input space (what
    ``net.preprocess`` makes of RGB images by ``spec``); the dict holds the
    blobs in forward order, maps [B, h, w, c], tokens [B, N, d] and vectors
    [B, c]. Nested
    dicts are flattened with ``/``; big_vision's ``(logits, out_dict)``
    return gives the dict's blobs and then ``logits`` (unless the dict
    already holds that array).
    ``class_layer`` / ``prob_layer``: the blobs of the class logits and
    probabilities, if any; ``ascent_lr_scale``: multiplies the presets'
    learning rates (CaffeNet's units); ``source``: a plugin path
    ``package.module:function`` that rebuilds this network in another
    process (``jaxvis.save_model`` records it); ``tokens``: the layout of the
    token blobs (a vision transformer's), ``jaxvis.TokenLayout(prefix=...,
    grid=(h, w))`` for all of them or ``{blob: TokenLayout}``; when not given,
    each is inferred where only one layout fits (``jaxvis.models.tokens``)."""
    if not callable(apply_fn):
        raise ModelDefinitionError(f"{name}: apply_fn must be a function (params, x) -> {{blob: array}}, got "
                                   f"{type(apply_fn).__name__}")
    _check_spec(spec, name)
    _check_params(params, name)
    definition = FunctionDef(name, FlatBlobs(apply_fn), spec, as_shape_structs(params),
                             description or f"{name} (a JAX function)",
                             class_layer, prob_layer, float(ascent_lr_scale), source=source, tokens=tokens)
    return Net(definition, jax.device_put(params), spec)


def _check_variables(module, variables, spec, name: str) -> None:
    """The variables' shapes are those the module initialises for the spec's input."""
    if not isinstance(variables, dict) and not hasattr(variables, "items") or "params" not in variables:
        raise WeightsFileError(f"{name}: variables must be the dict module.init returns, with a 'params' collection; "
                               f"got {type(variables).__name__}")
    size = f"input [B, {spec.input_size[0]}, {spec.input_size[1]}, 3] (the spec's input_size)"
    want, got = _init_shapes(module, spec.input_size, name, size), tree_shapes(dict(variables))
    problem = shape_mismatch(want, got)
    if problem is None:
        return
    wrong = [key for key in want if key in got and want[key] != got[key]]
    if wrong and set(want) == set(got):
        # Shapes that change with the input size (a Dense on a flattened map) blame the spec, not the weights.
        bigger = _init_shapes(module, tuple(n + 8 for n in spec.input_size), name, size)
        if all(bigger.get(key) != want[key] for key in wrong):
            raise ModelDefinitionError(f"{name}: the module does not fit {size}: its variable {wrong[0]} would "
                                       f"have shape {want[wrong[0]]} there, the variables have {got[wrong[0]]}")
    raise WeightsFileError(f"{name}: variables do not fit the module: {problem}")


def _init_shapes(module, input_size, name: str, size: str) -> dict:
    """{variable path: shape} that ``module.init`` makes for [1, *input_size, 3], computed abstractly."""
    x = jax.ShapeDtypeStruct((1, *input_size, 3), jnp.float32)
    try:
        expected = jax.eval_shape(lambda: module.init(jax.random.key(0), jnp.zeros(x.shape, x.dtype)))
    except Exception as e:  # the user's module raises whatever it raises
        raise ModelDefinitionError(f"{name}: the module does not initialise on {size}: {type(e).__name__}: "
                                   f"{str(e).splitlines()[0] if str(e) else ''}") from None
    return tree_shapes(expected)


def from_flax(module, variables, *, spec: PreprocessSpec, class_layer: str | None = None,
              prob_layer: str | None = None, name: str | None = None, description: str = "",
              ascent_lr_scale: float = 1.0, source: str | None = None, tokens=None) -> Net:
    """A network from a ``flax.linen`` module in inference mode and its
    variables (what ``module.init`` returns, batch statistics included).

    The blobs are the outputs of its submodules, named by their module path
    joined with ``/``, and of the ReLU functions it calls (``<scope>/relu``,
    ``<scope>/relu_1``, ...): the rules in ``jaxvis/models/frameworks/flax_linen.py``;
    ``jaxvis inspect`` and ``net.layer_names`` list them. The other
    arguments are ``from_function``'s."""
    import flax.linen as nn

    name = name or type(module).__name__
    if not isinstance(module, nn.Module):
        raise ModelDefinitionError(f"{name}: from_flax takes a flax.linen Module, got {type(module).__name__}")
    _check_spec(spec, name)
    _check_variables(module, variables, spec, name)
    apply, kinds = flax_blobs(module)  # kinds fill in when apply is first traced
    blobs = naming.AdapterBlobs(apply, dict(variables), kinds, module_param_counts(variables))
    return _adapted_net(blobs, spec, name, description or f"{name} (a Flax module)", class_layer, prob_layer,
                        ascent_lr_scale, source, "params", tokens)


def _adapted_net(blobs, spec, name: str, description: str, class_layer, prob_layer, ascent_lr_scale, source,
                 param_collection: str | None, tokens) -> Net:
    """The Net of a framework adapter's ``naming.AdapterBlobs`` (from_flax, from_nnx, from_equinox, from_keras)."""
    definition = FunctionDef(name, blobs.apply, spec, as_shape_structs(blobs.params), description, class_layer,
                             prob_layer, float(ascent_lr_scale), kinds=blobs.kinds, blob_params=blobs.blob_params,
                             source=source, param_collection=param_collection, tokens=tokens)
    return Net(definition, jax.device_put(blobs.params), spec)


# --- Flax NNX (jaxvis/models/frameworks/nnx.py) ------------------------------------------------

def _framework_of(obj) -> str:
    """A hint naming the adapter that takes ``obj``, when it is another framework's network."""
    for cls in type(obj).__mro__:
        where = f"{cls.__module__}.{cls.__name__}"
        if where.startswith("flax.linen"):
            return " (a flax.linen Module: use jaxvis.from_flax)"
        if where.startswith("flax.nnx"):
            return " (a Flax NNX Module: use jaxvis.from_nnx)"
        if where.startswith("equinox"):
            return " (an Equinox Module: use jaxvis.from_equinox)"
        if where.startswith("keras"):
            return " (a Keras model: use jaxvis.from_keras)"
    return " (a function: use jaxvis.from_function)" if callable(obj) else ""


def from_nnx(module, *, spec: PreprocessSpec, class_layer: str | None = None, prob_layer: str | None = None,
             name: str | None = None, description: str = "", ascent_lr_scale: float = 1.0,
             source: str | None = None, tokens=None) -> Net:
    """A network from a Flax NNX module: x [B, H, W, 3] -> its output, as NNX
    layers take it.

    jaxvis runs a copy of the module in eval mode (``.eval()``: BatchNorm on
    its running statistics, Dropout off); the module given is left as it is.
    The blobs are the outputs of its submodules, named by attribute path
    joined with ``/`` (``layers/0/conv1``), and of the ReLU functions it
    calls (``<scope>/relu``, ...); the params are the state of
    ``nnx.split`` as nested dicts per variable type (``params``,
    ``batch_stats``): the rules in ``jaxvis/models/frameworks/nnx.py``. The
    other arguments are ``from_function``'s."""
    from flax import nnx

    name = name or type(module).__name__
    if not isinstance(module, nnx.Module):
        raise ModelDefinitionError(f"{name}: from_nnx takes a flax.nnx Module, got {type(module).__name__}"
                                   f"{_framework_of(module)}")
    _check_spec(spec, name)
    from jaxvis.models.frameworks.nnx import nnx_blobs

    blobs = nnx_blobs(module)
    return _adapted_net(blobs, spec, name, description or f"{name} (a Flax NNX module)", class_layer, prob_layer,
                        ascent_lr_scale, source, "params" if "params" in blobs.params else None, tokens)


# --- Equinox (jaxvis/models/frameworks/equinox.py) ---------------------------------------------

def from_equinox(model, state=None, *, spec: PreprocessSpec, layout: str = "CHW", class_layer: str | None = None,
                 prob_layer: str | None = None, name: str | None = None, description: str = "",
                 ascent_lr_scale: float = 1.0, source: str | None = None, tokens=None) -> Net:
    """A network from an Equinox model and, when it has stateful layers
    (BatchNorm), the ``eqx.nn.State`` that ``eqx.nn.make_with_state``
    returned; it is called ``model(x)``, or ``model(x, state)`` returning
    ``(y, state)``.

    ``layout``: how the model takes its input. ``"CHW"`` (``eqx.nn.Conv2d``'s
    convention, the default) or ``"HWC"``: one example, jaxvis vmaps it over
    the batch; ``"NCHW"`` or ``"NHWC"``: the whole batch. Channel-first maps
    are transposed to jaxvis's [B, H, W, C]. jaxvis runs a copy under
    ``eqx.nn.inference_mode``. The blobs are the outputs of its submodules,
    named by attribute path joined with ``/`` (``layers/0``), and of the ReLU
    functions it calls: the rules in ``jaxvis/models/frameworks/equinox.py``.
    The other arguments are ``from_function``'s."""
    try:
        import equinox as eqx
    except ImportError as e:
        raise ModelDefinitionError(f"from_equinox needs equinox installed (pip install equinox): {e}") from None

    name = name or type(model).__name__
    if not isinstance(model, eqx.Module):
        raise ModelDefinitionError(f"{name}: from_equinox takes an equinox Module, got {type(model).__name__}"
                                   f"{_framework_of(model)}")
    _check_spec(spec, name)
    from jaxvis.models.frameworks.equinox import LAYOUTS, equinox_blobs, state_indices

    if layout not in LAYOUTS:
        raise ConfigError(f"{name}: layout must be one of {', '.join(LAYOUTS)} (how the model takes its input: "
                          f"one example channels first or last, or the whole batch), got {layout!r}")
    if state is not None and not isinstance(state, eqx.nn.State):
        raise WeightsFileError(f"{name}: state must be the eqx.nn.State that eqx.nn.make_with_state returned, or "
                               f"None for a model without stateful layers; got {type(state).__name__}")
    stateful = state_indices(model)
    if state is None and stateful:
        raise WeightsFileError(f"{name}: the model has stateful layers (the state entry {stateful[0][0]!r}, a "
                               "BatchNorm's running statistics?); pass the eqx.nn.State that eqx.nn.make_with_state "
                               "returned: jaxvis.from_equinox(model, state, spec=...)")
    return _adapted_net(equinox_blobs(model, state, layout), spec, name, description or f"{name} (an Equinox model)",
                        class_layer, prob_layer, ascent_lr_scale, source, "params", tokens)


# --- Keras 3 (jaxvis/models/frameworks/keras.py) -----------------------------------------------

def from_keras(model, *, spec: PreprocessSpec, class_layer: str | None = None, prob_layer: str | None = None,
               name: str | None = None, description: str = "", ascent_lr_scale: float = 1.0,
               source: str | None = None, tokens=None) -> Net:
    """A network from a Keras 3 model on the JAX backend, Functional or
    Sequential (a subclassed model has no layer graph: ConfigError), with its
    weights as they are now.

    The blobs are every layer's output, named by the Keras layer name, and
    every ReLU's (a fused ``activation="relu"`` of layer ``conv1`` gives
    ``conv1/relu``), in graph order; the forward is ``stateless_call`` in
    inference mode (BatchNormalization's moving statistics, no Dropout): the
    rules in ``jaxvis/models/frameworks/keras.py``. ``jaxvis.keras_preprocess``
    gives the spec of keras.applications' preprocessing modes. The other
    arguments are ``from_function``'s."""
    from jaxvis.models.frameworks import keras as keras_adapter

    name = name or getattr(model, "name", None) or type(model).__name__
    keras_adapter.check_graph_model(model, name)
    _check_spec(spec, name)
    keras_adapter.check_input_size(model, spec, name)
    return _adapted_net(keras_adapter.keras_blobs(model, name), spec, name, description or f"{name} (a Keras model)",
                        class_layer, prob_layer, ascent_lr_scale, source, None, tokens)
