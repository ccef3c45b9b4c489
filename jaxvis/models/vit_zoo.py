"""The zoo's vision transformers (``jaxvis/models/vit.py``), blob-exact
against their reference implementations with the same weights:

* ``timm_vit_small_patch16_224``, ``timm_vit_base_patch16_224``: timm's
  ``VisionTransformer`` (a class token, position embeddings for it and the
  14x14 patches, a 1000-class head on the class token; inputs RGB in
  [0, 1], mean and std 0.5, as timm's augreg weights take them);
* ``timm_vit_small_patch14_reg4_dinov2``: timm's DINOv2 ViT-S/14 with four
  register tokens (``no_embed_class``: the position embedding covers the
  patches only; layer scales; no head), trained at 518 px (a 37x37 grid)
  and run at 224 px, the grid resampled as timm does (bicubic, antialiased);
* ``dinov2_vits14``: Hugging Face's ``Dinov2Model`` ViT-S/14 (384 wide, 12
  layers, 6 heads, a 37x37 position grid resampled to 16x16 at 224 px as
  transformers does: bicubic, not antialiased; no registers, no head).

Blob names are the reference's module names (``vit.py``). Weights: a state
dict in the reference's layout (``.pth``, ``.safetensors``, ``.npz``; for
``dinov2_vits14`` also an ONNX export of a DINOv2 backbone,
``jaxvis/weights/onnx_initializers.py``), or random from a seed. ImageNet
inputs: 224x224 after a shorter-side resize (248 for timm's ViTs, 256 for
DINOv2's) and a centre crop. ``ascent_lr_scale``: the presets' pixel
learning rate converted from CaffeNet's 0..255 pixels to these inputs
(``pixel_lr_scale``; derived, not tuned).
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import numpy as np

from jaxvis.data.preprocess import PreprocessSpec
from jaxvis.models import vit
from jaxvis.models.tokens import TokenLayout

_INCEPTION = PreprocessSpec(input_size=(224, 224), channel_order="RGB", scale=1 / 255, mean=(0.5, 0.5, 0.5),
                            std=(0.5, 0.5, 0.5), resize=248, resize_mode="shorter_side", color_statistics="imagenet")
_IMAGENET = dataclasses.replace(_INCEPTION, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225), resize=256)

_SMALL = dict(dim=384, depth=12, heads=6, mlp_dim=1536)
_BASE = dict(dim=768, depth=12, heads=12, mlp_dim=3072)

# name -> (config, spec, state-dict layout, description)
VARIANTS = {
    "timm_vit_small_patch16_224": (
        vit.ViTConfig(patch=16, pos_grid=(14, 14), classes=1000, **_SMALL), _INCEPTION, "timm",
        "timm vit_small_patch16_224: ViT-S/16, 224x224, a class token, 1000 ImageNet classes"),
    "timm_vit_base_patch16_224": (
        vit.ViTConfig(patch=16, pos_grid=(14, 14), classes=1000, **_BASE), _INCEPTION, "timm",
        "timm vit_base_patch16_224: ViT-B/16, 224x224, a class token, 1000 ImageNet classes"),
    "timm_vit_small_patch14_reg4_dinov2": (
        vit.ViTConfig(patch=14, pos_grid=(37, 37), registers=4, pos_prefix=0, layer_scale=True, **_SMALL),
        _IMAGENET, "timm",
        "timm vit_small_patch14_reg4_dinov2: DINOv2 ViT-S/14 with 4 registers, run at 224x224 (trained at 518)"),
    "dinov2_vits14": (
        vit.ViTConfig(patch=14, pos_grid=(37, 37), layer_scale=True, resample="bicubic", naming="hf", **_SMALL),
        _IMAGENET, "hf",
        "Hugging Face Dinov2Model ViT-S/14, run at 224x224 (trained at 518), no head"),
}


def blob_kinds(cfg: vit.ViTConfig) -> dict[str, str]:
    """The layer table's kinds: a stem's convolutions, the embedding's tokens, each block and its MLP, the
    norm, the head."""
    kinds = {cfg.blob("stem", i): "conv" for i in range(len(cfg.stem))}
    kinds.update({cfg.blob("embed"): "tokens", cfg.blob("norm"): "norm", cfg.blob("head"): "fc"})
    for i in range(cfg.depth):
        kinds[cfg.blob("act", i)] = "mlp"
        kinds[cfg.blob("block", i)] = "block"
    return kinds


def blob_params(cfg: vit.ViTConfig) -> dict[str, int]:
    """Parameters per blob, counted on ``vit.param_shapes``: a stem convolution's, the embedding's
    (patches, prefix tokens, positions), each block's, the norm's, the head's."""
    def count(tree) -> int:
        return sum(int(np.prod(leaf.shape)) for leaf in jax.tree.leaves(tree))

    shapes = vit.param_shapes(cfg)
    counts = {cfg.blob("stem", i): count(p) for i, p in enumerate(shapes.get("stem", ()))}
    counts[cfg.blob("embed")] = count([shapes.get(k) for k in ("patch_embed", "cls_token", "reg_token", "pos_embed")])
    counts.update({cfg.blob("block", i): count(p) for i, p in enumerate(shapes["blocks"])})
    counts[cfg.blob("norm")] = count(shapes["norm"])
    if cfg.classes:
        counts[cfg.blob("head")] = count(shapes["head"])
    return counts


def _from_state_dict(cfg: vit.ViTConfig, layout: str):
    read = vit.from_timm if layout == "timm" else vit.from_hf_dinov2
    return lambda state, source: read(cfg, state, source)


def pixel_lr_scale(spec: PreprocessSpec) -> float:
    """The presets' pixel-family learning rates are in CaffeNet's units (an
    input of pixels 0..255); on an input ``(p * scale - mean) / std`` the same
    step in pixels is a step ``(scale / std) ** 2`` times the rate in input units."""
    return float((spec.scale / float(sum(spec.std) / 3)) ** 2)


def vit_definition(name: str, cfg: vit.ViTConfig, spec: PreprocessSpec, layout: str, description: str,
                   shipped: bool = False):
    """The FunctionDef of a transformer of ``cfg`` (the zoo's and ``demo_vit``'s):
    ``vit.ViTBlobs``, class logits at ``head`` when it has one, the token layout
    of its prefix and grid at ``spec``'s input, weights random or from a state
    dict in ``layout`` ("timm" or "hf")."""
    from jaxvis.models.function_def import FunctionDef

    return FunctionDef(
        name, vit.ViTBlobs(cfg), spec, vit.param_shapes(cfg), description,
        class_layer=cfg.blob("head") if cfg.classes else None, kinds=blob_kinds(cfg), blob_params=blob_params(cfg),
        ascent_lr_scale=pixel_lr_scale(spec), source=name, init=functools.partial(vit.init_params, cfg),
        from_state_dict=_from_state_dict(cfg, layout), weight_format=layout,
        tokens=TokenLayout(cfg.prefix, cfg.grid(spec.input_size)), shipped=shipped)


def definition_of(name: str):
    """The FunctionDef of zoo transformer ``name`` (a key of VARIANTS)."""
    from jaxvis.data.imagenet import imagenet_class_names

    cfg, spec, layout, description = VARIANTS[name]
    if cfg.classes:
        spec = dataclasses.replace(spec, class_names=imagenet_class_names())
    return vit_definition(name, cfg, spec, layout, description)


DEFINITIONS = {name: functools.cache(functools.partial(definition_of, name)) for name in VARIANTS}
