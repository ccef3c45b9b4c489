"""Caffe ``.caffemodel`` (binary NetParameter) and ``deploy.prototxt`` (text)
import, both file generations: V1 (``layers``, enum types, legacy
num/channels/height/width blobs) and V2 (``layer``, string types, ``shape``).
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np
from google.protobuf import message, text_format

from jaxvis.errors import ArchitectureMismatchError, WeightsFileError
from jaxvis.models import layers as L
from jaxvis.models.definition import ModelDef
from jaxvis.weights.caffe_schema import message_classes
from jaxvis.weights.layout import params_from_source_layout

_V1_TO_V2 = {
    "CONVOLUTION": "Convolution", "INNER_PRODUCT": "InnerProduct", "POOLING": "Pooling",
    "LRN": "LRN", "RELU": "ReLU", "DROPOUT": "Dropout", "SOFTMAX": "Softmax",
    "SOFTMAX_LOSS": "SoftmaxWithLoss", "DATA": "Data", "ACCURACY": "Accuracy",
}
_PARAM_FIELD = {
    "Convolution": "convolution_param", "InnerProduct": "inner_product_param",
    "Pooling": "pooling_param", "LRN": "lrn_param",
}
_ARCH_TYPE = {L.Conv: "Convolution", L.Dense: "InnerProduct", L.MaxPool: "Pooling", L.LRN: "LRN"}


@dataclasses.dataclass
class CaffeLayer:
    """One layer of either file generation, normalised to V2 vocabulary."""

    name: str
    type: str
    param: object | None  # the *_param sub-message when the file sets it
    blobs: list[np.ndarray]


def blob_array(blob, source: str) -> np.ndarray:
    """A BlobProto (fast schema) -> float32 array in its stored shape."""
    if blob.HasField("shape"):
        shape = tuple(blob.shape.dim)
    else:
        shape = tuple(int(d) for d in (blob.num, blob.channels, blob.height, blob.width))
    count = int(np.prod(shape)) if shape else 0
    if len(blob.double_data):
        arr = np.frombuffer(blob.double_data, "<f8")
    else:
        arr = np.frombuffer(blob.data, "<f4")
    if arr.size != count:  # unpacked floats or split fields: parse the true schema
        exact = message_classes(fast=False)["BlobProto"].FromString(blob.SerializeToString())
        arr = np.asarray(exact.double_data if len(exact.double_data) else exact.data, np.float64)
    if arr.size != count:
        raise WeightsFileError(f"{source}: a blob holds {arr.size} values but its shape {shape} needs {count}")
    return arr.astype(np.float32).reshape(shape)


def _layers(net, source: str, with_blobs: bool) -> list[CaffeLayer]:
    if len(net.layer) and len(net.layers):
        raise WeightsFileError(f"{source}: uses both V1 'layers' and V2 'layer' fields")
    out = []
    v1 = bool(len(net.layers))
    for layer in net.layers if v1 else net.layer:
        if v1:
            enum_name = type(layer).DESCRIPTOR.fields_by_name["type"].enum_type.values_by_number[layer.type].name
            kind = _V1_TO_V2.get(enum_name, enum_name.title().replace("_", ""))
        else:
            kind = layer.type
        field = _PARAM_FIELD.get(kind)
        param = getattr(layer, field) if field and layer.HasField(field) else None
        blobs = [blob_array(b, f"{source}, layer {layer.name!r}") for b in layer.blobs] if with_blobs else []
        out.append(CaffeLayer(layer.name, kind, param, blobs))
    return out


def read_caffemodel(path: str | os.PathLike) -> list[CaffeLayer]:
    """Layers of a binary .caffemodel, with their blobs as float32 arrays."""
    path = os.fspath(path)
    with open(path, "rb") as f:
        data = f.read()
    net = message_classes(fast=True)["NetParameter"]()
    try:
        net.ParseFromString(data)
    except message.DecodeError as e:
        raise WeightsFileError(
            f"{path}: not a binary Caffe model (truncated, or not protobuf): {e}"
        ) from None
    layers = _layers(net, path, with_blobs=True)
    if not any(layer.blobs for layer in layers):
        raise WeightsFileError(f"{path}: contains no layers with weights; is it a binary .caffemodel?")
    return layers


def read_prototxt(path: str | os.PathLike) -> list[CaffeLayer]:
    """Layers of a text deploy.prototxt (no blobs)."""
    path = os.fspath(path)
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        net = message_classes(fast=False)["NetParameter"]()
        text_format.Parse(text, net, allow_unknown_field=True)
    except (text_format.ParseError, UnicodeDecodeError) as e:
        raise WeightsFileError(f"{path}: not a Caffe prototxt: {e}") from None
    layers = _layers(net, path, with_blobs=False)
    if not layers:
        raise WeightsFileError(f"{path}: defines no layers")
    return layers


def read_mean_binaryproto(path: str | os.PathLike) -> np.ndarray:
    """A Caffe mean file (BlobProto, 1x3xHxW, BGR) -> [H, W, 3] float32, BGR."""
    path = os.fspath(path)
    with open(path, "rb") as f:
        data = f.read()
    try:
        blob = message_classes(fast=True)["BlobProto"].FromString(data)
    except message.DecodeError as e:
        raise WeightsFileError(f"{path}: not a Caffe mean .binaryproto: {e}") from None
    arr = blob_array(blob, path)
    arr = arr.reshape(arr.shape[-3:]) if arr.ndim >= 3 else arr
    if arr.ndim != 3 or arr.shape[0] != 3:
        raise WeightsFileError(f"{path}: mean blob has shape {arr.shape}, expected (1, 3, H, W)")
    return arr.transpose(1, 2, 0)


def _pair(value, h, w, default):
    """Caffe's kernel/stride/pad: a scalar or repeated field, or *_h/*_w."""
    if h or w:
        return (h, w)
    if isinstance(value, int):
        return (value, value)
    values = list(value)
    if not values:
        return (default, default)
    return (values[0], values[-1])


