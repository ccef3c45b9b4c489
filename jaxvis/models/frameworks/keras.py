"""Every blob of a Keras 3 model (Functional or Sequential, JAX backend), as
a pure function of its weights, without changing the model.

``keras_blobs(model)`` returns ``naming.AdapterBlobs`` whose ``apply(params,
x) -> {blob: array}`` gives the blobs in forward order, by the adapters' one naming rule
(``jaxvis/models/frameworks/naming.py``):

- every layer's output is a blob named by the Keras layer name (``conv1``,
  ``block1_pool``); a layer called n > 0 times before in the graph gives
  ``name/call_n``, a layer of several outputs ``name/0``, ``name/1``, ...
  The input layer is not a blob;
- every ReLU the program computes is a blob ``<layer>/relu`` (``/relu_1``,
  ...) of the layer whose call computes it: the fused activation of
  ``Conv2D(..., activation="relu", name="conv1")`` gives ``conv1/relu``
  (equal to ``conv1``: Keras's layer output is after its activation), a
  ``ReLU()`` or ``Activation("relu")`` layer ``<its name>/relu``. Keras's
  relu is ``jax.nn.relu`` on the JAX backend, so deconv and guided backprop
  (``jaxvis.ops.substitute``) swap their rule in at every one of them;
- a model nested as a layer (``Sequential([VGG16(...), Dense(10)])``) is
  one layer: its output is a blob, its own layers are not (its ReLUs are,
  as ``vgg16/block1_conv1/relu``, ...). Build the network from the inner
  model's tensors (``keras.Model(base.input, head(base.output))``) to see
  each of its layers.

The forward is ``stateless_call`` of a second Functional model over the
same layers whose outputs are all the layers' outputs, in inference mode
(``training=False``: BatchNormalization uses its moving statistics,
Dropout passes its input). Keras opens ``jax.named_scope(<layer name>)``
around every layer call, which is where a ReLU's scope comes from.

params: ``{layer name: {weight name: array}}``, every weight of every
layer of the graph, trainable and not (BatchNormalization's moving mean and
variance too), as they are when ``keras_blobs`` is called; a weight's name
is its variable path from its layer on (``kernel``, ``moving_mean``; in a
nested model ``block1_conv1/kernel``). Variables that are no weights (a
Dropout's random-seed state) are constants of the program.

Also here: ``keras_preprocess`` (the input conventions of
``keras.applications``' preprocessing modes), ``load_h5_weights`` (Keras
weights files read by layer name with h5py, no tensorflow needed) and the
reading of ``.keras`` model files. Keras and h5py are imported only when
one of these needs them.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys

import numpy as np

from jaxvis.data.preprocess import PreprocessSpec
from jaxvis.errors import ConfigError, ModelDefinitionError, UnknownModelError, WeightsFileError
from jaxvis.models.frameworks import naming

# --- keras.applications' preprocessing modes (keras/src/applications/imagenet_utils.py) ----------

_IMAGENET_MEAN_RGB = (0.485, 0.456, 0.406)
_IMAGENET_STD_RGB = (0.229, 0.224, 0.225)
KERAS_MODES = {
    # BGR, 0..255 minus the ImageNet mean pixel (in BGR), no scaling: VGG16/19, ResNet50 (v1)
    "caffe": dict(channel_order="BGR", scale=1.0, mean=(103.939, 116.779, 123.68)),
    # RGB, x / 127.5 - 1 (-1..1): Inception, Xception, MobileNet(V2), ResNet v2
    "tf": dict(channel_order="RGB", scale=1 / 127.5, mean=(1.0, 1.0, 1.0)),
    # RGB, x / 255 minus the ImageNet mean, over the ImageNet std: DenseNet
    "torch": dict(channel_order="RGB", scale=1 / 255, mean=_IMAGENET_MEAN_RGB, std=_IMAGENET_STD_RGB),
}


def keras_preprocess(mode: str, input_size: tuple[int, int] = (224, 224), **fields) -> PreprocessSpec:
    """The ``jaxvis.PreprocessSpec`` of ``keras.applications``' ``preprocess_input(x, mode=mode)``:
    "caffe", "tf" or "torch", for input images of ``input_size`` (H, W); ``fields``: other
    PreprocessSpec fields (``class_names``, ``color_statistics``, ``resize``, ...). Images of
    another size are warped to it, as ``keras.utils.load_img(target_size=...)`` does.

    All three modes are ImageNet's conventions (the networks of keras.applications were trained on
    ImageNet), so ``color_statistics`` is "imagenet" unless given: pass ``color_statistics=None``,
    "folder:PATH" or a 3x3 matrix for a network trained on other images."""
    if mode not in KERAS_MODES:
        raise ConfigError(f"keras_preprocess: unknown mode {mode!r}; expected one of {', '.join(KERAS_MODES)} "
                          "(keras.applications' preprocess_input modes)")
    size = _input_size(input_size, "keras_preprocess: input_size")
    clash = sorted(set(fields) & (set(KERAS_MODES[mode]) | {"input_size", "std"}))
    if clash:
        raise ConfigError(f"keras_preprocess: mode {mode!r} sets {', '.join(clash)}; pass only other "
                          "PreprocessSpec fields (class_names, color_statistics, resize, resize_mode)")
    try:
        return PreprocessSpec(input_size=size, **KERAS_MODES[mode], **{"color_statistics": "imagenet", **fields})
    except TypeError as e:
        raise ConfigError(f"keras_preprocess: {e}") from None


def _input_size(value, what: str) -> tuple[int, int]:
    if (not isinstance(value, (tuple, list)) or len(value) != 2
            or not all(isinstance(n, (int, np.integer)) and not isinstance(n, bool) and n > 0 for n in value)):
        raise ConfigError(f"{what}: expected (height, width), two positive integers; got {value!r}")
    return int(value[0]), int(value[1])


# --- Keras itself -------------------------------------------------------------------------------


def import_keras():
    """The ``keras`` module, on the JAX backend. Set before Keras is first
    imported (``KERAS_BACKEND``, else JAX here when this imports it first);
    ConfigError when Keras runs on another backend or is not installed."""
    if "keras" not in sys.modules:
        os.environ.setdefault("KERAS_BACKEND", "jax")
    try:
        import keras
    except ImportError as e:
        raise ConfigError(f"Keras models need keras 3 (pip install keras): {e}") from None
    if not hasattr(keras, "backend") or not hasattr(keras, "StatelessScope"):
        raise ConfigError(f"jaxvis takes Keras 3 models; this is keras {getattr(keras, '__version__', '?')}")
    if keras.backend.backend() != "jax":
        raise ConfigError(f"Keras runs on the {keras.backend.backend()!r} backend; jaxvis takes Keras models on the "
                          "JAX backend: set KERAS_BACKEND=jax before importing keras (os.environ['KERAS_BACKEND'] "
                          "= 'jax' at the top of your script, or in the shell)")
    return keras


def check_graph_model(model, name: str):
    """The model's one input [B, H, W, 3]; ConfigError for a model without a layer graph (subclassed)."""
    keras = import_keras()
    if not isinstance(model, keras.Model):
        raise ModelDefinitionError(f"{name}: from_keras takes a keras.Model (Functional or Sequential), got "
                                   f"{type(model).__name__}")
    try:
        inputs, outputs = model.inputs, model.outputs
    except (AttributeError, ValueError):  # a subclassed model, or a Sequential without an input yet
        inputs = outputs = None
    if isinstance(model, keras.Sequential) and not inputs:
        raise ConfigError(f"{name}: the Sequential model has no input yet; start it with keras.Input((H, W, 3)) "
                          "or call model.build((None, H, W, 3)) before jaxvis.from_keras")
    if not inputs or not outputs or not all(isinstance(t, keras.KerasTensor) for t in [*inputs, *outputs]):
        raise ConfigError(
            f"{name}: a subclassed keras.Model ({type(model).__name__}) has no layer graph, only Python code in "
            "call(), so jaxvis cannot name its layers. Build it as a Functional model (keras.Model(inputs, outputs) "
            "from keras.Input((H, W, 3))) or a keras.Sequential, or wrap it in a JAX function and use "
            "jaxvis.from_function(lambda params, x: {...}, params, spec=...) with model.stateless_call")
    if len(inputs) != 1:
        raise ModelDefinitionError(f"{name}: the model has {len(inputs)} inputs; jaxvis feeds one batch of images "
                                   "[B, H, W, 3]")
    shape = tuple(inputs[0].shape)
    if len(shape) != 4 or shape[-1] != 3:
        raise ModelDefinitionError(f"{name}: the model's input has shape {shape}; jaxvis feeds images channels-last, "
                                   "[B, H, W, 3] (a channels_first model is not supported)")
    return inputs[0]


