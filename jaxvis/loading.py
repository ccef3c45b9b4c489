"""``load_model``: a registry name (or a jaxvis model directory) plus weights -> Net."""

from __future__ import annotations

import dataclasses
import numbers
import os

import jax

from jaxvis import weights as W
from jaxvis.data.preprocess import PreprocessSpec
from jaxvis.errors import ConfigError, UnknownModelError, WeightsFileError
from jaxvis.models.registry import get_model_def
from jaxvis.net import Net, init_params, param_shapes
from jaxvis.ops.conv import check_group_impl
from jaxvis.weights import checkpoint


def load_model(
    model: str | os.PathLike,
    weights: str | os.PathLike | None = None,
    *,
    seed: int = 0,
    prototxt: str | os.PathLike | None = None,
    mean=None,
    class_names=None,
    group_impl: str = "split",
) -> Net:
    """model: a registry name ("caffenet", "vgg_s", ...) or a jaxvis model directory.
    weights: .caffemodel (with optional ``prototxt`` to check the architecture),
    torchvision state dict (.pth/.pt/.safetensors/.npz), a jaxvis model
    directory, "random" for random weights from ``seed``, or None: the weights
    that ship with jaxvis (demo, demo_b), else random weights from ``seed``.
    mean: override the mean (3 values, a Caffe .binaryproto or an .npy image).
    class_names: a sequence or a text file, one class per line.
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
    if checkpoint.is_checkpoint(model) and weights is None:
        weights = model
        model = checkpoint.read_meta(model)["model"]
    definition = get_model_def(os.fspath(model))
    spec = definition.spec
    if weights is None and definition.shipped_weights:
        if not checkpoint.is_checkpoint(definition.shipped_weights):
            raise WeightsFileError(
                f"the shipped weights of {definition.name} are missing from {definition.shipped_weights}; "
                f"train them with `jaxvis train --config=configs/demo_train.py:{definition.name} --workdir=DIR` "
                f"and copy DIR/model there, or pass weights='random'"
            )
        weights = definition.shipped_weights
    if weights is None or (isinstance(weights, str) and weights == "random"):
        weights = None
        params = init_params(definition, seed)
    else:
        params = W.load_params(definition, weights, prototxt)
        if checkpoint.is_checkpoint(weights):
            spec = PreprocessSpec.from_json(checkpoint.read_meta(weights)["spec"])
    W.check_param_shapes(params, param_shapes(definition), os.fspath(weights or definition.name))
    if mean is not None:
        spec = dataclasses.replace(spec, mean=W.load_mean(mean))
    if class_names is not None:
        spec = dataclasses.replace(spec, class_names=W.load_class_names(class_names))
    return Net(definition, jax.device_put(params), spec, group_impl)


def save_model(net: Net, directory: str | os.PathLike, source: str | None = None) -> None:
    """Writes ``net`` as a jaxvis model directory (orbax params + jaxvis_model.json
    with the model name, preprocessing spec and class names) that
    ``load_model(directory)`` reads back; what ``jaxvis convert`` writes."""
    checkpoint.save(directory, net.name, net.params, net.spec, {"source": source} if source else None)
