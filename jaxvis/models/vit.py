"""Vision transformers as pure JAX functions: the pre-norm ViT of timm's
``VisionTransformer`` and of Hugging Face's ``Dinov2Model``, with their
state-dict layouts, and the position-embedding resampling each applies at
an input size other than the one it was trained at.

The network (``ViTConfig`` fixes its shape):

* with ``stem`` (jaxvis's own; no reference has it): a convolutional stem,
  "early convolutions" (Xiao et al. 2021): one 3x3 convolution of stride 2
  (padding 1) per entry, to that many channels, each followed by ReLU;
* a ``patch`` x ``patch`` convolution of stride ``patch`` (no padding) to
  ``dim`` channels (after a stem, ``patch / 2**len(stem)`` wide, on the
  stem's output, so that a token still covers ``patch`` x ``patch``
  pixels): a grid of ``h x w`` patch tokens, row-major;
* the prefix tokens in front: the class token (when ``cls``), then
  ``registers`` register tokens;
* the learned position embedding: ``pos_prefix`` entries for the first
  prefix tokens, then a ``pos_grid`` grid resampled to ``h x w`` (torch's
  bicubic, ``resample``: ``"bicubic"`` as transformers does it,
  ``"bicubic_antialias"`` as timm does it; see ``resample_matrix``);
* ``depth`` blocks ``x + ls1 * attn(norm1(x))``, then ``x + ls2 *
  mlp(norm2(x))``: LayerNorm (eps ``eps``), multi-head softmax attention
  with ``heads`` heads (q, k, v with biases, scaled by head_dim ** -0.5),
  an MLP ``fc1 -> GELU (exact, erf) -> fc2`` with ``mlp_dim`` hidden units,
  and per-channel layer scales when ``layer_scale``;
* a final LayerNorm; with ``classes`` > 0 a linear head on the class token.

Blob names follow the reference's module names: the output of a module is
the blob of that name. ``naming="timm"``: ``stem.N`` (a stem's ReLU outputs,
maps ``[B, H, W, C]``), ``pos_drop`` (the tokens entering
block 0), ``blocks.N.mlp.act`` (GELU, ``[B, N, mlp_dim]``), ``blocks.N``,
``norm``, ``head`` (logits). ``naming="hf"``: ``embeddings``,
``encoder.layer.N.mlp.activation`` (transformers 4's module name and exported
files'; transformers 5 calls the module ``activation_fn``), ``encoder.layer.N``,
``layernorm``.
Every blob but the head's is ``[B, prefix + h*w, C]``: tokens
(``jaxvis.TokenLayout``).

Parameters are one pytree (``init_params`` makes random ones; ``from_timm``
and ``from_hf_dinov2`` read the references' state dicts): ``patch_embed``
{kernel [p, p, 3, D], bias} (after a stem ``[p / 2**len(stem), ...,
stem[-1], D]``), ``stem``: a list of {kernel [3, 3, C_in, C_out], bias}, ``cls_token`` [1, D], ``reg_token`` [R, D],
``pos_embed`` [pos_prefix + gh*gw, D], ``blocks``: a list of {norm1, qkv
{kernel [D, 3D], bias}, proj, norm2, fc1, fc2, and ls1, ls2 with layer scales},
``norm``, ``head``.
"""

from __future__ import annotations

import dataclasses
import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxvis.errors import ModelDefinitionError, WeightsFileError

RESAMPLING = ("bicubic", "bicubic_antialias")
NAMINGS = ("timm", "hf")


