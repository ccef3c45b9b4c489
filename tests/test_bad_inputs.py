"""Bad input to every public entry point: one JaxvisError (the subclass that
fits) whose one-line message names the offending thing, raised before any
heavy compute. Job configs are checked field by field before a model loads
or a workdir is written; the command line prints the same message as one
line and exits with status 1."""

import os
import socket
import subprocess
import sys

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from safetensors.numpy import save_file

import jaxvis
from jaxvis.errors import (
    ConfigError,
    InputImageError,
    JaxvisError,
    ModelDefinitionError,
    UnitError,
    UnknownModelError,
    WeightsFileError,
)
from jaxvis.jobs import hosts, visualize_job
from jaxvis.models import layers as L
from jaxvis.models.definition import ModelDef
from jaxvis.train import trainer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO_WEIGHTS = os.path.join(ROOT, "jaxvis", "assets", "models", "demo")


@pytest.fixture(scope="module")
def net():
    return jaxvis.load_model("demo")


def check(excinfo, exc_type, *needles):
    """The error is of ``exc_type`` (a JaxvisError), its message one line naming every needle."""
    err = excinfo.value
    assert isinstance(err, JaxvisError) and isinstance(err, exc_type), type(err)
    message = str(err)
    assert "\n" not in message, message
    for needle in needles:
        assert needle in message, (needle, message)


X = np.zeros((1, 64, 64, 3), np.float32)  # demo's input size
IMAGES = np.zeros((2, 4, 4, 3), np.uint8)

# --- Own networks (jaxvis.from_flax / from_function), plugin paths, imported state dicts

RGB64 = jaxvis.PreprocessSpec(input_size=(64, 64), channel_order="RGB", scale=1 / 255)
RGB8 = jaxvis.PreprocessSpec(input_size=(8, 8), channel_order="RGB", scale=1 / 255)


class _Flat(nn.Module):
    """conv -> relu -> flatten -> Dense: the Dense's kernel fixes the input size."""

    @nn.compact
    def __call__(self, x):
        x = nn.relu(nn.Conv(4, (3, 3), name="conv")(x))
        return nn.Dense(10, name="fc")(x.reshape(x.shape[0], -1))


class _Conv(nn.Module):
    width: int = 4

    @nn.compact
    def __call__(self, x):
        return nn.Conv(self.width, (3, 3), use_bias=False, name="conv")(x)


class _Gray(nn.Module):
    """Takes one input channel: [B, H, W] -> [B, H, W, 1]."""

    @nn.compact
    def __call__(self, x):
        return nn.Conv(4, (3, 3), name="conv")(x.reshape(*x.shape[:3], 1))


def _variables(module, input_size=64, channels=3):
    """Zero variables of module.init's tree for [1, input_size, input_size, channels] (nothing compiled)."""
    x = jax.ShapeDtypeStruct((1, input_size, input_size, channels), jnp.float32)
    return jax.tree.map(lambda a: np.zeros(a.shape, a.dtype), jax.eval_shape(module.init, jax.random.key(0), x))


W = {"w": np.ones((3, 4), np.float32)}


def _from_function(fn, **kw):
    """jaxvis.from_function(fn, W) on 64x64 RGB, its blobs listed (which traces fn)."""
    return jaxvis.from_function(fn, W, spec=kw.pop("spec", RGB64), **kw).layer_names


def _plugin(tmp, module: str, source: str, attribute: str = "make_net"):
    """jaxvis.load_model("module:attribute") with tmp/module.py holding source, importable for this call."""
    (tmp / f"{module}.py").write_text(source)
    sys.path.insert(0, str(tmp))
    try:
        return jaxvis.load_model(f"{module}:{attribute}")
    finally:
        sys.path.remove(str(tmp))
        sys.modules.pop(module, None)


def _state_dict(tmp, arrays: dict) -> str:
    """arrays written as tmp/resnet.safetensors; returns its path."""
    path = str(tmp / "resnet.safetensors")
    save_file({k: np.asarray(v, np.float32) for k, v in arrays.items()}, path)
    return path


