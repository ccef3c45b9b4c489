"""An Equinox network in jaxvis: a model written here, knowing nothing of
jaxvis (per example, channels first, as Equinox layers are: conv, BatchNorm
threading an ``eqx.nn.State``, ReLU, ``eqx.nn.MaxPool2d``, one residual
block in a list, a linear head on a global average pool; built in training
mode), through ``jaxvis.from_equinox(model, state, class_layer="head")``,
checked against the model's own submodules called by hand (vmapped, as an
Equinox user calls them) and against a hand-written copy of it:

- blob names, order and shapes as ``jaxvis/models/frameworks/equinox.py``
  documents them, channels last; values equal to the submodules' own under
  ``eqx.nn.inference_mode``; the model given left as it was; two blobs of
  one array in call order; params by attribute path and parameter counts,
  through a model directory and back; the other layouts (``HWC`` and a
  model that takes the batch itself) give the same blobs;
- ``jaxvis.visualize`` on two map units and a head unit (one program);
- ``jaxvis.project`` deconv and guided equal to the network in ``jax.lax``
  ops with a ``jax.custom_vjp`` ReLU of that rule, backprop equal to
  ``jax.vjp`` of the model; receptive fields derived by hand; top-k;
- the live view on it; the plugin ``examples.tiny_equinox:make_net``
  through ``jaxvis visualize`` on the command line;
- errors: not an Equinox model, a model with shapes but no weights, a bad
  spec, a bad layout, a missing or wrong state, a forward pass that changes
  its state.
"""

import json

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxvis
from jaxvis.analysis import topk
from jaxvis.analysis.sources import GeneratedImages
from jaxvis.live.server import make_app
from jaxvis.live.session import default_layer
from tests.conftest import rel_err
from tests.jobs.test_plugin_model import cli
from tests.live.test_protocol import assert_frame, expect, expected, png, select, session
from tests.models.test_own_network import RULES, _by_hand, _rule_relu, _seeded_vjp

# --- The network, as a user writes it (no jaxvis in sight) -----------------------------------


class Block(eqx.Module):
    """conv-BN-relu-conv-BN, plus the identity shortcut, relu after the sum."""

    conv1: eqx.nn.Conv2d
    bn1: eqx.nn.BatchNorm
    conv2: eqx.nn.Conv2d
    bn2: eqx.nn.BatchNorm

    def __init__(self, features: int, *, key):
        key1, key2 = jax.random.split(key)
        self.conv1 = eqx.nn.Conv2d(features, features, 3, padding=1, key=key1)
        self.bn1 = eqx.nn.BatchNorm(features, axis_name="batch", mode="batch")
        self.conv2 = eqx.nn.Conv2d(features, features, 3, padding=1, key=key2)
        self.bn2 = eqx.nn.BatchNorm(features, axis_name="batch", mode="batch")

    def __call__(self, x, state):
        y, state = self.bn1(self.conv1(x), state)
        y, state = self.bn2(self.conv2(jax.nn.relu(y)), state)
        return jax.nn.relu(y + x), state


class SmallResNet(eqx.Module):
    """[3, 64, 64] -> 4x4/2 conv (32x32) -> BN -> relu -> 3x3/2 max pool (16x16) -> block -> mean -> 10 logits."""

    stem: eqx.nn.Conv2d
    bn: eqx.nn.BatchNorm
    pool: eqx.nn.MaxPool2d
    layers: list
    head: eqx.nn.Linear

    def __init__(self, width: int = 8, classes: int = 10, *, key):
        key1, key2, key3 = jax.random.split(key, 3)
        self.stem = eqx.nn.Conv2d(3, width, 4, stride=2, padding=1, key=key1)
        self.bn = eqx.nn.BatchNorm(width, axis_name="batch", mode="batch")
        self.pool = eqx.nn.MaxPool2d(3, 2, padding=1)
        self.layers = [Block(width, key=key2)]
        self.head = eqx.nn.Linear(width, classes, key=key3)

    def __call__(self, x, state):
        x, state = self.bn(self.stem(x), state)
        x = self.pool(jax.nn.relu(x))
        for block in self.layers:
            x, state = block(x, state)
        return self.head(jnp.mean(x, axis=(1, 2))), state


SPEC = jaxvis.PreprocessSpec(input_size=(64, 64), channel_order="RGB", scale=1 / 255,
                             mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225), resize=64,
                             class_names=jaxvis.shapes.CLASSES)
