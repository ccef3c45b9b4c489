"""torchvision state dicts: ``.pth``/``.pt`` (read by ``torch_pickle``,
without PyTorch), ``.safetensors`` or ``.npz``; and ``.onnx``, the one ONNX
layout jaxvis reads: an export of a DINOv2 backbone (``onnx_initializers``)."""

from __future__ import annotations

import os
import zipfile

import numpy as np

from jaxvis.errors import WeightsFileError
from jaxvis.models.definition import ModelDef
from jaxvis.weights.layout import params_from_source_layout
from jaxvis.weights.torch_pickle import load_pth


def _read_pth(path: str) -> dict[str, np.ndarray]:
    obj = load_pth(path)  # no PyTorch needed (torch_pickle.py)
    for key in ("state_dict", "model"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
    if not isinstance(obj, dict):
        raise WeightsFileError(f"{path}: holds a {type(obj).__name__}, expected a state dict")
    return {k: v for k, v in obj.items() if isinstance(v, np.ndarray)}


def read_state_dict(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """{key: float32 array} from .pth/.pt, .safetensors, .npz or .onnx (a DINOv2 backbone's export)."""
    path = os.fspath(path)
    ext = os.path.splitext(path)[1].lower()
    if ext in (".pth", ".pt"):
        state = _read_pth(path)
    elif ext == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.numpy import load_file

        try:
            state = load_file(path)
        except (SafetensorError, OSError, ValueError) as e:
            raise WeightsFileError(f"{path}: not a readable .safetensors file: {e}") from None
    elif ext == ".onnx":
        from jaxvis.weights.onnx_initializers import read_dinov2_onnx

        state = read_dinov2_onnx(path)[0]
    elif ext == ".npz":
        try:
            with np.load(path) as f:
                state = {k: f[k] for k in f.files}
        except (OSError, ValueError, zipfile.BadZipFile) as e:
            raise WeightsFileError(f"{path}: not a readable .npz file: {e}") from None
    else:
        raise WeightsFileError(f"{path}: unknown state-dict format {ext!r}; use .pth, .pt, .safetensors, .npz "
                               "(or .onnx for a DINOv2 backbone)")
    # DataParallel checkpoints prefix every key with "module.".
    return {k.removeprefix("module."): np.asarray(v, np.float32) for k, v in state.items()}


def load_torchvision_params(definition: ModelDef, path: str | os.PathLike) -> dict:
    """Maps a torchvision state dict onto ``definition``'s params, shapes checked."""
    if definition.weight_format != "torchvision":
        raise WeightsFileError(
            f"{definition.name} takes Caffe weights (.caffemodel), not a PyTorch state dict"
        )
    state = read_state_dict(path)
    arrays = {}
    for layer, prefix in definition.torch_keys.items():
        if f"{prefix}.weight" in state:
            arrays[layer] = [state[f"{prefix}.weight"], state.get(f"{prefix}.bias")]
            if arrays[layer][1] is None:
                raise WeightsFileError(f"{path}: has {prefix}.weight but no {prefix}.bias")
    return params_from_source_layout(definition, arrays, os.fspath(path))