OWN_NETWORK_CASES = [
    ("from_function-returns-an-array", lambda net, tmp: _from_function(lambda p, x: x @ p["w"]),
     ModelDefinitionError, ["function", "must return a dict {blob name: array}"]),
    ("from_function-returns-a-list", lambda net, tmp: _from_function(lambda p, x: [x @ p["w"]]),
     ModelDefinitionError, ["must return a dict {blob name: array}", "list"]),
    ("from_function-blob-is-a-string", lambda net, tmp: _from_function(lambda p, x: {"a": x @ p["w"], "b": "text"}),
     ModelDefinitionError, ["blob 'b'", "str", "expected an array"]),
    ("from_function-blob-is-None", lambda net, tmp: _from_function(lambda p, x: {"a": x @ p["w"], "b": None}),
     ModelDefinitionError, ["blob 'b'", "NoneType", "expected an array"]),
    ("from_function-blob-is-a-list", lambda net, tmp: _from_function(lambda p, x: {"a": x @ p["w"], "b": {"c": [x]}}),
     ModelDefinitionError, ["blob 'b/c'", "list", "expected an array"]),
    ("from_function-blob-is-a-scalar", lambda net, tmp: _from_function(lambda p, x: {"a": x @ p["w"], "b": 3.0}),
     ModelDefinitionError, ["blob 'b'", "shape ()", "[B, H, W, C] maps, [B, N, D] tokens or [B, C] vectors"]),
    ("from_function-not-callable", lambda net, tmp: jaxvis.from_function({"a": 1}, W, spec=RGB64),
     ModelDefinitionError, ["apply_fn", "dict"]),
    ("from_function-params-not-arrays", lambda net, tmp: jaxvis.from_function(lambda p, x: {"a": x}, {"w": "big"},
                                                                              spec=RGB64),
     WeightsFileError, ["params", "str"]),
    ("from_function-spec-not-a-spec", lambda net, tmp: jaxvis.from_function(lambda p, x: {"a": x}, W, spec=(64, 64)),
     ConfigError, ["spec", "PreprocessSpec", "tuple"]),
    ("from_function-unknown-class-layer",
     lambda net, tmp: _from_function(lambda p, x: {"a": x @ p["w"], "fc": x.mean((1, 2))}, class_layer="logits"),
     ModelDefinitionError, ["class_layer 'logits'", "not one of its blobs", "a, fc"]),
    ("from_flax-unknown-class-layer",
     lambda net, tmp: jaxvis.from_flax(_Flat(), _variables(_Flat()), spec=RGB64, class_layer="logits"),
     ModelDefinitionError, ["_Flat", "class_layer 'logits'", "its blobs are: conv, relu, fc"]),
    ("from_flax-class-layer-is-a-map",
     lambda net, tmp: jaxvis.from_flax(_Flat(), _variables(_Flat()), spec=RGB64, class_layer="conv"),
     ModelDefinitionError, ["class_layer 'conv'", "vector blob", "(64, 64, 4)"]),
    ("from_flax-unknown-prob-layer",
     lambda net, tmp: jaxvis.from_flax(_Flat(), _variables(_Flat()), spec=RGB64, prob_layer="prob"),
     ModelDefinitionError, ["prob_layer 'prob'", "conv, relu, fc"]),
    ("from_flax-not-a-module", lambda net, tmp: jaxvis.from_flax(lambda x: x, {"params": {}}, spec=RGB64, name="mine"),
     ModelDefinitionError, ["mine", "flax.linen Module", "function"]),
    ("from_flax-variables-of-another-width",
     lambda net, tmp: jaxvis.from_flax(_Conv(4), _variables(_Conv(8)), spec=RGB64),
     WeightsFileError, ["['params']['conv']['kernel']", "(3, 3, 3, 8)", "expects (3, 3, 3, 4)"]),
    ("from_flax-variables-missing",
     lambda net, tmp: jaxvis.from_flax(_Flat(), {"params": {"conv": _variables(_Flat())["params"]["conv"]}},
                                       spec=RGB64),
     WeightsFileError, ["do not fit", "missing ['params']['fc']['bias'], ['params']['fc']['kernel']"]),
    ("from_flax-variables-unexpected",
     lambda net, tmp: jaxvis.from_flax(_Conv(4), {"params": {**_variables(_Conv(4))["params"], "fc": {"b": X}}},
                                       spec=RGB64),
     WeightsFileError, ["do not fit", "unexpected ['params']['fc']['b']"]),
    ("from_flax-variables-without-params",
     lambda net, tmp: jaxvis.from_flax(_Conv(4), _variables(_Conv(4))["params"], spec=RGB64),
     WeightsFileError, ["'params' collection"]),
    ("from_flax-spec-smaller-than-the-module",  # variables of a Dense on the flattened 64x64 map
     lambda net, tmp: jaxvis.from_flax(_Flat(), _variables(_Flat()), spec=RGB8),
     ModelDefinitionError, ["[B, 8, 8, 3]", "input_size"]),
    ("from_flax-module-takes-one-channel",
     lambda net, tmp: jaxvis.from_flax(_Gray(), _variables(_Gray(), channels=1), spec=RGB64),
     ModelDefinitionError, ["_Gray", "[B, 64, 64, 3]", "input_size"]),
    ("from_function-spec-smaller-than-the-function",
     lambda net, tmp: jaxvis.from_function(lambda p, x: {"fc": x.reshape(x.shape[0], -1) @ p["w"]},
                                           {"w": np.zeros((64 * 64 * 3, 10), np.float32)}, spec=RGB8).layer_names,
     ModelDefinitionError, ["[B, 8, 8, 3]", "input_size 8x8"]),
    ("plugin-module-missing", lambda net, tmp: jaxvis.load_model("jaxvis_no_such_module.nets:make_net"),
     UnknownModelError, ["'jaxvis_no_such_module.nets'", "make_net", "does not import"]),
    ("plugin-module-import-fails",
     lambda net, tmp: _plugin(tmp, "jaxvis_plugin_needs", "import jaxvis_not_installed\n"),
     UnknownModelError, ["'jaxvis_plugin_needs'", "does not import", "jaxvis_not_installed"]),
    ("plugin-module-raises", lambda net, tmp: _plugin(tmp, "jaxvis_plugin_raises", "raise RuntimeError('no GPU')\n"),
     UnknownModelError, ["'jaxvis_plugin_raises'", "does not import", "no GPU"]),
    ("plugin-attribute-missing", lambda net, tmp: jaxvis.load_model("jaxvis.own_network:make_net"),
     UnknownModelError, ["'jaxvis.own_network'", "no attribute 'make_net'"]),
    ("plugin-attribute-missing-in-file", lambda net, tmp: _plugin(tmp, "jaxvis_plugin_empty", "X = 1\n", "make"),
     UnknownModelError, ["'jaxvis_plugin_empty'", "no attribute 'make'"]),
    ("plugin-attribute-not-callable", lambda net, tmp: _plugin(tmp, "jaxvis_plugin_value", "make_net = 3\n"),
     UnknownModelError, ["jaxvis_plugin_value.make_net", "int"]),
    ("plugin-returns-no-net", lambda net, tmp: _plugin(tmp, "jaxvis_plugin_none", "def make_net():\n    return 3\n"),
     ModelDefinitionError, ["jaxvis_plugin_none.make_net()", "int", "jaxvis.Net"]),
    ("load_model-torchvision_resnet50-wrong-keys",
     lambda net, tmp: jaxvis.load_model("torchvision_resnet50", weights=_state_dict(
         tmp, {"conv1.weight": np.zeros((64, 3, 7, 7)), "head.weight": np.zeros((2, 2))})),
     WeightsFileError, ["resnet.safetensors", "not a torchvision ResNet-50 state dict",
                        "missing keys: 266 (bn1.weight, bn1.bias", "unexpected keys: 1 (head.weight)"]),
    ("load_model-torchvision_resnet50-module-prefix",  # "module." is dropped: the same keys are missing
     lambda net, tmp: jaxvis.load_model("torchvision_resnet50", weights=_state_dict(
         tmp, {"module.conv1.weight": np.zeros((64, 3, 7, 7)), "module.fc.bias": np.zeros(1000)})),
     WeightsFileError, ["missing keys: 265 (bn1.weight", "layer1.0.conv1.weight"]),
]

