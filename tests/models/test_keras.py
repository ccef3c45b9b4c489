"""Keras 3 networks in jaxvis (``jaxvis.from_keras``, JAX backend): a
Functional network written here as a Keras user writes one (a conv with a
fused ReLU, BatchNormalization, a residual Add, max pooling, a global
average pool, a 10-way Dense head) and a Sequential one (Dropout, Flatten,
a softmax head), checked against Keras itself and a hand-written copy:

- blob names, order, kinds, parameter counts and receptive fields as
  ``jaxvis/models/frameworks/keras.py`` documents them; blob values equal to
  Keras's own ``predict`` of a model whose outputs are the layers' outputs;
- ``jaxvis.project``: deconv, guided and backprop equal to the network
  rewritten in ``jax.lax`` ops with a ``jax.custom_vjp`` ReLU of each rule,
  backprop also equal to ``jax.vjp`` through Keras's ``stateless_call``;
- ``jaxvis.visualize`` on map and head units (values by Keras's predict),
  top-k, the live view, and the visualize job from the command line on the
  plugin ``examples.tiny_keras:make_net`` and on a ``.keras`` file;
- ``jaxvis.keras_preprocess`` against keras.applications' ``preprocess_input``;
- ``load_h5_weights`` on files Keras wrote itself (both formats);
- the inputs jaxvis refuses: a subclassed model, another backend, a model
  that does not fit the spec, a ``.keras`` file without a spec, ...
"""

import json
import os
import pathlib
import re
import subprocess
import sys

import jax
import jax.numpy as jnp
import keras
import numpy as np
import pytest
from jax import lax
from keras import layers

import jaxvis
from jaxvis.analysis import topk
from jaxvis.analysis.sources import GeneratedImages
from jaxvis.models.frameworks.keras import load_h5_weights
from tests.conftest import rel_err

REPO = pathlib.Path(__file__).resolve().parents[2]
BN_EPS = 1e-3  # Keras BatchNormalization's default epsilon
SPEC = jaxvis.PreprocessSpec(input_size=(64, 64), channel_order="RGB", scale=1 / 255,
                             mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225), resize=64,
                             class_names=jaxvis.shapes.CLASSES)

# --- The networks, as a Keras user writes them (no jaxvis in sight) --------------------------


def functional_net() -> keras.Model:
    """64x64 -> 4x4/2 conv + relu (32x32) -> BN -> 3x3/2 max pool (16x16) -> residual block -> mean -> 10."""
    image = keras.Input((64, 64, 3), name="image")
    x = layers.Conv2D(8, 4, strides=2, padding="same", activation="relu", name="stem")(image)
    x = layers.BatchNormalization(name="stem_bn")(x)
    x = layers.MaxPooling2D(3, strides=2, padding="same", name="pool")(x)
    y = layers.Conv2D(8, 3, padding="same", use_bias=False, name="conv1")(x)
    y = layers.BatchNormalization(name="bn1")(y)
    y = layers.ReLU(name="relu1")(y)
    y = layers.Conv2D(8, 3, padding="same", name="conv2")(y)
    x = layers.Activation("relu", name="block")(layers.Add(name="add")([x, y]))
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    return keras.Model(image, layers.Dense(10, name="head")(x), name="small_keras")


def sequential_net() -> keras.Model:
    return keras.Sequential([
        keras.Input((64, 64, 3)),
        layers.Conv2D(8, 5, strides=2, activation="relu", name="conv_a"),  # 30x30
        layers.MaxPooling2D(2, name="pool_a"),  # 15x15
        layers.Conv2D(16, 3, activation="relu", name="conv_b"),  # 13x13
        layers.Dropout(0.5, name="drop"),
        layers.Flatten(name="flat"),
        layers.Dense(10, activation="softmax", name="prob"),
    ], name="small_sequential")


