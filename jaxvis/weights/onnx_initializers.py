"""DINOv2 backbones read out of ONNX files, under Hugging Face's names.

``torch.onnx.export`` of a model that holds a transformers ``Dinov2Model``
keeps the names of the parameters it passes through untouched (LayerNorm
weights, biases, the layer scales, the class token, the patch convolution:
``backbone.encoder.layer.0.norm1.weight``), but a Linear layer run as a
``MatMul`` gets its weight transposed to ``[in, out]`` and constant-folded
into an unnamed initializer (``onnx::MatMul_1966``); the position embeddings
come apart into an unnamed class position ``[1, 1, D]`` and an unnamed patch
grid ``[1, n*n, D]``, which the traced forward interpolates. Nothing about an
unnamed initializer's number says which layer it belongs to (in one real file
the numbers run key, value, query, output, fc1, fc2 within each block), so
each tensor is found through the node that consumes it: the exporter names
nodes by module path (``/backbone/encoder/layer.0/attention/attention/query/MatMul``).

:func:`read_dinov2_onnx` returns the backbone as a state dict a
``transformers.Dinov2Model`` loads with ``load_state_dict`` (torch layout:
Linear weights ``[out, in]``), and what the graph says of its configuration.
It needs the ``onnx`` package (imported when called, never at import time).
"""

from __future__ import annotations

import math
import os
import re
from collections import Counter

import numpy as np

from jaxvis.errors import WeightsFileError

_LINEARS = ("attention.attention.query", "attention.attention.key", "attention.attention.value",
            "attention.output.dense", "mlp.fc1", "mlp.fc2")
_NORMS = ("norm1", "norm2")
DEFAULT_EPS = 1e-6  # transformers' Dinov2Config.layer_norm_eps, and DINOv2's own


def _scope(module: str) -> str:
    """``backbone.encoder.layer.3.mlp.fc1`` -> ``/backbone/encoder/layer.3/mlp/fc1/``: the exporter's node
    name prefix, module path parts joined by ``/`` except a ModuleList index, which keeps its dot."""
    parts: list[str] = []
    for part in module.split("."):
        if part.isdigit() and parts:
            parts[-1] += "." + part
        elif part:
            parts.append(part)
    return "/" + "/".join(parts) + "/" if parts else "/"


class _Graph:
    """The parts of an ONNX graph needed to find parameters: initializers, constants, nodes by scope."""

    def __init__(self, onnx, model, path: str):
        self.path = path
        self.numpy_helper = onnx.numpy_helper
        graph = model.graph
        self.initializers = {t.name: t for t in graph.initializer}
        self.nodes = list(graph.node)
        self.producer = {out: node for node in self.nodes for out in node.output}
        self.constants = {}
        for node in self.nodes:
            if node.op_type == "Constant" and node.output:
                value = self._constant_attribute(onnx, node)
                if value is not None:
                    self.constants[node.output[0]] = value
        self._arrays: dict[str, np.ndarray] = {}

    @staticmethod
    def _constant_attribute(onnx, node):
        for attr in node.attribute:
            if attr.name == "value":
                return onnx.numpy_helper.to_array(attr.t)
            if attr.name in ("value_float", "value_int", "value_floats", "value_ints"):
                return np.asarray(onnx.helper.get_attribute_value(attr))
        return None

    def array(self, name: str) -> np.ndarray:
        if name not in self._arrays:
            self._arrays[name] = np.array(self.numpy_helper.to_array(self.initializers[name]))
        return self._arrays[name]

    def value(self, name: str):
        """An initializer's or a Constant node's value; None for a computed tensor."""
        if name in self.initializers:
            return self.array(name)
        return self.constants.get(name)

    def shape(self, name: str) -> tuple[int, ...] | None:
        t = self.initializers.get(name)
        return tuple(t.dims) if t is not None else None

    def in_scope(self, scope: str, op_type: str | None = None):
        return [n for n in self.nodes if n.name.startswith(scope) and (op_type is None or n.op_type == op_type)]

    def weights_of(self, node) -> list[str]:
        return [i for i in node.input if i in self.initializers]


def _import_onnx():
    try:
        import onnx
        import onnx.numpy_helper  # noqa: F401  (a submodule older onnx releases do not import themselves)
    except ImportError:
        raise WeightsFileError("reading ONNX files needs the onnx package: pip install onnx") from None
    return onnx


