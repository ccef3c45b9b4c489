"""The zoo's vision transformers (jaxvis/models/vit_zoo.py) loaded the way
a user loads them, ``jaxvis.load_model(name, weights=<a state-dict file>)``,
against their references holding the same (random) weights: timm's
``VisionTransformer`` and transformers' ``Dinov2Model``, full size, at 224
px (the DINOv2 grids resampled from their 37x37 training grid as each
reference does it). tests/models/test_vit.py checks every blob of smaller
configurations; here the zoo entries' configurations, file formats, specs
and roles."""

import numpy as np
import pytest
import torch

import jaxvis
from jaxvis.errors import WeightsFileError
from tests.conftest import rel_err
from tests.models.test_vit import numpy_state, randomize_
from tests.reference.torchvision_stub import import_timm, import_transformers_dinov2

safetensors_numpy = pytest.importorskip("safetensors.numpy")


def _photos(size: int = 224) -> np.ndarray:
    """Two network inputs [2, size, size, 3] of smooth random structure (not white noise)."""
    rng = np.random.default_rng(0)
    coarse = rng.normal(size=(2, 3, size // 16, size // 16)).astype(np.float32)
    return torch.nn.functional.interpolate(torch.from_numpy(coarse), size=(size, size), mode="bilinear").numpy() \
        .transpose(0, 2, 3, 1)


def _save(state: dict, tmp_path, name: str) -> str:
    path = str(tmp_path / f"{name}.safetensors")
    safetensors_numpy.save_file(state, path)
    return path


@pytest.mark.parametrize("name, timm_name, kwargs", [
    ("timm_vit_small_patch16_224", "vit_small_patch16_224", {}),
    ("timm_vit_small_patch14_reg4_dinov2", "vit_small_patch14_reg4_dinov2", {"img_size": 518}),
])
def test_timm_entries_equal_timm(name, timm_name, kwargs, tmp_path):
    timm = import_timm()
    model = randomize_(timm.create_model(timm_name, pretrained=False, dynamic_img_size=True, **kwargs), 0)
    net = jaxvis.load_model(name, weights=_save(numpy_state(model), tmp_path, name))
    x = _photos()
    with torch.no_grad():
        feats = model.forward_features(torch.from_numpy(x.transpose(0, 3, 1, 2).copy()))
        logits = model.forward_head(feats)
    blobs = net.blobs(x)
    assert rel_err(np.asarray(blobs["norm"]), feats.numpy()) < 1e-4
    if net.class_layer:
        assert net.class_layer == "head" and len(net.spec.class_names) == 1000
        assert rel_err(np.asarray(blobs["head"]), logits.numpy()) < 1e-4
    assert net.layer("blocks.11").tokens == jaxvis.TokenLayout(prefix=model.num_prefix_tokens,
                                                               grid=(224 // model.patch_embed.patch_size[0],) * 2)
    assert net.num_parameters() == sum(p.numel() for p in model.parameters())


def test_timm_vit_base_takes_timm_state_dicts(tmp_path):
    """ViT-B/16's configuration: timm's state dict loads with every key and shape (its forward is the same
    code as ViT-S's, checked above and at depth 1 in test_vit.py)."""
    timm = import_timm()
    model = timm.create_model("vit_base_patch16_224", pretrained=False)
    state = numpy_state(model)
    net = jaxvis.load_model("timm_vit_base_patch16_224", weights=_save(state, tmp_path, "base"))
    assert net.num_parameters() == sum(p.numel() for p in model.parameters()) == 86_567_656
    assert net.layer("blocks.0.mlp.act").shape == (197, 3072)
    state["blocks.3.attn.qkv.weight"] = state["blocks.3.attn.qkv.weight"][:100]
    with pytest.raises(WeightsFileError, match=r"'blocks.3.attn.qkv.weight' has shape \(100, 768\)"):
        jaxvis.load_model("timm_vit_base_patch16_224", weights=_save(state, tmp_path, "bad"))


def test_dinov2_vits14_equals_transformers(tmp_path):
    config_cls, model_cls = import_transformers_dinov2()
    config = config_cls(hidden_size=384, num_hidden_layers=12, num_attention_heads=6, intermediate_size=1536,
                        patch_size=14, image_size=518, layer_norm_eps=1e-6)
    model = randomize_(model_cls(config), 1)
    state = {k: v for k, v in numpy_state(model).items() if k != "embeddings.mask_token"}
    net = jaxvis.load_model("dinov2_vits14", weights=_save(state, tmp_path, "dinov2"))
    x = _photos()
    with torch.no_grad():
        out = model(pixel_values=torch.from_numpy(x.transpose(0, 3, 1, 2).copy()), output_hidden_states=True)
    blobs = net.blobs(x)
    for blob, ref in (("embeddings", out.hidden_states[0]), ("encoder.layer.5", out.hidden_states[6]),
                      ("layernorm", out.last_hidden_state)):
        assert rel_err(np.asarray(blobs[blob]), ref.numpy()) < 1e-4, blob
    assert net.class_layer is None and net.default_layers() == [f"encoder.layer.{i}" for i in range(12)]
