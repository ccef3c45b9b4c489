"""``jaxvis.models.vit`` against the references themselves, with random weights
(every parameter re-drawn so that no branch is negligible: LayerNorm scales
and layer scales 1 + N(0, 0.1), tokens and position tables N(0, 1), the
rest N(0, 0.05)), every blob within 1e-4 (max |diff| / max |ref|):

- timm's ``VisionTransformer`` (``timm.create_model(..., pretrained=False)``,
  depth 2, ``dynamic_img_size=True``): ``vit_small_patch16_224`` with its
  class head, ``vit_small_patch14_reg4_dinov2`` (4 registers, no position for
  the prefix tokens, layer scale) and ``vit_base_patch16_224`` (depth 1), at
  the trained size and at others (timm resamples the position grid with
  antialiased bicubic); ``pos_drop``, ``blocks.N.mlp.act``, ``blocks.N``,
  ``norm``, ``head`` read with forward hooks on those modules;
- transformers' ``Dinov2Model`` (2 layers, a 37x37 position grid) at 518 px and
  at 224 px (plain bicubic); its ``hidden_states``, the MLP activation (a hook)
  and ``last_hidden_state``; both generations of its attention names;
- ``resample_matrix`` against ``torch.nn.functional.interpolate`` itself;
- the state-dict errors and the parameter tree.

timm is imported with torchvision stubbed out (tests/reference/torchvision_stub.py).
"""

import dataclasses
import functools

import jax
import numpy as np
import pytest
import torch

from jaxvis.errors import ModelDefinitionError, WeightsFileError
from jaxvis.models import vit, vit_zoo
from tests.conftest import rel_err
from tests.reference.torchvision_stub import import_timm, import_transformers_dinov2

TOL = 1e-4

# timm name -> (create_model kwargs, the jaxvis config, the trained size, other sizes)
TIMM = {
    "vit_small_patch16_224": (dict(depth=2), vit.ViTConfig(patch=16, dim=384, depth=2, heads=6, mlp_dim=1536,
                                                           pos_grid=(14, 14), classes=1000), 224, (160, 288)),
    "vit_small_patch14_reg4_dinov2": (dict(depth=2), vit.ViTConfig(
        patch=14, dim=384, depth=2, heads=6, mlp_dim=1536, pos_grid=(37, 37), registers=4, pos_prefix=0,
        layer_scale=True), 518, (224,)),
    "vit_base_patch16_224": (dict(depth=1), vit.ViTConfig(patch=16, dim=768, depth=1, heads=12, mlp_dim=3072,
                                                          pos_grid=(14, 14), classes=1000), 224, ()),
}
TIMM_CASES = [(name, size) for name, (_, _, trained, others) in TIMM.items() for size in (trained, *others)]
HF_CFG = vit.ViTConfig(patch=14, dim=384, depth=2, heads=6, mlp_dim=1536, pos_grid=(37, 37), layer_scale=True,
                       resample="bicubic", naming="hf")


def randomize_(model: torch.nn.Module, seed: int) -> torch.nn.Module:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith(("gamma", "lambda1")) or (p.ndim == 1 and "norm" in name and name.endswith("weight")):
                p.copy_(1 + 0.1 * torch.randn(p.shape, generator=g))
            elif name.endswith(("pos_embed", "cls_token", "reg_token", "position_embeddings", "register_tokens")):
                p.copy_(torch.randn(p.shape, generator=g))
            else:
                p.copy_(0.05 * torch.randn(p.shape, generator=g))
    return model.eval()


def numpy_state(model: torch.nn.Module) -> dict:
    return {k: v.numpy().copy() for k, v in model.state_dict().items()}


def hooked(model: torch.nn.Module, modules: dict, *args, **kwargs):
    """model(*args, **kwargs) and {key: output of the module at path modules[key]}."""
    got, by_path = {}, dict(model.named_modules())
    handles = [by_path[path].register_forward_hook(lambda m, i, o, key=key: got.__setitem__(key, o.detach().numpy()))
               for key, path in modules.items()]
    try:
        with torch.no_grad():
            result = model(*args, **kwargs)
    finally:
        for h in handles:
            h.remove()
    return result, got


def images(n: int, size: int, seed: int) -> torch.Tensor:
    return torch.randn(n, 3, size, size, generator=torch.Generator().manual_seed(seed))