BLOBS = ["stem", "bn", "relu", "pool", "layers/0/conv1", "layers/0/bn1", "layers/0/relu", "layers/0/conv2",
         "layers/0/bn2", "layers/0/relu_1", "layers/0", "head"]


def random_model(seed=0):
    """(model, state) with random weights (from shapes alone: nothing compiled): He-normal
    weights, and BatchNorm far from the identity: running mean and var, weight and bias random."""
    shapes = eqx.filter_eval_shape(eqx.nn.make_with_state(SmallResNet), key=jax.random.key(0))
    rng = np.random.default_rng(seed)

    def fill(path, leaf):
        if not isinstance(leaf, jax.ShapeDtypeStruct):
            return leaf
        if not jnp.issubdtype(leaf.dtype, jnp.floating):  # a BatchNorm's batch counter: 0, no debiasing
            return jnp.zeros(leaf.shape, leaf.dtype)
        name = getattr(path[-1], "name", None)
        if name == "weight" and len(leaf.shape) > 1:
            value = rng.normal(0.0, np.sqrt(2.0 / np.prod(leaf.shape[1:])), leaf.shape)
        elif name == "weight" or getattr(path[-1], "idx", None) == 1:  # BatchNorm's weight, a running variance
            value = rng.uniform(0.5, 1.5, leaf.shape)
        elif name is None:  # a running mean
            value = rng.normal(0.0, 0.3, leaf.shape)
        else:  # biases
            value = rng.normal(0.0, 0.2, leaf.shape)
        return jnp.asarray(value, leaf.dtype)

    return jax.tree_util.tree_map_with_path(fill, shapes)


@pytest.fixture(scope="module")
def own():
    model, state = random_model()
    return model, state, jaxvis.from_equinox(model, state, spec=SPEC, class_layer="head")


@pytest.fixture(scope="module")
def images():
    return jaxvis.shapes.make_batch(11, 0, 4)  # (uint8 [4, 64, 64, 3], labels [4])


def _hwc(tree):
    """[B, C, H, W] -> [B, H, W, C]; vectors as they are."""
    return jax.tree.map(lambda a: a.transpose(0, 2, 3, 1) if a.ndim == 4 else a, tree)


@pytest.fixture(scope="module")
def by_submodules(own):
    """x [B, H, W, 3] -> {blob: array}: the model's submodules (in inference mode) called one by one on
    each example [3, H, W], vmapped; ReLUs by jnp; maps back to channels last."""
    model, state, _ = own
    model = eqx.nn.inference_mode(model)

    def one(x):
        stem = model.stem(x)
        bn, _ = model.bn(stem, state)
        pool = model.pool(jnp.maximum(bn, 0))
        block = model.layers[0]
        conv1 = block.conv1(pool)
        bn1, _ = block.bn1(conv1, state)
        conv2 = block.conv2(jnp.maximum(bn1, 0))
        bn2, _ = block.bn2(conv2, state)
        out, _ = block(pool, state)
        return {"stem": stem, "bn": bn, "relu": jnp.maximum(bn, 0), "pool": pool, "layers/0/conv1": conv1,
                "layers/0/bn1": bn1, "layers/0/relu": jnp.maximum(bn1, 0), "layers/0/conv2": conv2,
                "layers/0/bn2": bn2, "layers/0/relu_1": jnp.maximum(bn2 + pool, 0), "layers/0": out,
                "head": model.head(jnp.mean(out, axis=(1, 2))), "output": model(x, state)[0]}

    run = jax.jit(lambda x: _hwc(jax.vmap(one)(x.transpose(0, 3, 1, 2))))
    return lambda x: {k: np.asarray(v) for k, v in run(jnp.asarray(x)).items()}


def _linen_shaped(model, state) -> dict:
    """The model's own arrays as test_own_network's hand-written network reads them (HWIO kernels)."""

    def conv(layer):
        return {"kernel": layer.weight.transpose(2, 3, 1, 0), "bias": layer.bias.reshape(-1)}

    def bn(layer):
        mean, var = state.get(layer.batch_state_index)
        return {"scale": layer.weight, "bias": layer.bias}, {"mean": mean, "var": var}

    block = model.layers[0]
    (bn0, s0), (bn1, s1), (bn2, s2) = bn(model.bn), bn(block.bn1), bn(block.bn2)
    return {"params": {"stem": conv(model.stem), "bn": bn0,
                       "block": {"conv1": conv(block.conv1), "bn1": bn1, "conv2": conv(block.conv2), "bn2": bn2}},
            "batch_stats": {"bn": s0, "block": {"bn1": s1, "bn2": s2}}}