def _load(onnx, path: str):
    if not os.path.isfile(path):
        raise WeightsFileError(f"{path}: no such file")
    try:
        model = onnx.load(path)
    except Exception as e:  # protobuf's DecodeError, a missing external-data file, a bad field
        raise WeightsFileError(f"{path}: not a readable ONNX model ({type(e).__name__}: {e})") from None
    if model.ir_version <= 0 or not model.graph.node:
        raise WeightsFileError(f"{path}: not an ONNX model (no IR version or no graph nodes)")
    return model


class _Reader:
    def __init__(self, graph: _Graph, prefix: str):
        self.g = graph
        self.prefix = prefix
        self.used: dict[str, str] = {}  # initializer -> the parameter it became

    def missing(self, name: str, how: str) -> WeightsFileError:
        return WeightsFileError(f"{self.g.path}: no tensor for {self.prefix}{name} ({how})")

    def take(self, initializer: str, param: str, transpose: bool = False) -> np.ndarray:
        if initializer in self.used and self.used[initializer] != param:
            raise WeightsFileError(f"{self.g.path}: initializer {initializer} resolves to both "
                                   f"{self.prefix}{self.used[initializer]} and {self.prefix}{param}")
        self.used[initializer] = param
        a = self.g.array(initializer)
        return np.ascontiguousarray(a.T) if transpose else a

    def named(self, param: str):
        full = self.prefix + param
        return self.take(full, param) if full in self.g.initializers else None

    def linear(self, module: str) -> tuple[np.ndarray, np.ndarray]:
        """A Linear's weight ``[out, in]`` and bias: named initializers, else the MatMul (or Gemm) and Add
        nodes of the module's scope."""
        weight, bias = self.named(module + ".weight"), self.named(module + ".bias")
        scope = _scope(self.prefix + module)
        if weight is None:
            for node in self.g.in_scope(scope):
                if node.op_type == "Gemm" and len(node.input) > 1 and node.input[1] in self.g.initializers:
                    trans_b = any(a.name == "transB" and a.i for a in node.attribute)
                    weight = self.take(node.input[1], module + ".weight", transpose=not trans_b)
                    if bias is None and len(node.input) > 2 and node.input[2] in self.g.initializers:
                        bias = self.take(node.input[2], module + ".bias")
                    break
                if node.op_type == "MatMul" and node.input[1:] and node.input[1] in self.g.initializers:
                    weight = self.take(node.input[1], module + ".weight", transpose=True)
                    break
        if weight is None:
            raise self.missing(module + ".weight", f"neither a named initializer nor a MatMul/Gemm node "
                                                   f"under {scope} with a constant weight")
        if bias is None:
            for node in self.g.in_scope(scope, "Add"):
                found = [i for i in self.g.weights_of(node) if self.g.shape(i) == (weight.shape[0],)]
                if found:
                    bias = self.take(found[0], module + ".bias")
                    break
        if bias is None:
            raise self.missing(module + ".bias", f"neither a named initializer nor an Add node under {scope} "
                                                 f"with a constant of {weight.shape[0]} values")
        return weight, bias

    def norm(self, module: str) -> tuple[np.ndarray, np.ndarray, float | None]:
        """A LayerNorm's weight, bias and eps: named initializers or the decomposed Mul/Add (or a
        LayerNormalization node) of its scope; eps from the constant added to the variance."""
        scope = _scope(self.prefix + module)
        nodes = self.g.in_scope(scope)
        weight, bias, eps = self.named(module + ".weight"), self.named(module + ".bias"), None
        for node in nodes:
            if node.op_type == "LayerNormalization":
                eps = next((a.f for a in node.attribute if a.name == "epsilon"), 1e-5)
                if weight is None and node.input[1:] and node.input[1] in self.g.initializers:
                    weight = self.take(node.input[1], module + ".weight")
                if bias is None and node.input[2:] and node.input[2] in self.g.initializers:
                    bias = self.take(node.input[2], module + ".bias")
            elif node.op_type == "Add" and eps is None:
                sources = [self.g.producer.get(i) for i in node.input]
                if any(s is not None and s.op_type == "ReduceMean" for s in sources):
                    for i in node.input:
                        v = self.g.value(i)
                        if v is not None and np.size(v) == 1:
                            eps = float(str(np.asarray(v, np.float32).reshape(())))  # 1e-06, not 9.99e-07
        if weight is None:
            for node in nodes:
                if node.op_type == "Mul" and self.g.weights_of(node):
                    weight = self.take(self.g.weights_of(node)[0], module + ".weight")
                    break
        if bias is None:
            muls = {o for n in nodes if n.op_type == "Mul" for o in n.output}
            for node in nodes:
                if node.op_type == "Add" and muls & set(node.input) and self.g.weights_of(node):
                    bias = self.take(self.g.weights_of(node)[0], module + ".bias")
                    break
        for kind, a in (("weight", weight), ("bias", bias)):
            if a is None:
                raise self.missing(f"{module}.{kind}", f"neither a named initializer nor a LayerNorm "
                                                       f"node under {scope}")
        return weight, bias, eps

    def scale(self, module: str) -> np.ndarray:
        got = self.named(module + ".lambda1")
        if got is None:
            scope = _scope(self.prefix + module)
            muls = [n for n in self.g.in_scope(scope, "Mul") if self.g.weights_of(n)]
            if not muls:
                raise self.missing(module + ".lambda1", f"neither a named initializer nor a Mul node under {scope}")
            got = self.take(self.g.weights_of(muls[0])[0], module + ".lambda1")
        return got.reshape(-1)

    def position_embeddings(self, dim: int, cls_name: str | None) -> np.ndarray:
        """``[1, 1 + n*n, D]``: named, one unnamed initializer of that shape in the embeddings' scope, or the
        traced interpolation's two pieces: the class position ``[1, 1, D]`` a Concat puts in front of the
        interpolated grid, and the grid ``[1, n*n, D]`` the interpolation reshapes."""
        name = "embeddings.position_embeddings"
        got = self.named(name)
        if got is not None:
            return got
        scope = _scope(self.prefix + "embeddings")
        nodes = self.g.in_scope(scope)
        fed = [i for n in nodes for i in self.g.weights_of(n) if i != cls_name]

        def square(n: int) -> bool:
            return n > 0 and math.isqrt(n) ** 2 == n

        whole = [i for i in fed if (s := self.g.shape(i)) and len(s) == 3 and s[2] == dim and square(s[1] - 1)]
        if whole:
            return self.take(whole[0], name)
        grid = [i for i in fed if (s := self.g.shape(i)) and len(s) == 3 and s[2] == dim and s[1] > 1
                and square(s[1])]
        first = [i for n in nodes if n.op_type == "Concat" for i in n.input[:1]
                 if i in self.g.initializers and i != cls_name and self.g.shape(i) == (1, 1, dim)]
        if len(grid) != 1 or len(first) != 1:
            raise self.missing(name, f"no named initializer; under {scope} found {len(grid)} patch-grid and "
                                     f"{len(first)} class-position initializers, expected one of each")
        self.take(first[0], name)
        self.take(grid[0], name)
        return np.concatenate([self.g.array(first[0]), self.g.array(grid[0])], axis=1)


