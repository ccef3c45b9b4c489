"""Occlusion maps against a plain loop that occludes each position with
numpy and runs the network on it, one image at a time."""

import numpy as np
import pytest

import jaxvis
from jaxvis.analysis.occlusion import occlusion_maps, positions
from jaxvis.data import shapes
from jaxvis.errors import JaxvisError


def test_positions_cover_the_image_flush_with_its_edges():
    corners, grid = positions(64, 64, 16, 10)
    assert grid == (6, 6) and corners[:6, 1].tolist() == [0, 10, 20, 30, 40, 48]
    with pytest.raises(JaxvisError, match="occluder size must be 1..64"):
        positions(64, 64, 65, 4)


def test_maps_equal_occluding_one_position_at_a_time():
    net = jaxvis.load_model("demo")
    sample = shapes.make_sample(11, 3)
    x = net.preprocess(sample.image)[0]
    maps = occlusion_maps(net, x, sample.label, size=20, stride=22, layer="conv5", batch=3)
    assert maps.grid == (3, 3)
    conv5 = np.asarray(net.blobs(x[None])["conv5"])[0]
    assert maps.feature_map == int(np.argmax(conv5.reshape(-1, conv5.shape[-1]).max(0)))
    for i, (y0, x0) in enumerate(maps.corners):
        occluded = x.copy()
        occluded[y0:y0 + 20, x0:x0 + 20] = 0.0  # the mean colour, in network space
        blobs = {k: np.asarray(v)[0] for k, v in net.blobs(occluded[None]).items()}
        gy, gx = divmod(i, 3)
        assert maps.feature_total[gy, gx] == pytest.approx(blobs["conv5"][..., maps.feature_map].sum(), rel=1e-4)
        assert maps.prob[gy, gx] == pytest.approx(blobs["prob"][sample.label], rel=1e-4, abs=1e-6)
        assert maps.top_label[gy, gx] == np.argmax(blobs["prob"])
