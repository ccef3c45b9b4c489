"""The live view of a vision transformer (``jaxvis.models.vit`` through
``jaxvis.from_function``): a token blob [B, N, D] is shown as maps. Each
channel's tile is its h x w patch map, its prefix tokens (the class token)
a strip of their own; a clicked patch (y, x) and a selected prefix token
seed the backward view from that token, and deconv's refusal of the
transformer's nonlinearities is a message in the backward pane, not a crash.
Every expectation is computed here from ``net.blobs`` with numpy, and the
backward views from ``jax.grad`` of the one activation."""

import functools
import threading

import jax
import numpy as np
import pytest

import jaxvis
from jaxvis.data import shapes
from jaxvis.live.frame import Selection, check_selection, run_frame
from jaxvis.live.optimize_now import optimize_unit
from jaxvis.live.server import make_app
from jaxvis.live.session import info_message, unpacked
from jaxvis.models import vit
from tests.live.test_protocol import expect, png, select, session

LAYER = "blocks.1"  # behind LayerNorm, softmax attention and GELU: backprop only
PREFIX, GRID, DIM = 1, (4, 4), 64


def small_vit():
    """The ViT of the from_function example: 64x64 input, 16 px patches (a 4x4 grid), a class token, D = 64."""
    cfg = vit.ViTConfig(patch=16, dim=DIM, depth=2, heads=4, mlp_dim=128, pos_grid=GRID, classes=10)
    spec = jaxvis.PreprocessSpec(input_size=(64, 64), channel_order="RGB", scale=1 / 255, mean=(0.5,) * 3,
                                 std=(0.5,) * 3)
    return jaxvis.from_function(vit.ViTBlobs(cfg), vit.init_params(cfg, 0), spec=spec, class_layer="head")


@pytest.fixture(scope="module")
def net():
    return small_vit()


@pytest.fixture(scope="module")
def rgb():
    return shapes.make_sample(9999, 3).image


def scaled(a):
    """One min-max scale to 0..255 over the whole array, as numpy does it."""
    a = np.asarray(a, np.float64)
    return np.round(255 * (a - a.min()) / (a.max() - a.min())).astype(np.uint8)


def by_hand(net, rgb, layer=LAYER):
    """The blob's tokens [N, D], its patch maps [D, h, w] and its prefix tokens [D, p], by numpy reshapes."""
    tokens = np.asarray(net.blobs(net.preprocess(rgb))[layer], np.float32)[0]
    maps = tokens[PREFIX:].reshape(*GRID, tokens.shape[-1]).transpose(2, 0, 1)
    return tokens, maps, tokens[:PREFIX].T


@functools.lru_cache(maxsize=None)
def _gradient_fn(net, layer):
    return jax.jit(jax.grad(lambda params, x, token, channel: net.forward(params, x)[layer][0, token, channel],
                            argnums=1))


def gradient(net, rgb, layer, channel, token):
    """d blob[0, token, channel] / d x: the plain gradient of the one activation, seeded by hand."""
    return np.asarray(_gradient_fn(net, layer)(net.params, net.preprocess(rgb), token, channel))[0]


def rendered(net, projection):
    return jaxvis.render_projection(np.asarray(projection)[None], "raw", net.spec.channel_order)[0]


def test_the_network_has_token_blobs_and_the_page_is_told_their_layout(net):
    info = info_message(net, {}, 0, 1)
    layers = {layer["name"]: layer for layer in info["layers"]}
    assert layers[LAYER]["tokens"] == {"prefix": PREFIX, "grid": list(GRID)}
    assert layers[LAYER]["shape"] == [PREFIX + GRID[0] * GRID[1], DIM] and layers[LAYER]["spatial"] is False
    assert layers["head"]["tokens"] is None


def test_tiles_are_the_patch_maps_and_the_strip_the_prefix_tokens(net, rgb):
    layer = "blocks.0.mlp.act"  # the MLP's 128 channels (LAYER's 64: the round trip below)
    tokens, maps, prefix = by_hand(net, rgb, layer)
    assert maps.shape == (128, *GRID)
    result = run_frame(net, net.preprocess(rgb), Selection(layer, 2, mode="deconv"))
    assert result.backward_error is not None  # behind GELU: no deconv, so the forward alone (no pullback)
    assert result.tiles.shape == maps.shape
    assert np.abs(result.tiles.astype(int) - scaled(maps)).max() <= 1  # the patch tokens' own scale
    np.testing.assert_allclose(result.maxima, maps.max(axis=(1, 2)), rtol=1e-6)
    np.testing.assert_array_equal(result.prefix_values, prefix)  # the blob's first token, per channel
    assert result.prefix.shape == prefix.shape == (maps.shape[0], PREFIX)
    assert np.abs(result.prefix.astype(int) - scaled(prefix)).max() <= 1