def _heads(graph: _Graph, scope: str, hidden: int) -> int | None:
    """The head count of the attention under ``scope``: the ``[.., .., heads, head_dim]`` shape its
    query/key/value Reshapes are given (a constant, or a Concat of constants at its end)."""
    for node in graph.in_scope(scope, "Reshape"):
        shape_in = node.input[1] if len(node.input) > 1 else ""
        tail = graph.value(shape_in)
        if tail is None and shape_in in graph.producer and graph.producer[shape_in].op_type == "Concat":
            parts = [graph.value(i) for i in graph.producer[shape_in].input]
            tail = []
            for p in parts:
                tail = tail + list(np.reshape(p, -1)) if p is not None else []
        if tail is not None and len(tail) >= 2:
            h, d = int(np.reshape(tail, -1)[-2]), int(np.reshape(tail, -1)[-1])
            if h > 0 and d > 0 and h * d == hidden:
                return h
    return None


def _interpolation(graph: _Graph, scope: str) -> dict | None:
    """The Resize of the position grid in the embeddings' scope, its attributes spelled out."""
    for node in graph.in_scope(scope, "Resize"):
        attrs = {}
        for a in node.attribute:
            attrs[a.name] = a.s.decode() if a.type == a.STRING else (a.f if a.type == a.FLOAT else a.i)
        return {"op": "Resize", "node": node.name, "mode": attrs.get("mode", "nearest"),
                "coordinate_transformation_mode": attrs.get("coordinate_transformation_mode", "half_pixel"),
                "cubic_coeff_a": attrs.get("cubic_coeff_a", -0.75), "exclude_outside": attrs.get("exclude_outside", 0),
                "antialias": attrs.get("antialias", 0),
                "by": "sizes" if len(node.input) > 3 and node.input[3] else "scales"}
    return None