@dataclasses.dataclass(frozen=True)
class ViTConfig:
    patch: int
    dim: int
    depth: int
    heads: int
    mlp_dim: int
    pos_grid: tuple[int, int]
    cls: bool = True
    registers: int = 0
    pos_prefix: int = 1
    layer_scale: bool = False
    eps: float = 1e-6
    classes: int = 0
    resample: str = "bicubic_antialias"
    naming: str = "timm"
    stem: tuple[int, ...] = ()

    def __post_init__(self):
        if self.dim % self.heads:
            raise ModelDefinitionError(f"ViT: {self.heads} heads must divide its width {self.dim}")
        if self.resample not in RESAMPLING:
            raise ModelDefinitionError(f"ViT: resample must be one of {RESAMPLING}, got {self.resample!r}")
        if self.naming not in NAMINGS:
            raise ModelDefinitionError(f"ViT: naming must be one of {NAMINGS}, got {self.naming!r}")
        if self.stem and (self.patch % 2 ** len(self.stem) or self.naming != "timm"):
            raise ModelDefinitionError(f"ViT: a stem of {len(self.stem)} stride-2 convolutions needs a patch "
                                       f"divisible by {2 ** len(self.stem)} (got {self.patch}) and timm naming")
        if not 0 <= self.pos_prefix <= self.prefix:
            raise ModelDefinitionError(f"ViT: pos_prefix {self.pos_prefix} must lie in 0..{self.prefix} "
                                       "(the prefix tokens)")

    @property
    def prefix(self) -> int:
        """Prefix tokens: the class token and the registers."""
        return int(self.cls) + self.registers

    @property
    def embed_patch(self) -> int:
        """The patch embedding's kernel and stride: ``patch`` on the pixels, less after a stem."""
        return self.patch // 2 ** len(self.stem)

    def grid(self, input_size: tuple[int, int]) -> tuple[int, int]:
        """The patch grid (h, w) of an input of ``input_size`` (H, W)."""
        return input_size[0] // self.patch, input_size[1] // self.patch

    def blob(self, kind: str, i: int | None = None) -> str:
        """The blob name of ``kind`` ("stem", "embed", "act", "block", "norm", "head") in this naming."""
        timm = self.naming == "timm"
        names = {"stem": f"stem.{i}", "embed": "pos_drop" if timm else "embeddings",
                 "act": f"blocks.{i}.mlp.act" if timm else f"encoder.layer.{i}.mlp.activation",
                 "block": f"blocks.{i}" if timm else f"encoder.layer.{i}",
                 "norm": "norm" if timm else "layernorm", "head": "head"}
        return names[kind]


# ----------------------------------------------------------------------------- position embeddings

def _cubic(t: np.ndarray, a: float) -> np.ndarray:
    """Keys' cubic convolution kernel with parameter ``a``."""
    t = np.abs(t)
    near = ((a + 2) * t - (a + 3)) * t * t + 1
    far = ((a * t - 5 * a) * t + 8 * a) * t - 4 * a
    return np.where(t <= 1, near, np.where(t < 2, far, 0.0))


@functools.lru_cache(maxsize=None)
def resample_matrix(n_in: int, n_out: int, antialias: bool) -> np.ndarray:
    """[n_out, n_in] float64: one axis of ``torch.nn.functional.interpolate(...,
    size=..., mode="bicubic", align_corners=False, antialias=...)``.

    Without antialias (transformers' ``interpolate_pos_encoding``): source
    coordinate ``(i + 0.5) * n_in / n_out - 0.5``, Keys' kernel with a = -0.75
    on the four nearest samples, indices clamped to the edge. With antialias
    (timm's ``resample_abs_pos_embed``): the separable filter of torch's
    ``_upsample_bicubic2d_aa`` (PIL's): a = -0.5, support 2 widened by the
    downscale factor, taps inside the image only, weights normalised to 1."""
    scale = n_in / n_out
    m = np.zeros((n_out, n_in))
    for i in range(n_out):
        if not antialias:
            src = (i + 0.5) * scale - 0.5
            base = math.floor(src)
            for k in range(-1, 3):
                m[i, min(max(base + k, 0), n_in - 1)] += _cubic(np.asarray(src - (base + k)), -0.75)
        else:
            support = 2.0 * max(scale, 1.0)
            inv = 1.0 / max(scale, 1.0)
            centre = scale * (i + 0.5)
            lo = max(int(centre - support + 0.5), 0)
            hi = min(int(centre + support + 0.5), n_in)
            taps = np.arange(lo, hi)
            w = _cubic((taps - centre + 0.5) * inv, -0.5)
            m[i, lo:hi] = w / w.sum()
    return m


