"""A Flax NNX network in jaxvis: a module written here, knowing nothing of
jaxvis (conv, BatchNorm, ReLU, max pool, one residual block in an
``nnx.List``, a linear head on a global average pool; built in training
mode, as NNX builds it), through ``jaxvis.from_nnx(..., class_layer="head")``,
checked against the module's own submodules called by hand and against a
second, hand-written copy of it:

- blob names, order and shapes as ``jaxvis/models/frameworks/nnx.py``
  documents them, values equal to the submodules' own (in eval mode), the
  module given left in training mode and unchanged; two blobs of one array
  in call order; params and parameter counts, through a model directory and
  back; the pure function under jit, vmap and grad;
- ``jaxvis.visualize`` on two map units and a head unit (one program);
- ``jaxvis.project`` deconv and guided equal to the network in ``jax.lax``
  ops with a ``jax.custom_vjp`` ReLU of that rule, backprop equal to
  ``jax.vjp`` of the module; receptive fields derived by hand; top-k;
- the live view on it; the plugin ``examples.tiny_nnx:make_net`` through
  ``jaxvis visualize`` on the command line;
- errors: not an NNX module, a module with shapes but no weights, a bad
  spec, a spec the module does not fit, a forward pass that writes a
  variable.
"""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

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


class Block(nnx.Module):
    """conv-BN-relu-conv-BN, plus the identity shortcut, relu after the sum."""

    def __init__(self, features: int, *, rngs: nnx.Rngs):
        self.conv1 = nnx.Conv(features, features, (3, 3), padding=1, rngs=rngs)
        self.bn1 = nnx.BatchNorm(features, rngs=rngs)
        self.conv2 = nnx.Conv(features, features, (3, 3), padding=1, rngs=rngs)
        self.bn2 = nnx.BatchNorm(features, rngs=rngs)

    def __call__(self, x):
        y = nnx.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return nnx.relu(y + x)


class SmallResNet(nnx.Module):
    """64x64 RGB -> 4x4/2 conv (32x32) -> BN -> relu -> 3x3/2 max pool (16x16) -> block -> mean -> 10 logits."""

    def __init__(self, width: int = 8, classes: int = 10, *, rngs: nnx.Rngs):
        self.stem = nnx.Conv(3, width, (4, 4), strides=2, padding=((1, 1), (1, 1)), rngs=rngs)
        self.bn = nnx.BatchNorm(width, rngs=rngs)
        self.layers = nnx.List([Block(width, rngs=rngs)])
        self.head = nnx.Linear(width, classes, rngs=rngs)

    def __call__(self, x):
        x = nnx.relu(self.bn(self.stem(x)))
        x = nnx.max_pool(x, (3, 3), strides=(2, 2), padding=((1, 1), (1, 1)))
        for block in self.layers:
            x = block(x)
        return self.head(jnp.mean(x, axis=(1, 2)))


SPEC = jaxvis.PreprocessSpec(input_size=(64, 64), channel_order="RGB", scale=1 / 255,
                             mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225), resize=64,
                             class_names=jaxvis.shapes.CLASSES)
BLOBS = ["stem", "bn", "relu", "layers/0/conv1", "layers/0/bn1", "layers/0/relu", "layers/0/conv2", "layers/0/bn2",
         "layers/0/relu_1", "layers/0", "head"]


def random_module(seed=0) -> SmallResNet:
    """The module with random weights (from shapes alone: nothing compiled): He-normal
    kernels, and BatchNorm far from the identity: running mean and var, scale and bias random."""
    graphdef, state = nnx.split(nnx.eval_shape(lambda: SmallResNet(rngs=nnx.Rngs(0))))
    rng = np.random.default_rng(seed)

    def fill(path, leaf):
        name, shape = path[-2].key, leaf.shape
        if name == "kernel":
            value = rng.normal(0.0, np.sqrt(2.0 / np.prod(shape[:-1])), shape)
        elif name == "mean":
            value = rng.normal(0.0, 0.3, shape)
        elif name in ("var", "scale"):
            value = rng.uniform(0.5, 1.5, shape)
        else:  # biases
            value = rng.normal(0.0, 0.2, shape)
        return jnp.asarray(value, jnp.float32)

    return nnx.merge(graphdef, jax.tree_util.tree_map_with_path(fill, state))