def nhwc(x: torch.Tensor) -> np.ndarray:
    return x.numpy().transpose(0, 2, 3, 1)


def forward(cfg: vit.ViTConfig, params: dict, x: np.ndarray) -> dict:
    """jaxvis's blobs, jit-compiled (eagerly every op compiles apart: slower)."""
    return {k: np.asarray(v) for k, v in jax.jit(vit.ViTBlobs(cfg))(params, x).items()}


def compare(ours: dict, theirs: dict, tol: float = TOL) -> dict:
    assert set(ours) == set(theirs)
    errors = {b: rel_err(v, theirs[b]) for b, v in ours.items()}
    bad = {b: e for b, e in errors.items() if not e <= tol}
    assert not bad, f"blobs beyond {tol}: {bad}"
    return errors


@functools.lru_cache(maxsize=None)
def timm_reference(name: str):
    timm = import_timm()
    kwargs, cfg, _, _ = TIMM[name]
    model = randomize_(timm.create_model(name, pretrained=False, dynamic_img_size=True, **kwargs), seed=1)
    return model, cfg, vit.from_timm(cfg, numpy_state(model), f"timm {name}")


@functools.lru_cache(maxsize=None)
def hf_reference():
    Dinov2Config, Dinov2Model = import_transformers_dinov2()
    config = Dinov2Config(hidden_size=384, num_hidden_layers=2, num_attention_heads=6, mlp_ratio=4, patch_size=14,
                          image_size=518, layer_norm_eps=1e-6, hidden_act="gelu")
    config._attn_implementation = "eager"
    model = randomize_(Dinov2Model(config), seed=2)
    return model, vit.from_hf_dinov2(HF_CFG, numpy_state(model), "Dinov2Model")


@pytest.mark.parametrize("name,size", TIMM_CASES)
def test_every_blob_equals_timm(name, size):
    model, cfg, params = timm_reference(name)
    x = images(2 if cfg.dim == 384 else 1, size, seed=size)
    ours = forward(cfg, params, nhwc(x))
    out, theirs = hooked(model, {b: b for b in ours}, x)
    if cfg.classes:
        assert np.array_equal(theirs["head"], out.numpy())  # the hooked head is the model's output
    grid = size // cfg.patch
    assert ours[cfg.blob("block", 0)].shape == (x.shape[0], cfg.prefix + grid * grid, cfg.dim)
    errors = compare(ours, theirs)
    assert theirs["norm"].std() > 0.3 and theirs[cfg.blob("block", cfg.depth - 1)].std() > 0.3  # the check has teeth
    if (grid, grid) != cfg.pos_grid:  # timm's antialiased resampling, not transformers' plain one
        wrong = vit.embed(dataclasses.replace(cfg, resample="bicubic"), params, nhwc(x))
        assert rel_err(wrong, theirs["pos_drop"]) > 1e-3
    print(f"{name} at {size}: " + ", ".join(f"{b} {e:.1e}" for b, e in errors.items()))


def activation_module(model, i: int) -> str:
    """transformers 5 names the MLP's GELU ``activation_fn``; earlier releases ``activation``."""
    mlp = model.encoder.layer[i].mlp
    return f"encoder.layer.{i}.mlp." + ("activation_fn" if hasattr(mlp, "activation_fn") else "activation")


@pytest.mark.parametrize("size", [518, 224])
def test_every_blob_equals_transformers_dinov2(size):
    model, params = hf_reference()
    cfg = HF_CFG
    x = images(2, size, seed=size + 1)
    ours = forward(cfg, params, nhwc(x))
    acts = {cfg.blob("act", i): activation_module(model, i) for i in range(cfg.depth)}
    out, theirs = hooked(model, acts, pixel_values=x, output_hidden_states=True)
    theirs[cfg.blob("embed")] = out.hidden_states[0].numpy()
    theirs.update({cfg.blob("block", i): out.hidden_states[i + 1].numpy() for i in range(cfg.depth)})
    theirs[cfg.blob("norm")] = out.last_hidden_state.numpy()
    errors = compare(ours, theirs)
    assert theirs["layernorm"].std() > 0.3 and theirs["encoder.layer.1"].std() > 0.3
    if size != 518:  # transformers' plain bicubic, not timm's antialiased one
        wrong = vit.embed(dataclasses.replace(cfg, resample="bicubic_antialias"), params, nhwc(x))
        assert rel_err(wrong, theirs["embeddings"]) > 1e-3
    print(f"Dinov2Model at {size}: " + ", ".join(f"{b} {e:.1e}" for b, e in errors.items()))