def position_embedding(cfg: ViTConfig, pos_embed: jax.Array, grid: tuple[int, int]) -> jax.Array:
    """``pos_embed`` [pos_prefix + gh*gw, D] -> [pos_prefix + h*w, D] at ``grid``,
    resampled as the reference does (the identity at the trained grid)."""
    gh, gw = cfg.pos_grid
    prefix, table = pos_embed[:cfg.pos_prefix], pos_embed[cfg.pos_prefix:]
    if tuple(grid) == (gh, gw):
        return pos_embed
    antialias = cfg.resample == "bicubic_antialias"
    my = jnp.asarray(resample_matrix(gh, grid[0], antialias), jnp.float32)
    mx = jnp.asarray(resample_matrix(gw, grid[1], antialias), jnp.float32)
    table = jnp.einsum("yi,xj,ijd->yxd", my, mx, table.reshape(gh, gw, -1))
    return jnp.concatenate([prefix, table.reshape(grid[0] * grid[1], -1)], axis=0)


# ----------------------------------------------------------------------------- the forward

def _norm(p: dict, x: jax.Array, eps: float) -> jax.Array:
    mean = jnp.mean(x, axis=-1, keepdims=True)
    var = jnp.mean(jnp.square(x - mean), axis=-1, keepdims=True)
    return (x - mean) * lax.rsqrt(var + eps) * p["scale"] + p["bias"]


def _dense(p: dict, x: jax.Array) -> jax.Array:
    return x @ p["kernel"] + p["bias"]


def _attention(cfg: ViTConfig, p: dict, x: jax.Array) -> jax.Array:
    b, n, d = x.shape
    hd = d // cfg.heads
    q, k, v = jnp.split(_dense(p["qkv"], x).reshape(b, n, 3, cfg.heads, hd), 3, axis=2)
    q, k, v = (t[:, :, 0] for t in (q, k, v))  # [B, N, heads, hd]
    scores = jnp.einsum("bqhc,bkhc->bhqk", q * hd ** -0.5, k)
    out = jnp.einsum("bhqk,bkhc->bqhc", jax.nn.softmax(scores, axis=-1), v)
    return _dense(p["proj"], out.reshape(b, n, d))


def _conv(p: dict, x: jax.Array, stride: int, padding) -> jax.Array:
    return lax.conv_general_dilated(x, p["kernel"], (stride, stride), padding,
                                    dimension_numbers=("NHWC", "HWIO", "NHWC")) + p["bias"]


def embed(cfg: ViTConfig, params: dict, x: jax.Array, record: dict | None = None) -> jax.Array:
    """x [B, H, W, 3] -> the tokens entering block 0, [B, prefix + h*w, D];
    a stem's outputs go into ``record`` when given."""
    h, w = cfg.grid(x.shape[1:3])
    x = x[:, :h * cfg.patch, :w * cfg.patch]  # a strided convolution without padding drops the remainder
    for i, p in enumerate(params.get("stem", ())):
        x = jax.nn.relu(_conv(p, x, 2, ((1, 1), (1, 1))))
        if record is not None:
            record[cfg.blob("stem", i)] = x
    patches = _conv(params["patch_embed"], x, cfg.embed_patch, "VALID")
    b = x.shape[0]
    parts = []
    if cfg.cls:
        parts.append(jnp.broadcast_to(params["cls_token"], (b, 1, cfg.dim)))
    if cfg.registers:
        parts.append(jnp.broadcast_to(params["reg_token"], (b, cfg.registers, cfg.dim)))
    tokens = jnp.concatenate(parts + [patches.reshape(b, h * w, cfg.dim)], axis=1)
    pos = position_embedding(cfg, params["pos_embed"], (h, w))
    k = cfg.pos_prefix
    added = jnp.concatenate([pos[:k], jnp.zeros((cfg.prefix - k, cfg.dim), pos.dtype), pos[k:]], axis=0)
    return tokens + added