@pytest.fixture(scope="module")
def own():
    module = random_module()
    return module, jaxvis.from_nnx(module, spec=SPEC, class_layer="head")


@pytest.fixture(scope="module")
def images():
    return jaxvis.shapes.make_batch(11, 0, 4)  # (uint8 [4, 64, 64, 3], labels [4])


def _eval_copy(module):
    copy = nnx.clone(module)
    copy.eval()
    return copy


@pytest.fixture(scope="module")
def by_submodules(own):
    """x -> {blob: array}: the module's submodules (in eval mode) called one by one, ReLUs by numpy."""
    module = _eval_copy(own[0])

    @jax.jit
    def run(x):
        stem = module.stem(x)
        bn = module.bn(stem)
        pooled = nnx.max_pool(jnp.maximum(bn, 0), (3, 3), strides=(2, 2), padding=((1, 1), (1, 1)))
        block = module.layers[0]
        conv1 = block.conv1(pooled)
        bn1 = block.bn1(conv1)
        conv2 = block.conv2(jnp.maximum(bn1, 0))
        bn2 = block.bn2(conv2)
        out = block(pooled)
        return {"stem": stem, "bn": bn, "relu": jnp.maximum(bn, 0), "layers/0/conv1": conv1, "layers/0/bn1": bn1,
                "layers/0/relu": jnp.maximum(bn1, 0), "layers/0/conv2": conv2, "layers/0/bn2": bn2,
                "layers/0/relu_1": jnp.maximum(bn2 + pooled, 0), "layers/0": out,
                "head": module.head(jnp.mean(out, axis=(1, 2))), "output": module(x)}

    return lambda x: {k: np.asarray(v) for k, v in run(jnp.asarray(x)).items()}


def _linen_shaped(module) -> dict:
    """The module's own variables as test_own_network's hand-written network reads them."""
    state = nnx.to_pure_dict(nnx.state(module))
    block = state["layers"][0]
    params = {"stem": state["stem"], "bn": {k: state["bn"][k] for k in ("scale", "bias")},
              "block": {k: {n: v for n, v in block[k].items() if n not in ("mean", "var")} for k in block}}
    stats = {"bn": {k: state["bn"][k] for k in ("mean", "var")},
             "block": {k: {n: block[k][n] for n in ("mean", "var")} for k in ("bn1", "bn2")}}
    return {"params": params, "batch_stats": stats}


# --- Blobs ----------------------------------------------------------------------------------


def test_blob_names_order_shapes_and_values(own, images, by_submodules):
    module, net = own
    assert list(net.layer_names) == BLOBS
    shapes = {info.name: info.shape for info in net.table}
    assert shapes == {"stem": (32, 32, 8), "bn": (32, 32, 8), "relu": (32, 32, 8),
                      **{f"layers/0/{b}": (16, 16, 8) for b in ("conv1", "bn1", "relu", "conv2", "bn2", "relu_1")},
                      "layers/0": (16, 16, 8), "head": (10,)}
    kinds = {info.name: info.kind for info in net.table}
    assert [kinds[b] for b in ("stem", "bn", "relu", "layers/0/conv1", "layers/0", "head")] == \
        ["conv", "norm", "relu", "conv", "block", "fc"]
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
    # in training mode (batch statistics) the BatchNorm gives other numbers: jaxvis's are the eval mode's
    assert module.bn.use_running_average is False and module.layers[0].bn1.use_running_average is False
    training = nnx.clone(module)  # (a copy: a call in training mode updates the running statistics)
    assert rel_err(np.asarray(training.bn(training.stem(jnp.asarray(x)))), blobs["bn"]) > 0.1


