"""Weight import: Caffe, torchvision state dicts, jaxvis checkpoints."""

from __future__ import annotations

import os

import numpy as np

from jaxvis.errors import ArchitectureMismatchError, ConfigError, WeightsFileError
from jaxvis.models.definition import ModelDef
from jaxvis.weights import checkpoint
from jaxvis.weights.caffe import load_caffe_params, read_mean_binaryproto
from jaxvis.weights.torch_state import load_torchvision_params

TORCH_EXTS = (".pth", ".pt", ".safetensors", ".npz")


def check_param_shapes(params: dict, expected: dict, source: str) -> None:
    """expected: {layer: {name: shape}}; raises naming the first mismatch."""
    for layer, entries in expected.items():
        if layer not in params:
            raise ArchitectureMismatchError(f"{source}: no weights for layer {layer!r}")
        for name, shape in entries.items():
            found = tuple(np.shape(params[layer].get(name)))
            if found != tuple(shape):
                raise ArchitectureMismatchError(
                    f"{source}: layer {layer!r} {name} has shape {found}, expected {tuple(shape)}"
                )
    extra = sorted(set(params) - set(expected))
    if extra:
        raise ArchitectureMismatchError(f"{source}: unexpected layer(s) {', '.join(extra)}")


def tree_shapes(tree) -> dict[str, tuple[int, ...]]:
    """{path (``jax.tree_util.keystr``): shape} of every leaf of a pytree of
    arrays or ``jax.ShapeDtypeStruct``s."""
    import jax

    return {jax.tree_util.keystr(p): tuple(np.shape(a)) for p, a in jax.tree_util.tree_flatten_with_path(tree)[0]}


def shape_mismatch(want: dict, got: dict) -> str | None:
    """How ``got`` differs from ``want`` (both ``tree_shapes``): its missing and
    unexpected paths (six of each at most), else the first path of another
    shape; None when they agree."""
    differences = (("missing", sorted(set(want) - set(got))), ("unexpected", sorted(set(got) - set(want))))
    listed = [f"{what} {', '.join(keys[:6])}{f' and {len(keys) - 6} more' if len(keys) > 6 else ''}"
              for what, keys in differences if keys]
    if listed:
        return "; ".join(listed)
    return next((f"{key} has shape {got[key]}, the network expects {shape}"
                 for key, shape in want.items() if got[key] != shape), None)


def check_tree_shapes(params, expected, source: str) -> None:
    """expected: a pytree of arrays or ShapeDtypeStructs; params must have the
    same entries (listed when missing or unexpected) of the same shapes."""
    problem = shape_mismatch(tree_shapes(expected), tree_shapes(params))
    if problem:
        raise ArchitectureMismatchError(f"{source}: {problem}")


def load_params(definition: ModelDef, weights: str | os.PathLike, prototxt=None) -> dict:
    """Reads ``weights`` (caffemodel, state dict, or jaxvis checkpoint directory)."""
    path = os.fspath(weights)
    if not os.path.exists(path):
        raise WeightsFileError(f"weights file {path!r} does not exist")
    if os.path.isdir(path):
        meta, params, _ = checkpoint.load(path)
        if meta["model"] != definition.name:
            raise ArchitectureMismatchError(
                f"{path}: holds weights of {meta['model']!r}, not {definition.name!r}"
            )
        return params
    if path.lower().endswith(TORCH_EXTS):
        return load_torchvision_params(definition, path)
    return load_caffe_params(definition, path, prototxt)


def load_mean(mean) -> tuple[float, ...] | np.ndarray:
    """A per-channel tuple, or a mean image from .binaryproto (Caffe) or .npy ([H,W,3])."""
    if isinstance(mean, (str, os.PathLike)):
        path = os.fspath(mean)
        if not os.path.isfile(path):
            raise WeightsFileError(f"mean file {path!r} does not exist")
        if path.endswith(".npy"):
            try:
                arr = np.load(path).astype(np.float32)
            except (OSError, ValueError, TypeError) as e:
                raise WeightsFileError(f"{path}: not a readable .npy mean image: {e}") from None
            if arr.ndim != 3 or arr.shape[-1] != 3:
                raise WeightsFileError(f"{path}: mean image has shape {arr.shape}, expected [H, W, 3]")
            return arr
        return read_mean_binaryproto(path)
    try:
        values = tuple(float(v) for v in mean)
    except (TypeError, ValueError):
        raise WeightsFileError(f"mean must be 3 per-channel numbers or a mean file, got {mean!r}") from None
    if len(values) != 3:
        raise WeightsFileError(f"mean must have 3 per-channel values, got {len(values)}")
    return values


def load_class_names(names) -> tuple[str, ...]:
    """A sequence, or a text file with one class per line (Caffe's
    synset_words.txt "n01440764 tench, Tinca tinca" keeps the words)."""
    if isinstance(names, (str, os.PathLike)):
        if not os.path.isfile(names):
            raise WeightsFileError(f"class names file {os.fspath(names)!r} does not exist")
        try:
            with open(names, encoding="utf-8") as f:
                lines = [line.strip() for line in f if line.strip()]
        except (OSError, UnicodeDecodeError) as e:
            raise WeightsFileError(f"class names file {os.fspath(names)!r} cannot be read: {e}") from None
        return tuple(
            line.split(" ", 1)[1] if line[:1] == "n" and line.split(" ", 1)[0][1:].isdigit() and " " in line else line
            for line in lines
        )
    if not isinstance(names, (list, tuple)) or not all(isinstance(n, str) for n in names):
        raise ConfigError(f"class_names must be a text file or a sequence of strings, got {names!r}")
    return tuple(names)
