"""PyTorch ``.pth``/``.pt`` state dicts read without PyTorch.

A ``torch.save`` file is a pickle whose tensors point at raw storages
(``torch.serialization``'s two formats):

- the zip format (torch >= 1.6): ``<root>/data.pkl`` plus one member
  ``<root>/data/<key>`` of raw little-endian bytes per storage;
- the legacy format (older files, such as torchvision's original model-zoo
  weights): four pickles in a row (magic number, protocol version, system
  info, the object itself), a pickled list of storage keys, then for each key
  an int64 element count and the storage's bytes.

In both, a tensor is ``torch._utils._rebuild_tensor_v2(storage, offset,
size, stride, ...)`` and a storage the persistent id ``("storage",
<torch.FloatStorage>, key, location, numel[, view])``. The unpickler here
resolves only those names, ``_rebuild_parameter`` and ``OrderedDict``;
anything else in the file (code, other classes) is a WeightsFileError, so
reading a file runs none of its code. Tensors come back as numpy arrays
(``np.lib.stride_tricks.as_strided`` over the storage, copied).
"""

from __future__ import annotations

import collections
import dataclasses
import io
import pickle
import struct
import zipfile

import ml_dtypes
import numpy as np

from jaxvis.errors import WeightsFileError

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_DTYPES = {"FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
           "BFloat16Storage": ml_dtypes.bfloat16, "LongStorage": np.int64, "IntStorage": np.int32,
           "ShortStorage": np.int16, "CharStorage": np.int8, "ByteStorage": np.uint8, "BoolStorage": np.bool_}


@dataclasses.dataclass
class _Storage:
    key: str
    dtype: np.dtype
    numel: int
    data: np.ndarray | None = None  # filled once the bytes are read


@dataclasses.dataclass
class _Tensor:
    storage: _Storage
    offset: int
    size: tuple
    stride: tuple

    def array(self) -> np.ndarray:
        flat = self.storage.data
        if flat is None:
            raise WeightsFileError(f"storage {self.storage.key} of a tensor was never read")
        if not self.size:
            return np.array(flat[self.offset])
        need = self.offset + 1 + sum((n - 1) * s for n, s in zip(self.size, self.stride))
        if min(self.size) > 0 and need > flat.size:
            raise WeightsFileError(f"a tensor of shape {tuple(self.size)} runs past its storage of {flat.size}")
        view = np.lib.stride_tricks.as_strided(flat[self.offset:], tuple(self.size),
                                               tuple(s * flat.itemsize for s in self.stride))
        return np.array(view)


@dataclasses.dataclass
class _View:
    """A legacy file's view into a root storage, from element ``start`` on."""

    root: _Storage
    start: int


class _StorageType:
    def __init__(self, name: str):
        self.name, self.dtype = name, np.dtype(_DTYPES[name])


def _rebuild_tensor_v2(storage, storage_offset, size, stride, *_):
    if isinstance(storage, _View):
        storage, storage_offset = storage.root, storage.start + storage_offset
    return _Tensor(storage, int(storage_offset), tuple(size), tuple(stride))


def _rebuild_parameter(data, *_):
    return data


class _Unpickler(pickle.Unpickler):
    def __init__(self, file, path: str, storage):
        super().__init__(file)
        self.path, self.storage = path, storage

    def find_class(self, module: str, name: str):
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if module == "torch._utils" and name in ("_rebuild_tensor_v2", "_rebuild_parameter"):
            return {"_rebuild_tensor_v2": _rebuild_tensor_v2, "_rebuild_parameter": _rebuild_parameter}[name]
        if module == "torch" and name in _DTYPES:
            return _StorageType(name)
        raise WeightsFileError(f"{self.path}: holds a {module}.{name}, which a state dict of tensors does not; "
                               "expected tensors only")

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and pid and pid[0] in ("storage", b"storage")):
            raise WeightsFileError(f"{self.path}: unknown persistent id {pid!r:.60}")
        storage_type, key, _, numel = pid[1:5]
        view = pid[5] if len(pid) > 5 else None
        if not isinstance(storage_type, _StorageType):
            raise WeightsFileError(f"{self.path}: storage of unknown type {storage_type!r:.60}")
        root = self.storage(str(key), storage_type.dtype, int(numel))
        return root if view is None else _View(root, int(view[1]))


def _zip_state(path: str) -> object:
    with zipfile.ZipFile(path) as archive:
        pickles = [n for n in archive.namelist() if n.endswith("/data.pkl") or n == "data.pkl"]
        if not pickles:
            raise WeightsFileError(f"{path}: a zip file without data.pkl; expected a torch.save file")
        root = pickles[0][: -len("data.pkl")]
        storages: dict[str, _Storage] = {}

        def storage(key, dtype, numel):
            if key not in storages:
                raw = archive.read(f"{root}data/{key}")
                storages[key] = _Storage(key, dtype, numel, np.frombuffer(raw, dtype=dtype.newbyteorder("<")))
            return storages[key]

        return _Unpickler(io.BytesIO(archive.read(pickles[0])), path, storage).load()


def _legacy_state(path: str) -> object:
    with open(path, "rb") as f:
        if pickle.load(f) != LEGACY_MAGIC:
            raise WeightsFileError(f"{path}: not a torch.save file (no zip archive, no legacy magic number)")
        pickle.load(f)  # protocol version
        pickle.load(f)  # system info
        storages: dict[str, _Storage] = {}

        def storage(key, dtype, numel):
            return storages.setdefault(key, _Storage(key, dtype, numel))

        result = _Unpickler(f, path, storage).load()
        for key in pickle.load(f):
            item = storages[str(key)]
            (count,) = struct.unpack("<q", f.read(8))
            raw = f.read(count * item.dtype.itemsize)
            if len(raw) != count * item.dtype.itemsize:
                raise WeightsFileError(f"{path}: storage {key} is cut short; the file is truncated")
            item.data = np.frombuffer(raw, dtype=item.dtype.newbyteorder("<"))
    return result


def load_pth(path: str) -> object:
    """The object a ``.pth``/``.pt`` file holds, its tensors as numpy arrays."""
    try:
        obj = _zip_state(path) if zipfile.is_zipfile(path) else _legacy_state(path)
    except WeightsFileError:
        raise
    except (pickle.UnpicklingError, EOFError, KeyError, ValueError, TypeError, struct.error, OSError) as e:
        raise WeightsFileError(f"{path}: not a readable PyTorch state dict ({type(e).__name__}: {e})") from None
    return _arrays(obj)


def _arrays(obj):
    if isinstance(obj, _Tensor):
        return obj.array()
    if isinstance(obj, dict):
        return {k: _arrays(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_arrays(v) for v in obj)
    return obj