def test_the_module_given_is_left_as_it_was(own, images):
    module, net = own
    before = [(path, type(m)) for path, m in nnx.iter_graph(module)]
    leaves = jax.tree.leaves(nnx.state(module))
    net.blobs(net.preprocess(images[0]))
    assert [(path, type(m)) for path, m in nnx.iter_graph(module)] == before  # no class left swapped
    assert all(a is b for a, b in zip(jax.tree.leaves(nnx.state(module)), leaves, strict=True))
    assert type(module.layers[0]) is Block and module.layers[0].bn2.use_running_average is False


def test_params_are_the_split_state_as_nested_dicts(own):
    module, net = own
    state = nnx.to_pure_dict(nnx.state(module))
    assert set(net.params) == {"params", "batch_stats"}
    np.testing.assert_array_equal(net.params["params"]["layers"]["0"]["conv2"]["kernel"],
                                  state["layers"][0]["conv2"]["kernel"])
    np.testing.assert_array_equal(net.params["batch_stats"]["bn"]["var"], state["bn"]["var"])
    assert net.num_parameters() == sum(a.size for a in jax.tree.leaves(nnx.state(module, nnx.Param)))
    counts = {info.name: info.params for info in net.table}
    assert counts["stem"] == 4 * 4 * 3 * 8 + 8 and counts["layers/0/bn1"] == 16 and counts["relu"] == 0
    assert counts["layers/0"] == 2 * (3 * 3 * 8 * 8 + 8) + 2 * 16 and counts["head"] == 8 * 10 + 10


def test_apply_is_one_pure_function_under_jit_vmap_and_grad(own, images):
    _, net = own
    x = jnp.asarray(net.preprocess(images[0]))
    plain = net.blobs(x)

    @jax.jit
    def transformed(params, x):
        mapped = jax.vmap(lambda xi: net.apply(params, xi[None]), out_axes=1)(x)
        grad = jax.grad(lambda p: net.apply(p, x)["head"][:, 3].sum())(params)
        return net.apply(params, x), mapped, grad

    jitted, mapped, grad = transformed(net.params, x)
    for name in BLOBS:
        assert rel_err(jitted[name], plain[name]) < 1e-5 and rel_err(mapped[name][0], plain[name]) < 1e-5, name
    assert jax.tree.structure(grad) == jax.tree.structure(net.params)
    assert np.abs(grad["params"]["stem"]["kernel"]).max() > 0 and np.abs(grad["batch_stats"]["bn"]["mean"]).max() > 0


class Unit(nnx.Module):
    def __init__(self, *, rngs):
        self.conv = nnx.Conv(3, 3, (3, 3), padding=1, rngs=rngs)

    def __call__(self, x):
        return nnx.relu(self.conv(x))


class Stage(nnx.Module):
    """Modules two levels down, one called twice, a tuple output."""

    def __init__(self, *, rngs):
        self.units = nnx.List([Unit(rngs=rngs), Unit(rngs=rngs)])

    def __call__(self, x):
        for unit in self.units:
            x = unit(x)
        return x, nnx.relu(self.units[0](-x))


class Deep(nnx.Module):
    def __init__(self, *, rngs):
        self.stage = Stage(rngs=rngs)

    def __call__(self, x):
        a, b = self.stage(x)
        return nnx.relu(a + b)


def test_names_of_deeper_modules_repeated_calls_and_tuples():
    graphdef, state = nnx.split(nnx.eval_shape(lambda: Deep(rngs=nnx.Rngs(0))))
    net = jaxvis.from_nnx(nnx.merge(graphdef, jax.tree.map(lambda a: jnp.ones(a.shape, a.dtype), state)), spec=SPEC)
    # stage/0 is the array units/1 returns (the inner module first); the output is the last relu's
    assert net.layer_names == ("stage/units/0/conv", "stage/units/0/relu", "stage/units/0", "stage/units/1/conv",
                               "stage/units/1/relu", "stage/units/1", "stage/0", "stage/units/0/conv/call_1",
                               "stage/units/0/relu_1", "stage/units/0/call_1", "stage/relu", "stage/1", "relu")


