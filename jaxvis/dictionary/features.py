"""Dictionary features as units: ``with_dictionary(net, dictionary)`` is the
network with one more blob, ``<layer>.features``, right after the layer the
dictionary was learned on: at every place of that layer (a map's positions,
every token, or the vector) the latents' pre-activations ``W_enc (a -
b_pre) + b_enc`` [..., latents]. Every tool that takes a unit takes a
feature as the unit ``("<layer>.features", k)``: ``visualize`` and its
families, the objectives (``feature``), top-k with backprop / deconv /
guided projections, the live view, the jobs' galleries and scores.

The features' blob is an affine map of the layer's blob, so its gradient,
its deconvnet and guided backward rules (``jaxvis.ops.substitute``: the
transpose of the linear map, then the network's own rules below the layer)
and its receptive fields are the layer's. The wrapped network is a
``FunctionDef``: the ascent optimizes whole images, not receptive-field
crops, even for a sequential zoo network.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from jaxvis.dictionary import sae
from jaxvis.dictionary.store import Dictionary, DictionaryError, load_dictionary
from jaxvis.models.function_def import FunctionDef, FunctionForward
from jaxvis.net import Net


@dataclasses.dataclass(frozen=True)
class _WithFeatures:
    """apply(params, x) of the wrapped network: the base network's blobs with
    the features' blob inserted after ``layer``; equal (and hashed alike) for
    equal base forwards and layers, so compiled functions are shared."""

    forward: object
    layer: str
    blob: str

    def __call__(self, params, x):
        out = {}
        for name, value in self.forward(params["network"], x).items():
            out[name] = value
            if name == self.layer:
                out[self.blob] = sae.pre_activations(params["dictionary"], value)
        return out


@dataclasses.dataclass(frozen=True, eq=False)
class FeaturesDef(FunctionDef):
    """The wrapped network's definition: ``forward`` passes a projection's
    LRN rule (``lrn_backward``) on to the base network's own forward."""

    base: object = None
    layer: str = ""
    blob: str = ""

    def forward(self, group_impl: str = "split", lrn_backward: str | None = None) -> FunctionForward:
        return FunctionForward(_WithFeatures(self.base.forward(group_impl, lrn_backward=lrn_backward), self.layer,
                                             self.blob))


def check_fits(definition, dictionary: Dictionary) -> None:
    """DictionaryError unless ``dictionary`` was learned on a layer of this
    network (``definition``: a model contract, or a Net's) of its width."""
    name = definition.name
    if dictionary.model != name:
        raise DictionaryError(f"the dictionary was learned on {dictionary.model!r}, not {name!r}: its features "
                              f"are directions of {dictionary.model}'s {dictionary.layer!r}")
    table = {info.name: info for info in definition.table()}
    if dictionary.layer not in table:
        raise DictionaryError(f"the dictionary was learned on layer {dictionary.layer!r} of {dictionary.model}; "
                              f"{name} has no such layer (its layers: {', '.join(table)})")
    width = table[dictionary.layer].channels
    if width != dictionary.width:
        raise DictionaryError(f"the dictionary expects {dictionary.width} channels at {dictionary.layer!r} "
                              f"(learned on {dictionary.model}); {name}'s {dictionary.layer!r} has {width}")
    if dictionary.blob in table:
        raise DictionaryError(f"{name} already has a blob {dictionary.blob!r} (a dictionary is added once)")


def with_workdir_dictionary(net: Net, workdir: str | None) -> Net:
    """``net`` with the dictionary of a ``jaxvis dictionary`` workdir, or ``net`` itself for None or ""."""
    return with_dictionary(net, load_dictionary(workdir)) if workdir else net


def with_config_dictionary(net: Net, config) -> Net:
    """``net`` with the dictionary a job config names (``config.dictionary``: a
    ``jaxvis dictionary`` workdir), or ``net`` itself when the field is empty or absent."""
    return with_workdir_dictionary(net, config.get("dictionary", "") if hasattr(config, "get") else "")


def with_dictionary(net: Net, dictionary: Dictionary) -> Net:
    """``net`` plus the blob ``dictionary.blob`` (module doc), kind "features"."""
    check_fits(net.definition, dictionary)
    definition, layer, blob = net.definition, dictionary.layer, dictionary.blob
    apply = _WithFeatures(definition.forward(net.group_impl), layer, blob)
    params = {"network": net.params, "dictionary": jax.tree.map(jnp.asarray, dict(dictionary.params))}
    shapes = jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype), params)
    table = {info.name: info for info in net.table}
    kinds = {name: info.kind for name, info in table.items()} | {blob: "features"}
    counts = {name: info.params for name, info in table.items()}
    counts[blob] = int(sum(np.prod(a.shape) for a in dictionary.params.values()))
    tokens = {name: info.tokens for name, info in table.items() if info.tokens is not None}
    if layer in tokens:
        tokens[blob] = tokens[layer]
    wrapped = FeaturesDef(
        name=f"{net.name}+{blob}", apply=apply, spec=definition.spec, param_shapes=shapes,
        description=f"{net.name} with the {dictionary.latents} features of a TopK dictionary (k={dictionary.k}) "
                    f"on {layer}", class_layer=net.class_layer, prob_layer=net.prob_layer,
        ascent_lr_scale=float(getattr(definition, "ascent_lr_scale", 1.0)), kinds=kinds, blob_params=counts,
        tokens=tokens or None, base=definition, layer=layer, blob=blob)
    return Net(wrapped, params, net.spec, net.group_impl)