# --- Blobs ----------------------------------------------------------------------------------


def test_blob_names_order_shapes_and_values(own, images, by_submodules):
    model, state, net = own
    assert list(net.layer_names) == BLOBS
    shapes = {info.name: info.shape for info in net.table}
    assert shapes == {"stem": (32, 32, 8), "bn": (32, 32, 8), "relu": (32, 32, 8), "pool": (16, 16, 8),
                      **{f"layers/0/{b}": (16, 16, 8) for b in ("conv1", "bn1", "relu", "conv2", "bn2", "relu_1")},
                      "layers/0": (16, 16, 8), "head": (10,)}
    kinds = {info.name: info.kind for info in net.table}
    assert [kinds[b] for b in ("stem", "bn", "relu", "pool", "layers/0/conv1", "layers/0", "head")] == \
        ["conv", "norm", "relu", "maxpool2d", "conv", "block", "fc"]
    assert net.default_layers() == ["stem", "layers/0/conv1", "layers/0/conv2", "head"]

    x = net.preprocess(images[0])
    blobs = {k: np.asarray(v) for k, v in net.blobs(x).items()}
    assert list(blobs) == BLOBS
    want = by_submodules(x)
    np.testing.assert_array_equal(want["output"], want["head"])
    for name in BLOBS:
        assert blobs[name].shape == (4, *shapes[name]), name
        assert rel_err(blobs[name], want[name]) < 1e-5, (name, rel_err(blobs[name], want[name]))
    assert (blobs["relu"] == 0).any() and (blobs["layers/0/bn2"] < 0).any()  # the ReLUs do cut something
    assert model.bn.inference is False  # the model given stays in training mode; jaxvis ran its inference mode


def test_the_model_given_is_left_as_it_was(own, images):
    model, state, net = own
    leaves = jax.tree.leaves((model, state))
    net.blobs(net.preprocess(images[0]))
    assert all(a is b for a, b in zip(jax.tree.leaves((model, state)), leaves, strict=True))
    assert type(model.layers[0]) is Block and type(model.layers[0].conv1) is eqx.nn.Conv2d
    assert model.layers[0].bn1.inference is False


def test_params_by_attribute_path(own):
    model, state, net = own
    assert set(net.params) == {"params", "state"}
    np.testing.assert_array_equal(net.params["params"]["layers"]["0"]["conv2"]["weight"], model.layers[0].conv2.weight)
    mean, var = state.get(model.layers[0].bn1.batch_state_index)
    np.testing.assert_array_equal(net.params["state"]["layers"]["0"]["bn1"]["batch_state_index"]["1"], var)
    assert net.num_parameters() == sum(a.size for a in jax.tree.leaves(eqx.filter(model, eqx.is_array)))
    counts = {info.name: info.params for info in net.table}
    assert counts["stem"] == 4 * 4 * 3 * 8 + 8 and counts["layers/0/bn1"] == 16 and counts["pool"] == 0
    assert counts["layers/0"] == 2 * (3 * 3 * 8 * 8 + 8) + 2 * 16 and counts["head"] == 8 * 10 + 10


class Batched(eqx.Module):
    """The same network for a whole batch [B, H, W, 3], vmapping inside as some Equinox code does."""

    net: SmallResNet

    def __call__(self, x, state):
        logits = jax.vmap(lambda xi: self.net(xi.transpose(2, 0, 1), state)[0])(x)
        return logits, state


def test_the_other_layouts_give_the_same_blobs(own, images):
    model, state, net = own
    x = net.preprocess(images[0][:2])
    want = net.blobs(x)
    # one example channels last: the same model, its input and maps transposed around it
    hwc = jaxvis.from_equinox(eqx.nn.Lambda(lambda xi: xi), spec=SPEC, layout="HWC")
    assert hwc.layer_names == ("output",) and np.array_equal(hwc.blobs(x)["output"], x)
    # a batch channels first: [B, 3, H, W] in, the ReLU's [B, 3, H, W] back to channels last
    nchw = jaxvis.from_equinox(eqx.nn.Lambda(lambda xb: jax.nn.relu(xb[:, ::-1])), spec=SPEC, layout="NCHW")
    assert nchw.layer_names == ("relu",)
    np.testing.assert_array_equal(nchw.blobs(x)["relu"], np.maximum(x[..., ::-1], 0))
    # a model that takes the batch itself (NHWC): the blobs of the inner per-example layers are not
    # [B, H, W, C] in that program (they are vmapped inside), only the batched output is
    batched = jaxvis.from_equinox(Batched(model), state, spec=SPEC, layout="NHWC", class_layer="output")
    assert batched.layer_names == ("output",)
    assert rel_err(batched.blobs(x)["output"], want["head"]) < 1e-5