# (id, call(net, tmp_path), error class, substrings of the message)
API_CASES = [
    ("load_model-unknown-name", lambda net, tmp: jaxvis.load_model("resnet9000"),
     UnknownModelError, ["'resnet9000'", "known models: caffenet"]),
    ("load_model-not-a-name", lambda net, tmp: jaxvis.load_model(None), UnknownModelError, ["NoneType"]),
    ("load_model-missing-weights", lambda net, tmp: jaxvis.load_model("demo", weights=str(tmp / "gone.pth")),
     WeightsFileError, ["gone.pth", "does not exist"]),
    ("load_model-missing-mean", lambda net, tmp: jaxvis.load_model("demo", mean=str(tmp / "mean.npy")),
     WeightsFileError, ["mean.npy", "does not exist"]),
    ("load_model-bad-mean", lambda net, tmp: jaxvis.load_model("demo", mean=("a", "b", "c")),
     WeightsFileError, ["mean", "('a', 'b', 'c')"]),
    ("load_model-missing-class-names", lambda net, tmp: jaxvis.load_model("demo", class_names=str(tmp / "w.txt")),
     WeightsFileError, ["w.txt", "does not exist"]),
    ("load_model-group-impl", lambda net, tmp: jaxvis.load_model("demo", group_impl="fused"),
     ConfigError, ["group_impl", "'fused'"]),
    ("Net-group-impl", lambda net, tmp: jaxvis.Net(net.definition, net.params, net.spec, "fused"),
     ConfigError, ["group_impl", "'fused'"]),
    ("get_model_def-unhashable", lambda net, tmp: jaxvis.get_model_def(["demo"]), UnknownModelError, ["['demo']"]),
    ("get_model_def-unknown", lambda net, tmp: jaxvis.get_model_def("vgg99"), UnknownModelError, ["'vgg99'"]),
    ("ModelDef-groups", lambda net, tmp: ModelDef("bad", (L.Conv("c1", 8, 5, groups=2),), net.spec, ""),
     ModelDefinitionError, ["c1", "2 groups", "3 input channels"]),
    ("ModelDef-window", lambda net, tmp: ModelDef("bad", (L.MaxPool("p1", 99, 2),), net.spec, ""),
     ModelDefinitionError, ["p1", "pooling window 99"]),
    ("preprocess-dtype", lambda net, tmp: net.preprocess(IMAGES.astype(np.float32)),
     InputImageError, ["uint8", "float32"]),
    ("preprocess-channels", lambda net, tmp: net.preprocess(np.zeros((2, 8, 8, 4), np.uint8)),
     InputImageError, ["[B, H, W, 3]", "(2, 8, 8, 4)"]),
    ("preprocess-ragged-list", lambda net, tmp: net.preprocess([[0, 1], [2]]), InputImageError, ["list"]),
    ("preprocess-empty-image", lambda net, tmp: net.preprocess(np.zeros((1, 0, 8, 3), np.uint8)),
     InputImageError, ["(1, 0, 8, 3)"]),
    ("blobs-shape", lambda net, tmp: net.blobs(np.zeros((1, 32, 32, 3), np.float32)),
     InputImageError, ["[B, 64, 64, 3]", "(1, 32, 32, 3)"]),
    ("blobs-not-numeric", lambda net, tmp: net.blobs("cat.png"), InputImageError, ["[B, 64, 64, 3]", "str"]),
    ("blobs-unknown-until", lambda net, tmp: net.blobs(X, until="conv9"), UnitError, ["'conv9'", "conv1, relu1"]),
    ("visualize-unknown-layer", lambda net, tmp: jaxvis.visualize(net, [("conv9", 0)], steps=1, restarts=1),
     UnitError, ["'conv9'"]),
    ("visualize-unit-out-of-range", lambda net, tmp: jaxvis.visualize(net, [("fc8", 10)], steps=1, restarts=1),
     UnitError, ["'fc8'", "channels 0..9", "got 10"]),
    ("visualize-location-out-of-range", lambda net, tmp: jaxvis.visualize(net, [("conv1", 0, 99, 0)], steps=1),
     UnitError, ["'conv1'", "got (99, 0)"]),
    ("visualize-unit-not-a-tuple", lambda net, tmp: jaxvis.visualize(net, [("fc8", "three")], steps=1),
     UnitError, ["('fc8', 'three')"]),
    ("visualize-unknown-preset", lambda net, tmp: jaxvis.visualize(net, [("fc8", 0)], preset="row9"),
     ConfigError, ["'row9'", "row1, row2"]),
    ("visualize-unknown-override", lambda net, tmp: jaxvis.visualize(net, [("fc8", 0)], stepz=3),
     ConfigError, ["stepz", "known: steps"]),
    ("visualize-negative-steps", lambda net, tmp: jaxvis.visualize(net, [("fc8", 0)], steps=-1),
     ConfigError, ["steps", "-1"]),
    ("visualize-bad-lr-policy", lambda net, tmp: jaxvis.visualize(net, [("fc8", 0)], lr_policy="sometimes"),
     ConfigError, ["lr_policy", "sometimes"]),
    ("visualize-bad-percentile", lambda net, tmp: jaxvis.visualize(net, [("fc8", 0)], norm_pct=150.0),
     ConfigError, ["norm_pct", "150"]),
    ("visualize-non-numeric-override", lambda net, tmp: jaxvis.visualize(net, [("fc8", 0)], decay="lots"),
     ConfigError, ["decay", "'lots'"]),
    ("visualize-restarts", lambda net, tmp: jaxvis.visualize(net, [("fc8", 0)], restarts=0),
     ConfigError, ["restarts", "got 0"]),
    ("preset-unknown", lambda net, tmp: jaxvis.preset("row9"), ConfigError, ["'row9'"]),
    ("project-image-shape", lambda net, tmp: jaxvis.project(net, np.zeros((1, 32, 32, 3)), "conv1", 0),
     InputImageError, ["[B, 64, 64, 3]", "(1, 32, 32, 3)"]),
    ("project-unknown-mode", lambda net, tmp: jaxvis.project(net, X, "conv1", 0, mode="sideways"),
     ConfigError, ["'sideways'", "backprop, deconv, guided"]),
    ("project-unknown-seed", lambda net, tmp: jaxvis.project(net, X, "conv1", 0, seed_with="twos"),
     ConfigError, ["seed_with", "'twos'", "activation, ones"]),
    ("project-channel-not-integer", lambda net, tmp: jaxvis.project(net, X, "conv1", 1.5),
     UnitError, ["channel", "integers", "1.5"]),
    ("project-location-shape", lambda net, tmp: jaxvis.project(net, X, "conv1", 0, at=(1, 2, 3)),
     UnitError, ["at", "(y, x)", "(3,)"]),
    ("project-location-out-of-map", lambda net, tmp: jaxvis.project(net, X, "conv3", 0, at=(16, 0)),
     UnitError, ["'conv3'", "16x16", "(16, 0)"]),
    ("project-unknown-layer", lambda net, tmp: jaxvis.project(net, X, "conv9", 0), UnitError, ["'conv9'"]),
    ("project-channel-out-of-range", lambda net, tmp: jaxvis.project(net, X, "conv1", 99),
     UnitError, ["'conv1'", "got 99"]),
    ("projection_fn-unknown-mode", lambda net, tmp: jaxvis.projection_fn(net, "conv1", mode="sideways")(
        net.params, X, np.zeros(1, np.int32), np.zeros((1, 2), np.int32)), ConfigError, ["'sideways'", "deconv"]),
    ("render_projection-unknown-rendering", lambda net, tmp: jaxvis.render_projection(X, "sepia"),
     ConfigError, ["'sepia'", "raw, gray, norm, normblur"]),
    ("render_projection-rank", lambda net, tmp: jaxvis.render_projection(np.zeros((4, 4)), "raw"),
     InputImageError, ["render_projection", "(4, 4)"]),
    ("render_projection-raw-channels", lambda net, tmp: jaxvis.render_projection(np.zeros((1, 4, 4, 5)), "raw"),
     InputImageError, ["raw", "(1, 4, 4, 5)"]),
    ("render_projection-channel-order", lambda net, tmp: jaxvis.render_projection(X, "raw", channel_order="GRB"),
     ConfigError, ["channel_order", "'GRB'"]),
    ("save_png-dtype", lambda net, tmp: jaxvis.save_png(np.zeros((4, 4, 3), np.float32), tmp / "a.png"),
     InputImageError, ["save_png", "float32"]),
    ("save_png-batch", lambda net, tmp: jaxvis.save_png(IMAGES, tmp / "a.png"),
     InputImageError, ["save_png", "(2, 4, 4, 3)"]),
    ("save_png-path-is-a-folder", lambda net, tmp: jaxvis.save_png(IMAGES[0], tmp), ConfigError,
     ["save_png", "is a directory"]),
    ("save_png-scale", lambda net, tmp: jaxvis.save_png(IMAGES[0], tmp / "a.png", scale=0),
     ConfigError, ["scale", "got 0"]),
    ("unit_grid-shape", lambda net, tmp: jaxvis.unit_grid(np.zeros((2, 4, 4), np.uint8)),
     InputImageError, ["unit_grid", "(2, 4, 4)"]),
    ("grid-single-image", lambda net, tmp: jaxvis.grid(IMAGES[0]), InputImageError, ["grid", "(4, 4, 3)"]),
    ("grid-cols", lambda net, tmp: jaxvis.grid(IMAGES, cols=-1), ConfigError, ["cols", "-1"]),
    ("montage-dtype", lambda net, tmp: jaxvis.montage(IMAGES.astype(np.float64)),
     InputImageError, ["montage", "float64"]),
    ("shapes-negative-seed", lambda net, tmp: jaxvis.shapes.make_sample(-1, 0), ConfigError, ["seed", "-1"]),
    ("shapes-negative-count", lambda net, tmp: jaxvis.shapes.make_batch(0, 0, -5), ConfigError, ["count", "-5"]),
    ("hosts-incomplete-flags", lambda net, tmp: hosts.initialize(False, "localhost:1234", 0, -1),
     ConfigError, ["--num_processes", "'localhost:1234'"]),
    ("visualize-job_config-unknown-field", lambda net, tmp: visualize_job.job_config(layerz=("fc8",)),
     ConfigError, ["layerz", "layers"]),
    ("load_config-missing-file", lambda net, tmp: jaxvis.load_config(str(tmp / "nope.py")),
     ConfigError, ["nope.py", "does not exist"]),
    ("load_config-not-python", lambda net, tmp: jaxvis.load_config("configs/topk_demo.yaml"),
     ConfigError, ["topk_demo.yaml", "FILE.py"]),
    ("load_config-unknown-field", lambda net, tmp: jaxvis.load_config("configs/topk_demo.py", imagez=3),
     ConfigError, ["'imagez'", "images"]),
    ("load_config-field-type", lambda net, tmp: jaxvis.load_config("configs/topk_demo.py", images="many"),
     ConfigError, ["'images'", "many"]),
    *OWN_NETWORK_CASES,
]


