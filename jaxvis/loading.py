"""``load_model``: a registry name, a plugin path, a Keras ``.keras`` file or a
jaxvis model directory, plus weights -> Net."""

from __future__ import annotations

import dataclasses
import numbers
import os

import jax

from jaxvis import weights as W
from jaxvis.data.preprocess import PreprocessSpec
from jaxvis.errors import ConfigError, ModelDefinitionError, UnknownModelError, WeightsFileError
from jaxvis.models.definition import ModelDef
from jaxvis.models.frameworks import keras as keras_files
from jaxvis.models.function_def import FunctionDef
from jaxvis.models.registry import get_model_def
from jaxvis.net import Net, init_params, param_shapes
from jaxvis.ops.conv import check_group_impl
from jaxvis.own_network import from_keras
from jaxvis.plugin import is_plugin_path, load_plugin
from jaxvis.weights import checkpoint
from jaxvis.weights.torch_state import read_state_dict


def load_model(
    model: str | os.PathLike,
    weights: str | os.PathLike | None = None,
    *,
    seed: int = 0,
    prototxt: str | os.PathLike | None = None,
    mean=None,
    class_names=None,
    group_impl: str = "split",
    spec=None,
) -> Net:
    """model: a registry name ("caffenet", "vgg_s", ...), a plugin path
    ``package.module:function`` (``jaxvis/plugin.py``), a Keras model file
    ``path/model.keras`` (its architecture and weights; ``spec`` says how
    images become its input) or a jaxvis model directory.
    weights: .caffemodel (with optional ``prototxt`` to check the architecture),
    torchvision state dict (.pth/.pt/.safetensors/.npz), a jaxvis model
    directory, "random" for random weights from ``seed``, or None: the weights
    that ship with jaxvis (demo, demo_b, demo_vit), else random weights from ``seed``.
    mean: override the mean (3 values, a Caffe .binaryproto or an .npy image).
    class_names: a sequence or a text file, one class per line.
    spec: the preprocessing of a ``.keras`` model, which the file does not
    record: a ``jaxvis.PreprocessSpec``, one of keras.applications' modes
    "caffe", "tf", "torch" (``jaxvis.keras_preprocess`` at the model's input
    size) or PreprocessSpec fields as a dict or JSON object; other models
    carry their own (a model directory of a ``.keras`` model too).
    """
    if not isinstance(model, (str, os.PathLike)):
        raise UnknownModelError(f"model must be a registry name or a jaxvis model directory, got "
                                f"{type(model).__name__} {model!r}")
    check_group_impl(group_impl)  # before any weights load
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise ConfigError(f"seed must be an integer, got {seed!r}")
    if weights is not None and not isinstance(weights, (str, os.PathLike)):
        raise WeightsFileError(f"weights must be a file or directory path, or 'random', got "
                               f"{type(weights).__name__} {weights!r}")
    directory = None
    if checkpoint.is_checkpoint(model) and weights is None:
        weights = directory = model
        model = checkpoint.read_meta(model)["model"]
    model = os.fspath(model)
    if spec is not None and not keras_files.is_keras_file(model):
        raise ConfigError(f"spec is for a Keras .keras model, which records no preprocessing; {model} carries its "
                          "own (pass mean= or class_names= to change those)")
    if keras_files.is_keras_file(model):
        net = _keras_file_net(model, spec, directory)
        definition, spec, params = net.definition, net.spec, net.params
        if weights is not None:
            params, _ = _function_weights(definition, weights, seed, spec)  # the spec given, else the directory's
    elif is_plugin_path(model):
        net = load_plugin(model)
        definition, spec, params = net.definition, net.spec, net.params
        if weights is not None:
            params, spec = _function_weights(definition, weights, seed, spec)
    elif isinstance(definition := get_model_def(model), FunctionDef):
        if weights is None:
            weights = _shipped_weights(definition) or "random"
        params, spec = _function_weights(definition, weights, seed, definition.spec)
    else:
        params, spec = _sequential_weights(definition, weights, seed, prototxt)
    if mean is not None:
        spec = dataclasses.replace(spec, mean=W.load_mean(mean))
    if class_names is not None:
        spec = dataclasses.replace(spec, class_names=W.load_class_names(class_names))
    return Net(definition, jax.device_put(params), spec, group_impl)