class Features(eqx.Module):
    """An eqx.nn.Sequential two levels down, a ReLU layer in it (eqx.nn.Lambda), one layer called twice."""

    features: eqx.nn.Sequential

    def __init__(self, key):
        conv = eqx.nn.Conv2d(3, 3, 3, padding=1, key=key)
        self.features = eqx.nn.Sequential([conv, eqx.nn.Lambda(jax.nn.relu)])

    def __call__(self, x):
        y = self.features(x)
        return jax.nn.relu(self.features.layers[0](y) - y)


class Outer(eqx.Module):
    inner: Features

    def __call__(self, x):
        return self.inner(x)


def test_names_of_deeper_modules_repeated_calls_and_sequential():
    shapes = eqx.filter_eval_shape(lambda: Outer(Features(jax.random.key(0))))
    model = jax.tree.map(lambda a: jnp.ones(a.shape, a.dtype) if isinstance(a, jax.ShapeDtypeStruct) else a, shapes)
    net = jaxvis.from_equinox(model, spec=SPEC)
    assert net.layer_names == ("inner/features/layers/0", "inner/features/layers/1/relu", "inner/features/layers/1",
                               "inner/features", "inner/features/layers/0/call_1", "inner/relu", "inner")
    assert net.layer("inner/features").shape == (64, 64, 3)


class Pooled(eqx.Module):
    """A layer whose output goes straight into Dropout, the identity in inference mode: two blobs of one array."""

    pool: eqx.nn.Conv2d
    drop: eqx.nn.Dropout

    def __init__(self, key):
        self.pool = eqx.nn.Conv2d(3, 2, 3, key=key)
        self.drop = eqx.nn.Dropout(0.5)

    def __call__(self, x, *, key=None):
        return self.drop(self.pool(x), key=key)


def test_blobs_of_one_array_keep_the_call_order():
    shapes = eqx.filter_eval_shape(Pooled, jax.random.key(0))
    model = jax.tree.map(lambda a: jnp.ones(a.shape, a.dtype) if isinstance(a, jax.ShapeDtypeStruct) else a, shapes)
    net = jaxvis.from_equinox(model, spec=SPEC)
    assert net.layer_names == ("pool", "drop")  # the order of the calls, not of the names
    blobs = net.blobs(jnp.ones((1, 64, 64, 3)))
    np.testing.assert_array_equal(blobs["drop"], blobs["pool"])


def test_a_model_directory_stores_and_reads_back_the_params(tmp_path, images):
    tiny = jaxvis.load_model("examples.tiny_equinox:make_net")
    changed = jax.tree.map(lambda a: a * 1.5 + 0.25 if jnp.issubdtype(a.dtype, jnp.floating) else a, tiny.params)
    net = jaxvis.Net(tiny.definition, changed, tiny.spec)  # not the plugin's own weights (nor statistics)
    jaxvis.save_model(net, tmp_path / "tiny_equinox")
    again = jaxvis.load_model(tmp_path / "tiny_equinox")
    assert again.definition.source == "examples.tiny_equinox:make_net"
    assert jax.tree.structure(again.params) == jax.tree.structure(changed)
    x = net.preprocess(images[0])
    want, got = net.blobs(x), again.blobs(x)
    assert list(got) == list(want) and all(np.array_equal(got[k], want[k]) for k in want)
    assert not np.allclose(got["head"], tiny.blobs(x)["head"])


# --- Visualization, projections, top-k ------------------------------------------------------


def test_visualize_two_map_units_and_a_head_unit(own, by_submodules):
    _, _, net = own
    units = [("layers/0/conv2", 2), ("layers/0/conv2", 5, 3, 12), ("head", 4)]
    res = jaxvis.visualize(net, units=units, restarts=2, steps=12)
    assert res.units == [("layers/0/conv2", 2, 8, 8), ("layers/0/conv2", 5, 3, 12), ("head", 4, 0, 0)]
    assert res.images.shape == (3, 2, 64, 64, 3) and res.images.dtype == np.uint8
    assert np.isfinite(res.trace).all() and (res.failed_step == -1).all()
    assert (res.best_value > res.trace[..., 0]).all(), (res.best_value, res.trace[..., 0])
    blobs = by_submodules(res.x.reshape(6, 64, 64, 3))  # best_value is the unit's activation, by the model
    for u, (layer, c, y, x) in enumerate(res.units):
        blob = blobs[layer][2 * u: 2 * u + 2]
        np.testing.assert_allclose(blob[:, y, x, c] if blob.ndim == 4 else blob[:, c], res.best_value[u],
                                   rtol=1e-4, atol=1e-4)