def blobs(cfg: ViTConfig, params: dict, x: jax.Array) -> dict[str, jax.Array]:
    """x [B, H, W, 3] (the network's input space) -> {blob: array} in forward order."""
    out = {}
    x = embed(cfg, params, x, record=out)
    out[cfg.blob("embed")] = x
    for i, p in enumerate(params["blocks"]):
        y = _attention(cfg, p, _norm(p["norm1"], x, cfg.eps))
        x = x + (y * p["ls1"] if cfg.layer_scale else y)
        hidden = out[cfg.blob("act", i)] = jax.nn.gelu(_dense(p["fc1"], _norm(p["norm2"], x, cfg.eps)),
                                                       approximate=False)
        y = _dense(p["fc2"], hidden)
        x = out[cfg.blob("block", i)] = x + (y * p["ls2"] if cfg.layer_scale else y)
    x = out[cfg.blob("norm")] = _norm(params["norm"], x, cfg.eps)
    if cfg.classes:
        out[cfg.blob("head")] = _dense(params["head"], x[:, 0])
    return out


@dataclasses.dataclass(frozen=True)
class ViTBlobs:
    """``apply(params, x) -> {blob: array}`` of one config; equal (and hashed
    alike) for equal configs, so compiled functions keyed on it are shared."""

    cfg: ViTConfig

    def __call__(self, params, x):
        return blobs(self.cfg, params, x)


# ----------------------------------------------------------------------------- parameters

def _tree(cfg: ViTConfig, leaf) -> dict:
    """The parameters' pytree, each leaf ``leaf(role, shape)`` (role: "weight",
    "bias", "scale", "layer_scale", and with a stem "stem" for its kernels and
    "embed" for the patch embedding's)."""
    d, m = cfg.dim, cfg.mlp_dim

    def dense(n_in, n_out):
        return {"kernel": leaf("weight", (n_in, n_out)), "bias": leaf("bias", (n_out,))}

    def norm():
        return {"scale": leaf("scale", (d,)), "bias": leaf("bias", (d,))}

    gh, gw = cfg.pos_grid
    widths = (3,) + tuple(cfg.stem)
    k = cfg.embed_patch
    params = {"patch_embed": {"kernel": leaf("embed" if cfg.stem else "weight", (k, k, widths[-1], d)),
                              "bias": leaf("bias", (d,))},
              "pos_embed": leaf("weight", (cfg.pos_prefix + gh * gw, d))}
    if cfg.stem:
        params["stem"] = [{"kernel": leaf("stem", (3, 3, a, b)), "bias": leaf("bias", (b,))}
                          for a, b in zip(widths[:-1], widths[1:])]
    if cfg.cls:
        params["cls_token"] = leaf("weight", (1, d))
    if cfg.registers:
        params["reg_token"] = leaf("weight", (cfg.registers, d))
    params["blocks"] = [{"norm1": norm(), "qkv": dense(d, 3 * d), "proj": dense(d, d), "norm2": norm(),
                         "fc1": dense(d, m), "fc2": dense(m, d),
                         **({"ls1": leaf("layer_scale", (d,)), "ls2": leaf("layer_scale", (d,))}
                            if cfg.layer_scale else {})}
                        for _ in range(cfg.depth)]
    params["norm"] = norm()
    if cfg.classes:
        params["head"] = dense(d, cfg.classes)
    return params


def init_params(cfg: ViTConfig, seed: int = 0) -> dict:
    """Random parameters: truncated-normal weights (std 0.02, cut at 2 std, as
    timm initialises), zero biases, unit LayerNorm scales, layer scales 1e-5;
    a stem's kernels He-normal (std sqrt(2 / fan-in), for the ReLU after
    each) and the patch embedding after it std sqrt(1 / fan-in)."""
    rng = np.random.default_rng(seed)

    def leaf(role, shape):
        if role in ("stem", "embed"):
            fan_in = int(np.prod(shape[:-1]))
            return jnp.asarray(rng.normal(0.0, np.sqrt((2.0 if role == "stem" else 1.0) / fan_in), shape),
                               jnp.float32)
        if role == "weight":
            return jnp.asarray(np.clip(rng.normal(0.0, 0.02, shape), -0.04, 0.04), jnp.float32)
        if role == "layer_scale":
            return jnp.full(shape, 1e-5, jnp.float32)
        return jnp.full(shape, 1.0 if role == "scale" else 0.0, jnp.float32)

    return _tree(cfg, leaf)