@pytest.mark.parametrize("call,exc_type,needles", [c[1:] for c in API_CASES], ids=[c[0] for c in API_CASES])
def test_api_refuses_bad_input(net, tmp_path, monkeypatch, call, exc_type, needles):
    monkeypatch.chdir(ROOT)  # load_config cases name configs/ relative to the repository
    with pytest.raises(exc_type) as excinfo:
        call(net, tmp_path)
    check(excinfo, exc_type, *needles)


def _evolution_dir(tmp):
    """A training run's evolution folder holding one checkpoint (the shipped demo weights)."""
    d = tmp / "evolution"
    d.mkdir()
    os.symlink(DEMO_WEIGHTS, d / "epoch_001")
    return str(d)


RUNNERS = {
    "visualize": ("demo.py", jaxvis.run_visualize), "search": ("search.py", jaxvis.run_search),
    "topk": ("topk_demo.py", jaxvis.run_topk), "occlusion": ("occlusion_demo.py", jaxvis.run_occlusion),
    "invariance": ("invariance_demo.py", jaxvis.run_invariance),
    "correspondence": ("correspondence_demo.py", jaxvis.run_correspondence),
    "evolution": ("evolution_demo.py", jaxvis.run_evolution), "train": ("demo_train.py", trainer.train_and_evaluate),
}
MISSING = "__missing__"  # replaced by a path under tmp_path that does not exist