def randomize(model, seed=0):
    """Random weights, BatchNormalization far from the identity (moving mean
    and variance, scale and offset all random)."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        for v in layer.weights:
            shape = tuple(v.shape)
            if v.name == "kernel":
                value = rng.normal(0.0, np.sqrt(2.0 / np.prod(shape[:-1])), shape)
            elif v.name == "moving_mean":
                value = rng.normal(0.0, 0.3, shape)
            elif v.name in ("moving_variance", "gamma"):
                value = rng.uniform(0.5, 1.5, shape)
            else:  # biases, beta
                value = rng.normal(0.0, 0.2, shape)
            v.assign(value.astype(np.float32))
    return model


FUNCTIONAL_BLOBS = ["stem/relu", "stem", "stem_bn", "pool", "conv1", "bn1", "relu1/relu", "relu1", "conv2", "add",
                    "block/relu", "block", "gap", "head"]
LAYERS = ["stem", "stem_bn", "pool", "conv1", "bn1", "relu1", "conv2", "add", "block", "gap", "head"]


@pytest.fixture(scope="module")
def model():
    return randomize(functional_net())


@pytest.fixture(scope="module")
def net(model):
    return jaxvis.from_keras(model, spec=SPEC, class_layer="head")


@pytest.fixture(scope="module")
def images():
    return jaxvis.shapes.make_batch(11, 0, 4)  # (uint8 [4, 64, 64, 3], labels [4])


def keras_outputs(model, names, x):
    """{layer: its output} by Keras's own predict (not jaxvis)."""
    probe = keras.Model(model.inputs, [model.get_layer(n).output for n in names])
    outputs = probe.predict(np.asarray(x), verbose=0)
    return dict(zip(names, outputs if len(names) > 1 else [outputs]))


# --- Blobs ----------------------------------------------------------------------------------


def test_functional_blobs_equal_keras_layer_outputs(model, net, images):
    assert list(net.layer_names) == FUNCTIONAL_BLOBS
    table = {info.name: info for info in net.table}
    assert {n: table[n].shape for n in ("stem", "pool", "conv2", "block", "gap", "head")} == {
        "stem": (32, 32, 8), "pool": (16, 16, 8), "conv2": (16, 16, 8), "block": (16, 16, 8), "gap": (8,),
        "head": (10,)}
    assert [table[n].kind for n in ("stem/relu", "stem", "stem_bn", "pool", "relu1", "gap", "head")] == [
        "relu", "conv", "norm", "pool", "relu", "avgpool", "fc"]
    assert net.default_layers() == ["stem", "conv1", "conv2", "head"]
    assert {n: table[n].params for n in LAYERS if table[n].params} == {
        n: model.get_layer(n).count_params() for n in LAYERS if model.get_layer(n).count_params()}
    assert net.num_parameters() == model.count_params()  # Keras's count: moving statistics included
    assert set(net.params) == {"stem", "stem_bn", "conv1", "bn1", "conv2", "head"}
    assert sorted(net.params["stem_bn"]) == ["beta", "gamma", "moving_mean", "moving_variance"]

    x = net.preprocess(images[0])
    blobs = {k: np.asarray(v) for k, v in net.blobs(x).items()}
    want = keras_outputs(model, LAYERS, x)
    for name in LAYERS:
        assert rel_err(blobs[name], want[name]) <= 1e-5, (name, rel_err(blobs[name], want[name]))
    # a layer's fused ReLU, a ReLU layer and an Activation("relu") layer: the ReLU blob is the layer's output
    for layer in ("stem", "relu1", "block"):
        np.testing.assert_array_equal(blobs[f"{layer}/relu"], blobs[layer])
    assert (blobs["stem"] == 0).any() and (want["add"] < 0).any()  # the ReLUs do cut something
    assert not np.allclose(blobs["stem_bn"], blobs["stem"], atol=0.05)  # BatchNorm is far from the identity


def test_receptive_fields_derived_by_hand(net):
    # stem 4x4/2 ('same': pad 1 each side): 4 px, stride 2; max pool 3x3/2: 4 + 2*2 = 8, stride 4; each 3x3
    # conv of the block adds 2*4: 16, 24; the shortcut (8 px) lies inside, so the sum keeps 24.
    fields = {info.name: (info.rf_size, info.rf_stride) for info in net.table}
    assert fields == {"stem/relu": (4, 2), "stem": (4, 2), "stem_bn": (4, 2), "pool": (8, 4), "conv1": (16, 4),
                      "bn1": (16, 4), "relu1/relu": (16, 4), "relu1": (16, 4), "conv2": (24, 4), "add": (24, 4),
                      "block/relu": (24, 4), "block": (24, 4), "gap": (None, None), "head": (None, None)}