def test_project_all_modes_equal_hand_written_backward(own, images):
    model, state, net = own
    x = net.preprocess(images[0])
    channels = np.array([0, 3, 5, 7])
    got = {mode: jaxvis.project(net, x, "layers/0", channels, mode=mode) for mode in ("deconv", "guided", "backprop")}
    variables, inference = _linen_shaped(model, state), eqx.nn.inference_mode(model)

    def model_block(x):  # the model's own submodules, to the block's output, per example
        def one(xi):
            y, _ = inference.bn(inference.stem(xi.transpose(2, 0, 1)), state)
            return inference.layers[0](inference.pool(jax.nn.relu(y)), state)[0].transpose(1, 2, 0)

        return jax.vmap(one)(x)

    @jax.jit
    def references(x, channels):
        want = {mode: _seeded_vjp(_by_hand(variables, _rule_relu(RULES[mode])), x, channels)
                for mode in ("deconv", "guided")}
        want["backprop"] = _seeded_vjp(model_block, x, channels)
        return want, _by_hand(variables, jax.nn.relu)(x), model_block(x)

    want, hand_forward, model_forward = jax.tree.map(np.asarray, references(jnp.asarray(x), channels))
    assert rel_err(hand_forward, model_forward) < 1e-5  # the hand-written network is the model
    for mode, value in got.items():
        assert value.shape == x.shape and np.abs(want[mode]).max() > 0, mode
        assert rel_err(value, want[mode]) < 1e-5, (mode, rel_err(value, want[mode]))
    assert rel_err(got["deconv"], got["backprop"]) > 0.03 and rel_err(got["guided"], got["backprop"]) > 0.03


def test_receptive_fields_and_topk(own):
    _, _, net = own
    fields = {info.name: (info.rf_size, info.rf_stride, info.rf_offset) for info in net.table}
    assert fields == {"stem": (4, 2, 0.5), "bn": (4, 2, 0.5), "relu": (4, 2, 0.5), "pool": (8, 4, 0.5),
                      **{f"layers/0/{b}": (16, 4, 0.5) for b in ("conv1", "bn1", "relu")},
                      **{f"layers/0/{b}": (24, 4, 0.5) for b in ("conv2", "bn2", "relu_1")},
                      "layers/0": (24, 4, 0.5), "head": (None, None, None)}
    layer, count, k = "layers/0", 24, 3
    source = GeneratedImages(seed=4, count=count)
    top = topk.empty(8, k)
    for lo in range(0, count, 12):  # two batches: the merge crosses them
        batch, valid = source.batch(lo, lo + 12)
        maxima = topk.channel_maxima(net, net.preprocess(batch), (layer,))
        top = topk.merge(top, *maxima[layer], np.arange(lo, lo + 12), valid)
    all_images, _ = source.batch(0, count)
    per_image = np.asarray(net.blobs(net.preprocess(all_images))[layer]).max(axis=(1, 2))  # [24, 8]
    for c in range(8):
        np.testing.assert_allclose(top["value"][c], np.sort(per_image[:, c])[::-1][:k], rtol=1e-5)
        assert top["image"][c, 0] == per_image[:, c].argmax()
    patch = topk.patch(all_images[top["image"][0, 0]], net.layer(layer), int(top["y"][0, 0]), int(top["x"][0, 0]))
    assert patch.shape == (24, 24, 3)


# --- The live view and the command line -----------------------------------------------------


def test_live_view_frames_equal_the_batch_functions(own):
    _, _, net = own
    layer = default_layer(net)
    assert layer == "layers/0/conv2"
    rgb = jaxvis.shapes.make_sample(9999, 5).image
    with session(make_app(net)) as ws:
        ws.send_bytes(png(rgb))
        expect(ws, "frame")
        want = expected(net, rgb, layer, 2, mode="deconv", rendering="raw")
        assert want["backward"].std() > 0
        selection = {"layer": layer, "unit": 2, "at": None, "mode": "deconv", "rendering": "raw"}
        assert select(ws, **selection)["views"]["layer"] == layer
        assert_frame(expect(ws, "frame"), want, selection)