class Pooled(nnx.Module):
    """A layer whose output goes straight into Dropout, the identity in eval mode: two blobs of one array."""

    def __init__(self, *, rngs):
        self.pool = nnx.Conv(3, 2, (3, 3), rngs=rngs)
        self.drop = nnx.Dropout(0.5, rngs=rngs)

    def __call__(self, x):
        return self.drop(self.pool(x))


def test_blobs_of_one_array_keep_the_call_order():
    net = jaxvis.from_nnx(Pooled(rngs=nnx.Rngs(0)), spec=SPEC)
    assert net.layer_names == ("pool", "drop")  # the order of the calls, not of the names
    x = jnp.ones((1, 64, 64, 3))
    blobs = net.blobs(x)
    np.testing.assert_array_equal(blobs["drop"], blobs["pool"])


def test_a_model_directory_stores_and_reads_back_the_params(tmp_path, images):
    tiny = jaxvis.load_model("examples.tiny_nnx:make_net")
    changed = jax.tree.map(lambda a: a * 1.5 + 0.25, tiny.params)  # not the plugin's own weights
    net = jaxvis.Net(tiny.definition, changed, tiny.spec)
    jaxvis.save_model(net, tmp_path / "tiny_nnx")
    again = jaxvis.load_model(tmp_path / "tiny_nnx")
    assert again.definition.source == "examples.tiny_nnx:make_net"
    assert jax.tree.structure(again.params) == jax.tree.structure(changed)
    x = net.preprocess(images[0])
    want, got = net.blobs(x), again.blobs(x)
    assert list(got) == list(want) and all(np.array_equal(got[k], want[k]) for k in want)
    assert not np.allclose(got["head"], tiny.blobs(x)["head"])


# --- Visualization, projections, top-k ------------------------------------------------------


def test_visualize_two_map_units_and_a_head_unit(own, by_submodules):
    _, net = own
    units = [("layers/0/conv2", 2), ("layers/0/conv2", 5, 3, 12), ("head", 4)]
    res = jaxvis.visualize(net, units=units, restarts=2, steps=12)
    assert res.units == [("layers/0/conv2", 2, 8, 8), ("layers/0/conv2", 5, 3, 12), ("head", 4, 0, 0)]
    assert res.images.shape == (3, 2, 64, 64, 3) and res.images.dtype == np.uint8
    assert np.isfinite(res.trace).all() and (res.failed_step == -1).all()
    assert (res.best_value > res.trace[..., 0]).all(), (res.best_value, res.trace[..., 0])
    blobs = by_submodules(res.x.reshape(6, 64, 64, 3))  # best_value is the unit's activation, by the module
    for u, (layer, c, y, x) in enumerate(res.units):
        blob = blobs[layer][2 * u: 2 * u + 2]
        np.testing.assert_allclose(blob[:, y, x, c] if blob.ndim == 4 else blob[:, c], res.best_value[u],
                                   rtol=1e-4, atol=1e-4)


def test_project_all_modes_equal_hand_written_backward(own, images):
    module, net = own
    x = net.preprocess(images[0])
    channels = np.array([0, 3, 5, 7])
    got = {mode: jaxvis.project(net, x, "layers/0", channels, mode=mode) for mode in ("deconv", "guided", "backprop")}
    variables, evaluated = _linen_shaped(module), _eval_copy(module)

    def module_block(x):  # the module's own submodules, to the block's output
        pooled = nnx.max_pool(nnx.relu(evaluated.bn(evaluated.stem(x))), (3, 3), strides=(2, 2),
                              padding=((1, 1), (1, 1)))
        return evaluated.layers[0](pooled)

    @jax.jit
    def references(x, channels):
        want = {mode: _seeded_vjp(_by_hand(variables, _rule_relu(RULES[mode])), x, channels)
                for mode in ("deconv", "guided")}
        want["backprop"] = _seeded_vjp(module_block, x, channels)
        return want, _by_hand(variables, jax.nn.relu)(x), module_block(x)

    want, hand_forward, module_forward = jax.tree.map(np.asarray, references(jnp.asarray(x), channels))
    assert rel_err(hand_forward, module_forward) < 1e-5  # the hand-written network is the module
    for mode, value in got.items():
        assert value.shape == x.shape and np.abs(want[mode]).max() > 0, mode
        assert rel_err(value, want[mode]) < 1e-5, (mode, rel_err(value, want[mode]))
    assert rel_err(got["deconv"], got["backprop"]) > 0.03 and rel_err(got["guided"], got["backprop"]) > 0.03


