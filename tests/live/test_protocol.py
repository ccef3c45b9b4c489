"""The live view's WebSocket protocol, in process (Starlette's test client):
every frame equals what jaxvis's own batch functions give for the same image
(tiles, maxima, top-5, backward view), selections recompute the last image,
every bad input gets an error naming it and the session goes on, clients do
not disturb each other, the newest frame wins, the --images folder, and
optimizing a unit now equals ``jaxvis.visualize``."""

import contextlib
import io
import itertools
import re
import threading

import numpy as np
import pytest
from PIL import Image
from starlette.testclient import TestClient

import jaxvis
from jaxvis.data import shapes
from jaxvis.live.inputs import decode_image
from jaxvis.live.optimize_now import optimize_unit
from jaxvis.live.server import make_app
from jaxvis.live.session import unpacked
from tests.live.messages import WAIT_S, receive

HELD_OUT_SEED = 9999  # the demo world's held-out images (configs/demo_train.py: eval_seed), the generated source

DEFAULT = {"layer": "relu5", "unit": 0, "at": None, "mode": "deconv", "rendering": "raw"}


@pytest.fixture(scope="module")
def net():
    return jaxvis.load_model("demo")


@pytest.fixture(scope="module")
def app(net):
    return make_app(net)


# ---------------------------------------------------------------- helpers