# (job, {field: value}, error class, substrings of the message)
JOB_CASES = [
    ("visualize", {"model": "resnet9000"}, UnknownModelError, ["config.model", "'resnet9000'"]),
    ("visualize", {"weights": MISSING}, WeightsFileError, ["config.weights", "does not exist"]),
    ("visualize", {"layers": ("conv1", "conv9")}, UnitError, ["config.layers", "'conv9'", "conv1, relu1"]),
    ("visualize", {"presets": ("row9",)}, ConfigError, ["config.presets", "'row9'"]),
    ("visualize", {"restarts": 0}, ConfigError, ["config.restarts", "0 is not an integer >= 1"]),
    ("visualize", {"steps": -5}, ConfigError, ["config.steps", "-5"]),
    ("visualize", {"chunk_units": 0}, ConfigError, ["config.chunk_units"]),
    ("search", {"probes": ("fc8",)}, ConfigError, ["config.probes", "'fc8'", "'layer:channel'"]),
    ("search", {"probes": ("conv9:0",)}, UnitError, ["config.probes", "'conv9'"]),
    ("search", {"probes": ("fc8:10",)}, UnitError, ["config.probes", "channels 0..9"]),
    ("search", {"judge": "nobody"}, UnknownModelError, ["config.judge", "'nobody'"]),
    ("search", {"export_by": "beauty"}, ConfigError, ["config.export_by", "'beauty'", "recognisability"]),
    ("search", {"export": ("c999",)}, ConfigError, ["config.export", "c999"]),
    ("search", {"combinations": -1}, ConfigError, ["config.combinations", "-1"]),
    ("search", {"steps": 0}, ConfigError, ["config.steps"]),
    ("topk", {"mode": "sideways"}, ConfigError, ["config.mode", "'sideways'", "backprop, deconv, guided"]),
    ("topk", {"images": 0}, ConfigError, ["config.images", "0 is not an integer >= 1"]),
    ("topk", {"source": MISSING}, ConfigError, ["config.source", "__missing__"]),
    ("topk", {"layers": ("conv9",)}, UnitError, ["config.layers", "'conv9'"]),
    ("topk", {"k": 0}, ConfigError, ["config.k"]),
    ("topk", {"save_every": 0}, ConfigError, ["config.save_every"]),
    ("topk", {"optimized": MISSING}, ConfigError, ["config.optimized", "__missing__"]),
    ("occlusion", {"fill": "blur"}, ConfigError, ["config.fill", "'blur'", "mean, noise"]),
    ("occlusion", {"size": 100}, ConfigError, ["config.size", "100", "1..64"]),
    ("occlusion", {"stride": 0}, ConfigError, ["config.stride"]),
    ("occlusion", {"layer": "fc8"}, UnitError, ["config.layer", "'fc8'", "fully connected"]),
    ("occlusion", {"images": -3}, ConfigError, ["config.images", "-3"]),
    ("occlusion", {"source": MISSING}, ConfigError, ["config.source"]),
    ("invariance", {"layers": ("conv1",)}, ConfigError, ["config.layers", "two layers"]),
    ("invariance", {"layers": ("conv1", "fc9")}, UnitError, ["config.layers", "'fc9'"]),
    ("invariance", {"images": 0}, ConfigError, ["config.images"]),
    ("invariance", {"shift_step": 0}, ConfigError, ["config.shift_step"]),
    ("invariance", {"min_scale": 0.0}, ConfigError, ["config.min_scale"]),
    ("correspondence", {"parts": ("arrow",)}, ConfigError, ["config.parts", "'arrow'", "'class:part'"]),
    ("correspondence", {"parts": ("dragon:wing",)}, ConfigError, ["config.parts", "'dragon'", "arrow"]),
    ("correspondence", {"parts": ("arrow:nose",)}, ConfigError, ["config.parts", "'nose'", "tip, tail"]),
    ("correspondence", {"parts_file": MISSING}, ConfigError, ["config.parts_file", "does not exist"]),
    ("correspondence", {"layers": ("relu5", "relu9")}, UnitError, ["config.layers", "'relu9'"]),
    ("correspondence", {"images_per_part": 1}, ConfigError, ["config.images_per_part", ">= 2"]),
    ("evolution", {"evolution_dir": MISSING}, ConfigError, ["config.evolution_dir", "does not exist"]),
    ("evolution", {"layers": ("conv9",)}, UnitError, ["config.layers", "'conv9'"]),
    ("evolution", {"units_per_layer": 0}, ConfigError, ["config.units_per_layer"]),
    ("evolution", {"images": 0}, ConfigError, ["config.images"]),
    ("train", {"model": "resnet9000"}, UnknownModelError, ["config.model", "'resnet9000'"]),
    ("train", {"model": "caffenet"}, ConfigError, ["config.model", "caffenet", "'fc8'", "10 units"]),
    ("train", {"batch_size": 0}, ConfigError, ["config.batch_size"]),
    ("train", {"images_per_epoch": 10}, ConfigError, ["config.images_per_epoch", "batch_size 64"]),
    ("train", {"epochs": 0}, ConfigError, ["config.epochs"]),
    ("train", {"warmup_steps": 100000}, ConfigError, ["config.warmup_steps", "100000"]),
    ("train", {"learning_rate": 0.0}, ConfigError, ["config.learning_rate"]),
    ("train", {"export_epochs": (0, 2)}, ConfigError, ["config.export_epochs"]),
]