def check_input_size(model, spec: PreprocessSpec, name: str) -> None:
    height, width = tuple(model.inputs[0].shape)[1:3]
    if (height is not None and height != spec.input_size[0]) or (width is not None and width != spec.input_size[1]):
        raise ModelDefinitionError(f"{name}: the model takes [B, {height}, {width}, 3] images; the spec's "
                                   f"input_size is {spec.input_size[0]}x{spec.input_size[1]}")


def _graph_calls(model):
    """[(operation, call index, its output tensors)] of every layer call of
    the model's graph but the input's, from the inputs to the outputs; the
    call index counts the operation's earlier calls in this graph."""
    keras = import_keras()
    graph = keras.Model(model.inputs, model.outputs)  # a Functional over the same tensors, Sequential too
    calls, seen = [], {}
    for depth in sorted(graph._nodes_by_depth, reverse=True):  # Keras's own topological record of the graph
        for node in graph._nodes_by_depth[depth]:
            operation = node.operation
            if node.is_input or isinstance(operation, keras.layers.InputLayer):
                continue
            call = seen.get(id(operation), 0)
            seen[id(operation)] = call + 1
            calls.append((operation, call, list(node.outputs)))
    return calls


def _weight_name(layer, variable) -> str:
    """A variable's path from its layer on: ``kernel``; the whole path when the layer is not on it."""
    parts = variable.path.split("/")
    scopes = parts[:-1]
    if layer.name in scopes:
        parts = parts[len(scopes) - scopes[::-1].index(layer.name):]  # after the layer's last occurrence
    return "/".join(parts)