def test_dinov2_state_dict_names_of_both_transformers_generations_and_prefixes():
    model, params = hf_reference()
    state = numpy_state(model)
    old_names = {"q_proj": "attention.query", "k_proj": "attention.key", "v_proj": "attention.value",
                 "o_proj": "output.dense"}

    def rename(k):
        for new, old in old_names.items():
            k = k.replace(f".attention.{new}.", f".attention.{old}.")
        return k

    old = {rename(k): v for k, v in state.items()}
    assert "encoder.layer.0.attention.attention.query.weight" in old
    for variant in (old, {"dinov2." + k: v for k, v in state.items()}, {"backbone." + k: v for k, v in old.items()}):
        again = vit.from_hf_dinov2(HF_CFG, variant, "Dinov2Model")
        assert jax.tree.all(jax.tree.map(np.array_equal, again, params))


@pytest.mark.parametrize("antialias", [False, True])
@pytest.mark.parametrize("n_in,n_out", [(37, 16), (14, 10), (14, 20), (16, 16), (7, 3), (5, 37)])
def test_resample_matrix_is_torch_bicubic(n_in, n_out, antialias):
    grid = torch.randn(1, 3, n_in, n_in, generator=torch.Generator().manual_seed(n_in * 100 + n_out),
                       dtype=torch.float64)
    want = torch.nn.functional.interpolate(grid, size=(n_out, n_out), mode="bicubic", align_corners=False,
                                           antialias=antialias)[0].numpy()
    m = vit.resample_matrix(n_in, n_out, antialias)
    assert m.shape == (n_out, n_in)
    ours = np.einsum("yi,xj,cij->cyx", m, m, grid[0].numpy())
    assert np.abs(ours - want).max() < 1e-6
    if n_in == n_out:
        assert np.allclose(m, np.eye(n_in))


def test_state_dict_errors_name_the_key():
    model, cfg, _ = timm_reference("vit_small_patch16_224")
    state = numpy_state(model)
    missing = {k: v for k, v in state.items() if k != "blocks.1.mlp.fc2.bias"}
    with pytest.raises(WeightsFileError, match=r"ckpt: .*no 'blocks\.1\.mlp\.fc2\.bias'"):
        vit.from_timm(cfg, missing, "ckpt")
    with pytest.raises(WeightsFileError, match=r"'blocks\.0\.attn\.qkv\.weight' has shape \(1152, 100\).*"
                                               r"expects \(1152, 384\)"):
        vit.from_timm(cfg, dict(state, **{"blocks.0.attn.qkv.weight": np.zeros((1152, 100), np.float32)}), "ckpt")
    with pytest.raises(WeightsFileError, match=r"1 entries are not part of .* blocks\.2\.norm1\.weight"):
        vit.from_timm(cfg, dict(state, **{"blocks.2.norm1.weight": np.ones(384, np.float32)}), "ckpt")
    hf_model, _ = hf_reference()
    hf_state = numpy_state(hf_model)
    del hf_state["encoder.layer.1.layer_scale2.lambda1"]
    with pytest.raises(WeightsFileError, match=r"no 'encoder\.layer\.1\.layer_scale2\.lambda1'"):
        vit.from_hf_dinov2(HF_CFG, hf_state, "ckpt")


def test_config_errors():
    with pytest.raises(ModelDefinitionError, match="3 heads must divide its width 100"):
        vit.ViTConfig(patch=16, dim=100, depth=1, heads=3, mlp_dim=400, pos_grid=(14, 14))
    with pytest.raises(ModelDefinitionError, match="resample"):
        vit.ViTConfig(patch=16, dim=96, depth=1, heads=3, mlp_dim=384, pos_grid=(14, 14), resample="bilinear")
    with pytest.raises(ModelDefinitionError, match="pos_prefix"):
        vit.ViTConfig(patch=16, dim=96, depth=1, heads=3, mlp_dim=384, pos_grid=(14, 14), pos_prefix=2)