def test_a_clicked_patch_and_the_class_token_seed_their_tokens(net, rgb):
    x = net.preprocess(rgb)
    _, maps, _ = by_hand(net, rgb)
    channel = int(maps.max(axis=(1, 2)).argmax())
    y, xx = np.unravel_index(maps[channel].argmax(), GRID)
    for selection, token in ((Selection(LAYER, channel, (int(y), int(xx)), "backprop"), PREFIX + y * GRID[1] + xx),
                             (Selection(LAYER, channel, None, "backprop", token=0), 0)):
        check_selection(net, selection)
        want = gradient(net, rgb, LAYER, channel, token)
        assert np.abs(want).max() > 0
        got = run_frame(net, x, selection)
        assert got.backward_error is None
        np.testing.assert_allclose(got.projection, want, rtol=1e-4, atol=1e-5 * np.abs(want).max())


def test_session_round_trip(net, rgb):
    _, maps, prefix = by_hand(net, rgb)
    channel = 7
    with session(make_app(net)) as ws:
        ws.send_bytes(png(rgb))
        expect(ws, "frame")  # the default selection

        reply = select(ws, layer=LAYER, unit=channel, at=[2, 1], mode="backprop", rendering="raw")
        assert (reply["at"], reply["token"]) == ([2, 1], None)
        frame = expect(ws, "frame")
        assert np.abs(unpacked(frame["tiles"]).astype(int) - scaled(maps)).max() <= 1
        np.testing.assert_array_equal(np.asarray(frame["prefix_values"], np.float32), prefix)
        assert unpacked(frame["prefix"]).shape == (DIM, PREFIX)
        want = rendered(net, gradient(net, rgb, LAYER, channel, PREFIX + 2 * GRID[1] + 1))
        assert np.abs(unpacked(frame["backward"]).astype(int) - want).max() <= 1
        x = net.preprocess(rgb)
        exact = rendered(net, jaxvis.project(net, x, LAYER, channel, at=(2, 1), mode="backprop")[0])
        np.testing.assert_array_equal(unpacked(frame["backward"]), exact)  # the same function as jaxvis.project

        reply = select(ws, token=0)  # the class token: the patch is dropped
        assert (reply["at"], reply["token"]) == (None, 0)
        frame = expect(ws, "frame")
        want = rendered(net, gradient(net, rgb, LAYER, channel, 0))
        assert np.abs(unpacked(frame["backward"]).astype(int) - want).max() <= 1

        reply = select(ws, mode="deconv")  # GELU, softmax, LayerNorm have no deconv rule
        frame = expect(ws, "frame")
        assert frame["backward"] is None and "deconv" in frame["backward_error"]
        assert unpacked(frame["tiles"]).shape == (DIM, *GRID)  # the rest of the frame goes on

        for bad, words in (({"token": 1}, ["prefix tokens 0..0", "token 1"]), ({"token": 0, "at": [0, 0]}, ["both"]),
                           ({"layer": "head", "token": 0}, ["not a token blob"]), ({"at": [4, 0]}, ["4"])):
            ws.send_json({"type": "select", **bad})
            message = expect(ws, "error")["message"]
            assert all(w in message for w in words), message

        reply = select(ws, layer="pos_drop")  # a new layer drops the token; the embedding has deconv's rules
        assert (reply["layer"], reply["at"], reply["token"], reply["mode"]) == ("pos_drop", None, None, "deconv")
        frame = expect(ws, "frame")
        assert frame["backward_error"] is None and unpacked(frame["backward"]).std() > 0


def test_optimizing_the_class_token_streams(net):
    seen = []
    optimize_unit(net, "blocks.0", 3, None, lambda step, steps, image, done: seen.append((step, done, image)),
                  threading.Event(), steps=4, every=2, token=0)  # objectives.token("blocks.0", 3, 0)
    assert [(step, done, image.shape) for step, done, image in seen] == [(2, False, (64, 64, 3)),
                                                                          (4, True, (64, 64, 3))]
    with pytest.raises(jaxvis.UnitError, match="tokens 0..16"):
        optimize_unit(net, "blocks.0", 3, None, None, threading.Event(), steps=4, token=17)