def _job_id(case):
    job, fields, _, _ = case
    return f"{job}-" + "-".join(f"{k}={v!r}".replace(" ", "") for k, v in fields.items())


@pytest.mark.parametrize("job,fields,exc_type,needles", JOB_CASES, ids=[_job_id(c) for c in JOB_CASES])
def test_job_config_is_checked_before_anything_runs(tmp_path, job, fields, exc_type, needles):
    config_file, run = RUNNERS[job]
    fields = {k: str(tmp_path / MISSING) if v == MISSING else v for k, v in fields.items()}
    if job == "evolution" and "evolution_dir" not in fields:
        fields["evolution_dir"] = _evolution_dir(tmp_path)
    config = jaxvis.load_config(os.path.join(ROOT, "configs", config_file), **fields)
    workdir = tmp_path / "workdir"
    with pytest.raises(exc_type) as excinfo:
        run(config, str(workdir))
    check(excinfo, exc_type, *needles)
    assert not workdir.exists(), "a refused config must not claim its workdir"


def test_job_config_missing_a_field_is_named(tmp_path):
    config = jaxvis.load_config(os.path.join(ROOT, "configs", "topk_demo.py"))
    del config["mode"]
    with pytest.raises(ConfigError) as excinfo:
        jaxvis.run_topk(config, str(tmp_path / "w"))
    check(excinfo, ConfigError, "config.mode", "missing")