def read_dinov2_onnx(path, prefix: str = "backbone.") -> tuple[dict[str, np.ndarray], dict]:
    """The DINOv2 backbone in the ONNX file ``path`` whose parameters (and node scopes) start with
    ``prefix``: ``(state_dict, info)``.

    state_dict: transformers ``Dinov2Model`` names without the prefix (``embeddings.cls_token``,
    ``embeddings.position_embeddings``, ``encoder.layer.N.attention.attention.query.weight``, ...,
    ``layernorm.bias``; ``embeddings.mask_token`` and ``embeddings.register_tokens`` only where the file
    has them), float arrays in torch layout (Linear weights ``[out, in]``).

    info: ``hidden_size``, ``num_hidden_layers``, ``num_attention_heads`` (None where the graph does not
    show it), ``intermediate_size``, ``patch_size``, ``position_grid`` ``(rows, cols)``, ``image_size`` (the
    grid times the patch), ``num_register_tokens`` (0 if none), ``layer_norm_eps`` (read from the graph,
    else 1e-6, said in ``notes``), ``has_mask_token``, ``position_interpolation`` (the Resize of the
    position grid in the graph, or None), ``producer``, ``opset``, ``sources`` (each parameter's
    initializer names in the file: two for position embeddings that come in pieces), ``notes``.

    A missing ``onnx`` package, a file that is not ONNX, or a parameter that cannot be resolved
    (named, or through the node consuming it) is a WeightsFileError naming the file and the tensor.
    """
    path = os.fspath(path)
    if prefix and not prefix.endswith("."):
        prefix += "."
    onnx = _import_onnx()
    model = _load(onnx, path)
    g = _Graph(onnx, model, path)
    r = _Reader(g, prefix)
    sd: dict[str, np.ndarray] = {}

    cls = r.named("embeddings.cls_token")
    cls_name = prefix + "embeddings.cls_token" if cls is not None else None
    if cls is None:  # the [1, 1, D] the Expand in the embeddings' scope broadcasts over the batch
        expands = [i for n in g.in_scope(_scope(prefix + "embeddings"), "Expand") for i in g.weights_of(n)
                   if len(g.shape(i)) == 3 and g.shape(i)[:2] == (1, 1)]
        if not expands:
            raise r.missing("embeddings.cls_token", "neither a named initializer nor an Expand of one")
        cls_name = expands[0]
        cls = r.take(cls_name, "embeddings.cls_token")
    sd["embeddings.cls_token"] = cls
    dim = int(cls.shape[-1])
    for optional in ("embeddings.mask_token", "embeddings.register_tokens"):
        got = r.named(optional)
        if got is not None:
            sd[optional] = got

    conv = "embeddings.patch_embeddings.projection"
    w, b = r.named(conv + ".weight"), r.named(conv + ".bias")
    if w is None or b is None:
        convs = g.in_scope(_scope(prefix + conv), "Conv")
        if not convs or len(convs[0].input) < 2 or convs[0].input[1] not in g.initializers:
            raise r.missing(conv + (".weight" if w is None else ".bias"), "neither named nor a Conv node's input")
        w = w if w is not None else r.take(convs[0].input[1], conv + ".weight")
        if b is None and len(convs[0].input) > 2 and convs[0].input[2] in g.initializers:
            b = r.take(convs[0].input[2], conv + ".bias")
        if b is None:
            raise r.missing(conv + ".bias", "neither named nor a Conv node's input")
    sd[conv + ".weight"], sd[conv + ".bias"] = w, b
    pos = r.position_embeddings(dim, cls_name)
    sd["embeddings.position_embeddings"] = pos

    layer_ids = set()
    pattern = re.compile(r"^" + re.escape(_scope(prefix + "encoder.layer")[:-1]) + r"\.(\d+)/")
    layer_ids |= {int(m.group(1)) for n in g.nodes if (m := pattern.match(n.name))}
    named = re.compile(r"^" + re.escape(prefix) + r"encoder\.layer\.(\d+)\.")
    layer_ids |= {int(m.group(1)) for t in g.initializers if (m := named.match(t))}
    if not layer_ids:
        raise r.missing("encoder.layer.0.norm1.weight", "no encoder layers in the file")
    count = max(layer_ids) + 1
    if sorted(layer_ids) != list(range(count)):
        gap = min(set(range(count)) - layer_ids)
        raise r.missing(f"encoder.layer.{gap}.norm1.weight", f"layers {sorted(layer_ids)} are not consecutive")

    eps_found: list[float] = []
    for n in range(count):
        layer = f"encoder.layer.{n}."
        for norm in _NORMS:
            sd[layer + norm + ".weight"], sd[layer + norm + ".bias"], eps = r.norm(layer + norm)
            if eps is not None:
                eps_found.append(eps)
        for linear in _LINEARS:
            sd[layer + linear + ".weight"], sd[layer + linear + ".bias"] = r.linear(layer + linear)
        for ls in ("layer_scale1", "layer_scale2"):
            sd[layer + ls + ".lambda1"] = r.scale(layer + ls)
    sd["layernorm.weight"], sd["layernorm.bias"], eps = r.norm("layernorm")
    if eps is not None:
        eps_found.append(eps)

    expected = {"embeddings.cls_token": (1, 1, dim), conv + ".bias": (dim,), "layernorm.weight": (dim,)}
    for n in range(count):
        for linear in _LINEARS[:4]:
            expected[f"encoder.layer.{n}.{linear}.weight"] = (dim, dim)
        expected[f"encoder.layer.{n}.mlp.fc2.bias"] = (dim,)
    for name, shape in expected.items():
        if tuple(sd[name].shape) != shape:
            raise WeightsFileError(f"{path}: {prefix}{name} has shape {tuple(sd[name].shape)}, expected {shape} "
                                   f"for hidden size {dim}")

    notes: list[str] = []
    if eps_found:
        eps, n_eps = Counter(eps_found).most_common(1)[0]
        if n_eps != len(eps_found):
            notes.append(f"LayerNorm eps differs between norms: {sorted(set(eps_found))}; took the most common")
    else:
        eps = DEFAULT_EPS
        notes.append(f"no LayerNorm eps in the graph; DINOv2's {DEFAULT_EPS} assumed")
    if "embeddings.mask_token" not in sd:
        notes.append("no embeddings.mask_token in the file (the exported forward never masks)")
    sources: dict[str, list[str]] = {}
    for initializer, param in r.used.items():
        sources.setdefault(param, []).append(initializer)
    cells = pos.shape[1] - 1
    side = math.isqrt(cells)
    patch = tuple(int(s) for s in w.shape[2:])
    info = {
        "hidden_size": dim,
        "num_hidden_layers": count,
        "num_attention_heads": _heads(g, _scope(prefix + "encoder.layer.0.attention.attention"), dim),
        "intermediate_size": int(sd["encoder.layer.0.mlp.fc1.weight"].shape[0]),
        "patch_size": patch[0] if patch[0] == patch[1] else patch,
        "position_grid": (side, side),
        "image_size": side * patch[0],
        "num_register_tokens": int(sd["embeddings.register_tokens"].shape[1]) if "embeddings.register_tokens" in sd
        else 0,
        "layer_norm_eps": eps,
        "has_mask_token": "embeddings.mask_token" in sd,
        "position_interpolation": _interpolation(g, _scope(prefix + "embeddings")),
        "producer": f"{model.producer_name} {model.producer_version}".strip(),
        "opset": max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=None),
        "sources": sources,
        "notes": notes,
    }
    if info["num_attention_heads"] is None:
        notes.append("the attention head count is not readable from the graph")
    return sd, info


def dinov2_config_fields(info: dict) -> dict:
    """The keyword arguments of transformers' ``Dinov2Config`` for the backbone
    ``read_dinov2_onnx`` read (its ``info``): what a reference ``Dinov2Model``
    of the same shape is built from. ``layerscale_value`` is only the layer
    scales' initial value; the file holds their trained values."""
    return dict(hidden_size=info["hidden_size"], num_hidden_layers=info["num_hidden_layers"],
                num_attention_heads=info["num_attention_heads"],
                mlp_ratio=info["intermediate_size"] // info["hidden_size"], patch_size=info["patch_size"],
                image_size=info["image_size"], layerscale_value=1.0, layer_norm_eps=info["layer_norm_eps"],
                qkv_bias=True, use_swiglu_ffn=False, hidden_act="gelu")