def _found(spec, param) -> dict:
    """What a layer's *_param says, in the arch's terms."""
    if isinstance(spec, L.Conv):
        return {
            "num_output": param.num_output,
            "kernel": _pair(param.kernel_size, param.kernel_h, param.kernel_w, 0),
            "stride": _pair(param.stride, param.stride_h, param.stride_w, 1),
            "pad": _pair(param.pad, param.pad_h, param.pad_w, 0),
            "group": param.group,
        }
    if isinstance(spec, L.Dense):
        return {"num_output": param.num_output}
    if isinstance(spec, L.MaxPool):
        return {
            "pool": type(param).PoolMethod.Name(param.pool),
            "kernel": _pair(param.kernel_size, param.kernel_h, param.kernel_w, 0),
            "stride": _pair(param.stride, param.stride_h, param.stride_w, 1),
            "pad": _pair(param.pad, param.pad_h, param.pad_w, 0),
            "round_mode": type(param).RoundMode.Name(param.round_mode),
        }
    return {
        "norm_region": type(param).NormRegion.Name(param.norm_region),
        "local_size": param.local_size,
        "alpha": round(param.alpha, 9),
        "beta": round(param.beta, 9),
        "k": round(param.k, 9),
    }


def _expected(spec) -> dict:
    if isinstance(spec, L.Conv):
        return {
            "num_output": spec.features, "kernel": (spec.kernel,) * 2, "stride": (spec.stride,) * 2,
            "pad": (spec.pad,) * 2, "group": spec.groups,
        }
    if isinstance(spec, L.Dense):
        return {"num_output": spec.features}
    if isinstance(spec, L.MaxPool):
        return {
            "pool": "MAX", "kernel": (spec.kernel,) * 2, "stride": (spec.stride,) * 2,
            "pad": (spec.pad,) * 2, "round_mode": "CEIL" if spec.ceil else "FLOOR",
        }
    f32 = lambda v: round(float(np.float32(v)), 9)  # noqa: E731  values as a float field stores them
    return {"norm_region": "ACROSS_CHANNELS", "local_size": spec.size, "alpha": f32(spec.alpha),
            "beta": f32(spec.beta), "k": f32(spec.k)}


def check_structure(definition: ModelDef, layers: list[CaffeLayer], source: str) -> None:
    """Raises ArchitectureMismatchError unless the conv/fc/pool/LRN layers that
    ``layers`` defines match ``definition``: same names, types, order and
    settings. Settings a file leaves out (weights-only files) are not checked."""
    arch = [s for s in definition.layers if type(s) in _ARCH_TYPE]
    by_name = {layer.name: layer for layer in layers}
    for spec in arch:
        layer = by_name.get(spec.name)
        if layer is None:
            raise ArchitectureMismatchError(
                f"{source}: has no layer {spec.name!r}; {definition.name} expects "
                f"{', '.join(s.name for s in arch)}"
            )
        want = _ARCH_TYPE[type(spec)]
        if layer.type != want:
            raise ArchitectureMismatchError(
                f"{source}: layer {spec.name!r} is {layer.type}, {definition.name} expects {want}"
            )
        if layer.param is not None:
            found, expected = _found(spec, layer.param), _expected(spec)
            for key, value in expected.items():
                if found[key] != value:
                    raise ArchitectureMismatchError(
                        f"{source}: layer {spec.name!r} has {key} {found[key]}, "
                        f"{definition.name} expects {value}"
                    )
    arch_names = {s.name for s in arch}
    extra = [l.name for l in layers if l.type in ("Convolution", "InnerProduct") and l.name not in arch_names]
    if extra:
        raise ArchitectureMismatchError(
            f"{source}: layer(s) {', '.join(extra)} are not part of {definition.name}"
        )
    order = [l.name for l in layers if l.name in arch_names]
    if order != [s.name for s in arch]:
        raise ArchitectureMismatchError(
            f"{source}: layer order {' -> '.join(order)} differs from {definition.name}'s "
            f"{' -> '.join(s.name for s in arch)}"
        )


def load_caffe_params(
    definition: ModelDef, caffemodel: str | os.PathLike, prototxt: str | os.PathLike | None = None
) -> dict:
    """Checks the files against ``definition`` and returns jaxvis params."""
    if definition.weight_format != "caffe":
        raise WeightsFileError(
            f"{definition.name} takes {definition.weight_format} weights, not a .caffemodel"
        )
    layers = read_caffemodel(caffemodel)
    if prototxt is not None:
        check_structure(definition, read_prototxt(prototxt), os.fspath(prototxt))
    check_structure(definition, layers, os.fspath(caffemodel))
    arrays = {layer.name: layer.blobs for layer in layers if layer.blobs}
    return params_from_source_layout(definition, arrays, os.fspath(caffemodel))