def _cli(*args):
    jaxvis_bin = os.path.join(os.path.dirname(sys.executable), "jaxvis")
    command = [jaxvis_bin] if os.path.isfile(jaxvis_bin) else [sys.executable, "-m", "jaxvis.cli.main"]
    return subprocess.run([*command, *args], capture_output=True, text=True, timeout=300, cwd=ROOT)


def _one_line_error(result, prefix):
    assert result.returncode == 1, (result.returncode, result.stderr[-2000:])
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(prefix), result.stderr[-2000:]
    return lines[0]


def test_live_on_a_port_in_use_prints_one_line_and_exits_1():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        line = _one_line_error(_cli("live", f"--port={port}"), "jaxvis live: error: ")
    assert f"127.0.0.1:{port}" in line and "--port" in line, line


@pytest.mark.parametrize("args,prefix,needles", [
    (["topk", "--config=configs/topk_demo.py", "--config.mode=sideways"], "jaxvis topk: error: ",
     ["config.mode", "'sideways'", "backprop, deconv, guided"]),
    (["inspect", "--model=resnet9000"], "jaxvis inspect: error: ", ["'resnet9000'", "known models"]),
    (["convert", "--model=demo", f"--weights={DEMO_WEIGHTS}"], "jaxvis convert: error: ",
     ["--out", "taken.txt", "is a file"]),
    (["live", "--topk=/no/such/workdir"], "jaxvis live: error: ", ["--topk", "'/no/such/workdir'", "not a folder"]),
    (["live", "--port=70000"], "jaxvis live: error: ", ["--port", "1..65535", "70000"]),
], ids=["topk-mode", "inspect-unknown-model", "convert-out-is-a-file", "live-topk-missing", "live-bad-port"])
def test_command_line_prints_one_line_and_exits_1(tmp_path, args, prefix, needles):
    if args[0] == "topk":
        args = [*args, f"--workdir={tmp_path / 'w'}"]
    if args[0] == "convert":
        (tmp_path / "taken.txt").write_text("not a model directory")
        args = [*args, f"--out={tmp_path / 'taken.txt'}"]
    line = _one_line_error(_cli(*args), prefix)
    for needle in needles:
        assert needle in line, (needle, line)
    assert not (tmp_path / "w").exists()