def test_visualize_job_on_the_plugin(tmp_path):
    plugin = "examples.tiny_equinox:make_net"
    tiny = jaxvis.load_model(plugin)
    assert tiny.layer_names == ("stem", "stem_bn", "relu", "pool", "block/conv1", "block/bn1", "block/relu",
                                "block/conv2", "block/bn2", "block/relu_1", "block", "gap", "head")
    workdir = tmp_path / "vis"
    r = cli("visualize", "--config=configs/demo.py", f"--config.model={plugin}", "--config.layers=('head',)",
            "--config.restarts=1", "--config.steps=3", "--config.score_images=0", "--config.figure5_units=2",
            f"--workdir={workdir}")
    assert r.returncode == 0, r.stderr[-3000:]
    metas = [json.loads(p.read_text()) for p in workdir.glob("units/**/meta.json")]
    assert sorted((m["layer"], m["channel"]) for m in metas) == [("head", c) for c in range(10)]
    assert {m["model"] for m in metas} == {"tiny_equinox"} and (workdir / "index.html").is_file()
    assert all(np.isfinite(m["best_value"]).all() for m in metas)


# --- Errors ---------------------------------------------------------------------------------


def test_not_an_equinox_model():
    from flax import nnx

    with pytest.raises(jaxvis.ModelDefinitionError, match=r"from_equinox takes an equinox Module, got Linear \(a "
                                                          r"Flax NNX Module: use jaxvis.from_nnx\)"):
        jaxvis.from_equinox(nnx.eval_shape(lambda: nnx.Linear(2, 3, rngs=nnx.Rngs(0))), spec=SPEC)
    with pytest.raises(jaxvis.ModelDefinitionError, match="from_equinox takes an equinox Module, got dict"):
        jaxvis.from_equinox({"weight": np.zeros(3)}, spec=SPEC)


def test_a_model_with_no_weights():
    model, state = eqx.filter_eval_shape(eqx.nn.make_with_state(SmallResNet), key=jax.random.key(0))  # shapes only
    with pytest.raises(jaxvis.WeightsFileError, match=r"SmallResNet: 'params/stem/weight' is a shape with no values "
                                                      r"\(a model from eqx.filter_eval_shape\?\)"):
        jaxvis.from_equinox(model, state, spec=SPEC)


def test_a_bad_spec_or_layout(own):
    model, state, _ = own
    with pytest.raises(jaxvis.ConfigError, match="spec must be a jaxvis.PreprocessSpec .* got NoneType"):
        jaxvis.from_equinox(model, state, spec=None)
    with pytest.raises(jaxvis.ConfigError, match="layout must be one of CHW, HWC, NCHW, NHWC .* got 'NWHC'"):
        jaxvis.from_equinox(model, state, spec=SPEC, layout="NWHC")
    # a layout the model does not take: channels last into an eqx.nn.Conv2d that expects 3 input channels first
    with pytest.raises(jaxvis.ModelDefinitionError, match=r"SmallResNet: does not run on input \[B, 64, 64, 3\]"):
        jaxvis.from_equinox(model, state, spec=SPEC, layout="HWC")


def test_a_missing_or_wrong_state(own):
    model, state, _ = own
    with pytest.raises(jaxvis.WeightsFileError, match="has stateful layers .*'bn/batch_counter'.* pass the "
                                                      "eqx.nn.State that eqx.nn.make_with_state returned"):
        jaxvis.from_equinox(model, spec=SPEC)
    with pytest.raises(jaxvis.WeightsFileError, match="state must be the eqx.nn.State .* got dict"):
        jaxvis.from_equinox(model, {"bn": 0}, spec=SPEC)


class Counting(eqx.Module):
    """Counts its calls in its state: a forward pass that changes the state, in any mode."""

    index: eqx.nn.StateIndex

    def __init__(self):
        self.index = eqx.nn.StateIndex(jnp.zeros(()))

    def __call__(self, x, state):
        return x, state.set(self.index, state.get(self.index) + 1)


def test_a_forward_pass_that_changes_its_state():
    model, state = eqx.nn.make_with_state(Counting)()
    with pytest.raises(jaxvis.ModelDefinitionError, match="changes its state in the forward pass"):
        jaxvis.from_equinox(model, state, spec=SPEC, layout="HWC")