def test_sequential_blobs_in_inference_mode(images):
    seq = randomize(sequential_net(), seed=1)
    net = jaxvis.from_keras(seq, spec=SPEC, prob_layer="prob")
    assert net.name == "small_sequential"
    assert list(net.layer_names) == ["conv_a/relu", "conv_a", "pool_a", "conv_b/relu", "conv_b", "drop", "flat",
                                     "prob"]
    x = net.preprocess(images[0])
    blobs = {k: np.asarray(v) for k, v in net.blobs(x).items()}
    want = keras_outputs(seq, ["conv_a", "pool_a", "conv_b", "drop", "flat", "prob"], x)
    for name, value in want.items():
        assert rel_err(blobs[name], value) <= 1e-5, (name, rel_err(blobs[name], value))
    np.testing.assert_array_equal(blobs["drop"], blobs["conv_b"])  # Dropout passes its input at inference
    np.testing.assert_allclose(blobs["prob"].sum(-1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(net.probabilities(net.blobs(x)), want["prob"], rtol=1e-5)


def test_a_shared_layer_and_a_nested_model(images):
    """A layer called twice gives a blob per call (``name``, ``name/call_1``);
    a model nested as a layer is one blob, its ReLUs named by its path."""
    image = keras.Input((64, 64, 3))
    shared = layers.Conv2D(3, 3, padding="same", name="shared")
    first = shared(image)
    second = shared(first)
    twice = randomize(keras.Model(image, layers.GlobalAveragePooling2D(name="gap")(second)), seed=2)
    net = jaxvis.from_keras(twice, spec=SPEC)
    assert net.layer_names == ("shared", "shared/call_1", "gap")
    assert net.layer("shared").params == 84 and net.layer("shared/call_1").params == 0
    x = net.preprocess(images[0][:2])
    want = keras.Model(image, [first, second]).predict(x, verbose=0)
    blobs = net.blobs(x)
    assert rel_err(blobs["shared"], want[0]) <= 1e-5 and rel_err(blobs["shared/call_1"], want[1]) <= 1e-5

    inner_in = keras.Input((64, 64, 3))
    inner = keras.Model(inner_in, layers.Conv2D(4, 3, activation="relu", name="conv")(inner_in), name="inner")
    outer = randomize(keras.Sequential([keras.Input((64, 64, 3)), inner, layers.Flatten(name="flat")]), seed=3)
    randomize(inner, seed=3)
    nested = jaxvis.from_keras(outer, spec=SPEC)
    assert nested.layer_names == ("inner/conv/relu", "inner", "flat")
    assert set(nested.params) == {"inner"} and sorted(nested.params["inner"]) == ["conv/bias", "conv/kernel"]
    assert rel_err(nested.blobs(x)["inner"], inner.predict(x, verbose=0)) <= 1e-5


def test_the_forward_is_a_pure_function_of_params(model, net, images):
    """net.apply takes the weights as arguments: other params give other
    blobs, the Keras model's own variables are neither read nor changed."""
    x = net.preprocess(images[0][:2])
    before = [np.array(v.value) for v in model.weights]
    doubled = jax.tree.map(lambda a: a * 2, net.params)
    head = np.asarray(jax.jit(net.apply)(doubled, x)["head"])
    assert rel_err(head, np.asarray(net.blobs(x)["head"])) > 0.1
    for v, old in zip(model.weights, before):
        np.testing.assert_array_equal(np.asarray(v.value), old)


# --- Projections ----------------------------------------------------------------------------


def _rule_relu(rule):
    """max(x, 0) whose backward is ``rule(x, g)``."""

    @jax.custom_vjp
    def relu(x):
        return jnp.maximum(x, 0.0)

    relu.defvjp(lambda x: (jnp.maximum(x, 0.0), x), lambda x, g: (rule(x, g),))
    return relu


RULES = {"deconv": lambda x, g: jnp.maximum(g, 0.0), "guided": lambda x, g: jnp.maximum(g, 0.0) * (x > 0),
         "backprop": lambda x, g: g * (x > 0)}


def _by_hand(weights, relu):
    """The model's blob ``block`` rewritten in lax ops, ReLU given; ``weights``: Keras's {layer: {name: array}}."""

    def conv(x, q, stride):
        y = lax.conv_general_dilated(x, q["kernel"], (stride, stride), "SAME",
                                     dimension_numbers=("NHWC", "HWIO", "NHWC"))
        return y + q["bias"] if "bias" in q else y

    def bn(x, q):
        return (x - q["moving_mean"]) * (q["gamma"] * lax.rsqrt(q["moving_variance"] + BN_EPS)) + q["beta"]

    def block(x):
        x = bn(relu(conv(x, weights["stem"], 2)), weights["stem_bn"])
        x = lax.reduce_window(x, -jnp.inf, lax.max, (1, 3, 3, 1), (1, 2, 2, 1), "SAME")
        y = relu(bn(conv(x, weights["conv1"], 1), weights["bn1"]))
        return relu(x + conv(y, weights["conv2"], 1))

    return block


def _seeded_vjp(fn, x, channels):
    """fn's vjp seeded, per image, with its own activation on one channel (projection.py's seed)."""
    out, pullback = jax.vjp(fn, x)
    seed = out * jax.nn.one_hot(channels, out.shape[-1], dtype=out.dtype)[:, None, None, :]
    return pullback(seed)[0]


def test_project_all_modes_equal_hand_written_backward(model, net, images):
    x = net.preprocess(images[0])
    channels = np.array([0, 3, 5, 7])
    got = {mode: jaxvis.project(net, x, "block", channels, mode=mode) for mode in RULES}
    weights = {layer.name: {v.name: jnp.asarray(v.value) for v in layer.weights} for layer in model.layers}
    sub = keras.Model(model.inputs, model.get_layer("block").output)  # Keras's own forward to the blob
    trainable = [v.value for v in sub.trainable_variables]
    non_trainable = [v.value for v in sub.non_trainable_variables]

    def keras_block(x):
        return sub.stateless_call(trainable, non_trainable, x, training=False)[0]

    @jax.jit
    def references(x, channels):
        want = {mode: _seeded_vjp(_by_hand(weights, _rule_relu(rule)), x, channels) for mode, rule in RULES.items()}
        return want, _seeded_vjp(keras_block, x, channels), _by_hand(weights, jax.nn.relu)(x), keras_block(x)

    want, keras_backprop, hand_forward, keras_forward = jax.tree.map(np.asarray, references(jnp.asarray(x),
                                                                                             channels))
    assert rel_err(hand_forward, keras_forward) < 1e-5  # the hand-written network is the Keras model
    for mode, value in got.items():
        assert value.shape == x.shape and np.abs(want[mode]).max() > 0, mode
        assert rel_err(value, want[mode]) < 1e-5, (mode, rel_err(value, want[mode]))
    assert rel_err(got["backprop"], keras_backprop) < 1e-5, rel_err(got["backprop"], keras_backprop)
    # the three rules differ on this network: the ReLU rule really was substituted, fused ReLU included
    assert rel_err(got["deconv"], got["backprop"]) > 0.03 and rel_err(got["guided"], got["backprop"]) > 0.03


def test_deconv_sees_the_fused_relu_of_the_first_layer(net, images):
    """At the stem (a Conv2D with activation="relu") deconv is the transposed
    convolution of relu(upstream): no ReLU mask of the forward's sign."""
    x = net.preprocess(images[0][:2])
    weights = net.params["stem"]
    got = jaxvis.project(net, x, "stem", [1, 6], mode="deconv")

    def stem(x):
        y = lax.conv_general_dilated(x, weights["kernel"], (2, 2), "SAME",
                                     dimension_numbers=("NHWC", "HWIO", "NHWC"))
        return _rule_relu(RULES["deconv"])(y + weights["bias"])

    want = np.asarray(_seeded_vjp(stem, jnp.asarray(x), np.array([1, 6])))
    assert rel_err(got, want) < 1e-5, rel_err(got, want)


# --- Optimized images, top-k, the live view -------------------------------------------------


def test_visualize_map_and_head_units(model, net):
    units = [("conv2", 2), ("block", 5, 3, 12), ("head", 4)]
    res = jaxvis.visualize(net, units=units, restarts=2, steps=12)
    assert res.units == [("conv2", 2, 8, 8), ("block", 5, 3, 12), ("head", 4, 0, 0)]
    assert res.images.shape == (3, 2, 64, 64, 3) and res.images.dtype == np.uint8
    assert np.isfinite(res.trace).all() and (res.failed_step == -1).all()
    assert (res.best_value > res.trace[..., 0]).all(), (res.best_value, res.trace[..., 0])
    want = keras_outputs(model, ["conv2", "block", "head"], res.x.reshape(6, 64, 64, 3))  # Keras's own numbers
    for u, (layer, c, y, x) in enumerate(res.units):
        blob = want[layer][2 * u: 2 * u + 2]
        got = blob[:, y, x, c] if blob.ndim == 4 else blob[:, c]
        np.testing.assert_allclose(got, res.best_value[u], rtol=1e-4, atol=1e-4)


def test_topk_over_generated_images(model, net):
    layer, count, k, channels = "block", 40, 3, 8
    source = GeneratedImages(seed=4, count=count)
    top = topk.empty(channels, k)
    for lo in range(0, count, 20):  # two batches: the merge crosses them
        batch, valid = source.batch(lo, lo + 20)
        maxima = topk.channel_maxima(net, net.preprocess(batch), (layer,))
        top = topk.merge(top, *maxima[layer], np.arange(lo, lo + 20), valid)
    all_images, _ = source.batch(0, count)
    per_image = keras_outputs(model, [layer], net.preprocess(all_images))[layer].max(axis=(1, 2))  # [40, C]
    best = per_image.argmax(axis=0)
    assert len(set(best)) > 1
    np.testing.assert_array_equal(top["image"][:, 0], best)
    for c in range(channels):
        np.testing.assert_allclose(top["value"][c], np.sort(per_image[:, c])[::-1][:k], rtol=1e-5)


def test_live_view_frames_equal_the_batch_functions():
    from jaxvis.data import shapes
    from jaxvis.live.server import make_app
    from tests.live.test_protocol import assert_frame, expect, expected, png, select, session

    tiny = jaxvis.load_model("examples.tiny_keras:make_net")
    rgb = shapes.make_sample(9999, 5).image
    with session(make_app(tiny)) as ws:
        ws.send_bytes(png(rgb))
        assert expect(ws, "frame")["layer"] == "conv2"  # the default: the last convolution
        for layer, mode, rendering in (("stem", "deconv", "raw"), ("head", "guided", "norm")):
            want = expected(tiny, rgb, layer, 2, mode=mode, rendering=rendering)
            assert want["backward"].std() > 0
            selection = {"layer": layer, "unit": 2, "at": None, "mode": mode, "rendering": rendering}
            assert select(ws, **selection)["views"]["layer"] == layer
            assert_frame(expect(ws, "frame"), want, selection)


# --- .keras files and the command line ------------------------------------------------------


def cli(*args, cwd=REPO):
    return subprocess.run([sys.executable, "-m", "jaxvis.cli.main", *args], cwd=cwd, capture_output=True, check=False,
                          text=True, timeout=600)


@pytest.fixture(scope="module")
def keras_file(model, tmp_path_factory):
    path = tmp_path_factory.mktemp("keras") / "small.keras"
    model.save(path)
    return path


def test_a_keras_file_loads_wherever_a_model_name_does(net, keras_file, images, tmp_path):
    loaded = jaxvis.load_model(str(keras_file), spec=SPEC)
    assert loaded.name == "small" and loaded.definition.source == str(keras_file)
    assert loaded.layer_names == net.layer_names
    x = net.preprocess(images[0])
    for name, value in net.blobs(x).items():
        np.testing.assert_allclose(np.asarray(loaded.blobs(x)[name]), np.asarray(value), rtol=1e-6, atol=1e-6,
                                   err_msg=name)
    # a keras.applications mode: the spec at the model's own input size
    caffe = jaxvis.load_model(keras_file, spec="caffe")
    assert caffe.spec == jaxvis.keras_preprocess("caffe", (64, 64))
    as_json = jaxvis.load_model(keras_file, spec='{"channel_order": "RGB", "scale": 0.5, "class_names": ["a"]}')
    assert as_json.spec == jaxvis.PreprocessSpec((64, 64), "RGB", 0.5, class_names=("a",))
    # a model directory records the file and the spec; it reloads without either being given
    jaxvis.save_model(loaded, tmp_path / "m")
    again = jaxvis.load_model(tmp_path / "m")
    assert again.spec == jaxvis.PreprocessSpec.from_json(SPEC.to_json())  # as a model directory stores a spec
    assert again.definition.source == str(keras_file)
    for a, b in zip(jax.tree.leaves(again.params), jax.tree.leaves(loaded.params), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_visualize_job_on_the_keras_plugin_writes_the_gallery(tmp_path):
    workdir = tmp_path / "vis"
    r = cli("visualize", "--config=configs/demo.py", "--config.model=examples.tiny_keras:make_net",
            "--config.layers=('conv2','head')", "--config.restarts=1", "--config.steps=3", "--config.figure5_units=2",
            "--config.score_images=0", f"--workdir={workdir}")
    assert r.returncode == 0, r.stderr[-3000:]
    assert "26 units" in r.stdout, r.stdout
    metas = [json.loads(p.read_text()) for p in workdir.glob("units/**/meta.json")]
    assert sorted((m["layer"], m["channel"]) for m in metas) == [("conv2", c) for c in range(16)] + [
        ("head", c) for c in range(10)]
    assert {m["model"] for m in metas} == {"tiny_keras"} and all(np.isfinite(m["best_value"]).all() for m in metas)
    index = (workdir / "index.html").read_text()
    assert "conv2" in index and "head" in index


def test_visualize_job_on_a_keras_file_takes_the_spec_from_the_config(keras_file, tmp_path):
    common = ("visualize", "--config=configs/demo.py", f"--config.model={keras_file}", "--config.layers=('conv2',)",
              "--config.restarts=1", "--config.steps=2", "--config.figure5_units=2", "--config.score_images=0")
    r = cli(*common, f"--workdir={tmp_path / 'no_spec'}")
    assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1, r.stderr[-2000:]
    assert "config.model" in r.stderr and "records no preprocessing" in r.stderr and "--config.spec=" in r.stderr
    assert not (tmp_path / "no_spec").exists()  # refused before anything is written
    r = cli(*common, "--config.spec=caffe", f"--workdir={tmp_path / 'vis'}")
    assert r.returncode == 0, r.stderr[-3000:]
    assert "8 units" in r.stdout, r.stdout
    stored = json.loads((tmp_path / "vis" / "config.json").read_text())
    assert stored["spec"] == "caffe" and stored["model"] == str(keras_file)
    assert len(list((tmp_path / "vis").glob("units/**/meta.json"))) == 8


def test_inspect_and_convert_take_a_keras_file_with_its_spec(net, keras_file, images, tmp_path):
    r = cli("inspect", f"--model={keras_file}")
    assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1, r.stderr[-2000:]
    assert "records no preprocessing" in r.stderr and "--spec=caffe for jaxvis inspect" in r.stderr, r.stderr
    r = cli("inspect", f"--model={keras_file}", "--spec=caffe")
    assert r.returncode == 0, r.stderr[-3000:]
    table = [line.split()[0] for line in r.stdout.splitlines() if line.split() and line.split()[0] in net.layer_names]
    assert table == list(net.layer_names), r.stdout
    out = tmp_path / "converted"
    r = cli("convert", f"--model={keras_file}", '--spec={"channel_order": "RGB", "scale": 0.5}', f"--out={out}")
    assert r.returncode == 0, r.stderr[-3000:]
    converted = jaxvis.load_model(out)  # the directory records the file and the spec
    assert converted.spec == jaxvis.PreprocessSpec((64, 64), "RGB", 0.5)
    x = net.preprocess(images[0][:2])
    np.testing.assert_allclose(np.asarray(converted.blobs(x)["head"]), np.asarray(net.blobs(x)["head"]), rtol=1e-6,
                               atol=1e-6)


def test_config_spec_is_only_for_keras_files():
    from jaxvis import config_checks as checks
    from jaxvis.jobs.visualize_job import job_config

    with pytest.raises(jaxvis.ConfigError, match=r"config.spec: 'caffe' is the preprocessing of a Keras .keras "
                                                 r"model; config.model 'demo' carries its own"):
        checks.model(job_config(model="demo", spec="caffe"))
    with pytest.raises(jaxvis.ConfigError, match="spec is for a Keras .keras model"):
        jaxvis.load_model("demo", spec="caffe")


# --- keras_preprocess -----------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["caffe", "tf", "torch"])
def test_keras_preprocess_equals_keras_preprocess_input(mode, rgb_images):
    from keras.applications import imagenet_utils

    images = rgb_images(3, 40, 56)
    spec = jaxvis.keras_preprocess(mode, (40, 56))
    assert spec.input_size == (40, 56)
    net = jaxvis.from_function(lambda p, x: {"x": x}, {}, spec=spec)
    want = imagenet_utils.preprocess_input(images.astype(np.float32), mode=mode, data_format="channels_last")
    got = net.preprocess(images)
    assert rel_err(got, want) < 1e-6, rel_err(got, want)
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_keras_preprocess_refuses_what_it_cannot_mean():
    assert jaxvis.keras_preprocess("tf").input_size == (224, 224)
    assert jaxvis.keras_preprocess("torch", class_names=("a", "b")).class_names == ("a", "b")
    # ImageNet's conventions, so ImageNet's colour statistics unless the caller declares others
    assert {jaxvis.keras_preprocess(mode).color_statistics for mode in ("caffe", "tf", "torch")} == {"imagenet"}
    assert jaxvis.keras_preprocess("caffe", color_statistics=None).color_statistics is None
    assert jaxvis.keras_preprocess("tf", color_statistics="demo_world").color_statistics == "demo_world"
    with pytest.raises(jaxvis.ConfigError, match="unknown mode 'caffee'; expected one of caffe, tf, torch"):
        jaxvis.keras_preprocess("caffee")
    with pytest.raises(jaxvis.ConfigError, match="mode 'caffe' sets channel_order"):
        jaxvis.keras_preprocess("caffe", channel_order="RGB")
    with pytest.raises(jaxvis.ConfigError, match=r"input_size: expected \(height, width\)"):
        jaxvis.keras_preprocess("caffe", 224)


# --- Keras weights files by layer name ------------------------------------------------------


def _kernels(model):
    return {layer.name: [np.asarray(v.value) for v in layer.weights] for layer in model.layers if layer.weights}


@pytest.mark.parametrize("fmt", ["weights.h5", "legacy.h5"])
def test_load_h5_weights_reads_the_files_keras_writes(fmt, tmp_path):
    source, target = randomize(functional_net(), seed=3), randomize(functional_net(), seed=4)
    path = tmp_path / f"m.{fmt}"
    if fmt == "weights.h5":
        source.save_weights(path)  # Keras 3's own writer
    else:
        import h5py
        from keras.src.legacy.saving import legacy_h5_format

        with h5py.File(path, "w") as f:
            legacy_h5_format.save_weights_to_hdf5_group(f, source)  # Keras 2's layout, by Keras's own writer
    done = load_h5_weights(target, path)
    assert set(done.loaded) == set(_kernels(source)) and done.unused == ()
    want, got = _kernels(source), _kernels(target)
    for name in want:
        for a, b in zip(want[name], got[name], strict=True):
            np.testing.assert_array_equal(a, b)


def test_load_h5_weights_refuses_a_mismatch_and_assigns_nothing(tmp_path, monkeypatch):
    path = tmp_path / "m.weights.h5"
    randomize(functional_net(), seed=3).save_weights(path)
    image = keras.Input((64, 64, 3))
    wider = keras.Model(image, layers.Dense(4, name="head")(layers.Conv2D(16, 4, name="stem")(image)))
    before = _kernels(randomize(wider, seed=5))
    with pytest.raises(jaxvis.WeightsFileError, match=r"layer 'stem' holds weights of shapes \[\(4, 4, 3, 8\), "
                                                      r"\(8,\)\]; .*'s layer has \[\(4, 4, 3, 16\), \(16,\)\]"):
        load_h5_weights(wider, path)
    for name, arrays in _kernels(wider).items():
        for a, b in zip(arrays, before[name]):
            np.testing.assert_array_equal(a, b)
    # a layer that refuses its weights while they are assigned: the layers assigned before it are restored
    target = randomize(functional_net(), seed=6)
    before = _kernels(target)

    def refuse(store):
        raise ValueError("expected 3 variables")

    monkeypatch.setattr(target.get_layer("conv2"), "load_own_variables", refuse)
    with pytest.raises(jaxvis.WeightsFileError, match="layer 'conv2' does not take the file's weights: ValueError"):
        load_h5_weights(target, path)
    for name, arrays in _kernels(target).items():
        for a, b in zip(arrays, before[name]):
            np.testing.assert_array_equal(a, b, err_msg=name)
    other = keras.Model(image, layers.Conv2D(8, 4, name="not_in_the_file")(image))
    with pytest.raises(jaxvis.WeightsFileError, match="has no weights for layer.s. not_in_the_file"):
        load_h5_weights(other, path)
    with pytest.raises(jaxvis.WeightsFileError, match="does not exist"):
        load_h5_weights(other, tmp_path / "missing.weights.h5")


# --- What jaxvis refuses --------------------------------------------------------------------


class Subclassed(keras.Model):
    def __init__(self):
        super().__init__(name="subclassed")
        self.conv = layers.Conv2D(4, 3, activation="relu")

    def call(self, x):
        return self.conv(x)


def test_a_subclassed_model_says_what_to_do_instead():
    m = Subclassed()
    m(np.zeros((1, 64, 64, 3), np.float32))
    with pytest.raises(jaxvis.ConfigError) as err:
        jaxvis.from_keras(m, spec=SPEC)
    message = str(err.value)
    assert "subclassed keras.Model" in message and "no layer graph" in message
    assert "keras.Model(inputs, outputs)" in message and "jaxvis.from_function" in message
    assert "stateless_call" in message


def _two_inputs():
    a, b = keras.Input((64, 64, 3)), keras.Input((64, 64, 3))
    return keras.Model([a, b], layers.Add()([a, b]))


def _gray():
    image = keras.Input((64, 64, 1))
    return keras.Model(image, layers.Conv2D(2, 3)(image))


def _fixed_32():
    image = keras.Input((32, 32, 3))
    return keras.Model(image, layers.Conv2D(2, 3)(image))


@pytest.mark.parametrize("make,spec,error,needle", [
    (lambda: "not a model", SPEC, jaxvis.ModelDefinitionError, "from_keras takes a keras.Model"),
    (lambda: layers.Dense(3), SPEC, jaxvis.ModelDefinitionError, "from_keras takes a keras.Model"),
    (lambda: keras.Sequential([layers.Dense(3)]), SPEC, jaxvis.ConfigError,
     r"the Sequential model has no input yet; start it with keras.Input\(\(H, W, 3\)\)"),
    (_two_inputs, SPEC, jaxvis.ModelDefinitionError, "the model has 2 inputs"),
    (_gray, SPEC, jaxvis.ModelDefinitionError, r"input has shape \(None, 64, 64, 1\); .*\[B, H, W, 3\]"),
    (_fixed_32, SPEC, jaxvis.ModelDefinitionError, r"takes \[B, 32, 32, 3\] images; the spec's input_size is 64x64"),
    (functional_net, "caffe", jaxvis.ConfigError, "spec must be a jaxvis.PreprocessSpec"),
])
def test_bad_inputs_name_the_thing_and_what_was_expected(make, spec, error, needle):
    with pytest.raises(error, match=needle):
        jaxvis.from_keras(make(), spec=spec)


def test_a_keras_file_needs_a_spec_and_must_exist(keras_file, tmp_path):
    with pytest.raises(jaxvis.ConfigError, match=r"a .keras file records no preprocessing; give its spec: "
                                                 r"jaxvis.load_model\(.*spec=jaxvis.keras_preprocess\('caffe'\)"):
        jaxvis.load_model(str(keras_file))
    with pytest.raises(jaxvis.UnknownModelError, match="Keras model file .* does not exist"):
        jaxvis.load_model(str(tmp_path / "missing.keras"), spec="caffe")
    with pytest.raises(jaxvis.ConfigError, match="'cafe' is not a preprocessing spec"):
        jaxvis.load_model(str(keras_file), spec="cafe")
    with pytest.raises(jaxvis.ConfigError, match="unknown PreprocessSpec field.s. colour"):
        jaxvis.load_model(str(keras_file), spec={"colour": "RGB"})
    (tmp_path / "broken.keras").write_bytes(b"not a zip")
    with pytest.raises(jaxvis.ModelDefinitionError, match="Keras cannot rebuild the model"):
        jaxvis.load_model(str(tmp_path / "broken.keras"), spec="caffe")


def test_keras_on_another_backend_says_to_set_keras_backend():
    code = ("import keras, jaxvis\n"
            "try:\n"
            "    jaxvis.from_keras(None, spec=jaxvis.keras_preprocess('caffe'))\n"
            "except jaxvis.ConfigError as e:\n"
            "    print(e)\n")
    env = {**os.environ, "KERAS_BACKEND": "numpy"}
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert re.search(r"Keras runs on the 'numpy' backend; .*set KERAS_BACKEND=jax before importing keras", r.stdout), \
        r.stdout