def param_shapes(cfg: ViTConfig) -> dict:
    """The parameters' pytree of ``jax.ShapeDtypeStruct``, allocating nothing."""
    return _tree(cfg, lambda role, shape: jax.ShapeDtypeStruct(shape, jnp.float32))


def _take(state: dict, key: str, shape: tuple, source: str, what: str) -> np.ndarray:
    if key not in state:
        raise WeightsFileError(f"{source}: not a {what} state dict of this shape: it has no {key!r}")
    value = np.asarray(state[key], np.float32)
    if value.shape != tuple(shape):
        raise WeightsFileError(f"{source}: {key!r} has shape {value.shape}; this {what} expects {tuple(shape)}")
    return value


def _linear(state, key, n_in, n_out, source, what):
    return {"kernel": _take(state, f"{key}.weight", (n_out, n_in), source, what).T,
            "bias": _take(state, f"{key}.bias", (n_out,), source, what)}


def _layer_norm(state, key, d, source, what):
    return {"scale": _take(state, f"{key}.weight", (d,), source, what),
            "bias": _take(state, f"{key}.bias", (d,), source, what)}


def _check_extra(state: dict, used: set, source: str, what: str, ignore=()) -> None:
    extra = sorted(k for k in state if k not in used and not any(k.startswith(i) for i in ignore))
    if extra:
        raise WeightsFileError(f"{source}: {len(extra)} entries are not part of this {what}, e.g. "
                               f"{', '.join(extra[:3])}")


class _Recorder(dict):
    """A state dict that records which keys were read."""

    def __init__(self, state):
        super().__init__(state)
        self.used = set()

    def __getitem__(self, key):
        self.used.add(key)
        return super().__getitem__(key)


def from_timm(cfg: ViTConfig, state: dict, source: str) -> dict:
    """Parameters from a timm ``VisionTransformer`` state dict (``patch_embed.proj``,
    ``cls_token``, ``reg_token``, ``pos_embed``, ``blocks.N.{norm1, attn.qkv,
    attn.proj, ls1.gamma, norm2, mlp.fc1, mlp.fc2, ls2.gamma}``, ``norm``, ``head``)."""
    what = "timm VisionTransformer"
    if cfg.stem:
        raise WeightsFileError(f"{source}: a timm VisionTransformer state dict cannot fill this ViT: it has a "
                               "convolutional stem, which timm's VisionTransformer does not (use a jaxvis model "
                               "directory)")
    state = _Recorder(state)
    d, m, p = cfg.dim, cfg.mlp_dim, cfg.patch
    gh, gw = cfg.pos_grid
    out = {"patch_embed": {"kernel": _take(state, "patch_embed.proj.weight", (d, 3, p, p), source, what)
                           .transpose(2, 3, 1, 0),
                           "bias": _take(state, "patch_embed.proj.bias", (d,), source, what)},
           "pos_embed": _take(state, "pos_embed", (1, cfg.pos_prefix + gh * gw, d), source, what)[0]}
    if cfg.cls:
        out["cls_token"] = _take(state, "cls_token", (1, 1, d), source, what)[0]
    if cfg.registers:
        out["reg_token"] = _take(state, "reg_token", (1, cfg.registers, d), source, what)[0]
    blocks = []
    for i in range(cfg.depth):
        b = f"blocks.{i}"
        block = {
            "norm1": _layer_norm(state, f"{b}.norm1", d, source, what),
            "qkv": _linear(state, f"{b}.attn.qkv", d, 3 * d, source, what),
            "proj": _linear(state, f"{b}.attn.proj", d, d, source, what),
            "norm2": _layer_norm(state, f"{b}.norm2", d, source, what),
            "fc1": _linear(state, f"{b}.mlp.fc1", d, m, source, what),
            "fc2": _linear(state, f"{b}.mlp.fc2", m, d, source, what)}
        if cfg.layer_scale:
            block.update(ls1=_take(state, f"{b}.ls1.gamma", (d,), source, what),
                         ls2=_take(state, f"{b}.ls2.gamma", (d,), source, what))
        blocks.append(block)
    out["blocks"] = blocks
    out["norm"] = _layer_norm(state, "norm", d, source, what)
    if cfg.classes:
        out["head"] = _linear(state, "head", d, cfg.classes, source, what)
    _check_extra(state, state.used, source, what, ignore=("head.",) if not cfg.classes else ())
    return jax.tree.map(jnp.asarray, out)