def png(rgb) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.asarray(rgb, np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def held_out(i):
    """The demo world's held-out image i, as the server's generated source must give it."""
    return shapes.make_sample(HELD_OUT_SEED, i)


def short(message: dict) -> dict:
    """A message without its arrays, for assertion texts."""
    return {k: ("<array>" if isinstance(v, dict) and "data" in v else v) for k, v in message.items()}


def expect(ws, kind: str, wait: float = WAIT_S) -> dict:
    message = receive(ws, wait)
    assert message["type"] == kind, f"expected a {kind!r} message, got {short(message)}"
    return message


@contextlib.contextmanager
def connected(client):
    """A WebSocket past its opening "info" and "selection" messages."""
    with client.websocket_connect("/ws") as ws:
        expect(ws, "info")
        expect(ws, "selection")
        yield ws


@contextlib.contextmanager
def session(app):
    with TestClient(app) as client, connected(client) as ws:
        yield ws


def select(ws, **fields) -> dict:
    ws.send_json({"type": "select", **fields})
    return expect(ws, "selection")


def generated_frame(ws, index: int) -> dict:
    ws.send_json({"type": "generated", "index": index})
    return expect(ws, "frame")


def expected(net, rgb, layer, unit=0, at=None, mode="deconv", rendering="raw"):
    """What a frame must hold, from jaxvis's batch functions and numpy (not the live code)."""
    x = net.preprocess(rgb)
    blobs = net.blobs(x)
    a = np.asarray(blobs[layer], np.float64)[0]
    maps = a if a.ndim == 3 else a[None, None, :]  # [h, w, C]; fc: 1x1
    lo, hi = maps.min(), maps.max()
    tiles = np.round(255 * (maps - lo) / (hi - lo)).astype(np.uint8).transpose(2, 0, 1)
    probs = np.asarray(net.probabilities(blobs), np.float64)[0]
    top = sorted(range(len(probs)), key=lambda i: (-probs[i], i))[:5]
    backward = None
    if not (layer == "prob" and mode != "backprop"):
        projection = jaxvis.project(net, x, layer, unit, at=at, mode=mode)
        backward = jaxvis.render_projection(projection, rendering, net.spec.channel_order)[0]
    return {"input": net.deprocess(x)[0], "tiles": tiles, "maxima": maps.max(axis=(0, 1)), "blob": a,
            "top": top, "probs": probs, "names": [net.spec.class_names[i] for i in top], "backward": backward}


def assert_frame(frame, want, selection):
    assert {k: frame[k] for k in DEFAULT} == selection
    np.testing.assert_array_equal(unpacked(frame["input"]), want["input"])
    tiles = unpacked(frame["tiles"])
    assert tiles.shape == want["tiles"].shape
    assert np.abs(tiles.astype(int) - want["tiles"]).max() <= 1
    assert tiles.min() == 0 and tiles.max() == 255  # one scale for the whole layer
    np.testing.assert_allclose(frame["maxima"], want["maxima"], rtol=1e-5, atol=1e-6 * np.abs(want["maxima"]).max())
    assert [p["index"] for p in frame["predictions"]] == want["top"]
    assert [p["name"] for p in frame["predictions"]] == want["names"]
    np.testing.assert_allclose([p["p"] for p in frame["predictions"]], want["probs"][want["top"]], rtol=0, atol=1e-6)
    if want["backward"] is None:
        assert frame["backward"] is None
    else:
        assert frame["backward_error"] is None
        backward = unpacked(frame["backward"])
        assert backward.shape == want["backward"].shape
        np.testing.assert_array_equal(backward, want["backward"])


def strongest(want):
    """(channel, (y, x)) of the blob's largest activation: a unit with a backward view worth comparing."""
    a = want["blob"]
    y, x, c = np.unravel_index(a.argmax(), a.shape)
    return int(c), (int(y), int(x))


# ------------------------------------------------ 1. frames equal the batch functions


def test_default_frame_equals_batch_functions(net, app):
    sample = held_out(12)  # an image on which the default unit (relu5 #0) fires
    want = expected(net, sample.image, "relu5")
    assert want["backward"].std() > 0  # the default unit's view is not blank: the comparison means something
    with TestClient(app) as client, client.websocket_connect("/ws") as ws:
        info = expect(ws, "info")
        assert info["model"] == net.name and info["default_layer"] == "relu5"
        assert info["class_names"] == list(shapes.CLASSES) and info["input_size"] == [64, 64]
        assert [layer["name"] for layer in info["layers"]] == list(net.layer_names)
        assert info["files"] == 0 and info["topk"] is False and info["optimized"] is False
        first = expect(ws, "selection")
        assert {k: first[k] for k in DEFAULT} == DEFAULT
        assert first["views"] == {"topk": None, "optimized": [], "layer": "relu5"}

        ws.send_bytes(png(sample.image))
        frame = expect(ws, "frame")
        assert_frame(frame, want, DEFAULT)
        assert frame["label"] is None and frame["index"] is None  # an image from the page: no ground truth

        frame = generated_frame(ws, 12)
        assert_frame(frame, want, DEFAULT)
        assert frame["name"] == f"shapes seed {HELD_OUT_SEED} #12"
        assert frame["label"] == shapes.CLASSES[sample.label] and frame["index"] == 12


def test_clicked_unit_in_guided_mode_with_normblur(net, app):
    rgb = held_out(4).image
    unit, at = strongest(expected(net, rgb, "relu5", mode="guided"))
    want = expected(net, rgb, "relu5", unit, at, mode="guided", rendering="normblur")
    assert want["backward"].std() > 0
    selection = {"layer": "relu5", "unit": unit, "at": list(at), "mode": "guided", "rendering": "normblur"}
    with session(app) as ws:
        reply = select(ws, unit=unit, at=list(at), mode="guided", rendering="normblur")
        assert {k: reply[k] for k in DEFAULT} == selection
        ws.send_bytes(png(rgb))
        assert_frame(expect(ws, "frame"), want, selection)


def test_backprop_on_fc8(net, app):
    rgb = held_out(5).image
    unit = expected(net, rgb, "relu5")["top"][0]  # the predicted class's score
    want = expected(net, rgb, "fc8", unit, mode="backprop", rendering="norm")
    assert want["tiles"].shape == (10, 1, 1)
    np.testing.assert_allclose(want["maxima"], want["blob"])  # an fc layer's maxima are its values
    selection = {"layer": "fc8", "unit": unit, "at": None, "mode": "backprop", "rendering": "norm"}
    with session(app) as ws:
        select(ws, layer="fc8", unit=unit, mode="backprop", rendering="norm")
        assert_frame(generated_frame(ws, 5), want, selection)


def test_pooling_blob(net, app):
    assert "pool2" in net.layer_names
    rgb = held_out(6).image
    unit, _ = strongest(expected(net, rgb, "pool2"))
    want = expected(net, rgb, "pool2", unit)
    assert want["tiles"].shape == (32, 16, 16)
    selection = {**DEFAULT, "layer": "pool2", "unit": unit}
    with session(app) as ws:
        select(ws, layer="pool2", unit=unit)
        ws.send_bytes(png(rgb))
        assert_frame(expect(ws, "frame"), want, selection)


# ------------------------------------------------ 2. selection and mode changes


def test_select_recomputes_the_last_image(net, app):
    rgb = held_out(7).image
    with session(app) as ws:
        assert select(ws, unit=40, at=[2, 3])["unit"] == 40  # no image yet: a selection and no frame
        ws.send_bytes(png(rgb))
        located = {**DEFAULT, "unit": 40, "at": [2, 3]}
        assert_frame(expect(ws, "frame"), expected(net, rgb, "relu5", 40, (2, 3)), located)

        # a new layer drops at; unit 40 does not exist in pool2 (32 channels): 0
        reply = select(ws, layer="pool2")
        pool2 = {**DEFAULT, "layer": "pool2"}
        assert {k: reply[k] for k in DEFAULT} == pool2
        assert_frame(expect(ws, "frame"), expected(net, rgb, "pool2"), pool2)

        select(ws, unit=7, at=[1, 1])
        expect(ws, "frame")
        # back to relu5: unit 7 exists there and is kept; at is dropped
        reply = select(ws, layer="relu5")
        kept = {**DEFAULT, "unit": 7}
        assert {k: reply[k] for k in DEFAULT} == kept
        assert_frame(expect(ws, "frame"), expected(net, rgb, "relu5", 7), kept)

        # mode and rendering alone
        reply = select(ws, mode="guided", rendering="gray")
        guided = {**kept, "mode": "guided", "rendering": "gray"}
        assert {k: reply[k] for k in DEFAULT} == guided
        assert_frame(expect(ws, "frame"), expected(net, rgb, "relu5", 7, mode="guided", rendering="gray"), guided)


def test_prob_in_deconv_mode_has_no_backward_but_a_reason(net, app):
    rgb = held_out(8).image
    want = expected(net, rgb, "prob")
    with session(app) as ws:
        select(ws, layer="prob", unit=2)
        ws.send_bytes(png(rgb))
        frame = expect(ws, "frame")
        assert frame["backward"] is None
        assert "deconv" in frame["backward_error"] and "prob" in frame["backward_error"]
        assert "backprop" in frame["backward_error"]  # says what does work
        assert_frame(frame, want, {**DEFAULT, "layer": "prob", "unit": 2})
        np.testing.assert_allclose(np.asarray(want["blob"])[want["top"]], [p["p"] for p in frame["predictions"]],
                                   atol=1e-6)


# ------------------------------------------------ 3. bad input: an error naming it, and the session goes on

BAD_TEXT = {
    "not JSON": ("{type: select", [r"not JSON"]),
    "JSON not an object": ("[1, 2]", [r"'list'", r"JSON object"]),
    "unknown type": ('{"type": "zoom"}', [r"'zoom'", r"select"]),
    "no type": ('{"index": 1}', [r"None", r"type"]),
    "type not a string": ('{"type": ["select"]}', [r"\['select'\]", r"type"]),
    "unknown layer": ({"type": "select", "layer": "conv9"}, [r"conv9", r"relu5"]),
    "unit out of range": ({"type": "select", "unit": 48}, [r"48", r"0\.\.47"]),
    "negative unit": ({"type": "select", "unit": -1}, [r"-1", r"0\.\.47"]),
    "non-integer unit": ({"type": "select", "unit": 1.5}, [r"unit", r"integer", r"1\.5"]),
    "string unit": ({"type": "select", "unit": "3"}, [r"unit", r"integer", r"'3'"]),
    "boolean unit": ({"type": "select", "unit": True}, [r"unit", r"integer", r"True"]),
    "bad mode": ({"type": "select", "mode": "deconvnet"}, [r"deconvnet", r"guided"]),
    "bad rendering": ({"type": "select", "rendering": "sepia"}, [r"sepia", r"normblur"]),
    "layer not a string": ({"type": "select", "layer": 5}, [r"layer", r"string"]),
    "at outside the map": ({"type": "select", "at": [16, 3]}, [r"\(16, 3\)", r"0\.\.15"]),
    "negative at": ({"type": "select", "at": [-1, 2]}, [r"\(-1, 2\)", r"0\.\.15"]),
    "at not a pair": ({"type": "select", "at": [1]}, [r"at", r"\[1\]"]),
    "at not integers": ({"type": "select", "at": [1.5, 2]}, [r"at y", r"integer", r"1\.5"]),
    "at with a boolean": ({"type": "select", "at": [3, True]}, [r"at x", r"integer", r"True"]),
    "at on an fc layer": ({"type": "select", "layer": "fc7", "at": [0, 0]}, [r"fc7", r"fully connected"]),
    "unknown select field": ({"type": "select", "zoom": 2}, [r"zoom"]),
    "negative generated index": ({"type": "generated", "index": -1}, [r"-1", r"generated"]),
    "non-integer generated index": ({"type": "generated", "index": 2.5}, [r"2\.5", r"integer"]),
    "missing generated index": ({"type": "generated"}, [r"None", r"integer"]),
    "file without --images": ({"type": "file", "index": 0}, [r"--images"]),
}


def _send(ws, bad):
    if isinstance(bad, bytes):
        ws.send_bytes(bad)
    elif isinstance(bad, str):
        ws.send_text(bad)
    else:
        ws.send_json(bad)


def _goes_on(ws, net):
    """The session still works, with the selection it had (an error changes nothing)."""
    frame = generated_frame(ws, 1)
    assert {k: frame[k] for k in DEFAULT} == DEFAULT
    np.testing.assert_array_equal(unpacked(frame["input"]), net.deprocess(net.preprocess(held_out(1).image))[0])


@pytest.mark.parametrize("name", list(BAD_TEXT))
def test_bad_message_is_refused_and_the_session_goes_on(net, app, name):
    bad, patterns = BAD_TEXT[name]
    with session(app) as ws:
        _send(ws, bad)
        error = expect(ws, "error")
        for pattern in patterns:
            assert re.search(pattern, error["message"]), (pattern, error["message"])
        _goes_on(ws, net)


@pytest.mark.parametrize("name, data, pattern", [
    ("not an image", b"GIF89a but not really an image", r"not an image"),
    ("empty", b"", r"empty"),
    ("truncated PNG", png(held_out(0).image)[:200], r"not an image"),
])
def test_bad_binary_is_refused_and_the_session_goes_on(net, app, name, data, pattern):
    with session(app) as ws:
        ws.send_bytes(data)
        error = expect(ws, "error")
        assert re.search(pattern, error["message"]) and "upload" in error["message"], error["message"]
        _goes_on(ws, net)


def test_an_unexpected_failure_in_a_frame_is_reported_and_the_session_goes_on(net, app, monkeypatch):
    """Anything may fail while a frame is computed (an XLA runtime error such
    as running out of device memory, not a JaxvisError): the page must be told,
    and the next frame must still come. A short guard: when fixed, the error
    comes at once; unfixed, the session never answers again."""
    import jaxvis.live.session as live_session

    real, calls = live_session.frame_message, []

    def failing_once(*args, **kwargs):
        calls.append(args)
        if len(calls) == 1:
            raise RuntimeError("RESOURCE_EXHAUSTED: simulated out of device memory")
        return real(*args, **kwargs)

    monkeypatch.setattr(live_session, "frame_message", failing_once)
    with session(app) as ws:
        ws.send_json({"type": "generated", "index": 1})
        error = expect(ws, "error", wait=20)
        assert "RESOURCE_EXHAUSTED" in error["message"], error["message"]
        frame = generated_frame(ws, 1)
        assert {k: frame[k] for k in DEFAULT} == DEFAULT


def test_bad_binary_keeps_the_last_image(net, app):
    """A refused upload does not replace the image a new selection recomputes."""
    rgb = held_out(2).image
    with session(app) as ws:
        ws.send_bytes(png(rgb))
        expect(ws, "frame")
        ws.send_bytes(b"junk")
        expect(ws, "error")
        select(ws, unit=5)
        frame = expect(ws, "frame")
        assert frame["unit"] == 5
        np.testing.assert_array_equal(unpacked(frame["input"]), net.deprocess(net.preprocess(rgb))[0])


def test_upload_over_the_limit_is_refused(net):
    big = png(np.random.default_rng(0).integers(0, 256, (64, 64, 3), np.uint8))
    assert len(big) > 2000
    small = png(np.zeros((8, 8, 3), np.uint8))
    assert len(small) < 2000
    with session(make_app(net, max_upload_bytes=2000)) as ws:
        ws.send_bytes(big)
        error = expect(ws, "error")
        assert "limit" in error["message"] and "max_upload_mb" in error["message"], error["message"]
        ws.send_bytes(small)  # under the limit: accepted
        np.testing.assert_array_equal(unpacked(expect(ws, "frame")["input"]),
                                      net.deprocess(net.preprocess(np.zeros((8, 8, 3), np.uint8)))[0])
        _goes_on(ws, net)


def test_upload_limit_message_states_the_limit_as_set():
    """``jaxvis live --max_upload_mb=2`` gives the server 2 * 1024 * 1024 bytes
    (cli/live_cmd.py); the refusal must say 2 MB, the figure the user set."""
    limit = int(2.0 * 1024 * 1024)
    with pytest.raises(jaxvis.InputImageError) as refused:
        decode_image(b"\0" * (limit + 300_000), limit)
    message = str(refused.value)
    assert "max_upload_mb" in message
    assert re.search(r"limit is (2 |2\.0+ )MB|limit is 2,097,152 bytes", message), message


def test_too_many_pixels_is_refused_as_too_large():
    """A valid PNG over the pixel limit is refused naming the pixel limit,
    also when Pillow's own decompression-bomb check (89M pixels) fires first."""
    for size in (7000, 10000):
        buf = io.BytesIO()
        Image.new("1", (size, size)).save(buf, "PNG")
        with pytest.raises(jaxvis.InputImageError) as refused:
            decode_image(buf.getvalue())
        assert "40,000,000 pixels" in str(refused.value), (size, str(refused.value))


# ------------------------------------------------ 4. robustness


def test_a_client_leaving_mid_frame_does_not_disturb_another(net, app):
    rgb = held_out(9).image
    with TestClient(app) as client, connected(client) as second:
        for i in range(3):
            with connected(client) as first:
                first.send_bytes(png(held_out(20 + i).image))  # and gone before its frame is sent
        with connected(client) as first:  # one that leaves while optimizing
            first.send_json({"type": "optimize"})
            expect(first, "optimized")
        second.send_bytes(png(rgb))
        frame = expect(second, "frame")
        np.testing.assert_array_equal(unpacked(frame["input"]), net.deprocess(net.preprocess(rgb))[0])
        assert_frame(generated_frame(second, 3), expected(net, held_out(3).image, "relu5"), DEFAULT)


def test_two_clients_keep_their_own_selection(net, app):
    rgb = held_out(10).image
    with TestClient(app) as client, connected(client) as one, connected(client) as two:
        select(one, layer="pool2", unit=7)
        select(two, unit=11, mode="guided", rendering="gray")
        one.send_bytes(png(rgb))
        two.send_bytes(png(rgb))
        mine = {**DEFAULT, "layer": "pool2", "unit": 7}
        theirs = {**DEFAULT, "unit": 11, "mode": "guided", "rendering": "gray"}
        assert_frame(expect(one, "frame"), expected(net, rgb, "pool2", 7), mine)
        assert_frame(expect(two, "frame"), expected(net, rgb, "relu5", 11, mode="guided", rendering="gray"), theirs)
        # interleaved again, the other way round
        two.send_json({"type": "generated", "index": 11})
        one.send_json({"type": "generated", "index": 11})
        rgb = held_out(11).image
        assert_frame(expect(two, "frame"), expected(net, rgb, "relu5", 11, mode="guided", rendering="gray"), theirs)
        assert_frame(expect(one, "frame"), expected(net, rgb, "pool2", 7), mine)


def test_the_newest_frame_wins(net, app):
    images = [held_out(30 + i).image for i in range(6)]
    inputs = [net.deprocess(net.preprocess(rgb))[0] for rgb in images]
    assert all(not np.array_equal(a, b) for a, b in itertools.pairwise(inputs))
    with session(app) as ws:
        for rgb in images:
            ws.send_bytes(png(rgb))
        shown = []
        while not shown or shown[-1] != len(images) - 1:
            frame = expect(ws, "frame")
            got = unpacked(frame["input"])
            matches = [i for i, want in enumerate(inputs) if np.array_equal(got, want)]
            assert len(matches) == 1, "a frame that is none of the images sent"
            shown.append(matches[0])
            assert len(shown) <= len(images)
        assert shown == sorted(set(shown))  # in the order sent, none twice, none stale after a newer one
        # nothing after the last image's frame: the next message answers the next request
        frame = generated_frame(ws, 1)
        np.testing.assert_array_equal(unpacked(frame["input"]), net.deprocess(net.preprocess(held_out(1).image))[0])


# ------------------------------------------------ 5. the --images folder


def test_images_folder(net, tmp_path):
    folder = tmp_path / "images"
    (folder / "sub").mkdir(parents=True)
    rgbs = {}
    for name, i in (("b.png", 40), ("a.png", 41), ("sub/c.png", 42)):
        rgbs[name] = held_out(i).image
        (folder / name).write_bytes(png(rgbs[name]))
    (folder / "notes.txt").write_text("not an image")
    order = ["a.png", "b.png", "sub/c.png"]  # sorted paths
    with TestClient(make_app(net, images=str(folder))) as client, client.websocket_connect("/ws") as ws:
        assert expect(ws, "info")["files"] == 3
        expect(ws, "selection")
        for index, position in ((1, 1), (0, 0), (2, 2), (3, 0), (4, 1), (-1, 2)):
            ws.send_json({"type": "file", "index": index})
            frame = expect(ws, "frame")
            name = order[position]
            assert (frame["name"], frame["index"], frame["label"]) == (name, position, None)
            np.testing.assert_array_equal(unpacked(frame["input"]), net.deprocess(net.preprocess(rgbs[name]))[0])
        ws.send_json({"type": "file", "index": "1"})
        assert "file index" in expect(ws, "error")["message"]
        _goes_on(ws, net)


# ------------------------------------------------ 6. optimize now


def test_optimize_streams_and_ends_with_visualizes_image(net, app):
    """On the default blob relu5: a ReLU's unit is optimized on the blob it rectifies, conv5."""
    with session(app) as ws:
        select(ws, unit=3)
        ws.send_json({"type": "optimize"})
        streamed = []
        while not streamed or not streamed[-1]["done"]:
            streamed.append(expect(ws, "optimized"))
    steps = streamed[-1]["steps"]
    assert [m["step"] for m in streamed] == list(range(10, steps, 10)) + [steps]
    assert all((m["layer"], m["blob"], m["unit"], m["steps"]) == ("relu5", "conv5", 3, steps) for m in streamed)
    assert not any(m["done"] for m in streamed[:-1])
    res = jaxvis.visualize(net, [("conv5", 3)], preset="row3", restarts=1, seed=0)  # the preset's own steps
    assert res.trace.shape[-1] == steps
    final = unpacked(streamed[-1]["image"])
    np.testing.assert_array_equal(final, res.images[0, 0])
    assert not np.array_equal(unpacked(streamed[0]["image"]), final)  # it moved while streaming


def test_stop_reaches_the_optimization_and_the_session_goes_on(net, app, monkeypatch):
    """The server hands ``stop`` to the running optimization (a stand-in that
    waits for it: deterministic), and the session keeps answering."""
    from jaxvis.live import server

    stopped = threading.Event()

    def waiting(net, layer, channel, at, emit, stop, **kwargs):
        emit(1, 2, np.zeros((64, 64, 3), np.uint8), False)
        if stop.wait(WAIT_S):
            stopped.set()
            return
        emit(2, 2, np.zeros((64, 64, 3), np.uint8), True)

    monkeypatch.setattr(server, "optimize_unit", waiting)
    with session(app) as ws:
        ws.send_json({"type": "optimize"})
        assert expect(ws, "optimized")["step"] == 1
        ws.send_json({"type": "stop"})
        frame = generated_frame(ws, 1)
        assert {k: frame[k] for k in DEFAULT} == DEFAULT
        assert stopped.wait(WAIT_S)
        # a new unit stops a running optimization too
        ws.send_json({"type": "optimize"})
        expect(ws, "optimized")
        stopped.clear()
        select(ws, unit=4)
        expect(ws, "frame")
        assert stopped.wait(WAIT_S)


def test_optimize_unit_emits_and_stops(net):
    emitted = []
    optimize_unit(net, "conv5", 3, None, lambda *a: emitted.append(a), threading.Event(), steps=20, every=5)
    assert [(s, n, d) for s, n, _, d in emitted] == [(5, 20, False), (10, 20, False), (15, 20, False), (20, 20, True)]
    res = jaxvis.visualize(net, [("conv5", 3)], preset="row3", restarts=1, steps=20, seed=0)
    np.testing.assert_array_equal(emitted[-1][2], res.images[0, 0])

    stop, seen = threading.Event(), []

    def emit(step, steps, image, done):
        seen.append(step)
        stop.set()

    optimize_unit(net, "conv5", 3, None, emit, stop, steps=20, every=5)
    assert seen == [5]  # stopped at the next step: no further image, no final call