def _layer_weights(calls, name: str) -> tuple[dict, dict]:
    """({layer: {weight name: array}}, {id(variable): (layer, weight name)})."""
    params, where = {}, {}
    for operation, call, _ in calls:
        if call or not getattr(operation, "weights", None):
            continue
        own = {}
        for variable in operation.weights:
            if id(variable) in where:
                continue  # a weight shared with an earlier layer is that layer's
            key = _weight_name(operation, variable)
            if key in own:
                raise ModelDefinitionError(f"{name}: layer {operation.name!r} has two weights named {key!r}")
            own[key] = np.array(variable.value)  # a copy: Keras may donate (delete) a variable's buffer later
            where[id(variable)] = (operation.name, key)
        if own:
            params[operation.name] = own
    return params, where


def keras_blobs(model, name: str) -> naming.AdapterBlobs:
    """The blobs of a Functional or Sequential model, its weights as params,
    each layer's kind and parameter count (``check_graph_model`` first)."""
    calls = _graph_calls(model)
    params, where = _layer_weights(calls, name)
    kinds, blob_params, names, tensors = {}, {}, [], []
    for operation, call, outputs in calls:
        path = [operation.name]
        named = naming.output_names(path, call, outputs[0] if len(outputs) == 1 else tuple(outputs))
        for blob, tensor in named:
            kinds[blob] = naming.kind_of(operation)
            names.append(blob)
            tensors.append(tensor)
        if call == 0 and getattr(operation, "weights", None):
            blob_params[naming.call_name(path)] = sum(int(np.prod(v.shape)) for v in operation.weights)
    keras = import_keras()
    every = keras.Model(model.inputs, tensors, name=f"{model.name}_blobs")
    trainable, non_trainable = list(every.trainable_variables), list(every.non_trainable_variables)

    def values(variables, params):
        return [params[where[id(v)][0]][where[id(v)][1]] if id(v) in where else v.value for v in variables]

    def captured(params, x):
        outs, _ = every.stateless_call(values(trainable, params), values(non_trainable, params), x, training=False)
        outs = outs if isinstance(outs, (list, tuple)) else [outs]
        return dict(zip(names, outs))

    def apply(params, x):
        return naming.traced_blobs(captured, params, x, kinds=kinds)

    return naming.AdapterBlobs(apply, params, kinds, blob_params)


