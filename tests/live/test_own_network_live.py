"""The live view of a network that is not from the zoo: the plugin
``examples.tiny_resnet:make_net`` (a Flax residual network through
``jaxvis.from_flax``, BatchNorm and a residual sum on the way). Its frames
equal jaxvis's batch functions, as the demo network's do, and nothing is
guessed from positions: a ReLU of a traced network rectifies no known blob."""

import numpy as np
import pytest

import jaxvis
from jaxvis.data import shapes
from jaxvis.live.server import make_app
from jaxvis.live.session import default_layer, rectified_blob
from tests.live.test_protocol import assert_frame, expect, expected, png, select, session


@pytest.fixture(scope="module")
def net():
    return jaxvis.load_model("examples.tiny_resnet:make_net")


def test_opens_on_the_last_convolution_and_guesses_no_rectified_blob(net):
    assert default_layer(net) == "block/conv2"
    assert rectified_blob(net, "block/relu_1") is None  # it rectifies bn2 + the shortcut, not bn2


def test_frames_equal_the_batch_functions(net):
    rgb = shapes.make_sample(9999, 5).image
    with session(make_app(net)) as ws:
        ws.send_bytes(png(rgb))
        expect(ws, "frame")  # the default selection; each select below recomputes this image
        for layer, mode, rendering in (("block/conv2", "deconv", "raw"), ("block", "guided", "norm"),
                                       ("head", "backprop", "gray")):
            want = expected(net, rgb, layer, 2, mode=mode, rendering=rendering)
            assert want["backward"].std() > 0
            selection = {"layer": layer, "unit": 2, "at": None, "mode": mode, "rendering": rendering}
            assert select(ws, **selection)["views"]["layer"] == layer
            frame = expect(ws, "frame")
            assert_frame(frame, want, selection)
            assert np.asarray(frame["maxima"]).shape == (net.layer(layer).channels,)
