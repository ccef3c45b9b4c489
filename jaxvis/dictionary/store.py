"""A trained dictionary on disk and in memory: ``DIR/dictionary.npz`` (the
SAE's parameters, ``jaxvis.dictionary.sae``) and ``DIR/dictionary.json``
(which network, weights and layer it was learned on, k, its metrics),
written parameters first and the JSON last, so a directory with the JSON is
complete. ``jaxvis dictionary`` writes one to ``WORKDIR/dictionary``;
``load_dictionary`` takes that directory or the job's workdir."""

from __future__ import annotations

import dataclasses
import io
import json
import os

import numpy as np

from jaxvis import files
from jaxvis.errors import JaxvisError

PARAMS_FILE, META_FILE = "dictionary.npz", "dictionary.json"
FORMAT = "jaxvis-dictionary"
PARAM_NAMES = ("W_enc", "b_enc", "W_dec", "b_pre")


class DictionaryError(JaxvisError):
    """A dictionary directory that is missing, incomplete or does not fit the network."""


@dataclasses.dataclass(frozen=True, eq=False)
class Dictionary:
    """A TopK SAE learned on ``layer`` of ``model`` (weights ``weights``):
    ``params`` {W_enc [latents, d], b_enc, W_dec [d, latents], b_pre} as
    float32 numpy arrays, ``k`` codes per sample, ``meta`` everything else
    the training recorded (metrics, steps, samples)."""

    params: dict
    model: str
    weights: str
    layer: str
    k: int
    meta: dict = dataclasses.field(default_factory=dict)

    @property
    def latents(self) -> int:
        return int(self.params["W_enc"].shape[0])

    @property
    def width(self) -> int:
        """d: the layer's channels."""
        return int(self.params["W_enc"].shape[1])

    @property
    def blob(self) -> str:
        """The features' blob name in a network with this dictionary (``with_dictionary``)."""
        return f"{self.layer}.features"


def save(path: str, dictionary: Dictionary) -> None:
    buffer = io.BytesIO()
    np.savez(buffer, **{n: np.asarray(dictionary.params[n], np.float32) for n in PARAM_NAMES})
    files.write_bytes(os.path.join(path, PARAMS_FILE), buffer.getvalue())
    meta = {"format": FORMAT, "model": dictionary.model, "weights": dictionary.weights, "layer": dictionary.layer,
            "k": dictionary.k, "latents": dictionary.latents, "width": dictionary.width, **dictionary.meta}
    files.write_json(os.path.join(path, META_FILE), meta)


def load_dictionary(path: str | os.PathLike) -> Dictionary:
    """A trained dictionary: a ``jaxvis dictionary`` workdir or its ``dictionary`` directory."""
    path = os.fspath(path)
    if not isinstance(path, str) or not os.path.isdir(path):
        raise DictionaryError(f"dictionary {path!r} is not a directory; expected a `jaxvis dictionary` workdir "
                              f"or its dictionary/ directory")
    if not os.path.isfile(os.path.join(path, META_FILE)) and os.path.isfile(os.path.join(path, "dictionary",
                                                                                          META_FILE)):
        path = os.path.join(path, "dictionary")
    meta_path = os.path.join(path, META_FILE)
    if not os.path.isfile(meta_path):
        raise DictionaryError(f"{path}: no {META_FILE}; expected a finished `jaxvis dictionary` workdir (re-run its "
                              "command to finish the training)")
    try:
        with open(meta_path) as f:
            meta = json.load(f)
        with np.load(os.path.join(path, PARAMS_FILE)) as z:
            params = {n: np.asarray(z[n], np.float32) for n in PARAM_NAMES}
    except (OSError, ValueError, KeyError) as e:
        raise DictionaryError(f"{path}: unreadable dictionary ({e.__class__.__name__}: {e})") from None
    if meta.get("format") != FORMAT:
        raise DictionaryError(f"{meta_path}: format {meta.get('format')!r}, expected {FORMAT!r}")
    fixed = {k: meta.pop(k) for k in ("format", "model", "weights", "layer", "k", "latents", "width")}
    return Dictionary(params, fixed["model"], fixed["weights"], fixed["layer"], int(fixed["k"]), meta)
