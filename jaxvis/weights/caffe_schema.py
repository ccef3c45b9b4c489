"""The subset of Caffe's ``caffe.proto`` that weight import needs, built as a
protobuf schema at run time (no Caffe, no protoc step).

Two variants of the schema exist:
- ``fast``: BlobProto's packed ``data``/``double_data`` are declared ``bytes``.
  Packed repeated scalars and bytes share one wire format, so a 60M-float
  blob parses into one buffer that numpy views without a Python loop.
- ``exact``: the true ``repeated float``/``repeated double`` declarations, used
  for prototxt text and as a fallback for blobs written unpacked.
Field numbers are Caffe's; unknown fields (fillers, lr multipliers, ...) are
preserved by protobuf and ignored by jaxvis.
"""

from __future__ import annotations

import functools

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

F = descriptor_pb2.FieldDescriptorProto
OPT, REP = F.LABEL_OPTIONAL, F.LABEL_REPEATED

V1_LAYER_TYPES = {
    "NONE": 0, "ABSVAL": 35, "ACCURACY": 1, "ARGMAX": 30, "BNLL": 2, "CONCAT": 3,
    "CONTRASTIVE_LOSS": 37, "CONVOLUTION": 4, "DATA": 5, "DECONVOLUTION": 39, "DROPOUT": 6,
    "DUMMY_DATA": 32, "EUCLIDEAN_LOSS": 7, "ELTWISE": 25, "EXP": 38, "FLATTEN": 8,
    "HDF5_DATA": 9, "HDF5_OUTPUT": 10, "HINGE_LOSS": 28, "IM2COL": 11, "IMAGE_DATA": 12,
    "INFOGAIN_LOSS": 13, "INNER_PRODUCT": 14, "LRN": 15, "MEMORY_DATA": 29,
    "MULTINOMIAL_LOGISTIC_LOSS": 16, "MVN": 34, "POOLING": 17, "POWER": 26, "RELU": 18,
    "SIGMOID": 19, "SIGMOID_CROSS_ENTROPY_LOSS": 27, "SILENCE": 36, "SOFTMAX": 20,
    "SOFTMAX_LOSS": 21, "SPLIT": 22, "SLICE": 33, "TANH": 23, "WINDOW_DATA": 24, "THRESHOLD": 31,
}

# message -> [(name, number, type, label, type_name or None, default or None)]
_LAYER_PARAMS = [
    ("convolution_param", "ConvolutionParameter"),
    ("inner_product_param", "InnerProductParameter"),
    ("lrn_param", "LRNParameter"),
    ("pooling_param", "PoolingParameter"),
]
_V2_NUMBERS = {"convolution_param": 106, "inner_product_param": 117, "lrn_param": 118, "pooling_param": 121}
_V1_NUMBERS = {"convolution_param": 10, "inner_product_param": 17, "lrn_param": 18, "pooling_param": 19}


