"""Invariance sweeps against distances computed directly from the blobs of
images rendered by hand with ``shapes.transform``."""

import numpy as np
import pytest

import jaxvis
from jaxvis.analysis import invariance
from jaxvis.data import shapes


def test_sweep_distances_and_probabilities():
    net = jaxvis.load_model("demo")
    params = [shapes.make_sample(4, i).params for i in range(2)]
    r = invariance.sweep(net, params, "translation", [-4.0, 0.0, 6.0], ("conv1", "fc7"))
    for i, p in enumerate(params):
        base = {k: np.asarray(v)[0] for k, v in net.blobs(net.preprocess(shapes.render(p).image)).items()}
        moved_image = shapes.render(shapes.transform(p, dy=6.0)).image
        moved = {k: np.asarray(v)[0] for k, v in net.blobs(net.preprocess(moved_image)).items()}
        for layer in ("conv1", "fc7"):
            d = np.linalg.norm((moved[layer] - base[layer]).ravel())
            assert r["distance"][layer][i, 2] == pytest.approx(d, rel=1e-4)
            assert r["relative"][layer][i, 2] == pytest.approx(d / np.linalg.norm(base[layer].ravel()), rel=1e-4)
            assert r["distance"][layer][i, 1] == pytest.approx(0.0, abs=1e-3)  # no shift, same image
        assert r["prob"][i, 2] == pytest.approx(moved["prob"][p.label], rel=1e-4, abs=1e-6)


def test_rotation_sweep_turns_the_object():
    p = shapes.make_sample(4, 0).params
    assert invariance.transformed(p, "rotation", 90.0).angle == pytest.approx(p.angle + np.pi / 2)
    assert invariance.transformed(p, "scale", 1.5).radius == pytest.approx(p.radius * 1.5)
