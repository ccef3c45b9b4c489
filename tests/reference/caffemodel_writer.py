"""Hand-written protobuf wire-format encoder for Caffe ``.caffemodel`` files (test-only).

Deliberately independent of the ``protobuf`` package (no generated classes, no
descriptors) so it can serve as a reference for the loader under test.  Only the
handful of fields of ``caffe.NetParameter`` needed to carry weights are written.

Wire format: every field is ``tag = varint((field_number << 3) | wire_type)``
followed by its payload; wire types used: 0 varint, 1 fixed64, 2 length-delimited,
5 fixed32.  Numbers are little-endian.
"""
from __future__ import annotations

import os
from typing import Sequence

import numpy as np

# Wire types.
VARINT, FIXED64, LEN, FIXED32 = 0, 1, 2, 5

# caffe.V1LayerParameter.LayerType enum values.
V1_TYPE = {"Convolution": 4, "Dropout": 6, "InnerProduct": 14, "LRN": 15, "Pooling": 17,
           "ReLU": 18, "Softmax": 20}

Layer = tuple[str, str, Sequence[np.ndarray]]


def varint(value: int) -> bytes:
    """Base-128 varint; negative ints are encoded as 64-bit two's complement (10 bytes)."""
    if value < 0:
        value += 1 << 64
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def tag(field: int, wire_type: int) -> bytes:
    """Field key: varint of ``(field << 3) | wire_type``."""
    return varint((field << 3) | wire_type)


def field_varint(field: int, value: int) -> bytes:
    """A varint (wire type 0) field."""
    return tag(field, VARINT) + varint(value)


def field_bytes(field: int, payload: bytes) -> bytes:
    """A length-delimited (wire type 2) field: strings, sub-messages, packed arrays."""
    return tag(field, LEN) + varint(len(payload)) + payload


def field_string(field: int, text: str) -> bytes:
    """A UTF-8 string field."""
    return field_bytes(field, text.encode("utf-8"))


def packed_varints(field: int, values: Sequence[int]) -> bytes:
    """A packed repeated varint field (one length-delimited record)."""
    return field_bytes(field, b"".join(varint(int(v)) for v in values))


def repeated_floats(field: int, values: np.ndarray, *, double: bool, packed: bool) -> bytes:
    """Repeated float (fixed32) or double (fixed64), packed or one key per element."""
    flat = np.ascontiguousarray(np.asarray(values).ravel(), dtype="<f8" if double else "<f4")
    if packed:
        return field_bytes(field, flat.tobytes())
    key = tag(field, FIXED64 if double else FIXED32)
    assert len(key) == 1, "unpacked fast path assumes a one-byte key"
    rec = np.empty(flat.size, dtype=[("k", "u1"), ("v", flat.dtype)])  # packed struct, no padding
    rec["k"] = key[0]
    rec["v"] = flat
    return rec.tobytes()


def legacy_dims(shape: Sequence[int]) -> tuple[int, int, int, int]:
    """Right-align ``shape`` to (num, channels, height, width), padding with leading 1s."""
    if len(shape) > 4:
        raise ValueError(f"legacy BlobProto holds at most 4 dims, got {tuple(shape)}")
    dims = (1,) * (4 - len(shape)) + tuple(int(d) for d in shape)
    return dims  # type: ignore[return-value]


def encode_blob(array: np.ndarray, *, legacy_shapes: bool = False, double: bool = False,
                packed: bool = True) -> bytes:
    """Serialize one caffe.BlobProto.

    Fields: num=1 channels=2 height=3 width=4 (legacy), data=5 (float),
    shape=7 (BlobShape{dim=1 packed int64}), double_data=8.
    """
    array = np.asarray(array)
    out = bytearray()
    if legacy_shapes:
        for field, dim in zip((1, 2, 3, 4), legacy_dims(array.shape)):
            out += field_varint(field, dim)
    else:
        out += field_bytes(7, packed_varints(1, array.shape))
    out += repeated_floats(8 if double else 5, array, double=double, packed=packed)
    return bytes(out)


def encode_layer(name: str, ltype: str, blobs: Sequence[np.ndarray], *, version: str = "v2",
                 **blob_kw: bool) -> bytes:
    """Serialize one LayerParameter (v2) or V1LayerParameter (v1), without the outer key."""
    if version == "v2":  # LayerParameter: name=1, type=2 (string), blobs=7
        out = field_string(1, name) + field_string(2, ltype)
        blob_field = 7
    elif version == "v1":  # V1LayerParameter: name=4, type=5 (enum), blobs=6
        if ltype not in V1_TYPE:
            raise ValueError(f"no V1 LayerType for {ltype!r}")
        out = field_string(4, name) + field_varint(5, V1_TYPE[ltype])
        blob_field = 6
    else:
        raise ValueError(f"version must be 'v1' or 'v2', got {version!r}")
    return out + b"".join(field_bytes(blob_field, encode_blob(b, **blob_kw)) for b in blobs)


def encode_net(layers: Sequence[Layer], *, version: str = "v2", legacy_shapes: bool = False,
               double: bool = False, packed: bool = True, net_name: str = "net") -> bytes:
    """Serialize a caffe.NetParameter: name=1, then layers=2 (v1) or layer=100 (v2)."""
    layer_field = {"v1": 2, "v2": 100}.get(version)
    if layer_field is None:
        raise ValueError(f"version must be 'v1' or 'v2', got {version!r}")
    parts = [field_string(1, net_name)]
    for name, ltype, blobs in layers:
        body = encode_layer(name, ltype, blobs, version=version, legacy_shapes=legacy_shapes,
                            double=double, packed=packed)
        parts.append(field_bytes(layer_field, body))
    return b"".join(parts)


def write_caffemodel(path: str | os.PathLike, layers: Sequence[Layer], *, version: str = "v2",
                     legacy_shapes: bool = False, double: bool = False, packed: bool = True,
                     net_name: str = "net") -> None:
    """Write a binary caffe.NetParameter to ``path``.

    ``layers``: list of ``(name, type, blobs)``; ``type`` is one of Convolution,
    InnerProduct, ReLU, Pooling, LRN, Dropout, Softmax; ``blobs`` are numpy arrays in
    Caffe layout (weights then bias), possibly empty.

    - ``version="v2"``: NetParameter.layer (100) of LayerParameter{name=1, type=2 string, blobs=7}.
    - ``version="v1"``: NetParameter.layers (2) of V1LayerParameter{name=4, type=5 enum, blobs=6}.
    - ``legacy_shapes``: num/channels/height/width right-aligned to 4 dims instead of ``shape``.
    - ``double``: ``double_data`` (float64, field 8) instead of ``data`` (float32, field 5).
    - ``packed=False``: one key per element (fixed32/fixed64) instead of one packed record.
      BlobShape.dim is always written packed.
    """
    data = encode_net(layers, version=version, legacy_shapes=legacy_shapes, double=double,
                      packed=packed, net_name=net_name)
    with open(path, "wb") as fh:
        fh.write(data)
