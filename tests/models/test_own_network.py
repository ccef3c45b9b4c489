"""Your own network in jaxvis: a Flax module written here, knowing nothing of
jaxvis (conv, BatchNorm in inference mode, ReLU, max pool, one residual
block, a dense head on a global average pool), through
``jaxvis.from_flax(..., class_layer="head")``, checked stage by stage against
the module's own numbers and against a second, hand-written copy of it:

- blob names, order and shapes as ``jaxvis/models/frameworks/flax_linen.py`` documents
  them; blob values equal to ``module.apply(..., capture_intermediates=True)``
  and ReLUs computed by hand from those;
- ``jaxvis.visualize`` on two map units and one head unit;
- ``jaxvis.project`` after the residual block: deconv and guided equal to the
  network rewritten in ``jax.lax`` ops with a ``jax.custom_vjp`` ReLU of that
  rule, backprop equal to ``jax.vjp`` of the module;
- top-k over generated images, with receptive fields (from the traced
  program) equal to the ones derived by hand;
- occlusion, one grid position recomputed by hand.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

import jaxvis
from jaxvis.analysis import topk
from jaxvis.analysis.occlusion import occlusion_maps
from jaxvis.analysis.sources import GeneratedImages
from jaxvis.models.geometry import field_window
from tests.conftest import rel_err

# --- The network, as a user writes it (no jaxvis in sight) -----------------------------------


class Block(nn.Module):
    """conv-BN-relu-conv-BN, plus the identity shortcut, relu after the sum."""

    features: int

    @nn.compact
    def __call__(self, x):
        y = nn.Conv(self.features, (3, 3), padding=((1, 1), (1, 1)), name="conv1")(x)
        y = nn.relu(nn.BatchNorm(use_running_average=True, name="bn1")(y))
        y = nn.Conv(self.features, (3, 3), padding=((1, 1), (1, 1)), name="conv2")(y)
        y = nn.BatchNorm(use_running_average=True, name="bn2")(y)
        return nn.relu(y + x)


class SmallResNet(nn.Module):
    """64x64 RGB -> 4x4/2 conv (32x32) -> BN -> relu -> 3x3/2 max pool (16x16) -> block -> mean -> 10 logits."""

    width: int = 8
    classes: int = 10

    @nn.compact
    def __call__(self, x):
        x = nn.Conv(self.width, (4, 4), strides=(2, 2), padding=((1, 1), (1, 1)), name="stem")(x)
        x = nn.relu(nn.BatchNorm(use_running_average=True, name="bn")(x))
        x = nn.max_pool(x, (3, 3), strides=(2, 2), padding=((1, 1), (1, 1)))
        x = Block(self.width, name="block")(x)
        return nn.Dense(self.classes, name="head")(jnp.mean(x, axis=(1, 2)))


SPEC = jaxvis.PreprocessSpec(input_size=(64, 64), channel_order="RGB", scale=1 / 255,
                             mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225), resize=64,
                             class_names=jaxvis.shapes.CLASSES)
BLOBS = ["stem", "bn", "relu", "block/conv1", "block/bn1", "block/relu", "block/conv2", "block/bn2",
         "block/relu_1", "block", "head"]
EPS = 1e-5  # flax BatchNorm's default epsilon


def _variables(module, seed=0):
    """Random variables of the module's tree (from shapes alone: nothing compiled):
    He-normal kernels, and BatchNorm far from the identity: running mean and
    var, scale and bias all random."""
    abstract = jax.eval_shape(module.init, jax.random.key(0), jax.ShapeDtypeStruct((1, 64, 64, 3), jnp.float32))
    rng = np.random.default_rng(seed)

    def fill(path, leaf):
        keys = [p.key for p in path]
        shape = leaf.shape
        if keys[-1] == "kernel":
            value = rng.normal(0.0, np.sqrt(2.0 / np.prod(shape[:-1])), shape)
        elif keys[-1] == "mean":
            value = rng.normal(0.0, 0.3, shape)
        elif keys[-1] in ("var", "scale"):
            value = rng.uniform(0.5, 1.5, shape)
        else:  # biases
            value = rng.normal(0.0, 0.2, shape)
        return value.astype(np.float32)

    return jax.tree_util.tree_map_with_path(fill, abstract)


@pytest.fixture(scope="module")
def own():
    module = SmallResNet()
    variables = _variables(module)
    net = jaxvis.from_flax(module, variables, spec=SPEC, class_layer="head")
    return module, variables, net


@pytest.fixture(scope="module")
def images():
    return jaxvis.shapes.make_batch(11, 0, 4)  # (uint8 [4, 64, 64, 3], labels [4])


def _intermediates(module, variables, x):
    _, state = module.apply(variables, x, capture_intermediates=True, mutable=["intermediates"])
    return state["intermediates"]


@pytest.fixture(scope="module")
def captured(own):
    """x -> {blob: array} of the module's own intermediates, by their module
    path ("output": the module's return value)."""
    module, variables, _ = own
    run = jax.jit(lambda x: _intermediates(module, variables, x))

    def blobs(x):
        out = {}
        for path, value in jax.tree_util.tree_flatten_with_path(run(jnp.asarray(x)))[0]:
            keys = [str(p.key) if hasattr(p, "key") else str(p.idx) for p in path]
            assert keys[-2:] == ["__call__", "0"], keys  # every submodule is called once
            out["/".join(keys[:-2]) or "output"] = np.asarray(value)
        return out

    return blobs


# --- Blobs ----------------------------------------------------------------------------------


def test_blob_names_order_shapes_and_values(own, images, captured):
    _, variables, net = own
    assert list(net.layer_names) == BLOBS
    shapes = {info.name: info.shape for info in net.table}
    assert shapes == {"stem": (32, 32, 8), "bn": (32, 32, 8), "relu": (32, 32, 8),
                      **{f"block/{b}": (16, 16, 8) for b in ("conv1", "bn1", "relu", "conv2", "bn2", "relu_1")},
                      "block": (16, 16, 8), "head": (10,)}
    kinds = {info.name: info.kind for info in net.table}
    assert [kinds[b] for b in ("stem", "bn", "relu", "block/conv1", "head")] == ["conv", "norm", "relu", "conv", "fc"]
    assert net.default_layers() == ["stem", "block/conv1", "block/conv2", "head"]
    assert net.num_parameters() == sum(a.size for a in jax.tree.leaves(variables["params"]))

    x = net.preprocess(images[0])
    blobs = {k: np.asarray(v) for k, v in net.blobs(x).items()}
    assert list(blobs) == BLOBS
    own_ = captured(x)
    assert set(own_) == {"stem", "bn", "block/conv1", "block/bn1", "block/conv2", "block/bn2", "block", "head",
                         "output"}
    by_hand = dict(own_)
    pooled = nn.max_pool(np.maximum(own_["bn"], 0), (3, 3), strides=(2, 2), padding=((1, 1), (1, 1)))
    by_hand.update({"relu": np.maximum(own_["bn"], 0), "block/relu": np.maximum(own_["block/bn1"], 0),
                    "block/relu_1": np.maximum(own_["block/bn2"] + np.asarray(pooled), 0)})
    np.testing.assert_array_equal(own_["output"], own_["head"])
    for name in BLOBS:
        assert blobs[name].shape == (4, *shapes[name]), name
        assert rel_err(blobs[name], by_hand[name]) < 1e-5, (name, rel_err(blobs[name], by_hand[name]))
    np.testing.assert_array_equal(blobs["block"], blobs["block/relu_1"])  # the block returns its last relu
    assert (blobs["relu"] == 0).any() and (blobs["block/bn2"] < 0).any()  # the ReLUs do cut something


# --- Visualization --------------------------------------------------------------------------


def test_visualize_two_map_units_and_a_head_unit(own, captured):
    _, _, net = own
    units = [("block/conv2", 2), ("block/conv2", 5, 3, 12), ("head", 4)]
    res = jaxvis.visualize(net, units=units, restarts=2, steps=12)  # the preset's lr
    assert res.units == [("block/conv2", 2, 8, 8), ("block/conv2", 5, 3, 12), ("head", 4, 0, 0)]
    assert res.images.shape == (3, 2, 64, 64, 3) and res.images.dtype == np.uint8
    assert np.isfinite(res.trace).all() and np.isfinite(res.x).all() and (res.failed_step == -1).all()
    assert (res.best_value > res.trace[..., 0]).all(), (res.best_value, res.trace[..., 0])
    # best_value is the unit's activation on the best image, by the module itself
    blobs = captured(res.x.reshape(6, 64, 64, 3))
    for u, (layer, c, y, x) in enumerate(res.units):
        blob = blobs[layer][2 * u: 2 * u + 2]
        got = blob[:, y, x, c] if blob.ndim == 4 else blob[:, c]
        np.testing.assert_allclose(got, res.best_value[u], rtol=1e-4, atol=1e-4)


# --- Projections ----------------------------------------------------------------------------


def _rule_relu(rule):
    """max(x, 0) whose backward is ``rule(x, g)``."""

    @jax.custom_vjp
    def relu(x):
        return jnp.maximum(x, 0.0)

    relu.defvjp(lambda x: (jnp.maximum(x, 0.0), x), lambda x, g: (rule(x, g),))
    return relu


RULES = {"deconv": lambda x, g: jnp.maximum(g, 0.0), "guided": lambda x, g: jnp.maximum(g, 0.0) * (x > 0)}


def _by_hand(variables, relu):
    """The module's blob ``block`` rewritten in lax ops, ReLU given."""
    p, s = variables["params"], variables["batch_stats"]

    def conv(x, q, stride, pad):
        y = lax.conv_general_dilated(x, q["kernel"], (stride, stride), ((pad, pad), (pad, pad)),
                                     dimension_numbers=("NHWC", "HWIO", "NHWC"))
        return y + q["bias"]

    def bn(x, q, t):
        return (x - t["mean"]) * (q["scale"] * lax.rsqrt(t["var"] + EPS)) + q["bias"]

    def block(x):
        x = relu(bn(conv(x, p["stem"], 2, 1), p["bn"], s["bn"]))
        x = lax.reduce_window(x, -jnp.inf, lax.max, (1, 3, 3, 1), (1, 2, 2, 1), ((0, 0), (1, 1), (1, 1), (0, 0)))
        b, t = p["block"], s["block"]
        y = relu(bn(conv(x, b["conv1"], 1, 1), b["bn1"], t["bn1"]))
        y = bn(conv(y, b["conv2"], 1, 1), b["bn2"], t["bn2"])
        return relu(y + x)

    return block


def _seeded_vjp(fn, x, channels):
    """fn's vjp seeded, per image, with its own activation on one channel (projection.py's seed)."""
    out, pullback = jax.vjp(fn, x)
    seed = out * jax.nn.one_hot(channels, out.shape[-1], dtype=out.dtype)[:, None, None, :]
    return pullback(seed)[0]


def test_project_all_modes_equal_hand_written_backward(own, images):
    module, variables, net = own
    x = net.preprocess(images[0])
    channels = np.array([0, 3, 5, 7])
    got = {mode: jaxvis.project(net, x, "block", channels, mode=mode) for mode in ("deconv", "guided", "backprop")}

    def module_block(x):
        return _intermediates(module, variables, x)["block"]["__call__"][0]

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
    # the three rules differ on this network (by about 0.1): the ReLU rule really was substituted
    assert rel_err(got["deconv"], got["backprop"]) > 0.03 and rel_err(got["guided"], got["backprop"]) > 0.03


# --- Top-k and receptive fields -------------------------------------------------------------


def test_receptive_fields_derived_by_hand(own):
    _, _, net = own
    # stem 4x4/2 pad 1: 4 px, stride 2, unit 0 sees -1..2 (centre 0.5); max pool 3x3/2 pad 1: 4 + 2*2 = 8,
    # stride 4, first -1 - 2 = -3; each 3x3 pad-1 conv of the block adds 2*4: 16, first -7; 24, first -11;
    # the shortcut (8 px from -3) lies inside, so the sum keeps 24. Centre: first + (size - 1) / 2 = 0.5.
    fields = {info.name: (info.rf_size, info.rf_stride, info.rf_offset) for info in net.table}
    assert fields == {"stem": (4, 2, 0.5), "bn": (4, 2, 0.5), "relu": (4, 2, 0.5),
                      "block/conv1": (16, 4, 0.5), "block/bn1": (16, 4, 0.5), "block/relu": (16, 4, 0.5),
                      "block/conv2": (24, 4, 0.5), "block/bn2": (24, 4, 0.5), "block/relu_1": (24, 4, 0.5),
                      "block": (24, 4, 0.5), "head": (None, None, None)}


def test_topk_over_generated_images(own):
    _, _, net = own
    layer, count, k, channels = "block", 50, 3, 8
    source = GeneratedImages(seed=4, count=count)
    top = topk.empty(channels, k)
    for lo in range(0, count, 25):  # two batches: the merge crosses them
        batch, valid = source.batch(lo, lo + 25)
        maxima = topk.channel_maxima(net, net.preprocess(batch), (layer,))
        top = topk.merge(top, *maxima[layer], np.arange(lo, lo + 25), valid)

    all_images, _ = source.batch(0, count)
    blob = np.asarray(net.blobs(net.preprocess(all_images))[layer])  # [50, 16, 16, 8]
    per_image = blob.max(axis=(1, 2))  # [50, C]
    best = per_image.argmax(axis=0)
    assert len(set(best)) > 1  # not one image winning everything
    np.testing.assert_array_equal(top["image"][:, 0], best)
    np.testing.assert_allclose(top["value"][:, 0], per_image[best, np.arange(channels)], rtol=1e-5)
    for c in range(channels):
        assert blob[best[c], top["y"][c, 0], top["x"][c, 0], c] == per_image[best[c], c]
        assert list(top["value"][c]) == sorted(top["value"][c], reverse=True)
        np.testing.assert_allclose(top["value"][c], np.sort(per_image[:, c])[::-1][:k], rtol=1e-5)

    # patches: the 24x24 field of unit (y, x) starts at 4*y - 11, grey where it leaves the image
    info = net.layer(layer)
    ys, xs = top["y"][:2, 0].astype(int), top["x"][:2, 0].astype(int)
    for c in range(2):
        img, y, x = all_images[best[c]], ys[c], xs[c]
        assert field_window(info, y, x) == (4 * y - 11, 4 * x - 11, 24)
        padded = np.pad(img, ((24, 24), (24, 24), (0, 0)), constant_values=128)
        np.testing.assert_array_equal(topk.patch(img, info, y, x),
                                      padded[13 + 4 * y: 37 + 4 * y, 13 + 4 * x: 37 + 4 * x])
    # the deconvolution of each top unit is zero outside its field
    tops = all_images[best[:2]]
    v = jaxvis.project(net, net.preprocess(tops), layer, np.arange(2), at=np.stack([ys, xs], -1))
    for c in range(2):
        energy = np.abs(v[c]).sum(axis=-1)
        inside = np.zeros_like(energy, bool)
        inside[max(4 * ys[c] - 11, 0): 4 * ys[c] + 13, max(4 * xs[c] - 11, 0): 4 * xs[c] + 13] = True
        assert energy[inside].sum() > 0 and (energy[~inside] == 0).all(), c
    patches = topk.projected_patches(net, tops, layer, np.arange(2), ys, xs)
    assert [p.shape for p in patches] == [(24, 24, 3)] * 2


# --- Occlusion ------------------------------------------------------------------------------


def test_occlusion_one_position_by_hand(own, images, captured):
    _, _, net = own
    rgb, labels = images
    xs = net.preprocess(rgb[:2])
    i = 7  # row 1, column 2 of the 5x5 grid (corners 0, 12, 24, 36, 48): the square at (12, 24)
    occluded = xs.copy()
    occluded[:, 12:28, 24:40] = 0.0  # the mean colour in network space
    base, hidden = captured(xs), captured(occluded)
    for b in range(2):
        label = int(labels[b])
        maps = occlusion_maps(net, xs[b], label, size=16, stride=12, layer="block")
        assert maps.grid == (5, 5) and maps.prob.shape == (5, 5) and tuple(maps.corners[i]) == (12, 24)
        channel = int(base["block"][b].max(axis=(0, 1)).argmax())
        assert maps.feature_map == channel
        np.testing.assert_allclose(maps.base_prob, jax.nn.softmax(base["head"][b])[label], rtol=1e-5)
        prob = np.asarray(jax.nn.softmax(hidden["head"][b]))  # no prob_layer: softmax of the class layer
        np.testing.assert_allclose(maps.prob.flat[i], prob[label], rtol=1e-5)
        assert maps.top_label.flat[i] == prob.argmax()
        np.testing.assert_allclose(maps.feature_total.flat[i], hidden["block"][b, ..., channel].sum(), rtol=1e-5)
        assert not np.allclose(maps.prob, maps.base_prob)  # occluding changes something