def _messages(fast: bool) -> dict:
    data_type, double_type, data_label = (
        (F.TYPE_BYTES, F.TYPE_BYTES, OPT) if fast else (F.TYPE_FLOAT, F.TYPE_DOUBLE, REP))
    u32 = F.TYPE_UINT32
    return {
        "BlobShape": [("dim", 1, F.TYPE_INT64, REP, None, None)],
        "BlobProto": [
            ("num", 1, F.TYPE_INT64, OPT, None, None),
            ("channels", 2, F.TYPE_INT64, OPT, None, None),
            ("height", 3, F.TYPE_INT64, OPT, None, None),
            ("width", 4, F.TYPE_INT64, OPT, None, None),
            ("data", 5, data_type, data_label, None, None),
            ("shape", 7, F.TYPE_MESSAGE, OPT, "BlobShape", None),
            ("double_data", 8, double_type, data_label, None, None),
        ],
        "ConvolutionParameter": [
            ("num_output", 1, u32, OPT, None, None),
            ("bias_term", 2, F.TYPE_BOOL, OPT, None, "true"),
            ("pad", 3, u32, REP, None, None),
            ("kernel_size", 4, u32, REP, None, None),
            ("group", 5, u32, OPT, None, "1"),
            ("stride", 6, u32, REP, None, None),
            ("pad_h", 9, u32, OPT, None, None),
            ("pad_w", 10, u32, OPT, None, None),
            ("kernel_h", 11, u32, OPT, None, None),
            ("kernel_w", 12, u32, OPT, None, None),
            ("stride_h", 13, u32, OPT, None, None),
            ("stride_w", 14, u32, OPT, None, None),
            ("dilation", 18, u32, REP, None, None),
        ],
        "InnerProductParameter": [
            ("num_output", 1, u32, OPT, None, None),
            ("bias_term", 2, F.TYPE_BOOL, OPT, None, "true"),
            ("axis", 5, F.TYPE_INT32, OPT, None, "1"),
            ("transpose", 6, F.TYPE_BOOL, OPT, None, "false"),
        ],
        "LRNParameter": [
            ("local_size", 1, u32, OPT, None, "5"),
            ("alpha", 2, F.TYPE_FLOAT, OPT, None, "1"),
            ("beta", 3, F.TYPE_FLOAT, OPT, None, "0.75"),
            ("norm_region", 4, F.TYPE_ENUM, OPT, "LRNParameter.NormRegion", "ACROSS_CHANNELS"),
            ("k", 5, F.TYPE_FLOAT, OPT, None, "1"),
        ],
        "PoolingParameter": [
            ("pool", 1, F.TYPE_ENUM, OPT, "PoolingParameter.PoolMethod", "MAX"),
            ("kernel_size", 2, u32, OPT, None, None),
            ("stride", 3, u32, OPT, None, "1"),
            ("pad", 4, u32, OPT, None, "0"),
            ("kernel_h", 5, u32, OPT, None, None),
            ("kernel_w", 6, u32, OPT, None, None),
            ("stride_h", 7, u32, OPT, None, None),
            ("stride_w", 8, u32, OPT, None, None),
            ("pad_h", 9, u32, OPT, None, None),
            ("pad_w", 10, u32, OPT, None, None),
            ("global_pooling", 12, F.TYPE_BOOL, OPT, None, "false"),
            ("round_mode", 13, F.TYPE_ENUM, OPT, "PoolingParameter.RoundMode", "CEIL"),
        ],
        "LayerParameter": [
            ("name", 1, F.TYPE_STRING, OPT, None, None),
            ("type", 2, F.TYPE_STRING, OPT, None, None),
            ("bottom", 3, F.TYPE_STRING, REP, None, None),
            ("top", 4, F.TYPE_STRING, REP, None, None),
            ("blobs", 7, F.TYPE_MESSAGE, REP, "BlobProto", None),
        ]
        + [(n, _V2_NUMBERS[n], F.TYPE_MESSAGE, OPT, t, None) for n, t in _LAYER_PARAMS],
        "V1LayerParameter": [
            ("bottom", 2, F.TYPE_STRING, REP, None, None),
            ("top", 3, F.TYPE_STRING, REP, None, None),
            ("name", 4, F.TYPE_STRING, OPT, None, None),
            ("type", 5, F.TYPE_ENUM, OPT, "V1LayerParameter.LayerType", None),
            ("blobs", 6, F.TYPE_MESSAGE, REP, "BlobProto", None),
        ]
        + [(n, _V1_NUMBERS[n], F.TYPE_MESSAGE, OPT, t, None) for n, t in _LAYER_PARAMS],
        "NetParameter": [
            ("name", 1, F.TYPE_STRING, OPT, None, None),
            ("layers", 2, F.TYPE_MESSAGE, REP, "V1LayerParameter", None),
            ("input", 3, F.TYPE_STRING, REP, None, None),
            ("input_dim", 4, F.TYPE_INT64, REP, None, None),
            ("input_shape", 8, F.TYPE_MESSAGE, REP, "BlobShape", None),
            ("layer", 100, F.TYPE_MESSAGE, REP, "LayerParameter", None),
        ],
    }


_ENUMS = {
    "LRNParameter": {"NormRegion": {"ACROSS_CHANNELS": 0, "WITHIN_CHANNEL": 1}},
    "PoolingParameter": {
        "PoolMethod": {"MAX": 0, "AVE": 1, "STOCHASTIC": 2},
        "RoundMode": {"CEIL": 0, "FLOOR": 1},
    },
    "V1LayerParameter": {"LayerType": V1_LAYER_TYPES},
}


@functools.cache
def message_classes(fast: bool) -> dict[str, type]:
    """{message name: generated class} for the ``fast`` or ``exact`` schema."""
    package = "jaxvis_caffe_fast" if fast else "jaxvis_caffe"
    fdp = descriptor_pb2.FileDescriptorProto(name=f"{package}.proto", package=package, syntax="proto2")
    for msg_name, fields in _messages(fast).items():
        msg = fdp.message_type.add(name=msg_name)
        for enum_name, values in _ENUMS.get(msg_name, {}).items():
            enum = msg.enum_type.add(name=enum_name)
            for value_name, number in values.items():
                enum.value.add(name=value_name, number=number)
        for name, number, ftype, label, type_name, default in fields:
            field = msg.field.add(name=name, number=number, type=ftype, label=label)
            if type_name:
                field.type_name = f".{package}.{type_name}"
            if default is not None:
                field.default_value = default
            if label == REP and ftype in (F.TYPE_FLOAT, F.TYPE_DOUBLE, F.TYPE_INT64):
                field.options.packed = True
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    return {
        name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{package}.{name}"))
        for name in _messages(fast)
    }