def _keras_file_net(path: str, spec, directory) -> Net:
    """The Net of a ``.keras`` file; its spec given, else the one its model directory recorded."""
    if spec is None and directory is not None:
        spec = PreprocessSpec.from_json(checkpoint.read_meta(directory)["spec"])
    if spec is None:
        raise ConfigError(f"{path}: a .keras file records no preprocessing; give its spec: "
                          f"jaxvis.load_model({path!r}, spec=jaxvis.keras_preprocess('caffe')) (or 'tf', 'torch', a "
                          "jaxvis.PreprocessSpec); on the command line --config.spec=caffe in a job config, "
                          "--spec=caffe for jaxvis inspect, convert and live")
    model = keras_files.read_keras_file(path)
    spec = keras_files.spec_for_keras(spec, model)
    name = os.path.splitext(os.path.basename(path))[0]
    return from_keras(model, spec=spec, name=name, description=f"{name} (Keras model file {path})", source=path)


def _shipped_weights(definition) -> str | None:
    """The directory of a zoo model's shipped weights (``definition.shipped_weights``), None when
    none ship; WeightsFileError when they should ship but are missing."""
    path = definition.shipped_weights
    if path and not checkpoint.is_checkpoint(path):
        raise WeightsFileError(
            f"the shipped weights of {definition.name} are missing from {path}; "
            f"train them with `jaxvis train --config=configs/demo_train.py:{definition.name} --workdir=DIR` "
            f"and copy DIR/model there, or pass weights='random'"
        )
    return path


def _sequential_weights(definition: ModelDef, weights, seed: int, prototxt) -> tuple[dict, PreprocessSpec]:
    """(params, spec) of a zoo sequential model: shipped, random, or read from ``weights``."""
    spec = definition.spec
    if weights is None:
        weights = _shipped_weights(definition)
    if weights is None or (isinstance(weights, str) and weights == "random"):
        weights = None
        params = init_params(definition, seed)
    else:
        params = W.load_params(definition, weights, prototxt)
        if checkpoint.is_checkpoint(weights):
            spec = PreprocessSpec.from_json(checkpoint.read_meta(weights)["spec"])
    W.check_param_shapes(params, param_shapes(definition), os.fspath(weights or definition.name))
    return params, spec


def _function_weights(definition: FunctionDef, weights, seed: int, spec) -> tuple[dict, PreprocessSpec]:
    """(params, spec) of a FunctionDef network: random (from its ``init``), a
    jaxvis model directory, or a state-dict file its ``from_state_dict`` converts."""
    source = os.fspath(weights)
    if source == "random":
        if definition.init is None:
            raise WeightsFileError(f"{definition.name} has no random initialisation; give it weights "
                                   "(a jaxvis model directory)")
        params = definition.init(seed)
    elif checkpoint.is_checkpoint(source):
        _, params, spec = checkpoint.load(source)
    elif not os.path.exists(source):
        raise WeightsFileError(f"weights file {source!r} does not exist")
    elif definition.from_state_dict is not None:
        params = definition.from_state_dict(read_state_dict(source), source)
    else:
        raise WeightsFileError(f"{source}: {definition.name} takes its weights from a jaxvis model directory "
                               "(jaxvis.save_model / jaxvis convert)")
    W.check_tree_shapes(params, definition.param_shapes, source)
    return params, spec


def save_model(net: Net, directory: str | os.PathLike, source: str | None = None) -> None:
    """Writes ``net`` as a jaxvis model directory (orbax params + jaxvis_model.json
    with the model name, preprocessing spec and class names) that
    ``load_model(directory)`` reads back; what ``jaxvis convert`` writes."""
    model = net.name
    if isinstance(net.definition, FunctionDef):
        if net.definition.source is None:
            raise ModelDefinitionError(
                f"{net.name} was built in this process (from_flax / from_function) and names no plugin path, so "
                "its model directory could not be reloaded; build it in a function and pass "
                "source='package.module:function' (or load it through that plugin path)")
        model = net.definition.source
    checkpoint.save(directory, model, net.params, net.spec, {"source": source} if source else None)
