"""``jaxvis invariance`` on 2 objects with coarse sweeps: its files, links and the reported finding."""

import json
import os
import re

import numpy as np

import jaxvis
from configs import invariance_demo
from jaxvis.data import shapes
from jaxvis.jobs.invariance_job import run_invariance


def distances_by_hand(net, params, shifts, layer):
    """||f(shifted) - f(original)|| and that over ||f(original)|| [images, shifts] from net.blobs."""
    originals = np.stack([shapes.render(p).image for p in params])
    moved = np.stack([shapes.render(shapes.transform(p, dy=float(dy))).image for p in params for dy in shifts])
    fo = np.asarray(net.blobs(net.preprocess(originals))[layer], np.float64).reshape(len(params), 1, -1)
    ft = np.asarray(net.blobs(net.preprocess(moved))[layer], np.float64).reshape(len(params), len(shifts), -1)
    dist = np.linalg.norm(ft - fo, axis=-1)
    return dist, dist / np.linalg.norm(fo, axis=-1)


def test_small_run(tmp_path):
    c = invariance_demo.get_config()
    c.images, c.max_shift, c.shift_step, c.scale_steps, c.rotation_step = 2, 4, 2, 3, 90.0
    workdir = str(tmp_path / "inv")
    summary = run_invariance(c, workdir)
    curves = json.load(open(os.path.join(workdir, "curves.json")))
    assert curves["translation"]["values"] == [-4, -2, 0, 2, 4] and len(curves["rotation"]["values"]) == 5
    # Distances recomputed from the demo network's blobs of the re-rendered objects.
    net = jaxvis.load_model("demo")
    params = [shapes.make_sample(c.shapes_seed, i).params for i in range(2)]
    relative = {}
    for layer in ("conv1", "fc7"):
        dist, relative[layer] = distances_by_hand(net, params, [-4, -2, 0, 2, 4], layer)
        np.testing.assert_allclose(curves["translation"][f"distance_{layer}"], dist, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(curves["translation"][f"relative_{layer}"], relative[layer], rtol=1e-4, atol=1e-6)
        assert np.all(dist[:, 2] < 1e-4 * np.abs(dist).max())  # no shift, no change
        near = relative[layer][:, [1, 3]].mean()  # the +-2 px shifts
        np.testing.assert_allclose(summary["finding"][f"{layer}_relative_distance_at_2px"], near, rtol=1e-4)
    # The finding (Zeiler & Fergus Fig. 5): a small shift moves the first layer's
    # features much more than the top layers' (README: conv1 0.576 vs fc7 0.180 at 2 px).
    assert np.all(relative["conv1"][:, [1, 3]] > relative["fc7"][:, [1, 3]])
    assert relative["conv1"][:, [1, 3]].mean() > 2 * relative["fc7"][:, [1, 3]].mean()
    finding = summary["finding"]
    assert finding["conv1_relative_distance_at_2px"] > 2 * finding["fc7_relative_distance_at_2px"]
    assert finding["early_moves_more"] is True
    text = open(os.path.join(workdir, "index.html")).read()
    for link in re.findall(r"(?:href|src)='([^']+)'", text):
        assert os.path.isfile(os.path.join(workdir, link)), link