@pytest.mark.parametrize("name", ["vit_small_patch16_224", "vit_small_patch14_reg4_dinov2"])
def test_init_params_param_shapes_and_the_readers_agree(name):
    _, cfg, read = timm_reference(name)
    trees = {"init": vit.init_params(cfg, seed=3), "shapes": vit.param_shapes(cfg), "from_timm": read}
    structures = {k: jax.tree.structure(t) for k, t in trees.items()}
    assert len(set(structures.values())) == 1, structures
    shapes = {k: [(leaf.shape, leaf.dtype) for leaf in jax.tree.leaves(t)] for k, t in trees.items()}
    assert shapes["init"] == shapes["shapes"] == shapes["from_timm"]
    assert all(leaf.dtype == np.float32 for leaf in jax.tree.leaves(trees["shapes"]))
    out = forward(cfg, trees["init"], np.zeros((1, 2 * cfg.patch, 3 * cfg.patch, 3), np.float32))
    assert all(np.isfinite(v).all() for v in out.values())
    hf = jax.tree.structure(hf_reference()[1]) if name == "vit_small_patch14_reg4_dinov2" else None
    if hf is not None:  # the Dinov2 reader's tree is the param_shapes tree of its own config
        assert hf == jax.tree.structure(vit.param_shapes(HF_CFG))


def test_a_stem_vit_equals_torch_convolutions_then_timm():
    """``ViTConfig(stem=...)``: the stem's blobs equal torch's own Conv2d (stride 2, padding 1) + ReLU stack,
    and every later blob equals timm's VisionTransformer run on the stem's output (``in_chans`` the stem's
    width, its patch the embedding's 2x2), all with the same random weights."""
    timm = import_timm()
    cfg = vit.ViTConfig(patch=8, dim=64, depth=1, heads=2, mlp_dim=256, pos_grid=(4, 4), classes=10, stem=(8, 16))
    stem = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, 2, 1), torch.nn.ReLU(), torch.nn.Conv2d(8, 16, 3, 2, 1),
                               torch.nn.ReLU())
    model = randomize_(timm.models.vision_transformer.VisionTransformer(
        img_size=8, patch_size=2, in_chans=16, embed_dim=64, depth=1, num_heads=2, num_classes=10), seed=4)
    randomize_(stem, seed=5)
    state = numpy_state(model)
    embed_kernel = state.pop("patch_embed.proj.weight")
    params = vit.from_timm(dataclasses.replace(cfg, stem=(), patch=2),
                           dict(state, **{"patch_embed.proj.weight": np.zeros((64, 3, 2, 2), np.float32)}), "timm")
    params["patch_embed"]["kernel"] = embed_kernel.transpose(2, 3, 1, 0)
    params["stem"] = [{"kernel": stem[i].weight.detach().numpy().transpose(2, 3, 1, 0),
                       "bias": stem[i].bias.detach().numpy()} for i in (0, 2)]
    assert jax.tree.structure(params) == jax.tree.structure(vit.param_shapes(cfg))
    x = images(2, 32, seed=6)
    ours = forward(cfg, params, nhwc(x))
    with torch.no_grad():
        s0 = stem[1](stem[0](x))
        s1 = stem[3](stem[2](s0))
    out, theirs = hooked(model, {b: b for b in ours if not b.startswith("stem.")}, s1)
    theirs.update({"stem.0": nhwc(s0), "stem.1": nhwc(s1)})
    compare(ours, theirs)
    assert ours["pos_drop"].shape == (2, 1 + 16, 64) and ours["stem.1"].shape == (2, 8, 8, 16)
    counts = vit_zoo.blob_params(cfg)  # the layer table's parameters per blob add up to the model's
    assert counts["stem.1"] == 9 * 8 * 16 + 16
    assert sum(counts.values()) == sum(p.numel() for p in (*model.parameters(), *stem.parameters()))
    with pytest.raises(WeightsFileError, match="convolutional stem"):
        vit.from_timm(cfg, numpy_state(model), "ckpt")
    with pytest.raises(ModelDefinitionError, match="divisible by 8"):
        vit.ViTConfig(patch=4, dim=64, depth=1, heads=2, mlp_dim=256, pos_grid=(4, 4), stem=(8, 8, 8))