# --- .keras model files ---------------------------------------------------------------------


def is_keras_file(name) -> bool:
    """A model name that is a Keras model file: a path ending in ``.keras``."""
    return isinstance(name, (str, os.PathLike)) and os.fspath(name).lower().endswith(".keras")


def read_keras_file(path: str):
    """The Keras model a ``.keras`` file holds (compile=False: no optimizer or loss needed)."""
    if not os.path.isfile(path):
        raise UnknownModelError(f"Keras model file {path!r} does not exist")
    keras = import_keras()
    try:
        return keras.saving.load_model(path, compile=False)
    except Exception as e:  # Keras raises many types for files it cannot rebuild
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise ModelDefinitionError(
            f"{path}: Keras cannot rebuild the model: {type(e).__name__}: {first} (a custom layer must be registered "
            "with keras.saving.register_keras_serializable in a module imported first; or build the model in a "
            "plugin function package.module:function)") from None


def spec_for_keras(value, model, what: str = "spec") -> PreprocessSpec:
    """The spec a ``.keras`` model is loaded with: a PreprocessSpec, one of
    keras.applications' modes ("caffe", "tf", "torch", at the model's input
    size, 224x224 if it takes any size), or the fields of a PreprocessSpec as
    a dict or a JSON object (``input_size`` defaults to the model's)."""
    if isinstance(value, PreprocessSpec):
        return value
    height, width = tuple(model.inputs[0].shape)[1:3] if getattr(model, "inputs", None) else (None, None)
    size = (height or 224, width or 224)
    if isinstance(value, str) and value in KERAS_MODES:
        return keras_preprocess(value, size)
    if isinstance(value, str) and value.lstrip().startswith("{"):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as e:
            raise ConfigError(f"{what}: not a JSON object of PreprocessSpec fields: {e}") from None
    if isinstance(value, dict):
        fields = {"input_size": size, **value}
        known = {f.name for f in dataclasses.fields(PreprocessSpec)}
        unknown = sorted(set(fields) - known)
        if unknown:
            raise ConfigError(f"{what}: unknown PreprocessSpec field(s) {', '.join(unknown)}; known: "
                              f"{', '.join(sorted(known))}")
        fields["input_size"] = _input_size(fields["input_size"], f"{what}: input_size")
        for key in ("mean", "std", "class_names"):
            if isinstance(fields.get(key), list):
                fields[key] = tuple(fields[key])
        return PreprocessSpec(**fields)
    raise ConfigError(f"{what}: {value!r} is not a preprocessing spec; a .keras model needs one: a jaxvis."
                      f"PreprocessSpec, one of keras.applications' modes {', '.join(map(repr, KERAS_MODES))}, or "
                      "the PreprocessSpec fields as a JSON object ('{\"channel_order\": \"RGB\", \"scale\": 0.00392}')")


# --- Keras weights files (.weights.h5 and the older .h5), by layer name -------------------------


@dataclasses.dataclass(frozen=True)
class H5Weights:
    """What ``load_h5_weights`` did: the model's layers it loaded, and the
    file's layers (with weights) the model has no layer of that name for."""

    loaded: tuple[str, ...]
    unused: tuple[str, ...]


def _h5_layers(f) -> dict:
    """{layer name: [arrays in the layer's own variable order]} of a Keras
    weights file: Keras 3's ``.weights.h5`` (groups ``.../vars`` with a
    ``name`` attribute and datasets ``0``, ``1``, ...) or the older Keras 2
    ``.h5`` (``layer_names`` and per layer ``weight_names`` attributes)."""
    import h5py

    root = f["model_weights"] if "model_weights" in f else f
    found: dict[str, list] = {}
    if "layer_names" in root.attrs or "layer_names0" in root.attrs:
        for layer in _h5_names(root.attrs, "layer_names"):
            group = root[layer]
            names = _h5_names(group.attrs, "weight_names")
            if names:
                found.setdefault(layer, []).append([np.asarray(group[n]) for n in names])
    else:
        def visit(path, obj):
            if isinstance(obj, h5py.Group) and path.split("/")[-1] == "vars" and "name" in obj.attrs:
                keys = sorted((k for k in obj if isinstance(obj[k], h5py.Dataset)), key=lambda k: int(k))
                if keys:
                    layer = obj.attrs["name"]
                    layer = layer.decode() if isinstance(layer, bytes) else str(layer)
                    found.setdefault(layer, []).append([np.asarray(obj[k]) for k in keys])
        root.visititems(visit)
    return found


