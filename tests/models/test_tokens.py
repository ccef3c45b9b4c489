"""Token blobs [B, N, D] through the model contract: layouts declared or
inferred (and the errors when neither works), the layer table, and the
token units of objectives, projections and top-k, each checked against
values indexed by hand out of the blobs."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxvis
from jaxvis.analysis import topk
from jaxvis.errors import ModelDefinitionError, UnitError
from jaxvis.models import tokens as T
from jaxvis.models import vit
from jaxvis.optimize import objectives as O

SPEC = jaxvis.PreprocessSpec(input_size=(64, 64), channel_order="RGB", scale=1 / 255, mean=(0.5,) * 3,
                             std=(0.5,) * 3)
CFG = vit.ViTConfig(patch=16, dim=32, depth=2, heads=4, mlp_dim=64, pos_grid=(4, 4), registers=2, classes=5)
PREFIX, H, W = 3, 4, 4  # a class token and 2 registers, then 4x4 patches


@pytest.fixture(scope="module")
def net():
    return jaxvis.from_function(vit.ViTBlobs(CFG), vit.init_params(CFG, 0), spec=SPEC, class_layer="head")


@pytest.fixture(scope="module")
def x():
    return jnp.asarray(np.random.default_rng(0).normal(size=(3, 64, 64, 3)), jnp.float32)


def test_layout_inferred_for_every_token_blob(net):
    for name in ("pos_drop", "blocks.0.mlp.act", "blocks.1", "norm"):
        info = net.layer(name)
        assert info.tokens == T.TokenLayout(PREFIX, (H, W)) and info.grid == (H, W) and not info.spatial
    assert net.layer("blocks.1").shape == (PREFIX + H * W, 32) and net.layer("head").tokens is None
    assert "3+4x4 tokens x32" in net.summary()


@pytest.mark.parametrize("n, size, want", [(197, (224, 224), (1, (14, 14))), (261, (224, 224), (5, (16, 16))),
                                           (257, (224, 224), (1, (16, 16))), (65, (64, 64), (1, (8, 8))),
                                           (1370, (518, 518), (1, (37, 37))), (196, (224, 224), (0, (14, 14)))])
def test_inference_of_common_vits(n, size, want):
    assert T.infer("b", n, size) == T.TokenLayout(*want)


def test_ambiguous_or_impossible_layouts_say_how_to_declare():
    # No patch size tiles 64 px into 36 tokens; with a remainder, 6x6 (patch 10) and 11 + 5x5 (patch 12) both fit.
    with pytest.raises(ModelDefinitionError, match=r"blob 'b': 36 tokens .* several layouts \(prefix 0 \+ grid 6x6, "
                                                   r"prefix 11 \+ grid 5x5\); declare it: tokens=jaxvis.TokenLayout"):
        T.infer("b", 36, (64, 64))
    with pytest.raises(ModelDefinitionError, match=r"blob 'b': 3 tokens .* fit no layout .*tokens=\{'b'"):
        T.infer("b", 3, (64, 64))


def test_declared_layout_wins_and_is_checked(x):
    def apply(params, x):
        return {"seq": jnp.tile(x[:, :1, :1, :1].reshape(-1, 1, 1), (1, 36, 8)) * params["w"]}

    params = {"w": jnp.ones((8,))}
    with pytest.raises(ModelDefinitionError, match="several layouts"):
        jaxvis.from_function(apply, params, spec=SPEC)
    net = jaxvis.from_function(apply, params, spec=SPEC, tokens={"seq": jaxvis.TokenLayout(prefix=11, grid=(5, 5))})
    assert net.layer("seq").tokens == T.TokenLayout(11, (5, 5))
    with pytest.raises(ModelDefinitionError, match=r"'seq' has 36 tokens, but its declared .* has 17"):
        jaxvis.from_function(apply, params, spec=SPEC, tokens=jaxvis.TokenLayout(prefix=1, grid=(4, 4)))
    with pytest.raises(ModelDefinitionError, match="tokens= must be a jaxvis.TokenLayout"):
        jaxvis.from_function(apply, params, spec=SPEC, tokens=(3, (4, 4)))
    with pytest.raises(ModelDefinitionError, match="TokenLayout"):
        jaxvis.TokenLayout(prefix=-1, grid=(4, 4))


def test_token_objectives_equal_hand_computed_values(net, x):
    blob = np.asarray(net.blobs(x)["blocks.1"])  # [3, 19, 32]
    v = np.random.default_rng(1).normal(size=32)
    cases = [
        (O.neuron("blocks.1", 3, at=(1, 2)), lambda b: b[PREFIX + 1 * W + 2, 3]),
        (O.neuron("blocks.1", 3), lambda b: b[PREFIX + (H // 2) * W + W // 2, 3]),  # the centre patch
        (O.token("blocks.1", 5, index=0), lambda b: b[0, 5]),
        (O.token("blocks.1", 5, index=2), lambda b: b[2, 5]),
        (O.channel("blocks.1", 7), lambda b: b[PREFIX:, 7].mean()),
        (O.direction("blocks.1", v), lambda b: (b[PREFIX:] @ v).mean()),
        (O.direction("blocks.1", v, index=0), lambda b: b[0] @ v),
        (O.direction("blocks.1", v, at=(3, 0)), lambda b: b[PREFIX + 3 * W] @ v),
        (O.channel("blocks.1", 2) - 0.5 * O.token("blocks.1", 2, index=1),
         lambda b: b[PREFIX:, 2].mean() - 0.5 * b[1, 2]),
    ]
    for objective, by_hand in cases:
        layer, kind, c, y, xx, weights = O.compile_one(net, objective)
        got = O.values(jnp.asarray(blob), jnp.full(3, c), jnp.full(3, y), jnp.full(3, xx), jnp.full(3, kind),
                       None if weights is None else jnp.broadcast_to(jnp.asarray(weights), (3, *weights.shape)),
                       spatial=False, tokens=net.layer(layer).tokens)
        np.testing.assert_allclose(np.asarray(got), [by_hand(b) for b in blob], rtol=1e-5, atol=1e-6,
                                   err_msg=str(objective))


def test_token_units_out_of_range_name_the_tokens(net):
    with pytest.raises(UnitError, match=r"tokens 0\.\.18 \(3 prefix, then the 4x4 patches\), got index 19"):
        O.compile_one(net, O.token("blocks.1", 0, index=19))
    with pytest.raises(UnitError, match=r"maps are 4x4"):
        O.compile_one(net, O.neuron("blocks.1", 0, at=(4, 0)))
    with pytest.raises(UnitError, match="not a token blob"):
        O.compile_one(net, O.token("head", 0, index=0))


def test_visualize_ascends_token_objectives_in_one_batch(net):
    from jaxvis.optimize.ascent import ascent_step

    objectives = [O.neuron("blocks.1", 3, at=(1, 2)), O.token("blocks.1", 5, index=0), O.channel("blocks.1", 7)]
    compiled = ascent_step._cache_size()
    result = jaxvis.visualize(net, objectives, steps=4, restarts=2)
    assert ascent_step._cache_size() == compiled + 1  # the three kinds x 2 restarts: one program
    blob = np.asarray(net.blobs(jnp.asarray(result.x.reshape(-1, 64, 64, 3)))["blocks.1"]).reshape(3, 2, 19, 32)
    by_hand = np.stack([blob[0, :, PREFIX + 1 * W + 2, 3], blob[1, :, 0, 5], blob[2, :, PREFIX:, 7].mean(-1)])
    np.testing.assert_allclose(result.best_value, by_hand, rtol=1e-4, atol=1e-5)


def test_backprop_projections_of_token_units_are_the_gradients(net, x):
    def grad(select):
        return np.asarray(jax.grad(lambda x: jnp.sum(select(net.apply(net.params, x)["blocks.1"])))(x))

    got = jaxvis.project(net, x, "blocks.1", 3, at=(1, 2), mode="backprop")
    np.testing.assert_allclose(got, grad(lambda b: b[:, PREFIX + 1 * W + 2, 3]), rtol=1e-4, atol=1e-7)
    got = jaxvis.project(net, x, "blocks.1", 3, token=1, mode="backprop")
    np.testing.assert_allclose(got, grad(lambda b: b[:, 1, 3]), rtol=1e-4, atol=1e-7)
    with pytest.raises(jaxvis.ConfigError, match="no deconv rule"):
        jaxvis.project(net, x, "blocks.1", 3, at=(1, 2), mode="deconv")
    with pytest.raises(UnitError, match="not a token blob"):
        jaxvis.project(net, x, "head", 0, token=0, mode="backprop")


def test_topk_ranks_patch_tokens_and_each_prefix_token(net, x):
    sets = topk.unit_sets(net, ["blocks.1", "head"])
    assert [name for name, _, _ in sets] == ["blocks.1", "blocks.1@token0", "blocks.1@token1", "blocks.1@token2",
                                             "head"]
    maxima = topk.channel_maxima(net, x, ["blocks.1", "head"])
    blob = np.asarray(net.blobs(x)["blocks.1"])
    patches = blob[:, PREFIX:].reshape(3, H, W, 32)
    np.testing.assert_allclose(maxima["blocks.1"][0], patches.max(axis=(1, 2)), rtol=1e-6)
    arg = patches.reshape(3, -1, 32).argmax(axis=1)
    np.testing.assert_array_equal(maxima["blocks.1"][1], np.stack([arg // W, arg % W], axis=-1))
    for k in range(PREFIX):
        np.testing.assert_allclose(maxima[f"blocks.1@token{k}"][0], blob[:, k], rtol=1e-6)


def test_token_overlay_colours_each_patch_by_its_value():
    image = np.zeros((64, 64, 3), np.uint8)
    values = np.zeros((4, 4))
    values[1, 2] = 5.0
    out = topk.token_overlay(image, values, weight=1.0)
    assert np.all(out[16:32, 32:48] == out[20, 40]) and tuple(out[20, 40]) == (200, 0, 0)  # the maximum: red
    assert tuple(out[0, 0]) == (0, 0, 160)  # zero: the heat map's blue


def test_flax_module_token_blobs_are_inferred():
    """A Flax module's token outputs come through from_flax with their layouts inferred, like from_function's."""
    import flax.linen as nn

    class TinyTokens(nn.Module):
        @nn.compact
        def __call__(self, x):
            patches = nn.Conv(8, (16, 16), strides=(16, 16), padding="VALID", name="patch")(x)
            tokens = patches.reshape(x.shape[0], -1, 8)
            cls = self.param("cls", nn.initializers.normal(1.0), (1, 1, 8))
            tokens = jnp.concatenate([jnp.broadcast_to(cls, (x.shape[0], 1, 8)), tokens], axis=1)
            return nn.Dense(4, name="head")(nn.Dense(8, name="mix")(tokens)[:, 0])

    module = TinyTokens()
    variables = module.init(jax.random.key(0), jnp.zeros((1, 64, 64, 3)))
    net = jaxvis.from_flax(module, variables, spec=SPEC, class_layer="head")
    assert net.layer("patch").spatial and net.layer("mix").tokens == T.TokenLayout(1, (4, 4))
    x = np.random.default_rng(2).normal(size=(2, 64, 64, 3)).astype(np.float32)
    mix = np.asarray(net.blobs(x)["mix"])
    result = O.values(jnp.asarray(mix), jnp.full(2, 3), jnp.full(2, 1), jnp.full(2, 2), jnp.full(2, O.NEURON), None,
                      spatial=False, tokens=net.layer("mix").tokens)
    np.testing.assert_allclose(np.asarray(result), mix[:, 1 + 1 * 4 + 2, 3], rtol=1e-6)
