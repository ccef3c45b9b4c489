"""jaxvis's own weights format: a directory holding an orbax checkpoint of the
params and ``jaxvis_model.json`` (model name, preprocessing spec), so a
converted model loads fast and with its own mean and class names."""

from __future__ import annotations

import json
import os

import jax
import numpy as np
import orbax.checkpoint as ocp

from jaxvis.data.preprocess import PreprocessSpec
from jaxvis.errors import WeightsFileError

META_FILE = "jaxvis_model.json"
FORMAT = "jaxvis-model"
VERSION = 1


def is_checkpoint(path: str | os.PathLike) -> bool:
    return os.path.isfile(os.path.join(os.fspath(path), META_FILE))


def save(path: str | os.PathLike, model: str, params: dict, spec: PreprocessSpec, extra: dict | None = None) -> None:
    """Writes params and metadata to directory ``path`` (replacing an old one)."""
    path = os.path.abspath(os.fspath(path))
    os.makedirs(path, exist_ok=True)
    with ocp.StandardCheckpointer() as ckptr:
        ckptr.save(os.path.join(path, "params"), params, force=True)
        ckptr.wait_until_finished()
    meta = {"format": FORMAT, "version": VERSION, "model": model, "spec": spec.to_json(), **(extra or {})}
    tmp = os.path.join(path, META_FILE + ".tmp")
    with open(tmp, "w") as f:
        json.dump(meta, f, indent=1)
    os.replace(tmp, os.path.join(path, META_FILE))  # written last: marks the checkpoint complete


def read_meta(path: str | os.PathLike) -> dict:
    path = os.fspath(path)
    meta_path = os.path.join(path, META_FILE)
    if not os.path.isfile(meta_path):
        raise WeightsFileError(
            f"{path}: not a jaxvis model directory (no {META_FILE}); convert weights with `jaxvis convert`")
    try:
        with open(meta_path) as f:
            meta = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        raise WeightsFileError(f"{meta_path}: unreadable: {e}") from None
    if meta.get("format") != FORMAT:
        raise WeightsFileError(f"{meta_path}: format {meta.get('format')!r}, expected {FORMAT!r}")
    return meta


def load(path: str | os.PathLike) -> tuple[dict, dict, PreprocessSpec]:
    """Returns (meta, params as numpy arrays, spec)."""
    path = os.path.abspath(os.fspath(path))
    meta = read_meta(path)
    try:
        with ocp.StandardCheckpointer() as ckptr:
            params = ckptr.restore(os.path.join(path, "params"))
    except Exception as e:  # orbax raises many types for damaged checkpoints
        raise WeightsFileError(f"{path}: params checkpoint unreadable: {e}") from None
    params = jax.tree.map(np.asarray, params)
    return meta, params, PreprocessSpec.from_json(meta["spec"])