def _h5_names(attrs, key: str) -> list[str]:
    """A list of names stored as an HDF5 attribute: ``key``, or (a long list) ``key0``, ``key1``, ..."""
    values = list(attrs[key]) if key in attrs else []
    chunk = 0
    while f"{key}{chunk}" in attrs:
        values += list(attrs[f"{key}{chunk}"])
        chunk += 1
    return [v.decode() if isinstance(v, bytes) else str(v) for v in values]


def _all_layers(model):
    """Every layer of the model, nested models' layers included (depth first)."""
    for layer in model.layers:
        yield layer
        if getattr(layer, "layers", None):
            yield from _all_layers(layer)


def load_h5_weights(model, path: str | os.PathLike) -> H5Weights:
    """Assigns the weights of a Keras weights file (``.weights.h5`` of Keras 3
    or the older ``.h5``), read with h5py (no tensorflow), to the model's
    layers of the same names, each through its own ``load_own_variables``.
    Every layer of the model that has weights must be in the file, with the
    same number and shapes of weights; the file may hold more layers (those
    are returned as ``unused``). On any mismatch nothing is assigned and a
    WeightsFileError names the layer."""
    import_keras()
    path = os.fspath(path)
    try:
        import h5py
    except ImportError:
        raise ConfigError("load_h5_weights needs h5py (pip install h5py)") from None
    if not os.path.isfile(path):
        raise WeightsFileError(f"Keras weights file {path!r} does not exist")
    try:
        with h5py.File(path, "r") as f:
            stored = _h5_layers(f)
    except OSError as e:
        raise WeightsFileError(f"{path}: not a readable HDF5 file: {e}") from None
    if not stored:
        raise WeightsFileError(f"{path}: no layer weights found (expected a Keras .weights.h5 or .h5 weights file)")
    wanted = [layer for layer in _all_layers(model) if layer.weights and not getattr(layer, "layers", None)]
    missing = [layer.name for layer in wanted if layer.name not in stored]
    if missing:
        raise WeightsFileError(f"{path}: has no weights for layer(s) {', '.join(missing)} of {model.name}; the file's "
                               f"layers are: {', '.join(sorted(stored))}")
    twice = [layer.name for layer in wanted if len(stored[layer.name]) > 1]
    if twice:
        raise WeightsFileError(f"{path}: holds layer {twice[0]!r} more than once; cannot tell which is meant")
    for layer in wanted:
        arrays, own = stored[layer.name][0], layer.weights
        if len(arrays) != len(own) or any(a.shape != tuple(v.shape) for a, v in zip(arrays, own)):
            raise WeightsFileError(f"{path}: layer {layer.name!r} holds weights of shapes "
                                   f"{[a.shape for a in arrays]}; {model.name}'s layer has "
                                   f"{[tuple(v.shape) for v in own]}")
    saved = [(v, v.value) for layer in wanted for v in layer.weights]
    for layer in wanted:
        try:
            layer.load_own_variables({str(i): a for i, a in enumerate(stored[layer.name][0])})
        except (ValueError, KeyError) as e:  # a layer whose own variables are not its weights (one of sublayers)
            for variable, value in saved:  # the layers loaded before it are restored
                variable.assign(value)
            raise WeightsFileError(f"{path}: layer {layer.name!r} does not take the file's weights: "
                                   f"{type(e).__name__}: {e}") from None
    names = {layer.name for layer in wanted}
    return H5Weights(tuple(layer.name for layer in wanted), tuple(sorted(set(stored) - names)))