def test_receptive_fields_and_topk(own):
    _, net = own
    fields = {info.name: (info.rf_size, info.rf_stride, info.rf_offset) for info in net.table}
    assert fields == {"stem": (4, 2, 0.5), "bn": (4, 2, 0.5), "relu": (4, 2, 0.5),  # as test_own_network derives
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
    _, net = own
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
    plugin = "examples.tiny_nnx:make_net"
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
    assert {m["model"] for m in metas} == {"tiny_nnx"} and (workdir / "index.html").is_file()
    assert all(np.isfinite(m["best_value"]).all() for m in metas)


# --- Errors ---------------------------------------------------------------------------------


def test_not_an_nnx_module():
    import flax.linen as nn

    with pytest.raises(jaxvis.ModelDefinitionError, match=r"from_nnx takes a flax.nnx Module, got Dense \(a "
                                                          r"flax.linen Module: use jaxvis.from_flax\)"):
        jaxvis.from_nnx(nn.Dense(3), spec=SPEC)
    with pytest.raises(jaxvis.ModelDefinitionError, match="from_nnx takes a flax.nnx Module, got function"):
        jaxvis.from_nnx(lambda x: x, spec=SPEC)


def test_a_module_with_no_weights():
    abstract = nnx.eval_shape(lambda: SmallResNet(rngs=nnx.Rngs(0)))  # shapes only, as random_module starts
    with pytest.raises(jaxvis.WeightsFileError, match=r"SmallResNet: the variable 'params/\w+/\w+' is a shape with "
                                                      r"no values \(a module from nnx.eval_shape\?\)"):
        jaxvis.from_nnx(abstract, spec=SPEC)


def test_a_bad_spec(own):
    module, _ = own
    with pytest.raises(jaxvis.ConfigError, match="spec must be a jaxvis.PreprocessSpec .* got tuple"):
        jaxvis.from_nnx(module, spec=(64, 64))


class Flat(nnx.Module):
    """A conv, then a linear layer on the flattened 64x64 map: it fits one input size only."""

    def __init__(self, *, rngs):
        self.conv = nnx.Conv(3, 2, (3, 3), strides=4, rngs=rngs)
        self.fc = nnx.Linear(16 * 16 * 2, 10, rngs=rngs)

    def __call__(self, x):
        return self.fc(self.conv(x).reshape(x.shape[0], -1))


def test_a_spec_the_module_does_not_fit():
    graphdef, state = nnx.split(nnx.eval_shape(lambda: Flat(rngs=nnx.Rngs(0))))
    module = nnx.merge(graphdef, jax.tree.map(lambda a: jnp.zeros(a.shape, a.dtype), state))
    assert jaxvis.from_nnx(module, spec=SPEC).layer_names == ("conv", "fc")
    small = jaxvis.PreprocessSpec(input_size=(32, 32), channel_order="RGB")
    with pytest.raises(jaxvis.ModelDefinitionError, match=r"Flat: does not run on input \[B, 32, 32, 3\]"):
        jaxvis.from_nnx(module, spec=small)


class Counting(nnx.Module):
    """Counts its calls in a variable of its own: a forward pass with Python state."""

    def __init__(self):
        self.calls = nnx.BatchStat(jnp.zeros(()))

    def __call__(self, x):
        self.calls[...] = self.calls[...] + 1
        return x


def test_a_forward_pass_that_writes_a_variable():
    with pytest.raises(jaxvis.ModelDefinitionError, match="writes its variable 'calls' in the forward pass"):
        jaxvis.from_nnx(Counting(), spec=SPEC)