def from_hf_dinov2(cfg: ViTConfig, state: dict, source: str) -> dict:
    """Parameters from a Hugging Face ``Dinov2Model`` state dict (``embeddings.{cls_token,
    mask_token, position_embeddings, patch_embeddings.projection}``, ``encoder.layer.N.{norm1,
    attention.attention.{query, key, value}, attention.output.dense (transformers 5: attention.{q, k, v,
    o}_proj), layer_scale1.lambda1, norm2,
    mlp.fc1, mlp.fc2, layer_scale2.lambda1}``, ``layernorm``); a ``dinov2.`` or ``backbone.``
    prefix on every key is taken off. ``mask_token`` is not used (it replaces masked patches in training)."""
    what = "Hugging Face Dinov2Model"
    for prefix in ("dinov2.", "backbone."):
        if state and all(k.startswith(prefix) for k in state):
            state = {k[len(prefix):]: v for k, v in state.items()}
    state = _Recorder(state)
    d, m, p = cfg.dim, cfg.mlp_dim, cfg.patch
    gh, gw = cfg.pos_grid
    out = {"patch_embed": {"kernel": _take(state, "embeddings.patch_embeddings.projection.weight", (d, 3, p, p),
                                           source, what).transpose(2, 3, 1, 0),
                           "bias": _take(state, "embeddings.patch_embeddings.projection.bias", (d,), source, what)},
           "pos_embed": _take(state, "embeddings.position_embeddings", (1, cfg.pos_prefix + gh * gw, d),
                              source, what)[0],
           "cls_token": _take(state, "embeddings.cls_token", (1, 1, d), source, what)[0]}
    if cfg.registers:
        out["reg_token"] = _take(state, "embeddings.register_tokens", (1, cfg.registers, d), source, what)[0]
    blocks = []
    for i in range(cfg.depth):
        b = f"encoder.layer.{i}"
        # transformers 5 names the projections q_proj ... o_proj; earlier releases (and exported files) use
        # attention.attention.{query, key, value} and attention.output.dense
        new = f"{b}.attention.q_proj.weight" in state
        names = (("q_proj", "k_proj", "v_proj", "o_proj") if new else
                 ("attention.query", "attention.key", "attention.value", "output.dense"))
        q, k, v = (_linear(state, f"{b}.attention.{n}", d, d, source, what) for n in names[:3])
        blocks.append({
            "norm1": _layer_norm(state, f"{b}.norm1", d, source, what),
            "qkv": {"kernel": np.concatenate([q["kernel"], k["kernel"], v["kernel"]], axis=1),
                    "bias": np.concatenate([q["bias"], k["bias"], v["bias"]])},
            "proj": _linear(state, f"{b}.attention.{names[3]}", d, d, source, what),
            "ls1": _take(state, f"{b}.layer_scale1.lambda1", (d,), source, what),
            "norm2": _layer_norm(state, f"{b}.norm2", d, source, what),
            "fc1": _linear(state, f"{b}.mlp.fc1", d, m, source, what),
            "fc2": _linear(state, f"{b}.mlp.fc2", m, d, source, what),
            "ls2": _take(state, f"{b}.layer_scale2.lambda1", (d,), source, what)})
    out["blocks"] = blocks
    out["norm"] = _layer_norm(state, "layernorm", d, source, what)
    _check_extra(state, state.used, source, what, ignore=("embeddings.mask_token",))
    return jax.tree.map(jnp.asarray, out)
